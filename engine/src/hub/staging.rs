//! A model file being written: hashed as it streams in, checked against the
//! catalog, then renamed into place in one step.
//!
//! The final path only ever holds a complete, verified file, because the data
//! goes to a temporary file next to it and `rename` within one directory is
//! atomic. A staged file that is dropped before [`StagedFile::commit`] is
//! deleted, so failures leave nothing behind.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::cache;
use super::catalog::ModelSource;
use super::error::FetchError;

/// The infix of every temporary name derived from a model file, so leftovers
/// of a killed process can be found and removed by the next lock holder.
pub(crate) const TEMP_INFIX: &str = ".tmp-";

/// Distinguishes temporary names made by one process (threads share a pid).
static NEXT_TEMP_ID: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary name next to `dest`: `{file_name}.tmp-{pid}-{n}{suffix}`.
pub(crate) fn temp_sibling(dest: &Path, suffix: &str) -> PathBuf {
    let id = NEXT_TEMP_ID.fetch_add(1, Ordering::Relaxed);
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{TEMP_INFIX}{}-{id}{suffix}", std::process::id()));
    dest.with_file_name(name)
}

/// The buffer size for copying model data: large enough that syscalls and
/// progress updates are negligible next to hashing.
const COPY_BUFFER: usize = 1 << 20;

/// A temporary file receiving one model's bytes, hashed as they arrive.
pub(crate) struct StagedFile<'m> {
    model: &'m ModelSource,
    temp_path: PathBuf,
    writer: Option<BufWriter<File>>,
    hasher: Sha256,
    written: u64,
}

impl<'m> StagedFile<'m> {
    /// Creates an empty temporary file next to `dest` for `model`'s bytes.
    pub(crate) fn create(model: &'m ModelSource, dest: &Path) -> Result<Self, FetchError> {
        let temp_path = temp_sibling(dest, ".partial");
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp_path)
            .map_err(|source| FetchError::Io {
                action: "create temporary file",
                path: temp_path.clone(),
                source,
            })?;
        Ok(Self {
            model,
            temp_path,
            writer: Some(BufWriter::with_capacity(COPY_BUFFER, file)),
            hasher: Sha256::new(),
            written: 0,
        })
    }

    /// Appends everything `reader` yields, advancing `bar` by each chunk.
    /// Fails as soon as the total would exceed the catalog size, so a wrong or
    /// endless stream cannot fill the disk. `what` names the reader's source
    /// in errors, and `read_error` turns a failed read into the caller's error.
    pub(crate) fn append_from<R: Read + ?Sized>(
        &mut self,
        reader: &mut R,
        what: &str,
        bar: &ProgressBar,
        read_error: impl Fn(io::Error) -> FetchError,
    ) -> Result<u64, FetchError> {
        let mut buffer = vec![0u8; COPY_BUFFER];
        let mut copied = 0u64;
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => return Ok(copied),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            };
            self.append(&buffer[..n], what)?;
            copied += n as u64;
            bar.inc(n as u64);
        }
    }

    /// Appends `bytes`; fails if the total would exceed the catalog size.
    pub(crate) fn append(&mut self, bytes: &[u8], what: &str) -> Result<(), FetchError> {
        let total = self.written + bytes.len() as u64;
        if total > self.model.size {
            return Err(FetchError::SizeMismatch {
                what: format!("{what} (stopped early)"),
                actual: total,
                expected: self.model.size,
            });
        }
        let writer = self.writer.as_mut().ok_or_else(|| FetchError::Io {
            action: "write",
            path: self.temp_path.clone(),
            source: io::Error::other("staged file already closed"),
        })?;
        writer.write_all(bytes).map_err(|source| FetchError::Io {
            action: "write",
            path: self.temp_path.clone(),
            source,
        })?;
        self.hasher.update(bytes);
        self.written = total;
        Ok(())
    }

    /// Checks size and sha256 against the catalog, flushes the data to disk,
    /// renames the file to `dest` and records the verified hash beside it.
    /// On any failure the temporary file is deleted (by `Drop`).
    pub(crate) fn commit(mut self, dest: &Path, what: &str) -> Result<(), FetchError> {
        if self.written != self.model.size {
            return Err(FetchError::SizeMismatch {
                what: what.to_string(),
                actual: self.written,
                expected: self.model.size,
            });
        }
        let digest = hex(&std::mem::take(&mut self.hasher).finalize());
        if !digest.eq_ignore_ascii_case(self.model.sha256) {
            return Err(FetchError::ShaMismatch {
                what: what.to_string(),
                actual: digest,
                expected: self.model.sha256.to_string(),
            });
        }
        let writer = self.writer.take().ok_or_else(|| FetchError::Io {
            action: "close",
            path: self.temp_path.clone(),
            source: io::Error::other("staged file already closed"),
        })?;
        let file = writer.into_inner().map_err(|e| FetchError::Io {
            action: "flush",
            path: self.temp_path.clone(),
            source: e.into_error(),
        })?;
        // Without fsync, a crash shortly after the rename could leave a
        // correctly named file with missing data that the sidecar vouches for.
        file.sync_all().map_err(|source| FetchError::Io {
            action: "sync",
            path: self.temp_path.clone(),
            source,
        })?;
        drop(file);
        fs::rename(&self.temp_path, dest).map_err(|source| FetchError::Io {
            action: "move the verified download into place at",
            path: dest.to_path_buf(),
            source,
        })?;
        // The rename succeeded: the temporary path no longer exists, and Drop
        // must not try to remove it (it could belong to someone else by now).
        self.temp_path = PathBuf::new();
        // Best effort: the file is verified and in place; without a sidecar
        // the next start merely hashes it once more.
        let _ = cache::write_sidecar(dest, &digest);
        Ok(())
    }
}

impl Drop for StagedFile<'_> {
    fn drop(&mut self) {
        if self.temp_path.as_os_str().is_empty() {
            return;
        }
        drop(self.writer.take());
        // Best effort: a leftover is also removed by the next lock holder.
        let _ = fs::remove_file(&self.temp_path);
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            // Writing into a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::hub::catalog::ModelSource;

    fn model(content: &[u8]) -> ModelSource {
        ModelSource {
            name: "tiny",
            aliases: &[],
            description: "test",
            file_name: "tiny.gguf",
            size: content.len() as u64,
            sha256: Box::leak(hex(&Sha256::digest(content)).into_boxed_str()),
            hf_repo: "t/t",
            hf_file: "tiny.gguf",
            mirror: None,
        }
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn verified_bytes_land_at_dest_with_a_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("tiny.gguf");
        let m = model(b"hello model");
        let mut staged = StagedFile::create(&m, &dest).unwrap();
        staged.append(b"hello ", "test").unwrap();
        let mut rest: &[u8] = b"model";
        staged
            .append_from(&mut rest, "test", &ProgressBar::hidden(), |e| panic!("{e}"))
            .unwrap();
        staged.commit(&dest, "the test file").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello model");
        assert_eq!(dir_entries(dir.path()), ["tiny.gguf", "tiny.gguf.sha256"]);
    }

    #[test]
    fn wrong_hash_is_rejected_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("tiny.gguf");
        let m = model(b"hello model");
        let mut staged = StagedFile::create(&m, &dest).unwrap();
        staged.append(b"HELLO MODEL", "test").unwrap();
        let err = staged.commit(&dest, "the test file").unwrap_err();
        assert!(matches!(err, FetchError::ShaMismatch { .. }), "{err}");
        assert!(err.to_string().contains(m.sha256), "{err}");
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn short_and_long_data_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("tiny.gguf");
        let m = model(b"hello");
        let mut short = StagedFile::create(&m, &dest).unwrap();
        short.append(b"hell", "test").unwrap();
        let err = short.commit(&dest, "the test file").unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::SizeMismatch {
                    actual: 4,
                    expected: 5,
                    ..
                }
            ),
            "{err}"
        );

        let mut long = StagedFile::create(&m, &dest).unwrap();
        let err = long.append(b"hello!", "the stream").unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::SizeMismatch {
                    actual: 6,
                    expected: 5,
                    ..
                }
            ),
            "{err}"
        );
        drop(long);
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn temp_names_are_unique_and_marked() {
        let dest = Path::new("/c/models/m.gguf");
        let a = temp_sibling(dest, ".partial");
        let b = temp_sibling(dest, ".partial");
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("m.gguf.tmp-") && name.ends_with(".partial"),
            "{name}"
        );
        assert_eq!(a.parent(), dest.parent());
    }
}
