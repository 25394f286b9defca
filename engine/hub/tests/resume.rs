//! Interrupted downloads: the download lock dies with its process, and the
//! next run asks only for the rest of the file. Everything is served from
//! 127.0.0.1 by the test itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    cache_entries, failure_of, fake_model, fetched_entries, model_bytes, options, FakeHub,
    Recorded, Request,
};
use hearth_hub::{cached_path, pull, FetchError, HubOptions, ModelSource, SourceKind};

/// The size of the fake model: a few read buffers long, so that an
/// interruption can fall in the middle.
const SIZE: usize = 4 << 20;

/// Where an interrupted download of `model` waits to be resumed.
fn partial_of(model: &ModelSource, opts: &HubOptions) -> PathBuf {
    cached_path(model, opts).with_file_name(format!("{}.partial", model.file_name))
}

/// Polls `done` every 5 ms until it holds or `timeout` passes; whether it held.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// Pulls `model` on another thread and gives up waiting after `timeout`, so
/// that a run blocked by a lock fails the test instead of hanging it.
fn pull_within(
    model: &'static ModelSource,
    opts: HubOptions,
    timeout: Duration,
) -> Result<PathBuf, String> {
    let (sender, result) = mpsc::channel();
    thread::spawn(move || sender.send(pull(model, &opts).map_err(|e| e.to_string())));
    result
        .recv_timeout(timeout)
        .unwrap_or_else(|_| Err(format!("still not done after {timeout:?}")))
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_a_download_does_not_block_the_next_run() {
    use std::process::{Command, Stdio};

    let content = model_bytes(SIZE, 50);
    // 16 KiB every 5 ms: about 3 MB/s, over a second for the whole file.
    let hub = FakeHub::serve_file(
        content.clone(),
        true,
        16 << 10,
        Duration::from_millis(5),
        None,
    );
    let model = fake_model("ctrl-c", &content, None);
    let cache = tempfile::tempdir().unwrap();
    let mut opts = options(cache.path(), &hub.endpoint);
    let partial = partial_of(model, &opts);

    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth-hub-pull"))
        .arg(cache.path())
        .args([&hub.endpoint, model.file_name])
        .args([model.size.to_string(), model.sha256.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once a first part of the file is on disk, long before the end.
    let underway = wait_until(Duration::from_secs(30), || {
        fs::metadata(&partial).is_ok_and(|m| m.len() >= 1 << 20)
    });
    if !underway {
        let _ = child.kill();
        panic!("the download process wrote no 1 MiB within 30 s");
    }
    // What Ctrl-C sends: SIGINT, whose default action ends the process
    // without running any destructor.
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -INT failed");
    let mut exit = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            exit = child.try_wait().unwrap();
            exit.is_some()
        }),
        "the download process ignored SIGINT"
    );
    let exit = exit.unwrap();
    assert!(
        !exit.success(),
        "the download finished before it was interrupted"
    );
    let kept = fs::metadata(&partial).unwrap().len();
    assert!(kept > 0 && kept < model.size, "kept {kept} bytes");
    // The killed process's lock file is still there; only its lock is gone.
    assert!(cache_entries(&opts).contains(&format!("{}.lock", model.file_name)));

    // A dead holder's lock used to hold successors off for two minutes.
    let recorded = Arc::new(Recorded::default());
    opts.progress = recorded.clone();
    let started = Instant::now();
    let path = pull_within(model, opts.clone(), Duration::from_secs(30)).unwrap();
    assert_eq!(fs::read(&path).unwrap(), content);
    let notes = recorded.notes.lock().unwrap().clone();
    assert!(
        !notes.iter().any(|n| n.contains("waiting")),
        "the second run waited for a dead process: {notes:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // And it went on where the first run stopped.
    let requests = hub.requests();
    assert!(
        requests.iter().any(|r| r.range_start == Some(kept)),
        "no request for bytes {kept}-: {requests:?}"
    );
    assert_eq!(cache_entries(&opts), fetched_entries(model));
}

/// Serves a model (with or without support for ranges) whose first answer
/// breaks off after `cut` bytes, as a dropped connection would; pulls it
/// twice, checks what each pull left, and returns the second request.
fn pull_across_a_cut(test: &str, ranges: bool, cut: u64) -> Request {
    let content = model_bytes(SIZE, 51);
    let hub = FakeHub::serve_file(content.clone(), ranges, 64 << 10, Duration::ZERO, Some(cut));
    let model = fake_model(test, &content, None);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &hub.endpoint);

    let (failure, text) = failure_of(pull(model, &opts).unwrap_err(), SourceKind::Hub);
    let broke_off = matches!(
        failure,
        FetchError::Http { .. } | FetchError::SizeMismatch { .. }
    );
    assert!(broke_off, "{text}");
    // Every byte that came is kept for the next run.
    assert_eq!(fs::metadata(partial_of(model, &opts)).unwrap().len(), cut);

    let path = pull(model, &opts).unwrap();
    assert_eq!(fs::read(&path).unwrap(), content);
    assert_eq!(cache_entries(&opts), fetched_entries(model));
    let requests = hub.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    requests[1].clone()
}

#[test]
fn an_interrupted_download_is_resumed_with_a_range_request() {
    let cut = 1_500_000;
    let resumed = pull_across_a_cut("resume", true, cut);
    assert_eq!(resumed.range_start, Some(cut), "{}", resumed.head);
    assert_eq!(resumed.body_sent, SIZE as u64 - cut);
}

#[test]
fn a_server_without_ranges_sends_the_whole_file_again() {
    let cut = 1_000_000;
    let resumed = pull_across_a_cut("no-ranges", false, cut);
    assert_eq!(resumed.range_start, Some(cut), "{}", resumed.head);
    assert_eq!(resumed.body_sent, SIZE as u64);
}

#[test]
fn a_partial_download_with_wrong_bytes_is_dropped_after_the_check() {
    let content = model_bytes(SIZE, 53);
    let hub = FakeHub::serve_file(content.clone(), true, 64 << 10, Duration::ZERO, None);
    let model = fake_model("wrong-partial", &content, None);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &hub.endpoint);
    let partial = partial_of(model, &opts);
    fs::create_dir_all(partial.parent().unwrap()).unwrap();
    fs::write(&partial, model_bytes(1000, 99)).unwrap();

    let (failure, text) = failure_of(pull(model, &opts).unwrap_err(), SourceKind::Hub);
    assert!(matches!(failure, FetchError::ShaMismatch { .. }), "{text}");
    assert!(!partial.exists(), "bytes that failed the check were kept");
    let path = pull(model, &opts).unwrap();
    assert_eq!(fs::read(&path).unwrap(), content);
    let starts: Vec<Option<u64>> = hub.requests().iter().map(|r| r.range_start).collect();
    assert_eq!(starts, [Some(1000), None]);
}
