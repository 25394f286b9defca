//! Helpers the crate's unit tests share.

#![allow(clippy::unwrap_used)]

/// A temporary directory holding `files` (relative path, text), parents created.
pub(crate) fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}
