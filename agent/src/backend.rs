//! How the agent talks to a model: one trait, whatever serves the model.

use std::ops::ControlFlow;

use hearth_engine::api;

/// A model behind the Messages contract (`hearth_engine::api`).
///
/// The call is synchronous: it streams the message's events to `on_event` as they happen
/// and returns the whole message at the end. `on_event` returning `Break` asks the backend to
/// stop early (an interrupt); it then returns the message so far with the `cancelled` stop
/// reason. Implementations: [`crate::LocalBackend`] (the engine in this process),
/// [`crate::RemoteBackend`] (a server over HTTP: Messages, OpenAI Chat Completions or
/// Responses) and [`crate::ScriptedBackend`] (fixed outputs, for tests).
pub trait Backend: Send {
    /// The model's name, for session files and logs.
    fn model_id(&self) -> String;

    /// The context window in tokens, when known (compaction works from it).
    fn context_tokens(&self) -> Option<u32>;

    /// Runs one request, streaming its events.
    fn stream(
        &self,
        request: &api::Request,
        on_event: &mut dyn FnMut(&api::Event) -> ControlFlow<()>,
    ) -> Result<api::Response, api::ApiError>;
}

/// Opens backends by model name, so a session can change its model between turns
/// (`/model` in the TUI). The front end supplies it: it knows where models come from.
pub trait BackendFactory: Send {
    /// A backend serving the model `name` (a known name or a path); the error says why
    /// it cannot be opened.
    fn open(&self, name: &str) -> Result<Box<dyn Backend>, String>;
}

impl<B: Backend + Sync + ?Sized> Backend for std::sync::Arc<B> {
    fn model_id(&self) -> String {
        (**self).model_id()
    }

    fn context_tokens(&self) -> Option<u32> {
        (**self).context_tokens()
    }

    fn stream(
        &self,
        request: &api::Request,
        on_event: &mut dyn FnMut(&api::Event) -> ControlFlow<()>,
    ) -> Result<api::Response, api::ApiError> {
        (**self).stream(request, on_event)
    }
}
