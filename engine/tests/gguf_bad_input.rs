//! The GGUF reader on hostile and broken files: every one must give a clear
//! error naming the file, never a panic or a huge allocation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hearth_engine::model::gguf::types::GgmlType;
use hearth_engine::model::gguf::{Gguf, GgufError, GgufWriter, MetaValue};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(name)
}

/// Writes `bytes` to a file in `dir` and opens it, expecting an error.
fn open_err(dir: &Path, bytes: &[u8]) -> GgufError {
    let path = dir.join("bad.gguf");
    std::fs::write(&path, bytes).unwrap();
    match Gguf::open(&path) {
        Ok(gguf) => panic!("opened a bad file: {gguf:?}"),
        Err(err) => {
            let message = err.to_string();
            assert!(
                message.contains(path.to_str().unwrap()),
                "error does not name the file: {message}"
            );
            err
        }
    }
}

fn assert_message(err: &GgufError, parts: &[&str]) {
    let message = err.to_string();
    for part in parts {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
}

/// The GGUF header fields, little endian.
fn header(version: u32, n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&n_tensors.to_le_bytes());
    bytes.extend_from_slice(&n_kv.to_le_bytes());
    bytes
}

fn string(bytes: &mut Vec<u8>, s: &[u8]) {
    bytes.extend_from_slice(&(s.len() as u64).to_le_bytes());
    bytes.extend_from_slice(s);
}

/// A file with one key of value type `ty` followed by `value_bytes`.
fn one_kv(ty: u32, value_bytes: &[u8]) -> Vec<u8> {
    let mut bytes = header(3, 0, 1);
    string(&mut bytes, b"key");
    bytes.extend_from_slice(&ty.to_le_bytes());
    bytes.extend_from_slice(value_bytes);
    bytes
}

/// A file with one tensor named "t" of `dims`, and where its info's
/// fields start after the name (our writer's layout, no metadata): n_dims
/// u32, dims u64 each, type u32, offset u64.
fn one_tensor(ty: GgmlType, dims: &[u64]) -> (Vec<u8>, usize) {
    let mut writer = GgufWriter::new();
    let n_bytes = ty.row_bytes(dims.iter().product::<u64>() as usize).unwrap();
    writer.add_tensor("t", ty, dims, vec![0; n_bytes]).unwrap();
    let n_dims_at = 24 + 8 + 1;
    (writer.to_bytes(), n_dims_at)
}

#[test]
fn empty_and_tiny_files_are_not_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_err(dir.path(), b"");
    assert!(matches!(err, GgufError::NotGguf { .. }));
    assert_message(&err, &["not a GGUF file", "empty"]);
    assert_message(
        &open_err(dir.path(), b"GG"),
        &["not a GGUF file", "only 2 bytes"],
    );
}

#[test]
fn wrong_magic_is_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_err(dir.path(), b"PK\x03\x04 zip archive");
    assert_message(&err, &["not a GGUF file (starts with \"PK\\x03\\x04\")"]);
}

#[test]
fn unsupported_versions_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    assert_message(
        &open_err(dir.path(), &header(1, 0, 0)),
        &["version 1 is not supported", "convert"],
    );
    assert_message(
        &open_err(dir.path(), &header(3u32.swap_bytes(), 0, 0)),
        &["big-endian"],
    );
    assert_message(
        &open_err(dir.path(), &header(4, 0, 0)),
        &["version 4 is not supported"],
    );
}

#[test]
fn every_truncation_of_a_real_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("all_types.gguf")).unwrap();
    let full = Gguf::open(&fixture("all_types.gguf")).unwrap();
    let data_end = full
        .tensors()
        .iter()
        .map(|t| t.offset + t.n_bytes as u64)
        .max()
        .unwrap();
    for len in 0..bytes.len() {
        // A new file each time: truncating a file that was just mapped is slow.
        let path = dir.path().join(format!("prefix{len}.gguf"));
        std::fs::write(&path, &bytes[..len]).unwrap();
        let result = Gguf::open(&path);
        // Only the padding after the last tensor may be cut off.
        assert_eq!(
            result.is_ok(),
            len as u64 >= data_end,
            "prefix of {len} bytes: {result:?}"
        );
    }
}

#[test]
fn absurd_counts_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    assert_message(
        &open_err(dir.path(), &header(3, u64::MAX, 0)),
        &["tensor count is 18446744073709551615"],
    );
    assert_message(
        &open_err(dir.path(), &header(3, 0, 1 << 40)),
        &["metadata count"],
    );
    // A string claiming 2^63 bytes.
    let mut bytes = header(3, 0, 1);
    bytes.extend_from_slice(&(1u64 << 63).to_le_bytes());
    bytes.extend_from_slice(&[0; 16]);
    assert_message(
        &open_err(dir.path(), &bytes),
        &["metadata key needs 9223372036854775808 bytes"],
    );
    // An array claiming u64::MAX strings, and one claiming more u32s than fit.
    let mut value = 8u32.to_le_bytes().to_vec();
    value.extend_from_slice(&u64::MAX.to_le_bytes());
    assert_message(
        &open_err(dir.path(), &one_kv(9, &value)),
        &["key: array length is 18446744073709551615"],
    );
    let mut value = 4u32.to_le_bytes().to_vec();
    value.extend_from_slice(&1000u64.to_le_bytes());
    value.extend_from_slice(&[0; 100]);
    assert_message(
        &open_err(dir.path(), &one_kv(9, &value)),
        &["array length is 1000, but 100 bytes remain"],
    );
}

#[test]
fn malformed_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_message(
        &open_err(dir.path(), &one_kv(13, &[0; 8])),
        &["unknown value type 13"],
    );
    assert_message(
        &open_err(dir.path(), &one_kv(7, &[2])),
        &["bool value is 2"],
    );
    let mut value = Vec::new();
    string(&mut value, b"\xff\xfe");
    assert_message(
        &open_err(dir.path(), &one_kv(8, &value)),
        &["not valid UTF-8"],
    );
    let mut value = 99u32.to_le_bytes().to_vec();
    value.extend_from_slice(&0u64.to_le_bytes());
    assert_message(
        &open_err(dir.path(), &one_kv(9, &value)),
        &["unknown array element type 99"],
    );
    // Arrays of arrays nested 5 deep.
    let mut value = Vec::new();
    for _ in 0..5 {
        value.extend_from_slice(&9u32.to_le_bytes());
        value.extend_from_slice(&1u64.to_le_bytes());
    }
    value.extend_from_slice(&[0; 64]);
    assert_message(
        &open_err(dir.path(), &one_kv(9, &value)),
        &["nested more than 4 deep"],
    );
    // The same key twice.
    let mut bytes = header(3, 0, 2);
    for _ in 0..2 {
        string(&mut bytes, b"dup");
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.push(1);
    }
    assert_message(
        &open_err(dir.path(), &bytes),
        &["metadata key dup appears twice"],
    );
}

#[test]
fn bad_alignment_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = GgufWriter::new();
    writer.add_meta("general.alignment", 64u32).unwrap();
    let mut bytes = writer.to_bytes();
    let at = bytes.len() - bytes.iter().rev().position(|&b| b == 64).unwrap() - 1;
    bytes[at] = 48;
    assert_message(
        &open_err(dir.path(), &bytes),
        &["general.alignment = 48 is out of range for a power of two"],
    );
    let mut writer = GgufWriter::new();
    writer
        .add_meta("general.alignment", MetaValue::U64(64))
        .unwrap_err();
    writer
        .add_meta("general.alignmenu", MetaValue::U64(64))
        .unwrap();
    let mut bytes = writer.to_bytes();
    let at = bytes
        .windows(17)
        .position(|w| w == b"general.alignmenu")
        .unwrap();
    bytes[at + 16] = b't';
    assert_message(
        &open_err(dir.path(), &bytes),
        &["general.alignment has type u64, expected u32"],
    );
}

#[test]
fn unknown_tensor_types_are_named() {
    let path = fixture("unsupported_type.gguf");
    let err = Gguf::open(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: tensor blk.0.attn_q.weight has type IQ2_XXS (16), which hearth does not support; \
             supported: F32, F16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, BF16",
            path.display()
        )
    );
    let dir = tempfile::tempdir().unwrap();
    let (mut bytes, dims_at) = one_tensor(GgmlType::F32, &[4]);
    bytes[dims_at + 4 + 8..dims_at + 4 + 8 + 4].copy_from_slice(&1000u32.to_le_bytes());
    assert_message(
        &open_err(dir.path(), &bytes),
        &["tensor t has type unknown (1000)"],
    );
}

#[test]
fn bad_tensor_infos_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, dims_at) = one_tensor(GgmlType::F32, &[4]);
    let offset_at = dims_at + 4 + 8 + 4;

    let mut misaligned = bytes.clone();
    misaligned[offset_at..offset_at + 8].copy_from_slice(&4u64.to_le_bytes());
    assert_message(
        &open_err(dir.path(), &misaligned),
        &["tensor t: data offset 4 is not a multiple of the alignment 32"],
    );

    let mut beyond = bytes.clone();
    beyond[offset_at..offset_at + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert_message(
        &open_err(dir.path(), &beyond),
        &["tensor t:", "run past the end of the file"],
    );
    beyond[offset_at..offset_at + 8].copy_from_slice(&(u64::MAX - 31).to_le_bytes());
    assert_message(
        &open_err(dir.path(), &beyond),
        &["run past the end of the file"],
    );

    let mut too_long = bytes.clone();
    too_long[dims_at + 4..dims_at + 12].copy_from_slice(&9u64.to_le_bytes());
    assert_message(
        &open_err(dir.path(), &too_long),
        &["run past the end of the file"],
    );
    too_long[dims_at + 4..dims_at + 12].copy_from_slice(&(1u64 << 63).to_le_bytes());
    assert_message(&open_err(dir.path(), &too_long), &["overflow"]);

    let mut too_many_dims = bytes.clone();
    too_many_dims[dims_at..dims_at + 4].copy_from_slice(&5u32.to_le_bytes());
    assert_message(
        &open_err(dir.path(), &too_many_dims),
        &["tensor t has 5 dimensions; GGUF allows at most 4"],
    );

    let (mut partial, dims_at) = one_tensor(GgmlType::Q8_0, &[64]);
    partial[dims_at + 4..dims_at + 12].copy_from_slice(&48u64.to_le_bytes());
    assert_message(
        &open_err(dir.path(), &partial),
        &["row length 48 is not a multiple of the Q8_0 block length 32"],
    );

    let mut writer = GgufWriter::new();
    writer
        .add_tensor("a", GgmlType::F32, &[1], vec![0; 4])
        .unwrap();
    writer
        .add_tensor("b", GgmlType::F32, &[1], vec![0; 4])
        .unwrap();
    let mut twice = writer.to_bytes();
    let at = twice
        .windows(9)
        .position(|w| w == b"\x01\0\0\0\0\0\0\0b")
        .unwrap();
    twice[at + 8] = b'a';
    assert_message(&open_err(dir.path(), &twice), &["tensor a: appears twice"]);
}

#[test]
fn directories_and_missing_files_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let err = Gguf::open(&missing).unwrap_err();
    assert!(matches!(err, GgufError::Io { .. }));
    assert_message(&err, &["cannot read", "missing.gguf"]);
    assert!(matches!(Gguf::open(dir.path()), Err(GgufError::Io { .. })));
}
