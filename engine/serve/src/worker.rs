//! The one place requests meet the model: a FIFO queue of jobs and a fixed number of
//! worker threads (the batch's seats) that take them in order.
//!
//! The engine is synchronous (it calls back with each event), so it runs on plain
//! threads, never on the async runtime; jobs reach them through a bounded tokio channel
//! and each job's events go back through a channel of its own. With more than one
//! worker, the engine's scheduler runs the jobs' forward passes together (continuous
//! batching); each worker only drives its own job's generation loop. A job whose receiver is gone
//! (the client disconnected) is skipped if still queued, and cancelled at the next token
//! if running: the engine stops when its callback breaks. A panic while serving a job is
//! caught and becomes that job's `api_error`; the worker goes on with the next job.

use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hearth_engine::api::{ApiError, Event, Request, Response, StopReason};
use hearth_engine::engine::Engine;
use hearth_engine::kv::CacheStats;
use hearth_engine::schedule::BatchStats;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{ErrorKind, ServeError};

/// What the server needs of a model: [`Engine`] in production, fakes in tests (a model
/// that panics, one that is slow).
pub trait Runner: Send + Sync + 'static {
    /// Serves one request, as [`Engine::run`]: events in order through `on_event`, which
    /// cancels at the next token by breaking.
    fn run(
        &self,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError>;

    /// The prompt's token ids, as [`Engine::prompt_tokens`]; checks the conversation.
    fn prompt_tokens(&self, req: &Request) -> Result<Vec<u32>, ApiError>;

    /// The model's name in requests and responses.
    fn model_id(&self) -> &str;

    /// The context window: prompt plus `max_tokens` must fit in it.
    fn context_tokens(&self) -> usize;

    /// Continues a raw `prompt` (no chat template) with `req`'s limits and sampling,
    /// reported as one message of one text block, as [`Engine::run_raw`]. Runners that
    /// cannot refuse it.
    fn run_raw(
        &self,
        prompt: &str,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        let _ = (prompt, req, on_event);
        Err(no_raw_prompts(self.model_id()))
    }

    /// The prefix cache's counters, for the metrics; `None` where there is no cache.
    fn cache_stats(&self) -> Option<CacheStats> {
        None
    }

    /// Whether the model is loaded and requests can be served now (`GET /health` answers
    /// 503 until then).
    fn is_ready(&self) -> bool {
        true
    }

    /// The batch scheduler's counters, for the metrics; `None` without a scheduler.
    fn batch_stats(&self) -> Option<BatchStats> {
        None
    }

    /// A raw prompt's token ids, as [`Runner::run_raw`] would compute them.
    fn raw_prompt_tokens(&self, prompt: &str) -> Result<Vec<u32>, ApiError> {
        let _ = prompt;
        Err(no_raw_prompts(self.model_id()))
    }
}

/// The refusal of a runner with no raw-prompt path.
fn no_raw_prompts(model: &str) -> ApiError {
    ApiError::invalid_request(format!(
        "prompt: {model} is served here for chat only; raw prompts are not supported, use \
         /v1/chat/completions"
    ))
}

impl Runner for Engine {
    fn run(
        &self,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        Engine::run(self, req, on_event)
    }

    fn prompt_tokens(&self, req: &Request) -> Result<Vec<u32>, ApiError> {
        Engine::prompt_tokens(self, req)
    }

    fn model_id(&self) -> &str {
        Engine::model_id(self)
    }

    fn context_tokens(&self) -> usize {
        self.options().context_tokens
    }

    fn run_raw(
        &self,
        prompt: &str,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        Engine::run_raw(self, prompt, req, on_event)
    }

    fn raw_prompt_tokens(&self, prompt: &str) -> Result<Vec<u32>, ApiError> {
        Engine::raw_prompt_tokens(self, prompt)
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(Engine::cache_stats(self))
    }

    fn batch_stats(&self) -> Option<BatchStats> {
        Engine::batch_stats(self)
    }
}

/// What a job reports back, in order: its events, then its end.
#[derive(Debug)]
pub enum JobUpdate {
    /// An event of the message (pings from the engine are not forwarded: the HTTP layer
    /// sends its own on a timer, whether the job is queued or computing).
    Event(Event),
    /// The job is over: the whole message, or why it failed.
    Done(Result<Response, ApiError>),
}

/// What a job asks of the model.
#[derive(Debug)]
pub enum Work {
    /// A conversation through the chat template (every chat API).
    Chat(Request),
    /// A raw prompt, continued as it is (`/v1/completions`), with the request's limits,
    /// sampling and stop sequences (it has no messages).
    Raw {
        /// The text to continue.
        prompt: String,
        /// Its limits, sampling and stop sequences.
        request: Request,
    },
}

struct Job {
    work: Work,
    reply: mpsc::UnboundedSender<JobUpdate>,
}

/// Counters of the queue, for `/health`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Jobs waiting for the worker.
    pub queued: usize,
    /// Jobs being served now (at most the number of workers).
    pub running: usize,
    /// Jobs finished (answered, failed or cancelled).
    pub finished: u64,
    /// Jobs whose client left before the answer was complete.
    pub cancelled: u64,
    /// Jobs that panicked in the engine.
    pub panicked: u64,
}

#[derive(Default)]
struct Counters {
    queued: AtomicUsize,
    running: AtomicUsize,
    finished: AtomicU64,
    cancelled: AtomicU64,
    panicked: AtomicU64,
}

/// The queue in front of the worker thread; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    jobs: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Starts `workers` threads serving `runner` (jobs served at once), with room for
    /// `capacity` waiting jobs (more are refused as overloaded). The threads end when
    /// every clone of the queue is dropped.
    pub fn start(
        runner: Arc<dyn Runner>,
        capacity: usize,
        workers: usize,
    ) -> std::io::Result<Queue> {
        let (jobs, receiver) = mpsc::channel(capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let counters = Arc::new(Counters::default());
        for i in 0..workers.max(1) {
            let (runner, receiver, counters) = (
                Arc::clone(&runner),
                Arc::clone(&receiver),
                Arc::clone(&counters),
            );
            std::thread::Builder::new()
                .name(format!("hearth-serve-worker-{i}"))
                .spawn(move || work(runner.as_ref(), &receiver, &counters))?;
        }
        Ok(Queue { jobs, counters })
    }

    /// Puts `request` at the end of the queue; its updates come through the receiver.
    /// Dropping the receiver cancels the job.
    pub fn submit(
        &self,
        request: Request,
    ) -> Result<mpsc::UnboundedReceiver<JobUpdate>, ServeError> {
        self.submit_work(Work::Chat(request))
    }

    /// Puts `work` (a chat request or a raw prompt) at the end of the queue, as
    /// [`Queue::submit`].
    pub fn submit_work(
        &self,
        work: Work,
    ) -> Result<mpsc::UnboundedReceiver<JobUpdate>, ServeError> {
        let (reply, updates) = mpsc::unbounded_channel();
        // Counted before sending, so the worker never takes a job it has not counted.
        self.counters.queued.fetch_add(1, Ordering::SeqCst);
        match self.jobs.try_send(Job { work, reply }) {
            Ok(()) => Ok(updates),
            Err(e) => {
                self.counters.queued.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => ServeError::new(
                        ErrorKind::Overloaded,
                        format!(
                            "the queue is full ({} requests waiting); retry later",
                            self.jobs.max_capacity()
                        ),
                    ),
                    mpsc::error::TrySendError::Closed(_) => {
                        ServeError::internal("the engine's worker has stopped")
                    }
                })
            }
        }
    }

    /// The counters now.
    pub fn stats(&self) -> QueueStats {
        let c = &self.counters;
        QueueStats {
            queued: c.queued.load(Ordering::SeqCst),
            running: c.running.load(Ordering::SeqCst),
            finished: c.finished.load(Ordering::SeqCst),
            cancelled: c.cancelled.load(Ordering::SeqCst),
            panicked: c.panicked.load(Ordering::SeqCst),
        }
    }
}

/// A worker thread: serves jobs in order until the queue is dropped.
fn work(runner: &dyn Runner, jobs: &Mutex<mpsc::Receiver<Job>>, counters: &Counters) {
    loop {
        // One idle worker waits on the channel, the others on the lock; a poisoned lock
        // still holds a working receiver (nothing panics while holding it).
        let next = jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        let Some(job) = next else { return };
        counters.queued.fetch_sub(1, Ordering::SeqCst);
        if job.reply.is_closed() {
            // The client left while waiting: nothing to compute.
            counters.cancelled.fetch_add(1, Ordering::SeqCst);
            counters.finished.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        counters.running.fetch_add(1, Ordering::SeqCst);
        let result = serve(runner, &job);
        let cancelled = job.reply.is_closed()
            || matches!(&result, Ok(r) if r.stop_reason == Some(StopReason::Cancelled));
        if cancelled {
            counters.cancelled.fetch_add(1, Ordering::SeqCst);
        }
        if matches!(&result, Err(e) if e.message.starts_with(PANIC_PREFIX)) {
            counters.panicked.fetch_add(1, Ordering::SeqCst);
        }
        // Counted before the end is sent, so whoever sees the end sees the counts.
        counters.running.fetch_sub(1, Ordering::SeqCst);
        counters.finished.fetch_add(1, Ordering::SeqCst);
        // A client that left gets nothing; that is not an error of the worker.
        let _ = job.reply.send(JobUpdate::Done(result));
    }
}

const PANIC_PREFIX: &str = "the engine panicked";

/// Runs one job, forwarding its events, with a panic turned into its error.
fn serve(runner: &dyn Runner, job: &Job) -> Result<Response, ApiError> {
    let mut on_event = |event: &Event| {
        // The engine's pings come between prefill chunks: only a chance to notice that
        // the client left.
        let gone = if matches!(event, Event::Ping) {
            job.reply.is_closed()
        } else {
            job.reply.send(JobUpdate::Event(event.clone())).is_err()
        };
        if gone {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    panic::catch_unwind(AssertUnwindSafe(|| match &job.work {
        Work::Chat(request) => runner.run(request, &mut on_event),
        Work::Raw { prompt, request } => runner.run_raw(prompt, request, &mut on_event),
    }))
    .unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        Err(ApiError::internal(format!(
            "{PANIC_PREFIX} while serving this request ({what}); \
                 the server goes on with the next request"
        )))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Panics on a request whose `seed` is 13; otherwise answers with no content.
    struct Fake;

    impl Runner for Fake {
        fn run(
            &self,
            req: &Request,
            _on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
        ) -> Result<Response, ApiError> {
            if req.seed == Some(13) {
                panic!("unlucky seed");
            }
            Ok(Response {
                id: "msg_1".into(),
                kind: "message".into(),
                role: hearth_engine::api::Role::Assistant,
                model: "fake".into(),
                content: vec![],
                stop_reason: Some(StopReason::EndTurn),
                stop_sequence: None,
                usage: Default::default(),
            })
        }
        fn prompt_tokens(&self, _req: &Request) -> Result<Vec<u32>, ApiError> {
            Ok(vec![])
        }
        fn model_id(&self) -> &str {
            "fake"
        }
        fn context_tokens(&self) -> usize {
            64
        }
    }

    fn done(mut rx: mpsc::UnboundedReceiver<JobUpdate>) -> Result<Response, ApiError> {
        loop {
            match rx.blocking_recv().expect("an end") {
                JobUpdate::Done(r) => return r,
                JobUpdate::Event(_) => {}
            }
        }
    }

    /// A panic becomes that job's api_error, and the next job is served.
    #[test]
    fn a_panic_fails_one_job_and_the_worker_goes_on() {
        let queue = Queue::start(Arc::new(Fake), 4, 1).unwrap();
        let bad = Request {
            seed: Some(13),
            ..Request::default()
        };
        let err = done(queue.submit(bad).unwrap()).unwrap_err();
        assert_eq!(err.kind, "api_error");
        assert!(err.message.contains("unlucky seed"), "{err:?}");
        let ok = done(queue.submit(Request::default()).unwrap()).unwrap();
        assert_eq!(ok.stop_reason, Some(StopReason::EndTurn));
        let stats = queue.stats();
        assert_eq!((stats.finished, stats.panicked, stats.queued), (2, 1, 0));
    }
}
