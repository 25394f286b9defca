//! Checking a cached model file against the catalog without re-hashing it on
//! every start.
//!
//! After a file is verified, a sidecar `{file}.sha256` records its digest
//! together with the size and modification time it had. A later check trusts
//! the sidecar only while all three still match, so hashing 1.1 GB happens
//! once, and a file replaced or edited behind our back is hashed again.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::Digest;

use crate::catalog::ModelSource;
use crate::error::FetchError;
use crate::progress::Progress;
use crate::staging::{hash_file, temp_sibling};

/// What the cache holds for one model.
#[derive(Debug)]
pub(crate) enum CacheState {
    /// A file with the catalog's size and sha256.
    Valid,
    /// No file.
    Missing,
    /// A file that is not the model, and why.
    Invalid(FetchError),
}

/// How much a cache check may rely on the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verification {
    /// Trust a sidecar that matches the file's size and modification time.
    TrustSidecar,
    /// Hash the whole file regardless (an explicit `pull`).
    FullHash,
}

/// The sidecar path for a model file: `{file}.sha256`.
pub(crate) fn sidecar_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    file.with_file_name(name)
}

/// Checks the file at `path` against `model`.
pub(crate) fn check(
    model: &ModelSource,
    path: &Path,
    verification: Verification,
    progress: &dyn Progress,
) -> Result<CacheState, FetchError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(CacheState::Missing),
        Err(source) => {
            return Err(FetchError::Io {
                action: "inspect cached file",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !meta.is_file() {
        return Ok(CacheState::Invalid(FetchError::Io {
            action: "use cached file",
            path: path.to_path_buf(),
            source: io::Error::other("not a regular file"),
        }));
    }
    if meta.len() != model.size {
        return Ok(CacheState::Invalid(FetchError::SizeMismatch {
            what: format!("cached file {}", path.display()),
            actual: meta.len(),
            expected: model.size,
        }));
    }
    if verification == Verification::TrustSidecar
        && read_sidecar(path).as_deref() == Some(sidecar_line(model.sha256, &meta).as_str())
    {
        return Ok(CacheState::Valid);
    }
    let digest = hex::encode(hash_file(path, model.size, progress, "read cached file")?.finalize());
    if !digest.eq_ignore_ascii_case(model.sha256) {
        return Ok(CacheState::Invalid(FetchError::ShaMismatch {
            what: format!("cached file {}", path.display()),
            actual: digest,
            expected: model.sha256.to_string(),
        }));
    }
    // Best effort: without a sidecar (say, a read-only shared cache) the file
    // is still valid; the next start just hashes it again.
    let _ = write_sidecar(path, &digest);
    Ok(CacheState::Valid)
}

/// Records that the file at `path`, as it is now, has sha256 `digest`.
/// Written to a temporary file and renamed, so a reader never sees half a line.
pub(crate) fn write_sidecar(path: &Path, digest: &str) -> io::Result<()> {
    let meta = fs::metadata(path)?;
    let sidecar = sidecar_path(path);
    let temp = temp_sibling(&sidecar, "");
    let result = File::create(&temp)
        .and_then(|mut f| writeln!(f, "{}", sidecar_line(digest, &meta)))
        .and_then(|()| fs::rename(&temp, &sidecar));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The sidecar's content: digest, size and modification time in nanoseconds
/// (`-` where the file system keeps none).
fn sidecar_line(digest: &str, meta: &fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or_else(|| "-".to_string(), |d| d.as_nanos().to_string());
    format!("{} {} {mtime}", digest.to_ascii_lowercase(), meta.len())
}

/// The sidecar's first line, if there is a readable sidecar.
fn read_sidecar(path: &Path) -> Option<String> {
    let text = fs::read_to_string(sidecar_path(path)).ok()?;
    text.lines().next().map(|line| line.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::test_support::{model_of, scratch_file};
    use std::time::{Duration, SystemTime};

    /// What [`check`] says of `path` as a copy of `model`.
    fn state_of(model: &ModelSource, path: &Path, verification: Verification) -> CacheState {
        check(model, path, verification, &NoProgress).unwrap()
    }

    fn assert_sha_mismatch(state: CacheState) {
        assert!(
            matches!(state, CacheState::Invalid(FetchError::ShaMismatch { .. })),
            "{state:?}"
        );
    }

    #[test]
    fn missing_file_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let m = model_of(b"abc");
        let state = check(
            &m,
            &dir.path().join("tiny.gguf"),
            Verification::TrustSidecar,
            &NoProgress,
        );
        assert!(matches!(state, Ok(CacheState::Missing)), "{state:?}");
    }

    #[test]
    fn valid_file_gets_a_sidecar_that_is_then_trusted() {
        let (_dir, path) = scratch_file();
        let m = model_of(b"abc");
        fs::write(&path, b"abc").unwrap();
        let state = state_of(&m, &path, Verification::TrustSidecar);
        assert!(matches!(state, CacheState::Valid), "{state:?}");
        let sidecar = fs::read_to_string(sidecar_path(&path)).unwrap();
        assert!(
            sidecar.starts_with(&format!("{} 3 ", m.sha256)),
            "{sidecar}"
        );

        // Proof the sidecar is trusted: a sidecar vouching for a different
        // digest, with matching size and time, makes a file "valid" that a
        // full hash rejects.
        let other = model_of(b"xyz");
        let meta = fs::metadata(&path).unwrap();
        fs::write(sidecar_path(&path), sidecar_line(other.sha256, &meta)).unwrap();
        let trusted = state_of(&other, &path, Verification::TrustSidecar);
        assert!(matches!(trusted, CacheState::Valid), "{trusted:?}");
        assert_sha_mismatch(state_of(&other, &path, Verification::FullHash));
    }

    #[test]
    fn a_changed_file_is_hashed_again_despite_its_sidecar() {
        let (_dir, path) = scratch_file();
        let m = model_of(b"abc");
        fs::write(&path, b"abc").unwrap();
        assert!(matches!(
            check(&m, &path, Verification::TrustSidecar, &NoProgress),
            Ok(CacheState::Valid)
        ));
        // Same size, different bytes, a different modification time.
        fs::write(&path, b"abd").unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_sha_mismatch(state_of(&m, &path, Verification::TrustSidecar));
    }

    #[test]
    fn wrong_size_is_rejected_without_hashing() {
        let (_dir, path) = scratch_file();
        fs::write(&path, b"abcd").unwrap();
        let state = state_of(&model_of(b"abc"), &path, Verification::FullHash);
        assert!(
            matches!(
                state,
                CacheState::Invalid(FetchError::SizeMismatch {
                    actual: 4,
                    expected: 3,
                    ..
                })
            ),
            "{state:?}"
        );
        assert!(!sidecar_path(&path).exists());
    }

    #[test]
    fn a_directory_in_place_of_the_file_is_invalid() {
        let (_dir, path) = scratch_file();
        fs::create_dir(&path).unwrap();
        let state = state_of(&model_of(b"abc"), &path, Verification::TrustSidecar);
        assert!(
            matches!(state, CacheState::Invalid(FetchError::Io { .. })),
            "{state:?}"
        );
    }
}
