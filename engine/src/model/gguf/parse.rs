//! Parsing and validation of a GGUF header (metadata and tensor infos).
//!
//! The input may be hostile or truncated: every length and count is checked
//! against the bytes that remain before anything is allocated, so a bad
//! file gives an error, never a panic or an allocation larger than a small
//! multiple of the file itself.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::error::GgufError;
use super::meta::{value_type, MetaValue};
use super::tensor::TensorInfo;
use super::types::{ggml_type_name, GgmlType};

/// The first four bytes of every GGUF file.
pub(crate) const MAGIC: &[u8; 4] = b"GGUF";
/// Data alignment when `general.alignment` is absent.
pub(crate) const DEFAULT_ALIGNMENT: u64 = 32;
/// The key that overrides the data alignment.
pub(crate) const ALIGNMENT_KEY: &str = "general.alignment";
/// ggml's `GGML_MAX_DIMS`.
pub(crate) const MAX_DIMS: usize = 4;
/// Arrays nested deeper than this are refused: real files never nest, and
/// recursion on hostile input must stay bounded.
const MAX_ARRAY_DEPTH: usize = 4;
/// The fewest bytes one tensor info takes: name length, dim count, type, offset.
const MIN_TENSOR_INFO_LEN: u64 = 8 + 4 + 4 + 8;
/// The fewest bytes one key/value pair takes: key length, type, a 1-byte value.
const MIN_KV_LEN: u64 = 8 + 4 + 1;

/// Everything the header of a GGUF file says.
#[derive(Debug)]
pub(crate) struct Header {
    pub version: u32,
    pub alignment: u64,
    pub data_offset: u64,
    pub metadata: BTreeMap<String, MetaValue>,
    pub tensors: Vec<TensorInfo>,
}

/// The "not a GGUF file" error for a file starting with `bytes`.
pub(crate) fn not_gguf(path: &Path, bytes: &[u8]) -> GgufError {
    let start = &bytes[..bytes.len().min(MAGIC.len())];
    let found = match bytes.len() {
        0 => "nothing: the file is empty".to_owned(),
        n if n < MAGIC.len() => format!("\"{}\" and is only {n} bytes long", start.escape_ascii()),
        _ => format!("\"{}\"", start.escape_ascii()),
    };
    GgufError::NotGguf {
        path: path.to_owned(),
        found,
    }
}

/// A little-endian reader over the file's bytes that turns every overrun
/// into a `Malformed` error naming the file and the offset.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn error(&self, at: usize, what: String) -> GgufError {
        GgufError::Malformed {
            path: self.path.to_owned(),
            offset: at as u64,
            what,
        }
    }

    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(self.error(
                self.pos,
                format!(
                    "{what} needs {n} bytes but the file ends after {}",
                    self.remaining()
                ),
            ));
        }
        // n <= remaining, which fits in usize.
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let start = self.pos;
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(err) => Err(self.error(start, format!("{what} is not valid UTF-8 ({err})"))),
        }
    }

    /// A count of items that each take at least `min_len` bytes, refused if
    /// the rest of the file could not hold that many.
    fn count(&mut self, min_len: u64, what: &str) -> Result<usize, GgufError> {
        let start = self.pos;
        let count = self.u64(what)?;
        let fits = count
            .checked_mul(min_len)
            .is_some_and(|needed| needed <= self.remaining());
        if !fits {
            return Err(self.error(
                start,
                format!(
                    "{what} is {count}, but {} bytes remain (each takes at least {min_len})",
                    self.remaining()
                ),
            ));
        }
        // count * min_len <= remaining, so count fits in usize.
        Ok(count as usize)
    }

    fn value(&mut self, ty: u32, key: &str, depth: usize) -> Result<MetaValue, GgufError> {
        Ok(match ty {
            value_type::U8 => MetaValue::U8(self.array::<1>(key)?[0]),
            value_type::I8 => MetaValue::I8(i8::from_le_bytes(self.array(key)?)),
            value_type::U16 => MetaValue::U16(u16::from_le_bytes(self.array(key)?)),
            value_type::I16 => MetaValue::I16(i16::from_le_bytes(self.array(key)?)),
            value_type::U32 => MetaValue::U32(u32::from_le_bytes(self.array(key)?)),
            value_type::I32 => MetaValue::I32(i32::from_le_bytes(self.array(key)?)),
            value_type::U64 => MetaValue::U64(u64::from_le_bytes(self.array(key)?)),
            value_type::I64 => MetaValue::I64(i64::from_le_bytes(self.array(key)?)),
            value_type::F32 => MetaValue::F32(f32::from_le_bytes(self.array(key)?)),
            value_type::F64 => MetaValue::F64(f64::from_le_bytes(self.array(key)?)),
            value_type::BOOL => {
                let at = self.pos;
                match self.array::<1>(key)?[0] {
                    0 => MetaValue::Bool(false),
                    1 => MetaValue::Bool(true),
                    other => {
                        return Err(self
                            .error(at, format!("{key}: bool value is {other}, expected 0 or 1")))
                    }
                }
            }
            value_type::STRING => MetaValue::String(self.string(key)?),
            value_type::ARRAY => self.array_value(key, depth)?,
            other => return Err(self.error(self.pos, format!("{key}: unknown value type {other}"))),
        })
    }

    fn array_value(&mut self, key: &str, depth: usize) -> Result<MetaValue, GgufError> {
        let start = self.pos;
        if depth >= MAX_ARRAY_DEPTH {
            return Err(self.error(
                start,
                format!("{key}: arrays nested more than {MAX_ARRAY_DEPTH} deep"),
            ));
        }
        let elem_ty = self.u32(key)?;
        let Some(min_len) = value_type::min_encoded_len(elem_ty) else {
            return Err(self.error(
                start,
                format!("{key}: unknown array element type {elem_ty}"),
            ));
        };
        let count = self.count(min_len, &format!("{key}: array length"))?;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(self.value(elem_ty, key, depth + 1)?);
        }
        Ok(MetaValue::Array(values))
    }
}

/// Parses and validates the header of the GGUF file `bytes` (named `path`
/// in errors): every tensor's type is supported, its shape whole blocks and
/// its data aligned and inside the file.
pub(crate) fn parse_header(bytes: &[u8], path: &Path) -> Result<Header, GgufError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(not_gguf(path, bytes));
    }
    let mut r = Reader {
        bytes,
        pos: MAGIC.len(),
        path,
    };
    let version = r.u32("version")?;
    match version {
        2 | 3 => {}
        _ => {
            let hint = if version == 1 {
                "; version 1 files predate GGUF's 64-bit counts: convert the model again with current llama.cpp tools"
            } else if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
                "; this is a big-endian GGUF file, and hearth reads little-endian files only"
            } else {
                ""
            };
            return Err(GgufError::UnsupportedVersion {
                path: path.to_owned(),
                version,
                hint,
            });
        }
    }
    let n_tensors = r.count(MIN_TENSOR_INFO_LEN, "tensor count")?;
    let n_kv = r.count(MIN_KV_LEN, "metadata count")?;

    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let start = r.pos;
        let key = r.string("metadata key")?;
        let ty = r.u32(&key)?;
        let value = r.value(ty, &key, 0)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(r.error(start, format!("metadata key {key} appears twice")));
        }
    }
    let alignment = read_alignment(&metadata, path)?;

    let mut raw_tensors = Vec::with_capacity(n_tensors);
    for _ in 0..n_tensors {
        let start = r.pos;
        let name = r.string("tensor name")?;
        let n_dims = r.u32(&name)?;
        if n_dims as usize > MAX_DIMS {
            return Err(r.error(
                start,
                format!("tensor {name} has {n_dims} dimensions; GGUF allows at most {MAX_DIMS}"),
            ));
        }
        let dims = (0..n_dims)
            .map(|_| r.u64(&name))
            .collect::<Result<Vec<_>, _>>()?;
        let type_id = r.u32(&name)?;
        let relative_offset = r.u64(&name)?;
        raw_tensors.push(RawTensorInfo {
            name,
            dims,
            type_id,
            relative_offset,
        });
    }

    let header_end = r.pos as u64;
    let data_offset = header_end.div_ceil(alignment) * alignment;
    let mut seen = HashSet::with_capacity(n_tensors);
    let mut tensors = Vec::with_capacity(n_tensors);
    let layout = DataLayout {
        file_size: bytes.len() as u64,
        alignment,
        data_offset,
    };
    for raw in raw_tensors {
        if !seen.insert(raw.name.clone()) {
            return Err(bad_tensor(path, &raw.name, "appears twice".to_owned()));
        }
        tensors.push(check_tensor(path, &layout, raw)?);
    }
    Ok(Header {
        version,
        alignment,
        data_offset,
        metadata,
        tensors,
    })
}

fn bad_tensor(path: &Path, tensor: &str, what: String) -> GgufError {
    GgufError::BadTensor {
        path: path.to_owned(),
        tensor: tensor.to_owned(),
        what,
    }
}

/// `general.alignment`, which ggml requires to be a power-of-two u32.
fn read_alignment(metadata: &BTreeMap<String, MetaValue>, path: &Path) -> Result<u64, GgufError> {
    match metadata.get(ALIGNMENT_KEY) {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(MetaValue::U32(a)) if a.is_power_of_two() => Ok(u64::from(*a)),
        Some(MetaValue::U32(a)) => Err(GgufError::OutOfRange {
            path: path.to_owned(),
            key: ALIGNMENT_KEY.to_owned(),
            value: a.to_string(),
            expected: "a power of two",
        }),
        Some(other) => Err(GgufError::WrongType {
            path: path.to_owned(),
            key: ALIGNMENT_KEY.to_owned(),
            found: other.type_name(),
            expected: "u32",
        }),
    }
}

/// A tensor info as stored, before validation.
struct RawTensorInfo {
    name: String,
    dims: Vec<u64>,
    type_id: u32,
    /// Offset from the start of the data section.
    relative_offset: u64,
}

/// Where tensor data may lie in the file.
struct DataLayout {
    file_size: u64,
    alignment: u64,
    data_offset: u64,
}

/// Validates one tensor info and resolves its absolute data range.
fn check_tensor(
    path: &Path,
    layout: &DataLayout,
    raw: RawTensorInfo,
) -> Result<TensorInfo, GgufError> {
    let RawTensorInfo {
        name,
        dims,
        type_id,
        relative_offset,
    } = raw;
    let DataLayout {
        file_size,
        alignment,
        data_offset,
    } = *layout;
    let Some(ty) = GgmlType::from_id(type_id) else {
        let supported: Vec<&str> = GgmlType::ALL.iter().map(|t| t.name()).collect();
        return Err(GgufError::UnsupportedTensorType {
            path: path.to_owned(),
            tensor: name,
            id: type_id,
            type_name: ggml_type_name(type_id).unwrap_or("unknown"),
            supported: supported.join(", "),
        });
    };
    // ggml keeps element counts in i64.
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| {
            bad_tensor(
                path,
                &name,
                format!("dims {dims:?} overflow the element count"),
            )
        })?;
    let row_len = dims.first().copied().unwrap_or(1);
    let block_len = ty.block_len() as u64;
    if row_len % block_len != 0 {
        return Err(bad_tensor(
            path,
            &name,
            format!("row length {row_len} is not a multiple of the {ty} block length {block_len}"),
        ));
    }
    let n_bytes = (n_elements / block_len)
        .checked_mul(ty.block_bytes() as u64)
        .ok_or_else(|| bad_tensor(path, &name, format!("dims {dims:?} overflow the byte size")))?;
    if relative_offset % alignment != 0 {
        return Err(bad_tensor(
            path,
            &name,
            format!("data offset {relative_offset} is not a multiple of the alignment {alignment}"),
        ));
    }
    let range = data_offset
        .checked_add(relative_offset)
        .and_then(|start| Some((start, start.checked_add(n_bytes)?)));
    let (offset, end) = match range {
        Some((start, end)) if end <= file_size => (start, end),
        _ => {
            return Err(bad_tensor(
                path,
                &name,
                format!(
                    "{n_bytes} bytes of data at offset {relative_offset} past the data start {data_offset} \
                     run past the end of the file ({file_size} bytes)"
                ),
            ))
        }
    };
    // end <= file_size, and the file is mapped in memory, so this fits in usize.
    let n_bytes = (end - offset) as usize;
    Ok(TensorInfo {
        name,
        dims,
        ty,
        offset,
        n_bytes,
    })
}
