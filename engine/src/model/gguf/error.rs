//! Errors from reading and writing GGUF files. Every message names the file.

use std::io;
use std::path::PathBuf;

/// An error opening or reading a GGUF file.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened, inspected or mapped.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file does not start with the GGUF magic.
    #[error("{}: not a GGUF file (starts with {found})", path.display())]
    NotGguf {
        /// The file.
        path: PathBuf,
        /// What the file starts with, escaped.
        found: String,
    },
    /// The format version is not one hearth reads.
    #[error("{}: GGUF version {version} is not supported: hearth reads versions 2 and 3{hint}", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version read (as little endian).
        version: u32,
        /// What to do about it, starting with "; " (or empty).
        hint: &'static str,
    },
    /// The header is truncated or inconsistent.
    #[error("{}: malformed GGUF at byte {offset}: {what}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where in the file the problem was found.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// A tensor's description does not fit the file.
    #[error("{}: tensor {tensor}: {what}", path.display())]
    BadTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// What was wrong.
        what: String,
    },
    /// A tensor has an element type hearth cannot compute with.
    #[error(
        "{}: tensor {tensor} has type {type_name} ({id}), which hearth does not support; supported: {supported}",
        path.display()
    )]
    UnsupportedTensorType {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// The ggml type id.
        id: u32,
        /// ggml's name for the id, or "unknown".
        type_name: &'static str,
        /// The supported types, comma separated.
        supported: String,
    },
    /// A required metadata key is absent.
    #[error("{}: metadata key {key} is missing", path.display())]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A metadata value has the wrong type.
    #[error("{}: metadata key {key} has type {found}, expected {expected}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The type found.
        found: &'static str,
        /// The type expected.
        expected: &'static str,
    },
    /// A metadata value does not fit the type asked for.
    #[error("{}: metadata key {key} = {value} is out of range for {expected}", path.display())]
    OutOfRange {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The value found.
        value: String,
        /// The type asked for.
        expected: &'static str,
    },
    /// A required tensor is absent.
    #[error("missing tensor {name} in {}", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
}

/// An error building or writing a GGUF file.
#[derive(Debug, thiserror::Error)]
pub enum GgufWriteError {
    /// A tensor's data does not match its type and dimensions.
    #[error("tensor {name}: {ty} with dims {dims:?} takes {expected} bytes, but {got} were given")]
    WrongDataSize {
        /// The tensor's name.
        name: String,
        /// Its element type.
        ty: super::types::GgmlType,
        /// Its dimensions, row length first.
        dims: Vec<u64>,
        /// Bytes its type and dims take, if they are whole blocks at all.
        expected: String,
        /// Bytes given.
        got: usize,
    },
    /// A tensor has more dimensions than GGUF allows.
    #[error("tensor {name} has {n_dims} dimensions; GGUF allows at most 4")]
    TooManyDims {
        /// The tensor's name.
        name: String,
        /// The dimension count given.
        n_dims: usize,
    },
    /// A tensor or key name was added twice.
    #[error("{what} {name} was added twice")]
    Duplicate {
        /// "tensor" or "metadata key".
        what: &'static str,
        /// The name.
        name: String,
    },
    /// An array mixes element types, which GGUF cannot store.
    #[error("metadata key {key}: array elements must share one type, found {first} and {other}")]
    MixedArray {
        /// The key.
        key: String,
        /// The first element's type.
        first: &'static str,
        /// A different element type.
        other: &'static str,
    },
    /// `general.alignment` is not a power-of-two u32.
    #[error("metadata key general.alignment must be a power-of-two u32, got {value}")]
    BadAlignment {
        /// The value given.
        value: String,
    },
    /// The file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}
