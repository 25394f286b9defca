//! Session files: one append-only JSON-lines file per session, written by its session only.
//!
//! The first line is a [`Record::Session`] header; every later line records one change to
//! the session's state. Reading the lines back in order rebuilds that state ([`Replay`]).
//!
//! Crash safety: a file appears only with its header complete; a line cut short by a crash
//! is dropped with a warning when read back, and cut off before the next append; the file
//! is flushed to disk ([`SessionStore::sync`]) at the end of each turn and before a tool
//! writes a file, so the undo record is on disk first. One process appends to a session at
//! a time (an advisory lock). Session files hold every prompt and file content, so they are
//! created 0600 in a 0700 directory.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hearth_engine::api::{Message, SystemPrompt, Usage};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, Checkpoints};

/// The version of the session file format.
pub const SESSION_FORMAT_VERSION: u32 = 1;

/// The first line of a session file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionHeader {
    /// The format version.
    pub version: u32,
    /// The session's id (also the file's name without `.jsonl`).
    pub id: String,
    /// When it began, in seconds since the Unix epoch.
    pub created_unix: u64,
    /// The canonical repository root.
    pub root: PathBuf,
    /// The model it started with.
    pub model: String,
    /// The system prompt, kept so a resumed session sends the same prefix.
    pub system: SystemPrompt,
}

/// One line of a session file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The header.
    Session(SessionHeader),
    /// A message appended to the history.
    Message {
        /// The message.
        message: Message,
    },
    /// The token counts of one model request.
    Usage {
        /// The counts.
        usage: Usage,
    },
    /// The history was compacted: it is now `history`.
    Compaction {
        /// The history after compaction (the summary first).
        history: Vec<Message>,
    },
    /// A tool changed a file.
    Checkpoint {
        /// The change.
        checkpoint: Checkpoint,
    },
    /// A change recorded before its tool ran was not made (the call failed, or wrote
    /// something else, which has a record of its own).
    Abandoned {
        /// The call.
        call_id: String,
        /// The file.
        path: String,
    },
    /// A change was reverted.
    Undo {
        /// The call whose change was reverted.
        call_id: String,
        /// The file.
        path: String,
    },
}

/// Why a session file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O on the file or its directory failed.
    #[error("session file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a record of this format.
    #[error("session file {path}, line {line}: not a session record ({message})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// Another process holds the session open for appending.
    #[error(
        "session file {path} is in use by another hearth process; wait for it to finish, \
         or start a new session"
    )]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// No session of that id, or none at all for `--last`.
    #[error("no session {what} in {dir}")]
    NotFound {
        /// What was looked for.
        what: String,
        /// The sessions directory.
        dir: PathBuf,
    },
}

impl StoreError {
    fn corrupt(path: &Path, line: usize, message: String) -> StoreError {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            line,
            message,
        }
    }
}

/// A session file's bytes split after the last newline: the complete lines, and what
/// follows them (empty, unless the process died while appending a line).
fn split_tail(bytes: &[u8]) -> (&[u8], &[u8]) {
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.split_at(end)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The open file of one session; the only writer of it, holding its advisory lock while
/// it is open (the lock goes with the file, so a killed process never leaves it behind).
#[derive(Debug)]
pub struct SessionStore {
    path: PathBuf,
    file: File,
}

impl SessionStore {
    /// Creates the file of a new session under `dir` (created 0700 if missing) and writes
    /// its header.
    ///
    /// The header goes to a temporary file first, which is renamed into place once it is on
    /// disk: a crash never leaves a session file without its header, which could not be
    /// resumed.
    pub fn create(dir: &Path, header: &SessionHeader) -> Result<SessionStore, StoreError> {
        private_dir(dir)?;
        let path = dir.join(format!("{}.jsonl", header.id));
        let tmp = dir.join(format!(".{}.jsonl.tmp", header.id));
        let file = private_file().open(&tmp).map_err(io_error(&tmp))?;
        lock(&file, &path)?;
        let mut store = SessionStore { path, file };
        let written = store
            .append(&Record::Session(header.clone()))
            .and_then(|()| store.sync())
            .and_then(|()| {
                // Ids are unique per process and second, so this only guards against a bug:
                // rename would replace another session's file silently.
                if store.path.exists() {
                    let taken = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
                    return Err(io_error(&store.path)(taken));
                }
                std::fs::rename(&tmp, &store.path).map_err(io_error(&store.path))
            });
        if let Err(e) = written {
            // Best effort: the error that matters is the one returned.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        hearth_tools::sync_dir(dir).map_err(io_error(dir))?;
        Ok(store)
    }

    /// Opens an existing session file to append to it, taking its lock
    /// ([`StoreError::Locked`] when another process appends to it). A last line without its
    /// newline (the process died while appending it) is finished with a newline when it
    /// holds a whole record, and cut off when it is torn ([`Replay::read`] drops it with a
    /// warning), so the next record starts a line of its own and nothing valid is lost.
    pub fn append_to(path: &Path) -> Result<SessionStore, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_error(path))?;
        // Before the tail is mended: the process holding the lock may be appending to it.
        lock(&file, path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_error(path))?;
        let (complete, tail) = split_tail(&bytes);
        if !tail.is_empty() {
            let mended = if serde_json::from_slice::<Record>(tail).is_ok() {
                file.write_all(b"\n")
            } else {
                file.set_len(complete.len() as u64)
            };
            mended.map_err(io_error(path))?;
        }
        Ok(SessionStore {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes what was appended to the disk (`fsync`), so a power loss keeps it too; a
    /// process killed keeps it without this.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(io_error(&self.path))
    }

    /// Appends one record as one line, flushed so a crash loses at most that line.
    pub fn append(&mut self, record: &Record) -> Result<(), StoreError> {
        let mut line = serde_json::to_string(record).map_err(|e| StoreError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(io_error(&self.path))
    }
}

/// A session's state, rebuilt from its file.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The header.
    pub header: SessionHeader,
    /// The history as it stood at the end.
    pub history: Vec<Message>,
    /// The usage summed over every request.
    pub usage: Usage,
    /// The file changes.
    pub checkpoints: Checkpoints,
    /// How many user turns the history holds, compacted ones included.
    pub turns: u32,
    /// What the caller should tell the user about the file: a last line cut short by a
    /// crash, which was dropped.
    pub warnings: Vec<String>,
}

impl Replay {
    /// Reads a session file back.
    ///
    /// Every line must be a record, except a last line without its newline that does not
    /// parse: a crash cut it short while it was appended, and it is dropped with a warning
    /// ([`Replay::warnings`]). Any other bad line is an error naming the file and the line.
    pub fn read(path: &Path) -> Result<Replay, StoreError> {
        let bytes = std::fs::read(path).map_err(io_error(path))?;
        let (complete, tail) = split_tail(&bytes);
        let mut replay: Option<Replay> = None;
        let mut line = 0;
        for text in complete.split(|&b| b == b'\n') {
            line += 1;
            if text.trim_ascii().is_empty() {
                continue;
            }
            let record = serde_json::from_slice(text)
                .map_err(|e| StoreError::corrupt(path, line, e.to_string()))?;
            Replay::apply(&mut replay, record, path, line)?;
        }
        // `complete` ends with a newline, after which `split` counted one empty line.
        let mut warnings = Vec::new();
        match serde_json::from_slice(tail) {
            Ok(record) => Replay::apply(&mut replay, record, path, line)?,
            Err(_) if tail.is_empty() => {}
            Err(_) => warnings.push(format!(
                "session file {}: the last line ({} bytes) was cut short, likely by a crash \
                 while it was written; it was dropped",
                path.display(),
                tail.len()
            )),
        }
        let mut replay =
            replay.ok_or_else(|| StoreError::corrupt(path, 1, "the file is empty".into()))?;
        replay.warnings = warnings;
        Ok(replay)
    }

    /// Applies the record on line `line` of the file at `path` to the state read so far.
    fn apply(
        replay: &mut Option<Replay>,
        record: Record,
        path: &Path,
        line: usize,
    ) -> Result<(), StoreError> {
        match (replay, record) {
            (replay @ None, Record::Session(header)) => {
                if header.version != SESSION_FORMAT_VERSION {
                    return Err(StoreError::corrupt(
                        path,
                        line,
                        format!(
                            "format version {}, expected {SESSION_FORMAT_VERSION}",
                            header.version
                        ),
                    ));
                }
                *replay = Some(Replay {
                    header,
                    history: Vec::new(),
                    usage: Usage::default(),
                    checkpoints: Checkpoints::default(),
                    turns: 0,
                    warnings: Vec::new(),
                });
            }
            (None, _) | (Some(_), Record::Session(_)) => {
                return Err(StoreError::corrupt(
                    path,
                    line,
                    "the header must be the first line, and only the first".into(),
                ))
            }
            (Some(state), Record::Message { message }) => {
                if crate::history::starts_user_turn(&message) {
                    state.turns += 1;
                }
                state.history.push(message);
            }
            (Some(state), Record::Usage { usage }) => state.usage.add(&usage),
            (Some(state), Record::Compaction { history }) => state.history = history,
            (Some(state), Record::Checkpoint { checkpoint }) => {
                state.checkpoints.record(checkpoint)
            }
            (Some(state), Record::Abandoned { call_id, path }) => {
                state.checkpoints.abandon(&call_id, &path)
            }
            (Some(state), Record::Undo { call_id, path }) => {
                state.checkpoints.mark_undone(&call_id, &path)
            }
        }
        Ok(())
    }

    /// The file of session `id` under `dir`.
    pub fn find(dir: &Path, id: &str) -> Result<PathBuf, StoreError> {
        let path = dir.join(format!("{id}.jsonl"));
        if id.contains(['/', '\\']) || !path.is_file() {
            return Err(StoreError::NotFound {
                what: format!("`{id}`"),
                dir: dir.to_path_buf(),
            });
        }
        Ok(path)
    }

    /// The most recently written session under `dir` whose repository is `root`.
    pub fn find_last(dir: &Path, root: &Path) -> Result<PathBuf, StoreError> {
        Replay::find_last_except(dir, root, None)
    }

    /// [`Replay::find_last`], passing over the file `except` (the running session's own).
    pub fn find_last_except(
        dir: &Path,
        root: &Path,
        except: Option<&Path>,
    ) -> Result<PathBuf, StoreError> {
        let not_found = || StoreError::NotFound {
            what: format!("for {}", root.display()),
            dir: dir.to_path_buf(),
        };
        let entries = std::fs::read_dir(dir).map_err(|_| not_found())?;
        let mut best: Option<(SystemTime, PathBuf)> = None;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "jsonl") || Some(path.as_path()) == except {
                continue;
            }
            // Only a regular file is opened: reading a FIFO's header would wait forever.
            let meta = std::fs::metadata(&path).ok().filter(|m| m.is_file());
            let Some(modified) = meta.and_then(|m| m.modified().ok()) else {
                continue;
            };
            if best.as_ref().is_some_and(|(t, _)| *t >= modified) {
                continue;
            }
            if read_header(&path).is_some_and(|h| h.root == root) {
                best = Some((modified, path));
            }
        }
        best.map(|(_, path)| path).ok_or_else(not_found)
    }
}

/// Takes the advisory lock of the session file at `path`, open as `file`, without waiting.
fn lock(file: &File, path: &Path) -> Result<(), StoreError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.to_path_buf(),
        }),
        // A file system without locks (some network ones) should not make sessions
        // unusable: the lock only guards against a user's own second process.
        Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            Ok(())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io_error(path)(e)),
    }
}

/// Creates the sessions directory `dir` and its missing parents, 0700, and tightens `dir`
/// itself to 0700 when an older hearth left it readable by others.
fn private_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir))?;
        let meta = std::fs::metadata(dir).map_err(io_error(dir))?;
        if meta.permissions().mode() & 0o077 != 0 {
            // Best effort: a directory the user shares on purpose (not theirs) stays as is.
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(io_error(dir))
}

/// Options that create a new file for appending, readable by its owner only.
fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.append(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn read_header(path: &Path) -> Option<SessionHeader> {
    let mut line = String::new();
    BufReader::new(File::open(path).ok()?)
        .read_line(&mut line)
        .ok()?;
    match serde_json::from_str(&line).ok()? {
        Record::Session(header) => Some(header),
        _ => None,
    }
}

/// A new session id: the UTC start time to the second, then a per-process discriminator, so
/// ids sort by time and two sessions started in one second differ.
pub fn new_session_id(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    // A clock outside jiff's range (years -9999 to 9999) is broken; the epoch still sorts.
    let time = jiff::Timestamp::try_from(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let tag = (since.subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xff_ffff;
    format!("{}-{tag:06x}", time.strftime("%Y%m%dT%H%M%S"))
}

#[cfg(test)]
mod tests;
