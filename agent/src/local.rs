//! The in-process engine as a backend.

use std::ops::ControlFlow;
use std::sync::Arc;

use hearth_engine::api;
use hearth_engine::engine::Engine;

use crate::backend::Backend;

/// The model served by an [`Engine`] in this process.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    engine: Arc<Engine>,
}

impl LocalBackend {
    /// A backend on `engine`.
    pub fn new(engine: Arc<Engine>) -> LocalBackend {
        LocalBackend { engine }
    }
}

impl Backend for LocalBackend {
    fn model_id(&self) -> String {
        self.engine.model_id().to_string()
    }

    fn context_tokens(&self) -> Option<u32> {
        u32::try_from(self.engine.options().context_tokens).ok()
    }

    fn stream(
        &self,
        request: &api::Request,
        on_event: &mut dyn FnMut(&api::Event) -> ControlFlow<()>,
    ) -> Result<api::Response, api::ApiError> {
        self.engine.run(request, on_event)
    }
}
