//! The GGUF reader against files written by gguf-py (the fixtures and their
//! expected values come from scripts/fixtures/gguf_fixtures.py), and the
//! writer against the reader and against gguf-py's bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hearth_engine::model::gguf::types::GgmlType;
use hearth_engine::model::gguf::{Gguf, GgufError, GgufWriteError, GgufWriter, MetaValue};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(name)
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("{name}.expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// gguf-py's name for one of our value types.
fn gguf_py_type_name(value: &MetaValue) -> &'static str {
    match value.type_name() {
        "u8" => "uint8",
        "i8" => "int8",
        "u16" => "uint16",
        "i16" => "int16",
        "u32" => "uint32",
        "i32" => "int32",
        "u64" => "uint64",
        "i64" => "int64",
        "f32" => "float32",
        "f64" => "float64",
        other => other,
    }
}

/// gguf-py's `types` list for a value: the array nesting, then the scalar type.
fn type_chain(value: &MetaValue) -> Vec<&'static str> {
    let mut chain = vec![gguf_py_type_name(value)];
    if let Some(first) = value.as_array().and_then(|a| a.first()) {
        chain.extend(type_chain(first));
    }
    chain
}

/// Scalars in order, nested arrays flattened (as gguf-py's `contents()` gives them).
fn flatten(value: &MetaValue, out: &mut Vec<MetaValue>) {
    match value.as_array() {
        Some(elements) => elements.iter().for_each(|e| flatten(e, out)),
        None => out.push(value.clone()),
    }
}

fn assert_scalar_eq(key: &str, ours: &MetaValue, theirs: &Value) {
    let same = match ours {
        MetaValue::F32(v) => theirs.as_f64().map(|t| t as f32) == Some(*v),
        MetaValue::F64(v) => theirs.as_f64() == Some(*v),
        MetaValue::Bool(v) => theirs.as_bool() == Some(*v),
        MetaValue::String(v) => theirs.as_str() == Some(v.as_str()),
        integer => match (integer.as_i64(), integer.as_u64()) {
            (Some(v), _) if v < 0 => theirs.as_i64() == Some(v),
            (_, Some(v)) => theirs.as_u64() == Some(v),
            _ => false,
        },
    };
    assert!(same, "{key}: we read {ours:?}, gguf-py read {theirs}");
}

/// Checks everything gguf-py read from `name`.gguf against our reader.
fn check_against_gguf_py(name: &str) -> Gguf {
    let path = fixture(&format!("{name}.gguf"));
    let gguf = Gguf::open(&path).unwrap();
    let expected = expected(name);
    assert_eq!(gguf.version(), 3);
    assert_eq!(gguf.path(), path);
    assert_eq!(gguf.file_size(), std::fs::metadata(&path).unwrap().len());
    assert_eq!(gguf.alignment(), expected["alignment"].as_u64().unwrap());

    let metadata = expected["metadata"].as_object().unwrap();
    assert_eq!(gguf.metadata().len(), metadata.len(), "metadata key count");
    for (key, entry) in metadata {
        let ours = gguf.get(key).unwrap_or_else(|| panic!("{key} missing"));
        let types: Vec<&str> = entry["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(type_chain(ours), types, "{key}: value types");
        match ours.as_array() {
            Some(_) => {
                let mut flat = Vec::new();
                flatten(ours, &mut flat);
                let theirs = entry["value"].as_array().unwrap();
                assert_eq!(flat.len(), theirs.len(), "{key}: element count");
                for (o, t) in flat.iter().zip(theirs) {
                    assert_scalar_eq(key, o, t);
                }
            }
            None => assert_scalar_eq(key, ours, &entry["value"]),
        }
    }

    let tensors = expected["tensors"].as_array().unwrap();
    assert_eq!(gguf.tensors().len(), tensors.len(), "tensor count");
    for (ours, theirs) in gguf.tensors().iter().zip(tensors) {
        let name = theirs["name"].as_str().unwrap();
        assert_eq!(ours.name, name);
        assert_eq!(gguf.tensor(name).unwrap(), ours);
        let dims: Vec<u64> = theirs["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(ours.dims, dims, "{name}: dims");
        assert_eq!(
            u64::from(ours.ty.id()),
            theirs["type_id"].as_u64().unwrap(),
            "{name}: type"
        );
        assert_eq!(
            ours.ty.name(),
            theirs["type"].as_str().unwrap(),
            "{name}: type name"
        );
        assert_eq!(
            ours.offset,
            theirs["offset"].as_u64().unwrap(),
            "{name}: offset"
        );
        assert_eq!(
            ours.n_bytes as u64,
            theirs["n_bytes"].as_u64().unwrap(),
            "{name}: size"
        );
        assert_eq!(ours.offset % gguf.alignment(), 0, "{name}: alignment");
        let data: String = gguf
            .tensor_bytes(ours)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(data, theirs["data_hex"].as_str().unwrap(), "{name}: data");
    }
    gguf
}

#[test]
fn reads_every_value_type_written_by_gguf_py() {
    let gguf = check_against_gguf_py("all_types");
    // A few values spelled out, so a wrong fixture cannot hide a wrong reader.
    assert_eq!(
        gguf.get_str("test.string").unwrap(),
        "héllo, 世界 \u{1F525}"
    );
    assert_eq!(gguf.get_str("test.empty_string").unwrap(), "");
    assert_eq!(gguf.get("test.i16"), Some(&MetaValue::I16(-30000)));
    assert_eq!(
        gguf.get("test.u64"),
        Some(&MetaValue::U64(18_000_000_000_000_000_000))
    );
    assert_eq!(
        gguf.get("test.nested"),
        Some(&MetaValue::Array(vec![
            MetaValue::Array(vec![MetaValue::I32(1), MetaValue::I32(2)]),
            MetaValue::Array(vec![MetaValue::I32(3)]),
        ]))
    );
    let q4k = gguf.tensor("blk.0.q4_k.weight").unwrap();
    assert_eq!(
        (q4k.ty, q4k.row_len(), q4k.rows(), q4k.n_elements()),
        (GgmlType::Q4_K, 256, 2, 512)
    );
}

#[test]
fn reads_a_custom_alignment() {
    let gguf = check_against_gguf_py("aligned64");
    assert_eq!(gguf.alignment(), 64);
    assert_eq!(gguf.data_offset() % 64, 0);
}

#[test]
fn typed_getters_convert_and_explain_mismatches() {
    let path = fixture("all_types.gguf");
    let gguf = Gguf::open(&path).unwrap();
    assert_eq!(gguf.get_u64("test.u8").unwrap(), 200);
    assert_eq!(gguf.get_u64("testarch.context_length").unwrap(), 4096);
    assert_eq!(gguf.get_f32("testarch.rope.freq_base").unwrap(), 1e6);
    assert_eq!(gguf.get_f32("test.i32").unwrap(), -2e9);
    assert!(gguf.get_bool("test.true").unwrap());
    assert_eq!(gguf.get_array("test.strings").unwrap().len(), 4);

    let err = gguf.get_u64("test.i8").unwrap_err();
    assert!(matches!(err, GgufError::OutOfRange { .. }), "{err}");
    let err = gguf.get_f32("test.f64").unwrap_err();
    assert!(matches!(err, GgufError::OutOfRange { .. }), "{err}");

    let message = gguf.get_str("test.u32").unwrap_err().to_string();
    for part in [path.to_str().unwrap(), "test.u32", "u32", "expected string"] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
    let message = gguf.get_u64("test.string").unwrap_err().to_string();
    assert!(
        message.contains("expected an unsigned integer"),
        "{message}"
    );
    let message = gguf.get_bool("nope.key").unwrap_err().to_string();
    assert!(
        message.contains("nope.key is missing") && message.contains("all_types.gguf"),
        "{message}"
    );
    let message = gguf.tensor("output.weight").unwrap_err().to_string();
    assert_eq!(
        message,
        format!("missing tensor output.weight in {}", path.display())
    );
}

#[test]
fn our_writer_reproduces_gguf_py_bytes() {
    // Re-add everything gguf-py wrote, in its order: the files must be identical.
    let path = fixture("all_types.gguf");
    let gguf = Gguf::open(&path).unwrap();
    let expected = expected("all_types");
    let mut writer = GgufWriter::new();
    for key in expected["metadata"].as_object().unwrap().keys() {
        writer
            .add_meta(key.as_str(), gguf.get(key).unwrap().clone())
            .unwrap();
    }
    for t in gguf.tensors() {
        writer
            .add_tensor(
                t.name.as_str(),
                t.ty,
                &t.dims,
                gguf.tensor_bytes(t).to_vec(),
            )
            .unwrap();
    }
    let ours = writer.to_bytes();
    let theirs = std::fs::read(&path).unwrap();
    let first_difference = ours.iter().zip(&theirs).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "first differing byte");
    assert_eq!(ours.len(), theirs.len());
}

fn write_and_open(writer: &GgufWriter, dir: &Path, name: &str) -> Gguf {
    let path = dir.join(name);
    writer.write_to(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), writer.to_bytes());
    Gguf::open(&path).unwrap()
}

#[test]
fn writer_round_trips_every_type_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<(&str, MetaValue)> = vec![
        ("k.u8", 1u8.into()),
        ("k.i8", (-2i8).into()),
        ("k.u16", 3u16.into()),
        ("k.i16", (-4i16).into()),
        ("k.u32", 5u32.into()),
        ("k.i32", (-6i32).into()),
        ("k.u64", u64::MAX.into()),
        ("k.i64", i64::MIN.into()),
        ("k.f32", f32::MIN_POSITIVE.into()),
        ("k.f64", f64::NAN.into()),
        ("k.bool", true.into()),
        ("k.string", "ok\0with nul".into()),
        ("k.tokens", vec!["<s>", "Ġhello", ""].into()),
        ("k.scores", vec![0.5f32, -1.0].into()),
        ("k.empty", MetaValue::Array(vec![])),
        ("k.nested", vec![vec![1u64], vec![]].into()),
    ];
    for alignment in [None, Some(8u32), Some(256)] {
        let mut writer = GgufWriter::new();
        if let Some(a) = alignment {
            writer.add_meta("general.alignment", a).unwrap();
        }
        for (key, value) in &values {
            writer.add_meta(*key, value.clone()).unwrap();
        }
        let mut tensors = Vec::new();
        for (i, ty) in GgmlType::ALL.into_iter().enumerate() {
            let dims = vec![
                ty.block_len() as u64 * if ty.is_quantized() { 2 } else { 5 },
                3,
            ];
            let n_bytes = ty.row_bytes(dims[0] as usize).unwrap() * 3;
            let data: Vec<u8> = (0..n_bytes).map(|b| (b * 7 + i) as u8).collect();
            let name = format!("t.{}", ty.name());
            writer
                .add_tensor(name.as_str(), ty, &dims, data.clone())
                .unwrap();
            tensors.push((name, ty, dims, data));
        }
        writer
            .add_tensor(
                "t.scalar",
                GgmlType::F32,
                &[],
                1.0f32.to_le_bytes().to_vec(),
            )
            .unwrap();

        let gguf = write_and_open(&writer, dir.path(), "round_trip.gguf");
        let expected_alignment = u64::from(alignment.unwrap_or(32));
        assert_eq!((gguf.version(), gguf.alignment()), (3, expected_alignment));
        assert_eq!(
            gguf.metadata().len(),
            values.len() + usize::from(alignment.is_some())
        );
        for (key, value) in &values {
            let read = gguf.get(key).unwrap();
            match (read, value) {
                (MetaValue::F64(a), MetaValue::F64(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                _ => assert_eq!(read, value, "{key}"),
            }
        }
        assert_eq!(gguf.tensors().len(), tensors.len() + 1);
        for (name, ty, dims, data) in &tensors {
            let t = gguf.tensor(name).unwrap();
            assert_eq!((&t.ty, &t.dims), (ty, dims));
            assert_eq!(t.offset % expected_alignment, 0);
            assert_eq!(gguf.tensor_bytes(t), &data[..], "{name}");
        }
        let scalar = gguf.tensor("t.scalar").unwrap();
        assert_eq!(
            (scalar.n_elements(), gguf.tensor_bytes(scalar)),
            (1, &1.0f32.to_le_bytes()[..])
        );
    }
}

#[test]
fn writer_rejects_inconsistent_input() {
    let mut writer = GgufWriter::new();
    let err = writer
        .add_tensor("w", GgmlType::Q4_K, &[256, 2], vec![0; 144])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor w: Q4_K with dims [256, 2] takes 288 bytes, but 144 were given"
    );
    let err = writer
        .add_tensor("w", GgmlType::Q8_0, &[33], vec![0; 34])
        .unwrap_err();
    assert!(
        err.to_string().contains("no whole number of blocks"),
        "{err}"
    );
    let err = writer
        .add_tensor("w", GgmlType::F32, &[1, 1, 1, 1, 1], vec![0; 4])
        .unwrap_err();
    assert!(matches!(err, GgufWriteError::TooManyDims { n_dims: 5, .. }));
    writer
        .add_tensor("w", GgmlType::F32, &[1], vec![0; 4])
        .unwrap();
    let err = writer
        .add_tensor("w", GgmlType::F32, &[1], vec![0; 4])
        .unwrap_err();
    assert_eq!(err.to_string(), "tensor w was added twice");

    writer.add_meta("a", 1u32).unwrap();
    assert!(matches!(
        writer.add_meta("a", 2u32),
        Err(GgufWriteError::Duplicate { .. })
    ));
    let mixed = MetaValue::Array(vec![MetaValue::U32(1), MetaValue::String("x".into())]);
    let err = writer.add_meta("mixed", mixed).unwrap_err();
    assert_eq!(
        err.to_string(),
        "metadata key mixed: array elements must share one type, found u32 and string"
    );
    assert!(matches!(
        writer.add_meta("general.alignment", 48u32),
        Err(GgufWriteError::BadAlignment { .. })
    ));
    assert!(matches!(
        writer.add_meta("general.alignment", 64u64),
        Err(GgufWriteError::BadAlignment { .. })
    ));
    assert_eq!(writer.alignment(), 32);
}

#[test]
fn vocabulary_sized_arrays_round_trip_quickly() {
    // Qwen2.5's tokenizer: 151,936 tokens with scores and types, 151,387 merges.
    let tokens: Vec<String> = (0..151_936).map(|i| format!("tok{i}ĠΩ")).collect();
    let merges: Vec<String> = (0..151_387).map(|i| format!("a{i} b{i}")).collect();
    let mut writer = GgufWriter::new();
    writer
        .add_meta("tokenizer.ggml.tokens", tokens.clone())
        .unwrap();
    writer
        .add_meta("tokenizer.ggml.merges", merges.clone())
        .unwrap();
    writer
        .add_meta("tokenizer.ggml.token_type", vec![1i32; tokens.len()])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.gguf");
    writer.write_to(&path).unwrap();

    let start = std::time::Instant::now();
    let gguf = Gguf::open(&path).unwrap();
    let elapsed = start.elapsed();
    // About 50 ms here; the bound only catches accidental quadratic parsing.
    assert!(elapsed.as_secs_f64() < 5.0, "opening took {elapsed:?}");
    let read = gguf.get_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(read.len(), tokens.len());
    assert!(read
        .iter()
        .zip(&tokens)
        .all(|(r, t)| r.as_str() == Some(t.as_str())));
    let read = gguf.get_array("tokenizer.ggml.merges").unwrap();
    assert_eq!(
        read.last().and_then(MetaValue::as_str),
        merges.last().map(String::as_str)
    );
    assert_eq!(
        gguf.get_array("tokenizer.ggml.token_type").unwrap().len(),
        tokens.len()
    );
}
