//! A GGUF v3 writer, for building small models in tests and fixtures.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::error::GgufWriteError;
use super::meta::{value_type, MetaValue};
use super::parse::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS};
use super::types::GgmlType;

/// The format version written.
const VERSION: u32 = 3;

/// One tensor waiting to be written.
#[derive(Debug)]
struct PendingTensor {
    name: String,
    ty: GgmlType,
    dims: Vec<u64>,
    data: Vec<u8>,
}

/// Builds a GGUF v3 file in memory: metadata in the order added, then
/// tensors in the order added, each aligned to `general.alignment` (32
/// unless that key is set).
#[derive(Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, MetaValue)>,
    keys: HashSet<String>,
    tensors: Vec<PendingTensor>,
}

impl GgufWriter {
    /// An empty file: no metadata, no tensors.
    pub fn new() -> GgufWriter {
        GgufWriter::default()
    }

    /// Adds the metadata `key`. Arrays must hold one element type (an empty
    /// array is written as an array of u8); `general.alignment`, if given,
    /// must be a power-of-two u32 and sets the data alignment.
    pub fn add_meta(
        &mut self,
        key: impl Into<String>,
        value: impl Into<MetaValue>,
    ) -> Result<(), GgufWriteError> {
        let key = key.into();
        let value = value.into();
        check_homogeneous(&key, &value)?;
        if key == ALIGNMENT_KEY && !matches!(value, MetaValue::U32(a) if a.is_power_of_two()) {
            return Err(GgufWriteError::BadAlignment {
                value: format!("{value} ({})", value.type_name()),
            });
        }
        if !self.keys.insert(key.clone()) {
            return Err(GgufWriteError::Duplicate {
                what: "metadata key",
                name: key,
            });
        }
        self.metadata.push((key, value));
        Ok(())
    }

    /// Adds a tensor of type `ty` and dims in ggml order (`dims[0]` is the
    /// row length) whose `data` must be exactly the bytes those take.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        ty: GgmlType,
        dims: &[u64],
        data: Vec<u8>,
    ) -> Result<(), GgufWriteError> {
        let name = name.into();
        if dims.len() > MAX_DIMS {
            return Err(GgufWriteError::TooManyDims {
                name,
                n_dims: dims.len(),
            });
        }
        let expected = expected_bytes(ty, dims);
        if expected != Some(data.len()) {
            return Err(GgufWriteError::WrongDataSize {
                name,
                ty,
                dims: dims.to_vec(),
                expected: expected
                    .map_or_else(|| "no whole number of blocks".to_owned(), |n| n.to_string()),
                got: data.len(),
            });
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufWriteError::Duplicate {
                what: "tensor",
                name,
            });
        }
        self.tensors.push(PendingTensor {
            name,
            ty,
            dims: dims.to_vec(),
            data,
        });
        Ok(())
    }

    /// The data alignment the file will have.
    pub fn alignment(&self) -> u64 {
        self.metadata
            .iter()
            .find_map(|(key, value)| match value {
                MetaValue::U32(a) if key == ALIGNMENT_KEY => Some(u64::from(*a)),
                _ => None,
            })
            .unwrap_or(DEFAULT_ALIGNMENT)
    }

    /// The complete file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        if let Err(err) = self.write_into(&mut out) {
            unreachable!("writing GGUF to memory failed: {err}");
        }
        out
    }

    /// Writes the complete file to `path`.
    pub fn write_to(&self, path: &Path) -> Result<(), GgufWriteError> {
        let io_error = |source| GgufWriteError::Io {
            path: path.to_owned(),
            source,
        };
        let mut out = BufWriter::new(File::create(path).map_err(io_error)?);
        self.write_into(&mut out).map_err(io_error)?;
        out.flush().map_err(io_error)
    }

    fn write_into(&self, out: &mut impl Write) -> io::Result<()> {
        let alignment = self.alignment();
        let mut header = Vec::new();
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            encode_string(&mut header, key);
            header.extend_from_slice(&value.type_id().to_le_bytes());
            encode_value(&mut header, value);
        }
        let mut relative_offset = 0u64;
        for tensor in &self.tensors {
            encode_string(&mut header, &tensor.name);
            header.extend_from_slice(&(tensor.dims.len() as u32).to_le_bytes());
            for dim in &tensor.dims {
                header.extend_from_slice(&dim.to_le_bytes());
            }
            header.extend_from_slice(&tensor.ty.id().to_le_bytes());
            header.extend_from_slice(&relative_offset.to_le_bytes());
            relative_offset += padded(tensor.data.len() as u64, alignment);
        }
        out.write_all(&header)?;
        write_padding(out, header.len() as u64, alignment)?;
        for tensor in &self.tensors {
            out.write_all(&tensor.data)?;
            write_padding(out, tensor.data.len() as u64, alignment)?;
        }
        Ok(())
    }
}

/// Writes the zeros that pad `len` bytes to a multiple of `alignment`.
fn write_padding(out: &mut impl Write, len: u64, alignment: u64) -> io::Result<()> {
    const ZEROS: [u8; 256] = [0; 256];
    let mut left = padded(len, alignment) - len;
    while left > 0 {
        let n = left.min(ZEROS.len() as u64);
        out.write_all(&ZEROS[..n as usize])?;
        left -= n;
    }
    Ok(())
}

/// `n` rounded up to a multiple of `alignment`.
fn padded(n: u64, alignment: u64) -> u64 {
    n.div_ceil(alignment) * alignment
}

/// Bytes a tensor of `ty` and `dims` takes, if its rows are whole blocks.
fn expected_bytes(ty: GgmlType, dims: &[u64]) -> Option<usize> {
    let row_len = dims.first().copied().unwrap_or(1);
    if row_len % ty.block_len() as u64 != 0 {
        return None;
    }
    let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
    ty.row_bytes(usize::try_from(n_elements).ok()?)
}

/// Checks that every array in `value` has elements of one type.
fn check_homogeneous(key: &str, value: &MetaValue) -> Result<(), GgufWriteError> {
    let Some(elements) = value.as_array() else {
        return Ok(());
    };
    if let Some(first) = elements.first() {
        if let Some(other) = elements.iter().find(|e| e.type_id() != first.type_id()) {
            return Err(GgufWriteError::MixedArray {
                key: key.to_owned(),
                first: first.type_name(),
                other: other.type_name(),
            });
        }
    }
    elements.iter().try_for_each(|e| check_homogeneous(key, e))
}

fn encode_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends `value` without its type id.
fn encode_value(out: &mut Vec<u8>, value: &MetaValue) {
    match value {
        MetaValue::U8(v) => out.push(*v),
        MetaValue::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::Bool(v) => out.push(u8::from(*v)),
        MetaValue::String(s) => encode_string(out, s),
        MetaValue::Array(elements) => {
            let elem_ty = elements.first().map_or(value_type::U8, MetaValue::type_id);
            out.extend_from_slice(&elem_ty.to_le_bytes());
            out.extend_from_slice(&(elements.len() as u64).to_le_bytes());
            for element in elements {
                encode_value(out, element);
            }
        }
    }
}
