//! Backends that talk to a model server over HTTP: any Messages-compatible endpoint
//! (`hearth serve` first), any OpenAI-compatible one (vLLM, SGLang, llama.cpp, Ollama) and
//! the OpenAI Responses API.
//!
//! Each wire protocol's stream is translated back into the contract's events
//! (`hearth_engine::api::Event`), so the session, the TUI and `exec --json` see the same
//! thing whichever model answers. The call is blocking, like the local engine's; stopping
//! (the callback's `Break`) drops the connection, which is how a server learns to stop.
//!
//! The key comes from the front end (which reads it from the environment): this library
//! reads no environment variables.

mod emit;
mod http;
mod messages;
mod openai;
mod openai_request;
mod responses;
mod sse;

use std::io::BufRead;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use hearth_engine::api::{self, ApiError, StopReason, Usage};
use serde_json::Value;

use crate::backend::Backend;
use emit::Emitter;
use http::Endpoint;
use sse::{SseEvent, SseReader};

/// A wire protocol an endpoint speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// Anthropic Messages (`POST /v1/messages`).
    Messages,
    /// OpenAI Chat Completions (`POST /v1/chat/completions`).
    OpenAi,
    /// OpenAI Responses (`POST /v1/responses`).
    Responses,
}

impl Api {
    /// Every protocol, in the order `--api` lists them.
    pub const ALL: [Api; 3] = [Api::Messages, Api::OpenAi, Api::Responses];

    /// The protocol's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Api::Messages => "messages",
            Api::OpenAi => "openai",
            Api::Responses => "responses",
        }
    }

    /// The path of its streamed request, under `/v1`.
    fn path(self) -> &'static str {
        match self {
            Api::Messages => "messages",
            Api::OpenAi => "chat/completions",
            Api::Responses => "responses",
        }
    }
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Api::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown API {0:?}; expected messages, openai or responses")]
pub struct UnknownApi(String);

impl std::str::FromStr for Api {
    type Err = UnknownApi;

    fn from_str(s: &str) -> Result<Api, UnknownApi> {
        Api::ALL
            .into_iter()
            .find(|api| api.name() == s)
            .ok_or_else(|| UnknownApi(s.to_string()))
    }
}

/// Where a remote model is and how to reach it.
#[derive(Clone)]
pub struct RemoteOptions {
    /// The server's base URL (`http://127.0.0.1:8080`, or with `/v1`).
    pub endpoint: String,
    /// The protocol it speaks.
    pub api: Api,
    /// The key, sent as the protocol expects; `None` sends none (a local server).
    pub api_key: Option<String>,
    /// The model to ask for; `None` takes the first model the server lists.
    pub model: Option<String>,
    /// The context window to budget prompts against: the server does not say it.
    pub context_tokens: u32,
}

impl std::fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs and error reports.
        f.debug_struct("RemoteOptions")
            .field("endpoint", &self.endpoint)
            .field("api", &self.api)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .field("model", &self.model)
            .field("context_tokens", &self.context_tokens)
            .finish()
    }
}

/// A model behind an HTTP endpoint.
pub struct RemoteBackend {
    endpoint: Endpoint,
    api: Api,
    model: String,
    context_tokens: u32,
    /// The server refused `tool_choice: "required"` once (llama-cpp-python's
    /// function-calling handlers do); later requests ask for `auto`.
    required_refused: AtomicBool,
}

impl std::fmt::Debug for RemoteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("RemoteBackend")
            .field("endpoint", &self.endpoint.url(self.api.path()))
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl RemoteBackend {
    /// A backend on the endpoint `options` describe. Without a model name this asks the
    /// server (`GET /v1/models`) and takes the first; the error names the URL and says why.
    pub fn connect(options: RemoteOptions) -> Result<RemoteBackend, ApiError> {
        let endpoint = Endpoint::new(&options.endpoint, options.api_key)?;
        let model = match options.model {
            Some(model) => model,
            None => first_model(&endpoint, options.api)?,
        };
        Ok(RemoteBackend {
            endpoint,
            api: options.api,
            model,
            context_tokens: options.context_tokens,
            required_refused: AtomicBool::new(false),
        })
    }

    fn body(&self, request: &api::Request) -> Value {
        match self.api {
            Api::Messages => messages::body(request, &self.model),
            Api::OpenAi => openai_request::body(
                request,
                &self.model,
                self.required_refused.load(Ordering::Relaxed),
            ),
            Api::Responses => responses::body(request, &self.model),
        }
    }
}

impl Backend for RemoteBackend {
    fn model_id(&self) -> String {
        self.model.clone()
    }

    fn context_tokens(&self) -> Option<u32> {
        Some(self.context_tokens)
    }

    fn stream(
        &self,
        request: &api::Request,
        on_event: &mut dyn FnMut(&api::Event) -> ControlFlow<()>,
    ) -> Result<api::Response, ApiError> {
        match self.attempt(request, on_event) {
            // Some OpenAI-compatible servers cannot force a call: llama-cpp-python's
            // function-calling handlers fail on `required` (with an error status, or by
            // closing the stream before its first chunk). Nothing reached the caller yet,
            // and the agent copes with a model that answers in text (acting.rs), so ask
            // again without forcing, and from then on.
            Err(Failure {
                error,
                silent: true,
            }) if self.asks_required(request) && !error.kind.contains("connection") => {
                log::warn!("{error}; asking again with tool_choice \"auto\"");
                self.required_refused.store(true, Ordering::Relaxed);
                let retry = self.attempt(request, on_event).map_err(|f| f.error);
                if retry.is_err() {
                    // Failing either way, the server's trouble was not `required`.
                    self.required_refused.store(false, Ordering::Relaxed);
                }
                retry
            }
            other => other.map_err(|f| f.error),
        }
    }
}

/// A request that failed, and whether the caller had heard nothing of it yet.
struct Failure {
    error: ApiError,
    silent: bool,
}

impl RemoteBackend {
    /// Sends `request` and translates the answer's stream.
    fn attempt(
        &self,
        request: &api::Request,
        on_event: &mut dyn FnMut(&api::Event) -> ControlFlow<()>,
    ) -> Result<api::Response, Failure> {
        let url = self.endpoint.url(self.api.path());
        let response = self
            .endpoint
            .post(self.api, self.api.path(), &self.body(request))
            .map_err(|error| Failure {
                error,
                silent: true,
            })?;
        let mut heard = false;
        let mut counted = |event: &api::Event| {
            heard = true;
            on_event(event)
        };
        // Dropping the response on return closes the connection: after a `Break`, that
        // is what tells the server to stop generating.
        let reader = std::io::BufReader::new(response);
        translate(self.api, reader, &self.model, request, &mut counted).map_err(|e| Failure {
            error: ApiError {
                kind: e.kind,
                message: if e.message.starts_with(&url) {
                    e.message
                } else {
                    format!("{url}: {}", e.message)
                },
            },
            silent: !heard,
        })
    }

    /// Whether this request would go out as `tool_choice: "required"` for the first time.
    fn asks_required(&self, request: &api::Request) -> bool {
        self.api == Api::OpenAi
            && !self.required_refused.load(Ordering::Relaxed)
            && !request.tools.is_empty()
            && matches!(
                request.tool_choice,
                Some(api::ToolChoice::Any | api::ToolChoice::AnyOf { .. })
            )
    }
}

/// The first model `GET /v1/models` lists (OpenAI's and Anthropic's lists both hold
/// `data[].id`).
fn first_model(endpoint: &Endpoint, api: Api) -> Result<String, ApiError> {
    let url = endpoint.url("models");
    let list = endpoint.get_json(api, "models")?;
    list.get("data")
        .and_then(Value::as_array)
        .and_then(|models| models.first())
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::invalid_request(format!(
                "{url}: the server lists no model; name one with --model"
            ))
        })
}

/// How a message ended, as its protocol said.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Ending {
    pub(crate) stop: Option<StopReason>,
    pub(crate) stop_sequence: Option<String>,
    pub(crate) usage: Usage,
}

/// One protocol's stream, read event by event.
pub(crate) trait Translate {
    /// Handles one server-sent event; `Some` once the message has ended.
    fn event(
        &mut self,
        event: &SseEvent,
        out: &mut Emitter<'_>,
    ) -> Result<Option<Ending>, ApiError>;

    /// The stream closed without the protocol's last event: an ending if the protocol
    /// allows that (some servers omit OpenAI's `[DONE]`), or an error.
    fn end_of_stream(&mut self, out: &mut Emitter<'_>) -> Result<Ending, ApiError>;
}

/// Reads a whole streamed answer in protocol `api` from `input` into the contract's events.
/// Split from the HTTP call so it runs on recorded bytes in tests.
pub(crate) fn translate(
    api: Api,
    input: impl BufRead,
    model: &str,
    request: &api::Request,
    on_event: &mut dyn FnMut(&api::Event) -> ControlFlow<()>,
) -> Result<api::Response, ApiError> {
    let mut translator: Box<dyn Translate> = match api {
        Api::Messages => Box::new(messages::Translator::default()),
        Api::OpenAi => Box::new(openai::Translator::new(!request.tools.is_empty())),
        Api::Responses => Box::new(responses::Translator::default()),
    };
    let mut out = Emitter::new(model, on_event);
    let mut reader = SseReader::new(input);
    let ending = loop {
        let event = reader
            .next_event()
            .map_err(|e| ApiError::internal(format!("the stream broke off: {e}")))?;
        let Some(event) = event else {
            break translator.end_of_stream(&mut out)?;
        };
        if let Some(ending) = translator.event(&event, &mut out)? {
            break ending;
        }
        if out.cancelled() {
            break Ending::default();
        }
    };
    let stop = ending.stop.unwrap_or(if out.tool_calls() > 0 {
        StopReason::ToolUse
    } else {
        StopReason::EndTurn
    });
    out.finish(stop, ending.stop_sequence, ending.usage)
}

/// Token counts from a JSON object with any of the Messages API's usage fields, over
/// `base` (Anthropic sends input tokens at the start and output tokens at the end).
pub(crate) fn usage_over(base: Usage, value: Option<&Value>) -> Usage {
    let Some(value) = value else { return base };
    let field = |name: &str, old: u32| {
        value
            .get(name)
            .and_then(Value::as_u64)
            .map_or(old, |n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    Usage {
        input_tokens: field("input_tokens", base.input_tokens),
        cache_read_input_tokens: field("cache_read_input_tokens", base.cache_read_input_tokens),
        cache_creation_input_tokens: field(
            "cache_creation_input_tokens",
            base.cache_creation_input_tokens,
        ),
        output_tokens: field("output_tokens", base.output_tokens),
        thinking_tokens: field("thinking_tokens", base.thinking_tokens),
        // hearth's own server reports its speculative decoding (engine::api::Usage).
        drafted_tokens: field("drafted_tokens", base.drafted_tokens),
        accepted_tokens: field("accepted_tokens", base.accepted_tokens),
    }
}

/// A count in a JSON value, when present.
pub(crate) fn count(value: &Value, path: &[&str]) -> Option<u32> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Parses one event's JSON data, naming the event when it is not JSON.
pub(crate) fn data_json(event: &SseEvent) -> Result<Value, ApiError> {
    serde_json::from_str(&event.data).map_err(|e| {
        let name = if event.name.is_empty() {
            "data"
        } else {
            &event.name
        };
        ApiError::internal(format!(
            "the server sent an event that is not JSON ({name}: {e})"
        ))
    })
}

/// An error the server reported inside the stream (`{"error": …}` or an `error` event).
pub(crate) fn stream_error(value: &Value) -> ApiError {
    let error = value.get("error").unwrap_or(value);
    let (kind, message) = http::error_of(&error.to_string());
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map_or(message, str::to_string);
    ApiError {
        kind: kind.unwrap_or_else(|| "api_error".to_string()),
        message: format!("the server reported an error: {message}"),
    }
}

#[cfg(test)]
mod tests;
