//! Taking a model from the Hugging Face hub's own cache, where `huggingface-cli`,
//! `transformers` and llama.cpp's `-hf` put what they download.
//!
//! That cache keeps each file of a repository once, as
//! `{hf_cache}/models--{org}--{name}/blobs/{etag}`, and for files stored with
//! Git LFS (every GGUF model) the etag is the file's sha256: the very digest
//! the catalog pins. So the blob of a known model is found without reading
//! any of the cache's other structures. It is read, never written: hearth
//! keeps its own cache, because writing the Hugging Face layout needs the
//! repository's commit hash (for `snapshots/{commit}/`), which only the hub's
//! API gives, and the pip mirror has none.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::cache;
use crate::catalog::ModelSource;
use crate::error::FetchError;
use crate::progress::{Phase, Progress};
use crate::staging::{hash_file, temp_sibling, StagedFile};

/// Where the Hugging Face cache at `hf_cache` would keep `model`'s file.
pub(crate) fn blob_path(hf_cache: &Path, model: &ModelSource) -> PathBuf {
    hf_cache
        .join(format!("models--{}", model.hf_repo.replace('/', "--")))
        .join("blobs")
        .join(model.sha256)
}

/// Puts the blob at `blob` into place at `dest`, verified: as a hard link
/// when both caches share a file system (no second copy of the model on
/// disk; blobs are never modified in place), as a copy otherwise.
pub(crate) fn adopt(
    model: &ModelSource,
    blob: &Path,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<(), FetchError> {
    let len = match fs::metadata(blob) {
        Ok(meta) if meta.is_file() => meta.len(),
        Ok(_) => {
            return Err(FetchError::Io {
                action: "use the Hugging Face cache blob",
                path: blob.to_path_buf(),
                source: io::Error::other("not a regular file"),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(FetchError::NotCached {
                path: blob.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(FetchError::Io {
                action: "inspect the Hugging Face cache blob",
                path: blob.to_path_buf(),
                source,
            })
        }
    };
    let what = format!("the Hugging Face cache blob {}", blob.display());
    if len != model.size {
        return Err(FetchError::SizeMismatch {
            what,
            actual: len,
            expected: model.size,
        });
    }
    let link = temp_sibling(dest, ".hf");
    if fs::hard_link(blob, &link).is_err() {
        return copy(model, blob, dest, &what, progress);
    }
    let linked = verify_and_rename(model, &link, dest, &what, progress);
    if linked.is_err() {
        let _ = fs::remove_file(&link);
    }
    linked
}

/// Checks the hard link at `link` against `model` and renames it to `dest`.
fn verify_and_rename(
    model: &ModelSource,
    link: &Path,
    dest: &Path,
    what: &str,
    progress: &dyn Progress,
) -> Result<(), FetchError> {
    let digest = hex::encode(hash_file(link, model.size, progress, "read")?.finalize());
    if !digest.eq_ignore_ascii_case(model.sha256) {
        return Err(FetchError::ShaMismatch {
            what: what.to_string(),
            actual: digest,
            expected: model.sha256.to_string(),
        });
    }
    fs::rename(link, dest).map_err(|source| FetchError::Io {
        action: "move the verified model into place at",
        path: dest.to_path_buf(),
        source,
    })?;
    // Best effort, as for a download: without it the next start hashes again.
    let _ = cache::write_sidecar(dest, &digest);
    Ok(())
}

/// Copies the blob into a staged file, hashing as it goes.
fn copy(
    model: &ModelSource,
    blob: &Path,
    dest: &Path,
    what: &str,
    progress: &dyn Progress,
) -> Result<(), FetchError> {
    let read_err = |source| FetchError::Io {
        action: "read",
        path: blob.to_path_buf(),
        source,
    };
    let mut source = File::open(blob).map_err(read_err)?;
    let mut staged = StagedFile::create(model, dest)?;
    let copied = staged.append_from(
        &mut source,
        what,
        |done| progress.update(Phase::Verifying, done, model.size),
        read_err,
    );
    progress.finish();
    copied?;
    staged.commit(dest, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::default_model;
    use crate::progress::NoProgress;
    use crate::test_support::{dir_entries, model_of};

    #[test]
    fn the_blob_is_named_by_repository_and_sha256() {
        let blob = blob_path(Path::new("/hf/hub"), default_model());
        assert_eq!(
            blob,
            Path::new(
                "/hf/hub/models--Qwen--Qwen2.5-Coder-1.5B-Instruct-GGUF/blobs/\
                 cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
            )
        );
    }

    #[test]
    fn a_blob_is_linked_in_verified_and_a_wrong_one_is_not() {
        let hf = tempfile::tempdir().unwrap();
        let ours = tempfile::tempdir().unwrap();
        let m = model_of(b"model bytes");
        let blob = blob_path(hf.path(), &m);
        let dest = ours.path().join(m.file_name);
        let err = adopt(&m, &blob, &dest, &NoProgress).unwrap_err();
        assert!(matches!(err, FetchError::NotCached { .. }), "{err}");

        fs::create_dir_all(blob.parent().unwrap()).unwrap();
        fs::write(&blob, b"MODEL BYTES").unwrap();
        let err = adopt(&m, &blob, &dest, &NoProgress).unwrap_err();
        assert!(matches!(err, FetchError::ShaMismatch { .. }), "{err}");
        assert!(dir_entries(ours.path()).is_empty());

        fs::write(&blob, b"model bytes").unwrap();
        adopt(&m, &blob, &dest, &NoProgress).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"model bytes");
        assert_eq!(dir_entries(ours.path()), ["tiny.gguf", "tiny.gguf.sha256"]);
        assert_eq!(fs::read(&blob).unwrap(), b"model bytes", "the blob stays");
    }
}
