//! What the hub's integration tests share: fake models, and a local HTTP
//! server on 127.0.0.1 standing in for the Hugging Face hub.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use hearth_hub::{AttemptOutcome, FetchError};
use hearth_hub::{HubError, HubOptions, ModelSource, Phase, PipMirror, Progress, SourceKind};
use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> &'static str {
    leak(hex::encode(Sha256::digest(bytes)))
}

pub fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A catalog entry for `content`, with a name unique to the test.
pub fn fake_model(test: &str, content: &[u8], mirror: Option<PipMirror>) -> &'static ModelSource {
    Box::leak(Box::new(ModelSource {
        name: leak(format!("fake-{test}")),
        aliases: &[],
        description: "a fake model for tests",
        file_name: leak(format!("fake-{test}.gguf")),
        size: content.len() as u64,
        sha256: sha256_hex(content),
        hf_repo: "test/fake",
        hf_file: leak(format!("fake-{test}.gguf")),
        mirror,
    }))
}

/// Bytes that look nothing alike from part to part.
pub fn model_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request line and headers, as sent.
    pub head: String,
    /// The first byte of a `Range: bytes=N-` header, if there was one.
    pub range_start: Option<u64>,
    /// How many body bytes the server wrote in reply (so far: a request is
    /// recorded when it arrives, and counted before each write, so that a
    /// client that has read everything finds every byte counted).
    pub body_sent: u64,
}

/// What a local HTTP server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: Mutex<Vec<Request>>,
}

/// How the server answers.
#[derive(Clone)]
enum Reply {
    /// Every request gets this status and body, after `delay`.
    Fixed {
        status: &'static str,
        body: Arc<Vec<u8>>,
        delay: Duration,
    },
    /// A file served `chunk` bytes at a time with `pause` between chunks,
    /// honouring `Range: bytes=N-` when `ranges`; the first answer stops
    /// after `cut_first_after` body bytes and closes the connection.
    File {
        body: Arc<Vec<u8>>,
        ranges: bool,
        chunk: usize,
        pause: Duration,
        cut_first_after: Option<u64>,
    },
}

/// A local HTTP server on 127.0.0.1, one thread per connection.
pub struct FakeHub {
    pub endpoint: String,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FakeHub {
    /// Answers every request with one fixed response.
    pub fn serve(status: &'static str, body: Vec<u8>) -> Self {
        Self::serve_after(Duration::ZERO, status, body)
    }

    /// Like `serve`, but each answer waits `delay` first, so that overlapping
    /// clients really overlap.
    pub fn serve_after(delay: Duration, status: &'static str, body: Vec<u8>) -> Self {
        Self::start(Reply::Fixed {
            status,
            body: Arc::new(body),
            delay,
        })
    }

    /// Serves `body` slowly (`chunk` bytes, then `pause`), with or without
    /// support for ranges; the first answer breaks off after `cut_first_after` bytes.
    pub fn serve_file(
        body: Vec<u8>,
        ranges: bool,
        chunk: usize,
        pause: Duration,
        cut_first_after: Option<u64>,
    ) -> Self {
        Self::start(Reply::File {
            body: Arc::new(body),
            ranges,
            chunk,
            pause,
            cut_first_after,
        })
    }

    fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let nth = seen.connections.fetch_add(1, Ordering::SeqCst);
                            let (reply, seen, stop) =
                                (reply.clone(), Arc::clone(&seen), Arc::clone(&stop));
                            thread::spawn(move || answer(stream, &reply, nth, &seen, &stop));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            endpoint,
            seen,
            stop,
            handle: Some(handle),
        }
    }

    pub fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.seen.requests.lock().unwrap().clone()
    }
}

/// Reads one request head and answers it per `reply`; `nth` counts connections from 0.
fn answer(mut stream: TcpStream, reply: &Reply, nth: usize, seen: &Seen, stop: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let range_start = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let value = value.trim().strip_prefix("bytes=")?;
        let first = value.strip_suffix('-')?;
        name.eq_ignore_ascii_case("range")
            .then(|| first.parse().ok())
            .flatten()
    });
    let index = {
        let mut requests = seen.requests.lock().unwrap();
        requests.push(Request {
            head: head.clone(),
            range_start,
            body_sent: 0,
        });
        requests.len() - 1
    };
    let count = |bytes: u64| seen.requests.lock().unwrap()[index].body_sent += bytes;
    match reply {
        Reply::Fixed {
            status,
            body,
            delay,
        } => {
            thread::sleep(*delay);
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if stream.write_all(head.as_bytes()).is_ok() {
                count(body.len() as u64);
                let _ = stream.write_all(body);
            }
        }
        Reply::File {
            body,
            ranges,
            chunk,
            pause,
            cut_first_after,
        } => {
            let total = body.len() as u64;
            let start = range_start.filter(|_| *ranges).unwrap_or(0).min(total);
            let head = if *ranges && range_start.is_some() {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{total}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    total.saturating_sub(1),
                    total - start
                )
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n")
            };
            let limit = match cut_first_after {
                Some(cut) if nth == 0 => (start + cut).min(total),
                _ => total,
            };
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            // Offsets within one in-memory body: they fit in usize.
            let mut at = start as usize;
            while (at as u64) < limit && !stop.load(Ordering::SeqCst) {
                let end = (at + chunk).min(limit as usize);
                count((end - at) as u64);
                if stream.write_all(&body[at..end]).is_err() {
                    break;
                }
                at = end;
                thread::sleep(*pause);
            }
        }
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

pub fn options(cache: &Path, endpoint: &str) -> HubOptions {
    let mut opts = HubOptions::new(cache);
    opts.hf_endpoint = endpoint.to_string();
    opts
}

/// The names in the cache's models directory, sorted.
pub fn cache_entries(opts: &HubOptions) -> Vec<String> {
    let Ok(entries) = fs::read_dir(opts.cache_dir.join("models")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What a successful fetch leaves: the model, its lock file and its sidecar.
pub fn fetched_entries(model: &ModelSource) -> [String; 3] {
    [
        model.file_name.to_string(),
        format!("{}.lock", model.file_name),
        format!("{}.sha256", model.file_name),
    ]
}

/// Checks that a failed fetch left nothing but the lock file.
pub fn assert_nothing_left(opts: &HubOptions, model: &ModelSource) {
    assert_eq!(
        cache_entries(opts),
        [format!("{}.lock", model.file_name)],
        "left behind"
    );
}

pub fn attempts_of(err: HubError) -> Vec<(SourceKind, AttemptOutcome)> {
    match err {
        HubError::Unavailable { attempts, .. } => attempts
            .into_iter()
            .map(|a| (a.source, a.outcome))
            .collect(),
        other => panic!("expected Unavailable, got {other}"),
    }
}

/// Why source `kind` failed in `err`, and `err` as text for messages.
pub fn failure_of(err: HubError, kind: SourceKind) -> (FetchError, String) {
    let text = err.to_string();
    let failure = attempts_of(err)
        .into_iter()
        .find_map(|(source, outcome)| match outcome {
            AttemptOutcome::Failed(e) if source == kind => Some(e),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the {kind} did not fail: {text}"));
    (failure, text)
}

/// Progress that keeps every note, for tests to look at.
#[derive(Default)]
pub struct Recorded {
    pub notes: Mutex<Vec<String>>,
}

impl Progress for Recorded {
    fn update(&self, _phase: Phase, _done: u64, _total: u64) {}
    fn finish(&self) {}
    fn note(&self, line: &str) {
        self.notes.lock().unwrap().push(line.to_string());
    }
}
