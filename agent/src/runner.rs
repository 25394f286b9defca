//! A session on its own thread: ops go in through one channel, events come out of another.
//!
//! A second thread watches the op channel so that an [`Op::Interrupt`] takes effect while
//! the session thread is busy inside a model request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::AgentError;
use crate::protocol::ToolCall;
use crate::protocol::{Event, Op};
use crate::session::{Approval, Session, TurnIo};

/// The front end's side of a running session.
#[derive(Debug)]
pub struct AgentHandle {
    /// Where ops are submitted.
    pub ops: Sender<Op>,
    /// Where events arrive; it closes when the session ends.
    pub events: Receiver<Event>,
    thread: JoinHandle<Result<(), AgentError>>,
}

impl AgentHandle {
    /// Waits for the session to end ([`Op::Shutdown`] or the op channel closing).
    pub fn join(self) -> Result<(), AgentError> {
        drop(self.ops);
        match self.thread.join() {
            Ok(result) => result,
            // A panic in the session is a bug: it reaches the caller as the panic it was.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

struct ChannelIo {
    events: Sender<Event>,
    ops: Receiver<Op>,
    pending: VecDeque<Op>,
    interrupt: Arc<AtomicBool>,
}

impl TurnIo for ChannelIo {
    fn emit(&mut self, event: Event) {
        // A front end that went away no longer wants events; the session ends at its next op.
        let _ = self.events.send(event);
    }

    fn approve(&mut self, call: &ToolCall) -> Approval {
        loop {
            let Ok(op) = self.ops.recv() else {
                return Approval::Denied("the front end closed".into());
            };
            match op {
                Op::Approve { call_id } if call_id == call.call_id => return Approval::Approved,
                Op::ApproveForSession { call_id, scope } if call_id == call.call_id => {
                    return Approval::ApprovedForSession(scope)
                }
                Op::Deny { call_id, reason } if call_id == call.call_id => {
                    return Approval::Denied(reason)
                }
                Op::Interrupt => return Approval::Denied("the user interrupted the turn".into()),
                Op::Approve { .. } | Op::ApproveForSession { .. } | Op::Deny { .. } => {}
                other => self.pending.push_back(other),
            }
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }
}

/// Runs `session` on a thread of its own until [`Op::Shutdown`].
pub fn spawn(mut session: Session) -> AgentHandle {
    let (ops_tx, ops_rx) = channel::<Op>();
    let (inner_tx, inner_rx) = channel::<Op>();
    let (events_tx, events_rx) = channel::<Event>();
    let interrupt = Arc::new(AtomicBool::new(false));
    let watcher_flag = Arc::clone(&interrupt);
    std::thread::spawn(move || {
        for op in ops_rx {
            if matches!(op, Op::Interrupt | Op::Shutdown) {
                watcher_flag.store(true, Ordering::SeqCst);
            }
            if inner_tx.send(op).is_err() {
                break;
            }
        }
    });
    let thread = std::thread::spawn(move || {
        let mut io = ChannelIo {
            events: events_tx,
            ops: inner_rx,
            pending: VecDeque::new(),
            interrupt,
        };
        loop {
            let op = match io.pending.pop_front() {
                Some(op) => op,
                None => match io.ops.recv() {
                    Ok(op) => op,
                    Err(_) => return Ok(()),
                },
            };
            if matches!(op, Op::UserTurn(_)) {
                io.interrupt.store(false, Ordering::SeqCst);
            }
            match session.handle(op, &mut io) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                // The error was reported as an event; the session takes the next op.
                Err(AgentError::Backend(_) | AgentError::Tool { .. }) => {}
                Err(other) => return Err(other),
            }
        }
    });
    AgentHandle {
        ops: ops_tx,
        events: events_rx,
        thread,
    }
}
