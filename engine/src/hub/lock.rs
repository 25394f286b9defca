//! A lock file so that only one process (or thread) downloads a model at a
//! time; the others wait and then use its result.
//!
//! The lock is `{file}.lock`, created with `create_new` (atomic on every
//! local file system). Its holder touches it every few seconds, so a lock
//! whose modification time is old belongs to a process that died (e.g. was
//! killed by Ctrl-C, which runs no destructors) and may be broken.
//!
//! Breaking a stale lock can race with another waiter doing the same, and two
//! downloads may then run at once. That is harmless: each writes its own
//! temporary file, verifies it, and renames it into place atomically.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use super::error::HubError;

/// How a lock behaves in time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockTiming {
    /// A lock untouched this long is abandoned and may be broken.
    pub stale_after: Duration,
    /// How often the holder touches the lock; well below `stale_after` so a
    /// busy machine cannot make a live lock look stale.
    pub heartbeat: Duration,
    /// How often a waiter checks the lock again.
    pub poll: Duration,
}

impl LockTiming {
    /// Timings for real downloads: a dead holder delays others by two minutes at most.
    pub(crate) const DOWNLOAD: LockTiming = LockTiming {
        stale_after: Duration::from_secs(120),
        heartbeat: Duration::from_secs(5),
        poll: Duration::from_millis(250),
    };
}

/// A held lock; released (the file removed) when dropped.
pub(crate) struct DownloadLock {
    path: PathBuf,
    stop_heartbeat: Option<Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

/// The lock path for a model file: `{file}.lock`.
pub(crate) fn lock_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    file.with_file_name(name)
}

/// Takes the lock at `path`, waiting while a live holder has it.
/// `on_wait` is called once, when the first wait begins, with a line for the user.
pub(crate) fn acquire(
    path: &Path,
    timing: LockTiming,
    mut on_wait: impl FnMut(&str),
) -> Result<DownloadLock, HubError> {
    let mut announced = false;
    loop {
        match File::options().write(true).create_new(true).open(path) {
            Ok(mut file) => {
                // The pid is only for a human wondering who holds the lock.
                let _ = writeln!(file, "pid {}", std::process::id());
                return Ok(start_heartbeat(path, timing.heartbeat));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(HubError::Io {
                    action: "create lock file",
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        match age(path) {
            // Released between our two calls: try again at once.
            None => continue,
            Some(age) if age > timing.stale_after => {
                // Someone else may have broken it already; either way, retry.
                let _ = fs::remove_file(path);
                continue;
            }
            Some(_) => {}
        }
        if !announced {
            announced = true;
            let holder = fs::read_to_string(path).unwrap_or_default();
            on_wait(&format!(
                "waiting for another download of the same model ({}, lock {})",
                holder.trim(),
                path.display()
            ));
        }
        thread::sleep(timing.poll);
    }
}

/// How long ago the file at `path` was modified; `None` if it is gone. A
/// modification time in the future (clock skew) counts as just now.
pub(crate) fn age(path: &Path) -> Option<Duration> {
    let modified = fs::metadata(path).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or(Duration::ZERO),
    )
}

fn start_heartbeat(path: &Path, every: Duration) -> DownloadLock {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let touched = path.to_path_buf();
    let heartbeat = thread::Builder::new()
        .name("hearth-hub-lock".into())
        .spawn(move || loop {
            match stop_rx.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {
                    // A failed touch only risks the lock being seen as stale,
                    // which is harmless (see the module docs).
                    if let Ok(file) = File::options().write(true).open(&touched) {
                        let _ = file.set_modified(SystemTime::now());
                    }
                }
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        })
        .ok();
    DownloadLock {
        path: path.to_path_buf(),
        stop_heartbeat: Some(stop_tx),
        heartbeat,
    }
}

impl Drop for DownloadLock {
    fn drop(&mut self) {
        drop(self.stop_heartbeat.take());
        if let Some(handle) = self.heartbeat.take() {
            let _ = handle.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    const FAST: LockTiming = LockTiming {
        stale_after: Duration::from_secs(60),
        heartbeat: Duration::from_millis(20),
        poll: Duration::from_millis(10),
    };

    #[test]
    fn lock_file_exists_while_held_and_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(&dir.path().join("m.gguf"));
        assert_eq!(path.file_name().unwrap(), "m.gguf.lock");
        let lock = acquire(&path, FAST, |_| panic!("nothing to wait for")).unwrap();
        assert!(path.exists());
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn second_taker_waits_for_the_first_to_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(&dir.path().join("m.gguf"));
        let first = acquire(&path, FAST, |_| {}).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let waiter = {
            let path = path.clone();
            let released = Arc::clone(&released);
            thread::spawn(move || {
                let mut waited = false;
                let _second = acquire(&path, FAST, |_| waited = true).unwrap();
                (waited, released.load(Ordering::SeqCst))
            })
        };
        thread::sleep(Duration::from_millis(150));
        released.store(true, Ordering::SeqCst);
        drop(first);
        let (waited, after_release) = waiter.join().unwrap();
        assert!(waited, "the second taker should have announced a wait");
        assert!(
            after_release,
            "the second taker got the lock while the first held it"
        );
    }

    #[test]
    fn stale_lock_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(&dir.path().join("m.gguf"));
        let file = File::create(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        drop(file);
        let started = Instant::now();
        let _lock = acquire(&path, FAST, |_| {
            panic!("a stale lock must not be waited for")
        })
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn holder_keeps_its_lock_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(&dir.path().join("m.gguf"));
        let _lock = acquire(&path, FAST, |_| {}).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        thread::sleep(Duration::from_millis(200));
        assert!(
            age(&path).unwrap() < Duration::from_secs(60),
            "heartbeat did not touch the lock"
        );
    }
}
