//! Checkpoints: every file change a tool made, so a session's edits can be listed and undone.

use std::path::Path;

use hearth_tools::{
    read_text_file, resolve_path, write_file_atomically, Access, FileChange, ToolError,
};
use serde::{Deserialize, Serialize};

/// One file change, recorded (and flushed to disk) before a mutating tool call makes it, so
/// a crash in the middle of the write can still be undone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The tool call that made the change.
    pub call_id: String,
    /// The file, relative to the repository root.
    pub path: String,
    /// The content before; `None` when the call created the file.
    pub before: Option<String>,
    /// The content after.
    pub after: String,
    /// The unified diff.
    pub diff: String,
    /// Whether the change has been reverted.
    #[serde(default)]
    pub undone: bool,
}

impl Checkpoint {
    /// The checkpoint of a tool's change.
    pub fn new(call_id: &str, change: FileChange) -> Checkpoint {
        Checkpoint {
            call_id: call_id.to_string(),
            path: change.path,
            before: change.before,
            after: change.after,
            diff: change.diff,
            undone: false,
        }
    }
}

/// Why a change could not be undone.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// No change is left to undo.
    #[error("there is no file change to undo")]
    NothingToUndo,
    /// The file no longer holds what the tool wrote, so reverting would lose later work.
    #[error("`{path}` changed after tool call {call_id} wrote it; not reverting it, to keep those changes")]
    ChangedSince {
        /// The file.
        path: String,
        /// The call whose change was to be undone.
        call_id: String,
    },
    /// The path could not be resolved inside the repository, or the file could not be read
    /// as text (it is gone, or is now a FIFO or a directory, …).
    #[error("cannot undo the change to `{path}`: {source}")]
    Path {
        /// The file.
        path: String,
        /// Why it was refused.
        source: ToolError,
    },
    /// Reading or writing the file failed.
    #[error("cannot undo the change to `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The changes of a session, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoints {
    entries: Vec<Checkpoint>,
}

impl Checkpoints {
    /// Records a change.
    pub fn record(&mut self, checkpoint: Checkpoint) {
        self.entries.push(checkpoint);
    }

    /// Every change, oldest first, undone ones included (marked).
    pub fn list(&self) -> &[Checkpoint] {
        &self.entries
    }

    /// Forgets the latest change of `call_id` to `path` not undone: it was recorded before
    /// its tool ran, and the tool did not make it (the call failed, or wrote otherwise).
    pub fn abandon(&mut self, call_id: &str, path: &str) {
        if let Some(at) = self
            .entries
            .iter()
            .rposition(|c| c.call_id == call_id && c.path == path && !c.undone)
        {
            self.entries.remove(at);
        }
    }

    /// Marks the change of `call_id` undone (when a session file is read back).
    pub fn mark_undone(&mut self, call_id: &str, path: &str) {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .rev()
            .find(|c| c.call_id == call_id && c.path == path && !c.undone)
        {
            entry.undone = true;
        }
    }

    /// Reverts the latest change not undone yet, in the repository at `root`, and returns it.
    ///
    /// The file must still hold exactly what the tool wrote; a created file is removed. A
    /// file that still holds what it held before (the process died after recording the
    /// change but before the tool's write landed) is already reverted: the change is only
    /// marked undone.
    pub fn undo_latest(&mut self, root: &Path) -> Result<Checkpoint, UndoError> {
        let entry = self
            .entries
            .iter_mut()
            .rev()
            .find(|c| !c.undone)
            .ok_or(UndoError::NothingToUndo)?;
        let path =
            resolve_path(root, &entry.path, Access::Write).map_err(|source| UndoError::Path {
                path: entry.path.clone(),
                source,
            })?;
        let io = |source| UndoError::Io {
            path: entry.path.clone(),
            source,
        };
        // A file larger than both versions has changed since: the limit is the larger size.
        let before_len = entry.before.as_ref().map_or(0, String::len);
        let limit = entry.after.len().max(before_len) as u64;
        let current = match read_text_file(&path, &entry.path, limit) {
            Ok(current) => Current::Text(current),
            Err(ToolError::TooLarge { .. }) => Current::Other,
            Err(ToolError::NotFound { .. }) => Current::Missing,
            Err(source) => {
                return Err(UndoError::Path {
                    path: entry.path.clone(),
                    source,
                })
            }
        };
        let holds = |text: &str| matches!(&current, Current::Text(c) if c == text.as_bytes());
        let never_landed = match &entry.before {
            Some(before) => holds(before),
            None => matches!(current, Current::Missing),
        };
        if !never_landed {
            if !holds(&entry.after) {
                return Err(UndoError::ChangedSince {
                    path: entry.path.clone(),
                    call_id: entry.call_id.clone(),
                });
            }
            // Atomic, so a crash during the undo leaves the file as the tool wrote it, and
            // the undo can be run again.
            match &entry.before {
                Some(before) => write_file_atomically(&path, before.as_bytes()).map_err(io)?,
                None => std::fs::remove_file(&path).map_err(io)?,
            }
        }
        entry.undone = true;
        Ok(entry.clone())
    }
}

/// What a file to be reverted holds now.
enum Current {
    /// Its text.
    Text(Vec<u8>),
    /// Nothing: it does not exist.
    Missing,
    /// More than either version of it.
    Other,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn change(path: &str, before: Option<&str>, after: &str) -> FileChange {
        FileChange {
            path: path.into(),
            before: before.map(str::to_string),
            after: after.into(),
            diff: String::new(),
        }
    }

    #[test]
    fn undo_reverts_edits_newest_first_and_removes_created_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "two").unwrap();
        std::fs::write(dir.path().join("new.txt"), "fresh").unwrap();
        let mut checkpoints = Checkpoints::default();
        checkpoints.record(Checkpoint::new("c1", change("a.txt", Some("one"), "two")));
        checkpoints.record(Checkpoint::new("c2", change("new.txt", None, "fresh")));
        assert_eq!(checkpoints.undo_latest(dir.path()).unwrap().call_id, "c2");
        assert!(!dir.path().join("new.txt").exists());
        assert_eq!(checkpoints.undo_latest(dir.path()).unwrap().call_id, "c1");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "one"
        );
        assert!(matches!(
            checkpoints.undo_latest(dir.path()),
            Err(UndoError::NothingToUndo)
        ));
    }

    #[test]
    fn undo_of_a_change_whose_write_never_landed_leaves_the_old_file() {
        // The process died after the undo record was saved, before the tool wrote.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one").unwrap();
        let mut checkpoints = Checkpoints::default();
        checkpoints.record(Checkpoint::new("c0", change("new.txt", None, "fresh")));
        checkpoints.record(Checkpoint::new("c1", change("a.txt", Some("one"), "two")));
        assert_eq!(checkpoints.undo_latest(dir.path()).unwrap().call_id, "c1");
        assert_eq!(checkpoints.undo_latest(dir.path()).unwrap().call_id, "c0");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "one"
        );
        assert!(!dir.path().join("new.txt").exists());
        assert!(checkpoints.list().iter().all(|c| c.undone));
    }

    #[cfg(unix)]
    #[test]
    fn undo_keeps_the_file_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.sh");
        std::fs::write(&path, "two").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o750)).unwrap();
        let mut checkpoints = Checkpoints::default();
        checkpoints.record(Checkpoint::new("c1", change("run.sh", Some("one"), "two")));
        checkpoints.undo_latest(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o750);
    }

    #[test]
    fn an_abandoned_change_is_forgotten() {
        let mut checkpoints = Checkpoints::default();
        checkpoints.record(Checkpoint::new("c1", change("a.txt", Some("one"), "two")));
        checkpoints.record(Checkpoint::new("c2", change("a.txt", Some("two"), "three")));
        checkpoints.abandon("c2", "a.txt");
        let left: Vec<_> = checkpoints.list().iter().map(|c| &c.call_id).collect();
        assert_eq!(left, ["c1"]);
    }

    #[test]
    fn undo_refuses_a_file_changed_since() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "edited by hand").unwrap();
        let mut checkpoints = Checkpoints::default();
        checkpoints.record(Checkpoint::new("c1", change("a.txt", Some("one"), "two")));
        let err = checkpoints.undo_latest(dir.path()).unwrap_err();
        assert!(err.to_string().contains("changed after"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "edited by hand"
        );
    }
}
