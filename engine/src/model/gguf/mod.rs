//! GGUF, llama.cpp's model file format: a reader over a memory map, and a
//! writer for building small models in tests and fixtures.
//!
//! Layout (little endian): magic `GGUF`, version (2 or 3), tensor count and
//! metadata count (u64), the metadata key/values, the tensor infos (name,
//! dims, ggml type, offset), padding to the alignment, then tensor data.

mod error;
mod meta;
mod parse;
mod tensor;
pub mod types;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub use error::{GgufError, GgufWriteError};
pub use meta::MetaValue;
pub use tensor::TensorInfo;
pub use writer::GgufWriter;

/// An open GGUF file: its parsed header, and its tensor data mapped in memory.
pub struct Gguf {
    path: PathBuf,
    mmap: Mmap,
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: BTreeMap<String, MetaValue>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl Gguf {
    /// Opens and validates `path`: the header is parsed, and every tensor
    /// is checked to have a supported type, whole blocks per row, and
    /// aligned data inside the file. Tensor data is not read until used.
    pub fn open(path: &Path) -> Result<Gguf, GgufError> {
        let io_error = |source| GgufError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        let len = file.metadata().map_err(io_error)?.len();
        if len < parse::MAGIC.len() as u64 {
            // Too short to map usefully (and an empty map is an error on some systems).
            let start = std::fs::read(path).map_err(io_error)?;
            return Err(parse::not_gguf(path, &start));
        }
        // SAFETY: the map is read-only. If another process truncates the
        // file while it is mapped, reads past the new end fault (as with
        // every mmap-based loader, llama.cpp's included); models are not
        // rewritten in place in normal use.
        let mmap = unsafe { Mmap::map(&file) }.map_err(io_error)?;
        let header = parse::parse_header(&mmap, path)?;
        let tensor_index = header
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(Gguf {
            path: path.to_owned(),
            mmap,
            version: header.version,
            alignment: header.alignment,
            data_offset: header.data_offset,
            metadata: header.metadata,
            tensors: header.tensors,
            tensor_index,
        })
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The file's size in bytes.
    pub fn file_size(&self) -> u64 {
        self.mmap.len() as u64
    }

    /// The data alignment: `general.alignment`, 32 by default.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Where tensor data starts in the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// All metadata, by key.
    pub fn metadata(&self) -> &BTreeMap<String, MetaValue> {
        &self.metadata
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    fn require(&self, key: &str) -> Result<&MetaValue, GgufError> {
        self.metadata.get(key).ok_or_else(|| GgufError::MissingKey {
            path: self.path.clone(),
            key: key.to_owned(),
        })
    }

    fn wrong_type(&self, key: &str, found: &MetaValue, expected: &'static str) -> GgufError {
        GgufError::WrongType {
            path: self.path.clone(),
            key: key.to_owned(),
            found: found.type_name(),
            expected,
        }
    }

    fn out_of_range(&self, key: &str, value: &MetaValue, expected: &'static str) -> GgufError {
        GgufError::OutOfRange {
            path: self.path.clone(),
            key: key.to_owned(),
            value: value.to_string(),
            expected,
        }
    }

    /// The string value of `key`.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let value = self.require(key)?;
        value
            .as_str()
            .ok_or_else(|| self.wrong_type(key, value, "string"))
    }

    /// The value of `key` as a u64: any integer type, if non-negative.
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let value = self.require(key)?;
        match value.as_u64() {
            Some(v) => Ok(v),
            None if value.is_integer() => Err(self.out_of_range(key, value, "u64")),
            None => Err(self.wrong_type(key, value, "an unsigned integer")),
        }
    }

    /// The value of `key` as an f32: f32, f64 within f32's range, or any integer.
    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        let value = self.require(key)?;
        match (value, value.as_f32()) {
            (MetaValue::F64(v), Some(narrowed)) if v.is_finite() && !narrowed.is_finite() => {
                Err(self.out_of_range(key, value, "f32"))
            }
            (_, Some(v)) => Ok(v),
            (_, None) => Err(self.wrong_type(key, value, "a number")),
        }
    }

    /// The bool value of `key`.
    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        let value = self.require(key)?;
        value
            .as_bool()
            .ok_or_else(|| self.wrong_type(key, value, "bool"))
    }

    /// The array value of `key`.
    pub fn get_array(&self, key: &str) -> Result<&[MetaValue], GgufError> {
        let value = self.require(key)?;
        value
            .as_array()
            .ok_or_else(|| self.wrong_type(key, value, "array"))
    }

    /// All tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensor_index
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| GgufError::MissingTensor {
                path: self.path.clone(),
                name: name.to_owned(),
            })
    }

    /// The data of `t`, straight from the memory map.
    ///
    /// # Panics
    /// If `t` did not come from this file (its range was checked at open).
    pub fn tensor_bytes(&self, t: &TensorInfo) -> &[u8] {
        // offset + n_bytes <= file size was checked at open, so both fit in usize.
        let start = t.offset as usize;
        &self.mmap[start..start + t.n_bytes]
    }

    /// Lets the OS take the pages holding `t`'s bytes out of this process's memory, for a
    /// tensor the engine keeps a repacked copy of: they are read again from the page cache
    /// or the file on the rare later access (a row lookup), so the model's resident size
    /// is the repacked copy, not both. The range is widened to whole pages, so a page
    /// shared with a neighbouring tensor is dropped too and read back when that tensor is
    /// next read. A refusal only costs memory, so it is ignored.
    pub fn release_tensor_pages(&self, t: &TensorInfo) {
        #[cfg(unix)]
        {
            let start = t.offset as usize;
            // SAFETY: the mapping is read-only and the file is not rewritten while mapped
            // (see `open`), so after MADV_DONTNEED a read faults the same bytes back in from
            // the file: slices borrowed from the map before and after see the same data.
            let advised = unsafe {
                self.mmap.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start,
                    t.n_bytes,
                )
            };
            if let Err(e) = advised {
                log::debug!("{}: pages of {} kept: {e}", self.path.display(), t.name);
            }
        }
        #[cfg(not(unix))]
        let _ = t;
    }

    /// A sha256 that names this model's weights and metadata: the whole
    /// header (metadata and tensor table) and the first and last 4 KiB of
    /// every tensor. Hashing all of a multi-gigabyte file would cost seconds
    /// at every start; two files that agree on all of this but differ
    /// elsewhere in their weights are not a realistic case (a re-quantized
    /// or fine-tuned model changes every tensor's bytes).
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        const EDGE: usize = 4096;
        let mut hasher = Sha256::new();
        // data_offset <= file size was checked at open.
        hasher.update(&self.mmap[..self.data_offset as usize]);
        for t in &self.tensors {
            let bytes = self.tensor_bytes(t);
            hasher.update(&bytes[..bytes.len().min(EDGE)]);
            hasher.update(&bytes[bytes.len().saturating_sub(EDGE)..]);
        }
        hasher.finalize().into()
    }
}

impl fmt::Debug for Gguf {
    /// A summary: the metadata of a real model holds hundreds of thousands of strings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gguf")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("file_size", &self.file_size())
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}
