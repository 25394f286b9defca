//! The session file's tests: records, torn lines, the lock and the modes.

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

fn header(id: &str, root: &Path) -> SessionHeader {
    SessionHeader {
        version: SESSION_FORMAT_VERSION,
        id: id.into(),
        created_unix: 0,
        root: root.to_path_buf(),
        model: "m".into(),
        system: SystemPrompt::default(),
    }
}

/// A session file holding a header and the user message `hi`, in `dir`.
fn session_file(dir: &Path) -> PathBuf {
    let mut store = SessionStore::create(dir, &header("s", dir)).unwrap();
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
fn a_last_line_cut_short_by_a_crash_is_dropped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = session_file(dir.path());
    assert_eq!(Replay::read(&path).unwrap().warnings, Vec::<String>::new());
    append_raw(&path, TORN);
    let replay = Replay::read(&path).unwrap();
    assert_eq!(replay.history, vec![Message::user("hi")]);
    assert_eq!(replay.turns, 1);
    let [warning] = replay.warnings.as_slice() else {
        panic!("one warning expected: {:?}", replay.warnings);
    };
    assert!(
        warning.contains("s.jsonl") && warning.contains("dropped"),
        "{warning}"
    );
}

#[test]
fn a_second_writer_of_a_session_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = session_file(dir.path());
    let first = SessionStore::append_to(&path).unwrap();
    let err = SessionStore::append_to(&path).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("s.jsonl"), "{err}");
    // Reading stays possible: only appending is exclusive.
    Replay::read(&path).unwrap();
    drop(first);
    SessionStore::append_to(&path).unwrap();
}

#[test]
fn a_new_session_is_locked_from_its_creation() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::create(dir.path(), &header("s", dir.path())).unwrap();
    let err = SessionStore::append_to(store.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    // Only the session file is left: the header's temporary file was renamed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[cfg(unix)]
#[test]
fn sessions_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("hearth/sessions");
    let path = session_file(&sessions);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&sessions), 0o700);
    assert_eq!(mode(&dir.path().join("hearth")), 0o700);
    // A directory an older hearth made world-readable is tightened.
    std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o755)).unwrap();
    SessionStore::create(&sessions, &header("t", dir.path())).unwrap();
    assert_eq!(mode(&sessions), 0o700);
}

#[test]
fn an_abandoned_checkpoint_is_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let path = session_file(dir.path());
    let mut store = SessionStore::append_to(&path).unwrap();
    let checkpoint = |call_id: &str| Record::Checkpoint {
        checkpoint: Checkpoint {
            call_id: call_id.into(),
            path: "a.txt".into(),
            before: Some("one".into()),
            after: "two".into(),
            diff: String::new(),
            undone: false,
        },
    };
    store.append(&checkpoint("c1")).unwrap();
    store.append(&checkpoint("c2")).unwrap();
    let abandoned = Record::Abandoned {
        call_id: "c2".into(),
        path: "a.txt".into(),
    };
    store.append(&abandoned).unwrap();
    store.sync().unwrap();
    let replay = Replay::read(&path).unwrap();
    let calls: Vec<_> = replay
        .checkpoints
        .list()
        .iter()
        .map(|c| &c.call_id)
        .collect();
    assert_eq!(calls, ["c1"]);
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
