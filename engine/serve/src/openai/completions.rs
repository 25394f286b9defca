//! `POST /v1/completions`: the legacy text completion. The prompt is continued as it is,
//! with no chat template (`Engine::run_raw`), streamed as `text_completion` chunks or
//! answered as one `text_completion`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response as HttpResponse;
use axum::Extension;
use hearth_engine::api::{Delta, Event, Request, StopReason, Usage};
use serde_json::{json, Value};

use crate::admit::{admit_raw, seed_or_fresh};
use crate::app::{read_body, AppState, Caller};
use crate::error::ServeError;
use crate::openai::fields::{self, get, wrong};
use crate::openai::sse::{data, done};
use crate::openai::{error_body, error_response, finish_reason, id_suffix, now_unix};
use crate::respond::{run_job, Encoder};
use crate::worker::Work;

/// OpenAI's default `max_tokens` for this endpoint.
const DEFAULT_MAX_TOKENS: u32 = 16;

/// `POST /v1/completions`.
pub(crate) async fn completions(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    body: Body,
) -> HttpResponse {
    serve(&state, caller.as_ref().map(|Extension(c)| c), body)
        .await
        .unwrap_or_else(|e| error_response(&e))
}

async fn serve(
    state: &Arc<AppState>,
    caller: Option<&Caller>,
    body: Body,
) -> Result<HttpResponse, ServeError> {
    let bytes = read_body(body, state.options.max_body_bytes).await?;
    let body = fields::object_body(&bytes)?;
    let model = fields::required_string(&body, "model", "")?;
    state.names.check(&model)?;
    fields::n_is_one(&body)?;
    fields::refuse(
        &body,
        "best_of",
        &[json!(1)],
        "one completion is generated per request",
    )?;
    fields::refuse(
        &body,
        "echo",
        &[json!(false)],
        "the prompt is not repeated in the answer",
    )?;
    fields::refuse(
        &body,
        "logprobs",
        &[json!(0)],
        "log-probabilities are not computed",
    )?;
    fields::refuse(
        &body,
        "suffix",
        &[],
        "this model is not served for insertion",
    )?;
    let prompt = match get(&body, "prompt") {
        Some(Value::String(p)) => p.clone(),
        // One prompt in an array is the same request; more would be more choices.
        Some(Value::Array(items)) if items.len() == 1 && items[0].is_string() => {
            items[0].as_str().unwrap_or_default().to_string()
        }
        Some(other) => {
            return Err(wrong(
                "prompt",
                "a string (or an array of one string; token arrays and several prompts are \
                 not supported)",
                other,
            ))
        }
        None => return Err(ServeError::invalid("prompt: missing")),
    };
    let max_tokens = fields::count(&body, "max_tokens")?.unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens == 0 {
        return Err(ServeError::invalid("max_tokens: must be at least 1, got 0"));
    }
    let stream = fields::boolean(&body, "stream")?.unwrap_or(false);
    let include_usage = get(&body, "stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let request = Request {
        max_tokens,
        temperature: fields::number(&body, "temperature", 0.0, 2.0)?,
        top_p: fields::top_p(&body)?,
        seed: Some(seed_or_fresh(fields::seed(&body)?)?),
        stop_sequences: fields::stop(&body)?,
        ..Request::default()
    };
    admit_raw(state, &prompt, max_tokens).await?;
    let encoder = TextEncoder {
        id: String::new(),
        created: now_unix(),
        model: state.names.id.clone(),
        include_usage,
        text: String::new(),
        stop: None,
        usage: Usage::default(),
        failed: false,
    };
    run_job(
        state,
        "POST /v1/completions",
        caller,
        Work::Raw { prompt, request },
        encoder,
        stream,
    )
    .await
}

/// Encodes a raw completion as `text_completion` objects.
#[derive(Debug)]
struct TextEncoder {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    text: String,
    stop: Option<StopReason>,
    usage: Usage,
    failed: bool,
}

impl TextEncoder {
    fn object(&self, text: &str, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}],
        })
    }

    fn usage(&self) -> Value {
        let prompt = self.usage.prompt_tokens();
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": self.usage.output_tokens,
            "total_tokens": prompt + self.usage.output_tokens,
            // The prefix cache serves raw prompts too: a repeated prompt is read from it.
            "prompt_tokens_details": {"cached_tokens": self.usage.cache_read_input_tokens},
        })
    }
}

impl Encoder for TextEncoder {
    fn event(&mut self, event: &Event, out: &mut Vec<Bytes>) {
        if self.failed {
            return;
        }
        match event {
            Event::MessageStart { message } => {
                self.id = format!("cmpl-{}", id_suffix(&message.id));
                self.usage = message.usage;
            }
            Event::ContentBlockDelta {
                delta: Delta::TextDelta { text },
                ..
            } if !text.is_empty() => {
                self.text.push_str(text);
                out.push(data(&self.object(text, None)));
            }
            Event::MessageDelta { delta, usage } => {
                self.stop = delta.stop_reason;
                self.usage = *usage;
            }
            Event::MessageStop => {
                out.push(data(&self.object("", Some(finish_reason(self.stop)))));
                if self.include_usage {
                    let mut chunk = self.object("", None);
                    chunk["choices"] = json!([]);
                    chunk["usage"] = self.usage();
                    out.push(data(&chunk));
                }
            }
            Event::Error { error } => {
                self.failed = true;
                out.push(data(&error_body(&ServeError::from(error.clone()))));
            }
            _ => {}
        }
    }

    fn finish(&mut self, error: Option<&ServeError>, out: &mut Vec<Bytes>) {
        match error {
            Some(e) if !self.failed => {
                self.failed = true;
                out.push(data(&error_body(e)));
            }
            None if !self.failed => out.push(done()),
            _ => {}
        }
    }

    fn body(self) -> Result<Value, ServeError> {
        let mut body = self.object(&self.text, Some(finish_reason(self.stop)));
        body["usage"] = self.usage();
        Ok(body)
    }
}
