//! Raw prompts (the legacy `/v1/completions`): text continued as it is, with no chat
//! template. They go through the same path as a conversation, so
//! the prefix cache serves a repeated prompt and the events are the same.

use std::ops::ControlFlow;

use super::Engine;
use crate::api::{ApiError, Event, Request, Response};

impl Engine {
    /// The token ids of `prompt` tokenized as it is (special tokens written in it are
    /// parsed), with the tokenizer's BOS where it adds one.
    pub fn raw_prompt_tokens(&self, prompt: &str) -> Result<Vec<u32>, ApiError> {
        if prompt.is_empty() {
            return Err(ApiError::invalid_request(
                "prompt: empty; give the text to continue",
            ));
        }
        self.model
            .tokenizer()
            .encode(prompt, true)
            .map_err(|e| ApiError::internal(format!("tokenizing the prompt failed: {e}")))
    }

    /// Continues `prompt` as [`Engine::run`] answers a conversation: the same events (one
    /// text block), the same cancellation, the same prefix cache. `req` gives the model
    /// name, `max_tokens`, the sampling and the stop sequences; a raw prompt has no
    /// conversation, tools or thinking, so a `req` with any of them is refused.
    pub fn run_raw(
        &self,
        prompt: &str,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        let extra = [
            ("messages", !req.messages.is_empty()),
            ("tools", !req.tools.is_empty() || req.tool_choice.is_some()),
            ("thinking", req.thinking.is_some()),
        ];
        if let Some((field, _)) = extra.iter().find(|(_, given)| *given) {
            return Err(ApiError::invalid_request(format!(
                "{field}: a raw prompt is continued as it is; it takes no {field}"
            )));
        }
        self.check_model(req)?;
        let prompt = self.raw_prompt_tokens(prompt)?;
        self.serve_prompt(prompt, req, false, on_event)
    }
}
