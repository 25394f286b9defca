//! A runner that stands in while the model loads, so the server can listen at once: a
//! router (SMG) or an orchestrator sees `GET /health` answer 503 until the model is
//! ready, then 200, instead of a refused connection that looks like a dead worker.

use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use hearth_engine::api::{ApiError, Event, Request, Response};
use hearth_engine::kv::CacheStats;
use hearth_engine::schedule::BatchStats;

use crate::worker::Runner;

/// Where the load stands.
enum State {
    Loading,
    Ready(Arc<dyn Runner>),
    Failed(String),
}

/// The model being loaded, then the loaded model; cheap to clone.
#[derive(Clone)]
pub struct LoadingRunner {
    id: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl std::fmt::Debug for LoadingRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadingRunner")
            .field("id", &self.id)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl LoadingRunner {
    /// A runner for the model that will be served as `id`, not loaded yet.
    pub fn new(id: impl Into<String>) -> LoadingRunner {
        LoadingRunner {
            id: id.into(),
            state: Arc::new((Mutex::new(State::Loading), Condvar::new())),
        }
    }

    /// The model is loaded: requests go to `runner` from now on.
    pub fn ready(&self, runner: Arc<dyn Runner>) {
        self.settle(State::Ready(runner));
    }

    /// The model could not be loaded: every request fails with `why`.
    pub fn failed(&self, why: impl Into<String>) {
        self.settle(State::Failed(why.into()));
    }

    fn settle(&self, state: State) {
        let (lock, changed) = &*self.state;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = state;
        changed.notify_all();
    }

    /// The loaded runner; `None` while loading or after a failed load.
    fn loaded(&self) -> Option<Arc<dyn Runner>> {
        match &*self.state.0.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Ready(runner) => Some(Arc::clone(runner)),
            State::Loading | State::Failed(_) => None,
        }
    }

    /// The loaded runner, waiting for the load to end; the failure's reason if it failed.
    fn wait(&self) -> Result<Arc<dyn Runner>, ApiError> {
        let (lock, changed) = &*self.state;
        let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &*state {
                State::Ready(runner) => return Ok(Arc::clone(runner)),
                State::Failed(why) => {
                    return Err(ApiError::internal(format!(
                        "the model {} could not be loaded: {why}",
                        self.id
                    )))
                }
                State::Loading => {
                    state = changed.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }
}

impl Runner for LoadingRunner {
    fn run(
        &self,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        self.wait()?.run(req, on_event)
    }

    fn prompt_tokens(&self, req: &Request) -> Result<Vec<u32>, ApiError> {
        self.wait()?.prompt_tokens(req)
    }

    fn model_id(&self) -> &str {
        &self.id
    }

    fn context_tokens(&self) -> usize {
        self.loaded().map_or(0, |r| r.context_tokens())
    }

    fn run_raw(
        &self,
        prompt: &str,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        self.wait()?.run_raw(prompt, req, on_event)
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        self.loaded().and_then(|r| r.cache_stats())
    }

    fn batch_stats(&self) -> Option<BatchStats> {
        self.loaded().and_then(|r| r.batch_stats())
    }

    fn raw_prompt_tokens(&self, prompt: &str) -> Result<Vec<u32>, ApiError> {
        self.wait()?.raw_prompt_tokens(prompt)
    }

    fn is_ready(&self) -> bool {
        self.loaded().is_some()
    }
}
