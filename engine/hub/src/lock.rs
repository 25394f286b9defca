//! A lock so that only one process (or thread) downloads a model at a time;
//! the others wait and then use its result.
//!
//! The lock is the kernel's advisory lock on `{file}.lock` (std's
//! [`File::lock`]: `flock` on Unix, `LockFileEx` on Windows), stable since
//! Rust 1.89, the workspace's minimum, so no crate such as `fs4` is needed.
//! The kernel releases it when the holder's file is closed, which happens
//! however the holder ends, Ctrl-C and `kill -9` included: a lock never
//! outlives its process, so there is no heartbeat and no guess at staleness.
//!
//! The lock file itself is left in place. Deleting it on release would let a
//! waiter that had already opened it lock the deleted file while a newcomer
//! creates and locks a new one, and both would download at once.

use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::HubError;
use crate::staging::open_for_update;

/// A held lock; the kernel releases it when this (its open file) is dropped.
#[derive(Debug)]
pub(crate) struct DownloadLock {
    _file: File,
}

/// The lock path for a model file: `{file}.lock`.
pub(crate) fn lock_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    file.with_file_name(name)
}

/// Takes the lock at `path`, waiting while another holder has it.
/// `on_wait` is called once, before the wait begins, with a line for the user.
pub(crate) fn acquire(path: &Path, on_wait: impl FnOnce(&str)) -> Result<DownloadLock, HubError> {
    take(path, on_wait).map_err(|(action, source)| HubError::Io {
        action,
        path: path.to_path_buf(),
        source,
    })
}

/// [`acquire`], with a failure as what was being done and why it failed.
fn take(
    path: &Path,
    on_wait: impl FnOnce(&str),
) -> Result<DownloadLock, (&'static str, io::Error)> {
    let mut file = open_for_update(path).map_err(|e| ("open lock file", e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(path).unwrap_or_default();
            on_wait(&format!(
                "waiting for another download of the same model ({}, lock {})",
                holder.trim(),
                path.display()
            ));
            file.lock().map_err(|e| ("lock", e))?;
        }
        Err(TryLockError::Error(e)) => return Err(("lock", e)),
    }
    // The pid is only for a human (or the wait line above) wondering who
    // holds the lock; failing to write it changes nothing.
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "pid {}", std::process::id()));
    Ok(DownloadLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn second_taker_waits_for_the_first_to_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(&dir.path().join("m.gguf"));
        assert_eq!(path.file_name().unwrap(), "m.gguf.lock");
        let first = acquire(&path, |_| panic!("nothing to wait for")).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let waiter = {
            let path = path.clone();
            let released = Arc::clone(&released);
            thread::spawn(move || {
                let mut waited = String::new();
                let _second = acquire(&path, |line| waited = line.to_string()).unwrap();
                (waited, released.load(Ordering::SeqCst))
            })
        };
        thread::sleep(Duration::from_millis(150));
        released.store(true, Ordering::SeqCst);
        drop(first);
        let (waited, after_release) = waiter.join().unwrap();
        assert!(
            waited.contains(&format!("pid {}", std::process::id())),
            "the second taker should have announced a wait naming the holder: {waited:?}"
        );
        assert!(
            after_release,
            "the second taker got the lock while the first held it"
        );
    }

    #[test]
    fn a_lock_file_without_a_holder_is_taken_at_once() {
        // What a killed process leaves: the file, with no open handle on it.
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(&dir.path().join("m.gguf"));
        fs::write(&path, "pid 1\n").unwrap();
        let _lock = acquire(&path, |line| {
            panic!("a lock nobody holds must not be waited for: {line}")
        })
        .unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("pid {}\n", std::process::id())
        );
    }
}
