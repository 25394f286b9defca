//! Running one command: a process group, one pipe for stdout and stderr, a deadline, and
//! output captured in bounded memory however much the command writes.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often the child is polled for exit while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long to wait for the output pipe to close once the command is over: a daemon that
/// escaped the process group may hold it open forever.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
    /// It ran past the deadline and its process group was killed.
    TimedOut,
}

/// The first and last bytes of a stream, and how much went by in between.
#[derive(Debug, Default)]
pub(crate) struct HeadTail {
    pub(crate) head: Vec<u8>,
    pub(crate) tail: VecDeque<u8>,
    pub(crate) total_bytes: usize,
    pub(crate) newlines: usize,
    pub(crate) ends_with_newline: bool,
    cap: usize,
}

impl HeadTail {
    pub(crate) fn new(cap: usize) -> Self {
        HeadTail {
            cap,
            ..HeadTail::default()
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.total_bytes += chunk.len();
        self.newlines += chunk.iter().filter(|&&b| b == b'\n').count();
        if let Some(&last) = chunk.last() {
            self.ends_with_newline = last == b'\n';
        }
        let head_room = self.cap.saturating_sub(self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..head_room]);
        self.tail.extend(&chunk[head_room..]);
        let excess = self.tail.len().saturating_sub(self.cap);
        self.tail.drain(..excess);
    }

    /// Whether bytes were dropped between head and tail.
    pub(crate) fn overflowed(&self) -> bool {
        self.total_bytes > self.head.len() + self.tail.len()
    }

    /// Lines in the whole stream, counting a last line without a newline.
    pub(crate) fn total_lines(&self) -> usize {
        self.newlines + usize::from(self.total_bytes > 0 && !self.ends_with_newline)
    }
}

/// What running a command produced.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) output: HeadTail,
    pub(crate) ending: Ending,
    /// The output pipe was still open after the command ended (an escaped background process).
    pub(crate) output_abandoned: bool,
}

/// The command that runs `script` with `sh -c` in `dir` with exactly `env`; the caller may
/// confine it further before [`run_command`] runs it.
pub(crate) fn script_command(script: &str, dir: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(name, value)| (name, value)));
    command
}

/// Runs `command` with no stdin, stdout and stderr on one pipe, until it exits or `timeout`
/// passes; then kills whatever is left of its process group, so background jobs do not
/// outlive the call.
pub(crate) fn run_command(
    mut command: Command,
    timeout: Duration,
    capture_bytes: usize,
) -> std::io::Result<Finished> {
    // std's pipe is close-on-exec, so a command spawned by another thread at the same
    // moment cannot inherit the write end and keep the pipe open.
    let (mut reader, writer) = std::io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer.try_clone()?))
        .stderr(Stdio::from(writer));
    set_own_process_group(&mut command);
    let mut child = command.spawn()?;
    // The command holds our copies of the write end; until it is gone the reader cannot
    // see end-of-file.
    drop(command);

    let captured = Arc::new(Mutex::new(HeadTail::new(capture_bytes)));
    let (done_tx, done_rx) = mpsc::channel();
    let sink = Arc::clone(&captured);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(&buffer[..n]);
        }
        // The receiver may have given up waiting; nothing is lost by a failed send.
        let _ = done_tx.send(());
    });

    let deadline = Instant::now() + timeout;
    let status: Option<ExitStatus> = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            kill_process_group(&mut child);
            child.wait()?;
            break None;
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    kill_process_group(&mut child);
    let output_abandoned = done_rx.recv_timeout(DRAIN_GRACE).is_err();

    let output = std::mem::take(&mut *captured.lock().unwrap_or_else(PoisonError::into_inner));
    let ending = match status {
        None => Ending::TimedOut,
        Some(status) => match (status.code(), signal_of(&status)) {
            (Some(code), _) => Ending::Exited(code),
            (None, Some(signal)) => Ending::Signaled(signal),
            (None, None) => Ending::Exited(-1),
        },
    };
    Ok(Finished {
        output,
        ending,
        output_abandoned,
    })
}

#[cfg(unix)]
fn set_own_process_group(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

#[cfg(not(unix))]
fn set_own_process_group(_command: &mut Command) {}

/// Kills every process left in the child's process group (the group id is the child's pid,
/// set at spawn). The group id cannot have been reused while any member lives.
#[cfg(unix)]
fn kill_process_group(child: &mut std::process::Child) {
    if let Ok(group) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill has no memory-safety preconditions; a group that is already gone
        // makes it fail with ESRCH, which is the outcome we want anyway.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

#[cfg(not(unix))]
fn kill_process_group(child: &mut std::process::Child) {
    // Without process groups only the direct child can be stopped; it may already be gone.
    let _ = child.kill();
}

#[cfg(unix)]
fn signal_of(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal_of(_status: &ExitStatus) -> Option<i32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_and_tail_keep_the_ends_of_a_long_stream() {
        let mut captured = HeadTail::new(4);
        captured.push(b"ab\ncd");
        captured.push(b"ef\ngh\n");
        assert_eq!(captured.head, b"ab\nc");
        assert_eq!(
            captured.tail.iter().copied().collect::<Vec<u8>>(),
            b"\ngh\n"
        );
        assert!(captured.overflowed());
        assert_eq!((captured.total_bytes, captured.total_lines()), (11, 3));
    }

    #[test]
    fn short_streams_fit_in_the_head() {
        let mut captured = HeadTail::new(100);
        captured.push(b"one\ntwo");
        assert!(!captured.overflowed());
        assert_eq!(captured.total_lines(), 2);
    }
}
