//! Replacing a file so that a crash at any moment leaves either its old content or its new
//! content, never a mix, an empty file, or a file that lost its mode.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces the content of the file at `path` (created when missing) with `bytes`, atomically.
///
/// The bytes go to a temporary file in the same directory (a rename is atomic only within
/// one file system), which is flushed to disk (`fsync`) and then renamed over `path`; the
/// directory is flushed too, so the rename itself survives a power loss. An existing file's
/// permission bits are carried over to the new one; a new file gets the mode a plain create
/// gives (0666 less the umask).
///
/// `path` must be physical (no symlink as its last component: the rename would replace the
/// link, not its target); [`crate::resolve_path`] returns such paths. A hard link to the old
/// file keeps the old content, as with any editor that saves by renaming.
///
/// Errors are those of the file system, with the temporary file removed; `path` is then
/// untouched.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let existing = match std::fs::metadata(path) {
        Ok(meta) => Some(meta.permissions()),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let (tmp_path, mut tmp) = create_temp(dir, path)?;
    let written = (|| {
        if let Some(permissions) = existing {
            // Before the content goes in, so the new file is never readable more widely
            // than the old one was.
            tmp.set_permissions(permissions)?;
        }
        tmp.write_all(bytes)?;
        tmp.sync_all()?;
        std::fs::rename(&tmp_path, path)
    })();
    if let Err(e) = written {
        // Best effort: the error that matters is the one returned.
        let _ = std::fs::remove_file(&tmp_path);
        return Err(e);
    }
    sync_dir(dir)
}

/// Creates a new, empty temporary file next to `target`, named after it and this process
/// so two writers never share one; a leftover from a crash starts with `.` and ends with
/// `.tmp`.
fn create_temp(dir: &Path, target: &Path) -> std::io::Result<(PathBuf, File)> {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    loop {
        let tmp_path = dir.join(format!(
            ".{name}.hearth-{}-{}.tmp",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
        {
            Ok(file) => return Ok((tmp_path, file)),
            // A leftover of an earlier process with the same id: take the next name.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Flushes a directory's entries to disk, so a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    // Windows cannot open a directory as a file; its renames are journaled by NTFS.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replaces_the_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        write_file_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        write_file_atomically(&dir.path().join("b.txt"), b"created").unwrap();
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt", "b.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_mode_of_the_file_it_replaces() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o755, 0o600, 0o640] {
            let path = dir.path().join(format!("f{mode:o}"));
            std::fs::write(&path, "old").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            write_file_atomically(&path, b"new").unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(
                meta.permissions().mode() & 0o7777,
                mode,
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn a_failed_write_leaves_the_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        // A directory where the file's directory should be: nothing can be created there.
        let err = write_file_atomically(&path.join("below"), b"new").unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::NotADirectory | ErrorKind::NotFound
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
