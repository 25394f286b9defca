//! A model file being written: hashed as it streams in, checked against the
//! catalog, then renamed into place in one step.
//!
//! The final path only ever holds a complete, verified file, because the data
//! goes to a file next to it and `rename` within one directory is atomic.
//! Two kinds of staged file exist:
//!
//! - a temporary one ([`StagedFile::create`]), deleted if dropped before
//!   [`StagedFile::commit`], so failures leave nothing behind;
//! - the partial download `{file}.partial` ([`StagedFile::resume`]), kept
//!   when the transfer breaks off so that the next run asks only for the rest.
//!   Bytes that fail verification are deleted in both cases.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::cache;
use crate::catalog::ModelSource;
use crate::error::FetchError;
use crate::progress::{Phase, Progress};

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

/// Where an interrupted download of `dest` waits to be resumed: `{file}.partial`.
/// One name per model, not per process: only the lock holder writes it.
pub(crate) fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dest.with_file_name(name)
}

/// Opens `path` for reading and writing, creating it if absent and keeping
/// what it holds.
pub(crate) fn open_for_update(path: &Path) -> io::Result<File> {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The buffer size for copying model data: large enough that syscalls and
/// progress updates are negligible next to hashing.
const COPY_BUFFER: usize = 1 << 20;

/// Feeds everything `reader` yields to `each`, a chunk at a time, and
/// returns the byte count. `read_error` turns a failed read into `E`.
pub(crate) fn for_each_chunk<R: Read + ?Sized, E>(
    reader: &mut R,
    mut each: impl FnMut(&[u8]) -> Result<(), E>,
    read_error: impl Fn(io::Error) -> E,
) -> Result<u64, E> {
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        each(&buffer[..n])?;
        total += n as u64;
    }
}

/// The sha256 state after reading all of the file at `path`, reported to
/// `progress` as [`Phase::Verifying`] of `len` bytes.
pub(crate) fn hash_file(
    path: &Path,
    len: u64,
    progress: &dyn Progress,
    action: &'static str,
) -> Result<Sha256, FetchError> {
    let io_err = |source| FetchError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    let hashed = for_each_chunk(
        &mut file,
        |chunk| {
            hasher.update(chunk);
            done += chunk.len() as u64;
            progress.update(Phase::Verifying, done, len);
            Ok(())
        },
        io_err,
    );
    progress.finish();
    hashed?;
    Ok(hasher)
}

/// A file receiving one model's bytes, hashed as they arrive.
pub(crate) struct StagedFile<'m> {
    model: &'m ModelSource,
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    hasher: Sha256,
    written: u64,
    /// Whether dropping leaves the file for a later run to resume.
    keep: bool,
}

impl<'m> StagedFile<'m> {
    /// Creates an empty temporary file next to `dest` for `model`'s bytes;
    /// it is deleted unless committed.
    pub(crate) fn create(model: &'m ModelSource, dest: &Path) -> Result<Self, FetchError> {
        let path = temp_sibling(dest, ".partial");
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| FetchError::Io {
                action: "create temporary file",
                path: path.clone(),
                source,
            })?;
        Ok(Self::new(model, path, file, Sha256::new(), 0, false))
    }

    /// Opens the partial download at `partial` (creating it if absent) to
    /// continue where it stopped: the bytes already there are hashed first
    /// (reported as [`Phase::Verifying`]). A file longer than the model
    /// cannot be a prefix of it and is emptied. The file is kept if dropped.
    pub(crate) fn resume(
        model: &'m ModelSource,
        partial: &Path,
        progress: &dyn Progress,
    ) -> Result<Self, FetchError> {
        let io_err = |action| {
            move |source| FetchError::Io {
                action,
                path: partial.to_path_buf(),
                source,
            }
        };
        let mut file = open_for_update(partial).map_err(io_err("open the partial download"))?;
        let mut len = file
            .metadata()
            .map_err(io_err("inspect the partial download"))?
            .len();
        if len > model.size {
            file.set_len(0)
                .map_err(io_err("empty the partial download"))?;
            len = 0;
        }
        let hasher = if len == 0 {
            Sha256::new()
        } else {
            hash_file(partial, len, progress, "read the partial download")?
        };
        file.seek(SeekFrom::Start(len))
            .map_err(io_err("seek in the partial download"))?;
        Ok(Self::new(
            model,
            partial.to_path_buf(),
            file,
            hasher,
            len,
            true,
        ))
    }

    fn new(
        model: &'m ModelSource,
        path: PathBuf,
        file: File,
        hasher: Sha256,
        written: u64,
        keep: bool,
    ) -> Self {
        Self {
            model,
            path,
            writer: Some(BufWriter::with_capacity(COPY_BUFFER, file)),
            hasher,
            written,
            keep,
        }
    }

    /// How many bytes the file holds (including those of an earlier run).
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Empties the file, for a server that sends the whole file again.
    pub(crate) fn restart(&mut self) -> Result<(), FetchError> {
        let path = self.path.clone();
        let io_err = |source| FetchError::Io {
            action: "empty the partial download",
            path: path.clone(),
            source,
        };
        let writer = self.writer_mut()?;
        writer.flush().map_err(io_err)?;
        let file = writer.get_mut();
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        self.hasher = Sha256::new();
        self.written = 0;
        Ok(())
    }

    /// Appends everything `reader` yields, telling `on_written` the file's
    /// new length after each chunk. Fails as soon as the total would exceed
    /// the catalog size, so a wrong or endless stream cannot fill the disk.
    /// `what` names the reader's source in errors, and `read_error` turns a
    /// failed read into the caller's error.
    pub(crate) fn append_from<R: Read + ?Sized>(
        &mut self,
        reader: &mut R,
        what: &str,
        mut on_written: impl FnMut(u64),
        read_error: impl Fn(io::Error) -> FetchError,
    ) -> Result<u64, FetchError> {
        for_each_chunk(
            reader,
            |chunk| {
                self.append(chunk, what)?;
                on_written(self.written);
                Ok(())
            },
            read_error,
        )
    }

    /// Appends `bytes`; fails if the total would exceed the catalog size
    /// (and then the file is not kept: it is not the model).
    pub(crate) fn append(&mut self, bytes: &[u8], what: &str) -> Result<(), FetchError> {
        let total = self.written + bytes.len() as u64;
        if total > self.model.size {
            self.keep = false;
            return Err(FetchError::SizeMismatch {
                what: format!("{what} (stopped early)"),
                actual: total,
                expected: self.model.size,
            });
        }
        let path = self.path.clone();
        self.writer_mut()?
            .write_all(bytes)
            .map_err(|source| FetchError::Io {
                action: "write",
                path,
                source,
            })?;
        self.hasher.update(bytes);
        self.written = total;
        Ok(())
    }

    fn writer_mut(&mut self) -> Result<&mut BufWriter<File>, FetchError> {
        self.writer.as_mut().ok_or_else(|| FetchError::Io {
            action: "write",
            path: self.path.clone(),
            source: io::Error::other("staged file already closed"),
        })
    }

    /// Checks size and sha256 against the catalog, flushes the data to disk,
    /// renames the file to `dest` and records the verified hash beside it.
    /// On any failure the file is deleted (by `Drop`): it is not the model.
    pub(crate) fn commit(mut self, dest: &Path, what: &str) -> Result<(), FetchError> {
        self.keep = false;
        if self.written != self.model.size {
            return Err(FetchError::SizeMismatch {
                what: what.to_string(),
                actual: self.written,
                expected: self.model.size,
            });
        }
        let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if !digest.eq_ignore_ascii_case(self.model.sha256) {
            return Err(FetchError::ShaMismatch {
                what: what.to_string(),
                actual: digest,
                expected: self.model.sha256.to_string(),
            });
        }
        let writer = self.writer.take().ok_or_else(|| FetchError::Io {
            action: "close",
            path: self.path.clone(),
            source: io::Error::other("staged file already closed"),
        })?;
        let file = writer.into_inner().map_err(|e| FetchError::Io {
            action: "flush",
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        // Without fsync, a crash shortly after the rename could leave a
        // correctly named file with missing data that the sidecar vouches for.
        file.sync_all().map_err(|source| FetchError::Io {
            action: "sync",
            path: self.path.clone(),
            source,
        })?;
        drop(file);
        fs::rename(&self.path, dest).map_err(|source| FetchError::Io {
            action: "move the verified download into place at",
            path: dest.to_path_buf(),
            source,
        })?;
        // The rename succeeded: the staged path no longer exists, and Drop
        // must not try to remove it (it could belong to someone else by now).
        self.path = PathBuf::new();
        // Best effort: the file is verified and in place; without a sidecar
        // the next start merely hashes it once more.
        let _ = cache::write_sidecar(dest, &digest);
        Ok(())
    }
}

impl Drop for StagedFile<'_> {
    fn drop(&mut self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        // Dropping the writer flushes it, so a kept file holds every byte
        // that was appended.
        drop(self.writer.take());
        // An empty partial download (say, the server answered 404) is
        // nothing to resume.
        if !self.keep || self.written == 0 {
            // Best effort: a leftover is also removed by the next lock holder.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::test_support::{dir_entries, model_of, scratch_file};

    /// Commits `staged` to `dest` and checks that exactly `content` landed
    /// there, with a sidecar and nothing else beside it.
    fn assert_commits(staged: StagedFile<'_>, dest: &Path, content: &[u8]) {
        staged.commit(dest, "the test file").unwrap();
        assert_eq!(fs::read(dest).unwrap(), content);
        assert_eq!(
            dir_entries(dest.parent().unwrap()),
            ["tiny.gguf", "tiny.gguf.sha256"]
        );
    }

    /// A temporary staged file for `m` next to `dest`, holding `bytes`.
    fn created_with<'m>(m: &'m ModelSource, dest: &Path, bytes: &[u8]) -> StagedFile<'m> {
        let mut staged = StagedFile::create(m, dest).unwrap();
        staged.append(bytes, "test").unwrap();
        staged
    }

    #[test]
    fn verified_bytes_land_at_dest_with_a_sidecar() {
        let (_dir, dest) = scratch_file();
        let m = model_of(b"hello model");
        let mut staged = created_with(&m, &dest, b"hello ");
        let mut rest: &[u8] = b"model";
        let mut seen = Vec::new();
        staged
            .append_from(&mut rest, "test", |n| seen.push(n), |e| panic!("{e}"))
            .unwrap();
        assert_eq!(seen, [11]);
        assert_commits(staged, &dest, b"hello model");
    }

    #[test]
    fn wrong_hash_is_rejected_and_nothing_is_left() {
        let (dir, dest) = scratch_file();
        let m = model_of(b"hello model");
        for resumable in [false, true] {
            let mut staged = if resumable {
                StagedFile::resume(&m, &partial_path(&dest), &NoProgress).unwrap()
            } else {
                StagedFile::create(&m, &dest).unwrap()
            };
            staged.append(b"HELLO MODEL", "test").unwrap();
            let err = staged.commit(&dest, "the test file").unwrap_err();
            assert!(matches!(err, FetchError::ShaMismatch { .. }), "{err}");
            assert!(err.to_string().contains(m.sha256), "{err}");
            assert!(dir_entries(dir.path()).is_empty(), "resumable: {resumable}");
        }
    }

    #[test]
    fn short_and_long_data_are_rejected() {
        let (dir, dest) = scratch_file();
        let m = model_of(b"hello");
        let short = created_with(&m, &dest, b"hell");
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

        let mut long = StagedFile::resume(&m, &partial_path(&dest), &NoProgress).unwrap();
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
    fn a_dropped_partial_download_is_kept_and_resumed() {
        let (_dir, dest) = scratch_file();
        let partial = partial_path(&dest);
        let m = model_of(b"hello model");
        let mut first = StagedFile::resume(&m, &partial, &NoProgress).unwrap();
        first.append(b"hello", "test").unwrap();
        drop(first);
        assert_eq!(fs::read(&partial).unwrap(), b"hello");

        let mut second = StagedFile::resume(&m, &partial, &NoProgress).unwrap();
        assert_eq!(second.written(), 5);
        second.append(b" model", "test").unwrap();
        assert_commits(second, &dest, b"hello model");
    }

    #[test]
    fn restart_and_overlong_partials_start_from_zero() {
        let (_dir, dest) = scratch_file();
        let partial = partial_path(&dest);
        let m = model_of(b"abc");
        fs::write(&partial, b"abcdef").unwrap();
        let mut staged = StagedFile::resume(&m, &partial, &NoProgress).unwrap();
        assert_eq!(staged.written(), 0);
        staged.append(b"xy", "test").unwrap();
        staged.restart().unwrap();
        assert_eq!(staged.written(), 0);
        staged.append(b"abc", "test").unwrap();
        assert_commits(staged, &dest, b"abc");
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
        assert_eq!(partial_path(dest), Path::new("/c/models/m.gguf.partial"));
    }
}
