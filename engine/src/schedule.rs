//! The one scheduler: forward passes of many sequences run through the weights
//! together (continuous batching).
//!
//! Each sequence keeps its own generation loop ([`crate::generation::generate`]) on
//! its own thread; the loop's only contact with the model is [`ForwardPass::forward`].
//! Served by a [`Scheduler`], that call hands the sequence's tokens and KV cache to
//! the scheduler's thread and waits. The thread gathers the calls of every seated
//! sequence (those between prefill and their last token, see [`Scheduler::seat`]),
//! runs them as one batched pass ([`Transformer::forward_batch`]) and hands each
//! its logits and cache back. A sequence joins or leaves between two passes.
//!
//! On a memory-bound machine a pass costs about what reading the weights costs, so a
//! pass for eight sequences' next tokens costs little more than one. A long prompt
//! is cut into pieces of at most [`BatchOptions::step_tokens`] rows while other
//! sequences are decoding, so their streams keep flowing while it is prefilled.
//! Rows do not affect each other's arithmetic: a sequence's logits are the same,
//! bit for bit, alone or in any batch.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::kv::KvCache;
use crate::model::load::Model;
use crate::model::transformer::{ForwardError, LogitsFor, SequenceRows, Transformer};

/// What a generation loop needs of the model: forward passes over its cache.
pub trait ForwardPass: Sync {
    /// Runs `tokens` after what `kv` holds and returns the logits `logits` selects, as
    /// [`Transformer::forward`].
    fn forward(
        &self,
        tokens: &[u32],
        kv: &mut KvCache,
        logits: LogitsFor,
    ) -> Result<Vec<f32>, ForwardError>;

    /// Whether other sequences share the passes now: an extra row then costs them
    /// time too, so speculative drafts (which pay only when rows are nearly free)
    /// are left out.
    fn shared(&self) -> bool {
        false
    }
}

impl ForwardPass for Transformer {
    fn forward(
        &self,
        tokens: &[u32],
        kv: &mut KvCache,
        logits: LogitsFor,
    ) -> Result<Vec<f32>, ForwardError> {
        Transformer::forward(self, tokens, kv, logits)
    }
}

/// Calls of at most this many rows are decode steps (a token and its draft); longer
/// ones are prompts, cut to fit beside them.
const DECODE_ROWS: usize = 16;

/// Rows of a waiting prompt every pass runs, however many decode rows fill it.
const MIN_PROMPT_ROWS: usize = 4;

/// How the scheduler forms its passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOptions {
    /// Rows of one pass while sequences are decoding: their decode rows first, then
    /// as much of waiting prompts as fits. (A pass with no decoding sequence takes
    /// whole prompt chunks.) Fewer rows keep streams smoother during another's
    /// prefill; more make that prefill finish sooner.
    pub step_tokens: usize,
    /// How long a pass waits for the seated sequences that have not yet asked for
    /// their next pass (each is picking its next token).
    pub gather: Duration,
}

impl Default for BatchOptions {
    fn default() -> BatchOptions {
        BatchOptions {
            step_tokens: 16,
            gather: Duration::from_millis(3),
        }
    }
}

/// Counters of the scheduler, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Sequences seated now (prefilling or decoding).
    pub seated: usize,
    /// Passes run so far.
    pub passes: u64,
    /// Rows run so far, over all passes.
    pub rows: u64,
    /// Sequences in the last pass.
    pub last_sequences: usize,
    /// Rows in the last pass.
    pub last_rows: usize,
    /// Time spent in passes so far (the rest of the scheduler's life it waited for
    /// calls).
    pub busy: Duration,
}

/// What a finished call hands back: the cache, and the logits or why there are none.
type Reply = (KvCache, Result<Vec<f32>, ForwardError>);

/// One sequence's call, while it waits or is partly run.
struct Call {
    tokens: Vec<u32>,
    /// Tokens already run.
    done: usize,
    kv: KvCache,
    logits: LogitsFor,
    /// Logits gathered so far.
    out: Vec<f32>,
    reply: mpsc::SyncSender<Reply>,
}

impl Call {
    fn remaining(&self) -> usize {
        self.tokens.len() - self.done
    }

    /// Which of the next `n` rows need logits, in the call's terms.
    fn logits_for(&self, n: usize) -> LogitsFor {
        let end = self.done + n;
        let first = match self.logits {
            LogitsFor::Last => self.tokens.len().saturating_sub(1),
            LogitsFor::From(from) => from.min(self.tokens.len()),
        };
        LogitsFor::From(first.clamp(self.done, end) - self.done)
    }
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Call>,
    closed: bool,
    stats: BatchStats,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a call arrives, a sequence leaves its seat, or the scheduler closes.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic never happens while the lock is held (passes run outside it), so a
        // poisoned lock still guards consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The batch scheduler of one model: a thread that runs every sequence's passes.
pub struct Scheduler {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A sequence's place in the batch: while held, passes wait (briefly) for its calls.
#[must_use = "a seat counts only while it is held"]
pub struct Seat {
    shared: Arc<Shared>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.stats.seated = state.stats.seated.saturating_sub(1);
        drop(state);
        self.shared.changed.notify_all();
    }
}

impl Scheduler {
    /// Starts the scheduler's thread for `model`.
    pub fn start(model: Arc<Model>, options: BatchOptions) -> std::io::Result<Scheduler> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("hearth-batch".into())
            .spawn(move || run(&model, &worker, options))?;
        Ok(Scheduler {
            shared,
            thread: Some(thread),
        })
    }

    /// Seats a sequence from its prefill to its last token.
    pub fn seat(&self) -> Seat {
        self.shared.lock().stats.seated += 1;
        Seat {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The counters now.
    pub fn stats(&self) -> BatchStats {
        self.shared.lock().stats
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread only ends; a panic in it was already answered to its calls.
            let _ = thread.join();
        }
    }
}

impl ForwardPass for Scheduler {
    fn forward(
        &self,
        tokens: &[u32],
        kv: &mut KvCache,
        logits: LogitsFor,
    ) -> Result<Vec<f32>, ForwardError> {
        let (reply, answer) = mpsc::sync_channel(1);
        // The cache travels to the scheduler's thread and back; an empty one stands in.
        let taken = std::mem::replace(kv, KvCache::new(kv.shape(), kv.limit()));
        {
            let mut state = self.shared.lock();
            if state.closed {
                *kv = taken;
                return Err(ForwardError::Scheduler("it has stopped".into()));
            }
            state.waiting.push_back(Call {
                tokens: tokens.to_vec(),
                done: 0,
                kv: taken,
                logits,
                out: Vec::new(),
                reply,
            });
        }
        self.shared.changed.notify_all();
        let (back, result) = answer
            .recv()
            .map_err(|_| ForwardError::Scheduler("it stopped before answering".into()))?;
        *kv = back;
        result
    }

    fn shared(&self) -> bool {
        self.shared.lock().stats.seated > 1
    }
}

/// The scheduler's thread: forms and runs passes until closed.
fn run(model: &Model, shared: &Shared, options: BatchOptions) {
    loop {
        let waiting = {
            let mut state = shared.lock();
            while state.waiting.is_empty() && !state.closed {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.closed {
                for call in state.waiting.drain(..) {
                    let _ = call
                        .reply
                        .send((call.kv, Err(ForwardError::Scheduler("it stopped".into()))));
                }
                return;
            }
            // Wait for each seated sequence to ask, but only briefly: one may be busy.
            let deadline = Instant::now() + options.gather;
            while state.waiting.len() < state.stats.seated && !state.closed {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = shared
                    .changed
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            let prompts = state
                .waiting
                .iter()
                .filter(|c| c.remaining() > DECODE_ROWS)
                .count();
            // Seated sequences not prefilling are decoding, whether or not their next
            // call came in time for this pass: a prompt must not take the pass whole.
            let decoding = state.stats.seated > prompts;
            (state.waiting.drain(..).collect::<Vec<Call>>(), decoding)
        };
        let (waiting, decoding) = waiting;
        // A call that cannot run fails alone, before it could fail the others' pass.
        let mut calls: Vec<Call> = waiting
            .into_iter()
            .filter_map(|call| {
                if call.done > 0 {
                    return Some(call);
                }
                match model.transformer().admit(&call.tokens, &call.kv) {
                    Ok(()) => Some(call),
                    Err(e) => {
                        let _ = call.reply.send((call.kv, Err(e)));
                        None
                    }
                }
            })
            .collect();
        if calls.is_empty() {
            continue;
        }
        let takes = plan(&calls, decoding, options.step_tokens);
        let rows: usize = takes.iter().sum();
        let sequences = takes.iter().filter(|&&n| n > 0).count();
        let started = Instant::now();
        let result = run_pass(model, &mut calls, &takes);
        let busy = started.elapsed();
        let mut unfinished = Vec::new();
        for (mut call, n) in calls.into_iter().zip(takes) {
            match &result {
                Err(why) if n > 0 => {
                    let failed = ForwardError::Scheduler(why.clone());
                    let _ = call.reply.send((call.kv, Err(failed)));
                }
                _ if call.done == call.tokens.len() => {
                    let out = std::mem::take(&mut call.out);
                    let _ = call.reply.send((call.kv, Ok(out)));
                }
                _ => unfinished.push(call),
            }
        }
        let mut state = shared.lock();
        // What was cut short goes first next time, ahead of calls that arrived since.
        for call in unfinished.into_iter().rev() {
            state.waiting.push_front(call);
        }
        state.stats.passes += 1;
        state.stats.rows += rows as u64;
        state.stats.last_rows = rows;
        state.stats.last_sequences = sequences;
        state.stats.busy += busy;
    }
}

/// How many rows of each call the next pass runs: while a sequence is `decoding`,
/// every decode call whole, then the longer calls in order of arrival within
/// `step_tokens` rows in all (at least [`MIN_PROMPT_ROWS`] of the first, so a prompt
/// always advances); otherwise every call whole.
fn plan(calls: &[Call], decoding: bool, step_tokens: usize) -> Vec<usize> {
    if !decoding {
        return calls.iter().map(Call::remaining).collect();
    }
    let mut takes: Vec<usize> = calls
        .iter()
        .map(|c| {
            if c.remaining() <= DECODE_ROWS {
                c.remaining()
            } else {
                0
            }
        })
        .collect();
    let mut room = step_tokens.saturating_sub(takes.iter().sum());
    let mut first = true;
    for (take, call) in takes.iter_mut().zip(calls) {
        if *take > 0 {
            continue;
        }
        let floor = if first { MIN_PROMPT_ROWS } else { 0 };
        *take = call.remaining().min(room.max(floor));
        room = room.saturating_sub(*take);
        first = false;
    }
    takes
}

/// Runs the planned rows of `calls` as one pass; a panic in it fails the pass, and the
/// error says why to each of its calls.
fn run_pass(model: &Model, calls: &mut [Call], takes: &[usize]) -> Result<(), String> {
    let mut seqs: Vec<SequenceRows<'_>> = Vec::with_capacity(calls.len());
    let mut ran: Vec<usize> = Vec::with_capacity(calls.len());
    for (i, (call, &n)) in calls.iter_mut().zip(takes).enumerate() {
        if n == 0 {
            continue;
        }
        let logits = call.logits_for(n);
        let tokens = &call.tokens[call.done..call.done + n];
        seqs.push(SequenceRows {
            tokens,
            kv: &mut call.kv,
            logits,
        });
        ran.push(i);
    }
    let outs = panic::catch_unwind(AssertUnwindSafe(|| {
        model.transformer().forward_batch(&mut seqs)
    }));
    drop(seqs);
    let outs = match outs {
        Ok(Ok(outs)) => outs,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            return Err(format!("the pass panicked ({what})"));
        }
    };
    for (i, out) in ran.into_iter().zip(outs) {
        calls[i].done += takes[i];
        calls[i].out.extend_from_slice(&out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::kv::{KvShape, KvType};

    fn call(tokens: usize, done: usize) -> Call {
        let shape = KvShape {
            n_layers: 1,
            n_kv_heads: 1,
            head_dim: 4,
            dtype: KvType::F32,
        };
        Call {
            tokens: vec![0; tokens],
            done,
            kv: KvCache::new(shape, 4096),
            logits: LogitsFor::Last,
            out: Vec::new(),
            reply: mpsc::sync_channel(1).0,
        }
    }

    #[test]
    fn decode_rows_go_whole_and_prompts_fill_the_rest() {
        // Three decoding sequences (one checking a draft of 7) and two prompts.
        let calls = [
            call(200, 0),
            call(1, 0),
            call(8, 0),
            call(128, 100),
            call(1, 0),
        ];
        assert_eq!(plan(&calls, true, 32), vec![22, 1, 8, 0, 1]);
        // Decode rows over the budget still go whole; the first prompt still advances.
        assert_eq!(plan(&calls, true, 4), vec![4, 1, 8, 0, 1]);
        // A pass with nothing decoding takes the prompts' chunks whole...
        let prompts = [call(200, 0), call(128, 100)];
        assert_eq!(plan(&prompts, false, 32), vec![200, 28]);
        // ... but not while a sequence that is decoding has yet to ask for its pass.
        assert_eq!(plan(&prompts, true, 32), vec![32, 0]);
    }

    #[test]
    fn logits_are_asked_only_of_the_rows_that_need_them() {
        let mut c = call(100, 0);
        // Only the last row of the whole call, so none in its first 60.
        assert_eq!(c.logits_for(60), LogitsFor::From(60));
        c.done = 60;
        assert_eq!(c.logits_for(40), LogitsFor::From(39));
        c.logits = LogitsFor::From(50);
        c.done = 40;
        assert_eq!(c.logits_for(20), LogitsFor::From(10));
        c.done = 0;
        assert_eq!(c.logits_for(30), LogitsFor::From(30));
    }
}
