//! What the unit tests share.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::ModelSource;

/// A catalog entry named `tiny` whose pinned bytes are `content`.
pub(crate) fn model_of(content: &[u8]) -> ModelSource {
    ModelSource {
        name: "tiny",
        aliases: &[],
        description: "test",
        file_name: "tiny.gguf",
        size: content.len() as u64,
        sha256: Box::leak(hex::encode(Sha256::digest(content)).into_boxed_str()),
        hf_repo: "t/t",
        hf_file: "tiny.gguf",
        mirror: None,
    }
}

/// The names in `dir`, sorted.
pub(crate) fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fresh directory and the path `tiny.gguf` inside it (the directory is
/// deleted when the first value is dropped).
pub(crate) fn scratch_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    (dir, path)
}
