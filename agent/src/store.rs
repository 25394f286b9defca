//! Session files: one append-only JSON-lines file per session, written by its session only.
//!
//! The first line is a [`Record::Session`] header; every later line records one change to
//! the session's state. Reading the lines back in order rebuilds that state ([`Replay`]).

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

/// The open file of one session; the only writer of it.
#[derive(Debug)]
pub struct SessionStore {
    path: PathBuf,
    file: File,
}

impl SessionStore {
    /// Creates the file of a new session under `dir` and writes its header.
    pub fn create(dir: &Path, header: &SessionHeader) -> Result<SessionStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let path = dir.join(format!("{}.jsonl", header.id));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let mut store = SessionStore { path, file };
        store.append(&Record::Session(header.clone()))?;
        Ok(store)
    }

    /// Opens an existing session file to append to it. A last line without its newline
    /// (the process died while appending it) is finished with a newline when it holds a
    /// whole record, and cut off when it is torn ([`Replay::read`] skips it), so the next
    /// record starts a line of its own and nothing valid is lost.
    pub fn append_to(path: &Path) -> Result<SessionStore, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_error(path))?;
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
}

impl Replay {
    /// Reads a session file back.
    ///
    /// Every line must be a record, except a last line without its newline that does not
    /// parse: a crash cut it short while it was appended, and it is skipped. Any other bad
    /// line is an error naming the file and the line.
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
        if let Ok(record) = serde_json::from_slice(tail) {
            Replay::apply(&mut replay, record, path, line)?;
        }
        replay.ok_or_else(|| StoreError::corrupt(path, 1, "the file is empty".into()))
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_start_with_the_utc_time() {
        let t = UNIX_EPOCH + Duration::from_secs(1_763_786_096); // 2025-11-22 04:34:56 UTC
        assert!(
            new_session_id(t).starts_with("20251122T043456-"),
            "{}",
            new_session_id(t)
        );
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29 00:00:00
        assert!(new_session_id(leap_day).starts_with("20000229T000000-"));
        assert!(new_session_id(UNIX_EPOCH).starts_with("19700101T000000-"));
    }

    #[test]
    fn a_file_without_a_header_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(
            &path,
            "{\"type\":\"usage\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}\n",
        )
        .unwrap();
        let err = Replay::read(&path).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("header"), "{err}");
    }

    /// A session file holding a header and the user message `hi`, in `dir`.
    fn session_file(dir: &Path) -> PathBuf {
        let header = SessionHeader {
            version: SESSION_FORMAT_VERSION,
            id: "s".into(),
            created_unix: 0,
            root: dir.to_path_buf(),
            model: "m".into(),
            system: SystemPrompt::default(),
        };
        let mut store = SessionStore::create(dir, &header).unwrap();
        store.append(&message("hi")).unwrap();
        store.path().to_path_buf()
    }

    fn append_raw(path: &Path, bytes: &[u8]) {
        OpenOptions::new()
            .append(true)
            .open(path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    /// What a crash in the middle of appending a message leaves: a line cut short, within
    /// a character, with no newline.
    const TORN: &[u8] = b"{\"type\":\"message\",\"message\":{\"role\":\"user\",\"content\":\"h\xc3";

    #[test]
    fn a_last_line_cut_short_by_a_crash_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = session_file(dir.path());
        append_raw(&path, TORN);
        let replay = Replay::read(&path).unwrap();
        assert_eq!(replay.history, vec![Message::user("hi")]);
        assert_eq!(replay.turns, 1);
    }

    #[test]
    fn any_other_bad_line_is_an_error_naming_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = session_file(dir.path());
        // Complete (newline-terminated) but not a record: not a crash's doing.
        append_raw(&path, b"{\"type\":\"mess\n");
        let err = Replay::read(&path).unwrap_err().to_string();
        assert!(err.contains("s.jsonl, line 3"), "{err}");
        // A torn line followed by more lines is damage, not a crash while appending.
        let path = dir.path().join("t.jsonl");
        std::fs::copy(session_file(&dir.path().join("t")), &path).unwrap();
        append_raw(&path, TORN);
        append_raw(
            &path,
            b"\n{\"type\":\"usage\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}\n",
        );
        let err = Replay::read(&path).unwrap_err().to_string();
        assert!(err.contains("t.jsonl, line 3"), "{err}");
    }

    fn message(text: &str) -> Record {
        Record::Message {
            message: Message::user(text),
        }
    }

    /// Opens the session file at `path` again (as a resume does), appends a message and
    /// reads the history back.
    fn append_again_and_replay(path: &Path) -> Vec<Message> {
        let mut store = SessionStore::append_to(path).unwrap();
        store.append(&message("again")).unwrap();
        Replay::read(path).unwrap().history
    }

    #[test]
    fn appending_after_a_torn_line_drops_it_and_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = session_file(dir.path());
        append_raw(&path, TORN);
        // Were the torn line kept, it would now be a bad line before the last one.
        assert_eq!(
            append_again_and_replay(&path),
            vec![Message::user("hi"), Message::user("again")]
        );
    }

    #[test]
    fn appending_after_a_whole_record_without_its_newline_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = session_file(dir.path());
        let line = serde_json::to_string(&message("kept")).unwrap();
        append_raw(&path, line.as_bytes());
        assert_eq!(
            append_again_and_replay(&path),
            vec![
                Message::user("hi"),
                Message::user("kept"),
                Message::user("again")
            ]
        );
    }
}
