//! OpenAI Chat Completions streams (`POST /v1/chat/completions`), as vLLM, SGLang,
//! llama.cpp, Ollama and `hearth serve` send them.
//!
//! Chunks carry deltas of one choice: `content`, reasoning (`reasoning_content`, or
//! `reasoning` in newer vLLM), and `tool_calls` pieces keyed by index whose `arguments`
//! arrive as JSON text in fragments; `finish_reason` comes on the last content chunk and
//! usage on a chunk of its own (`stream_options.include_usage`), then `data: [DONE]`.
//!
//! Servers that do not parse tool calls out of the model's text (llama-cpp-python with the
//! model's own chat template) send them as content: `<tool_call>{…}</tool_call>` for the
//! Hermes-style templates of Qwen and others. When the request offered tools, content goes
//! through the engine's own tool-call parser, so those calls are calls here too.

use std::collections::BTreeMap;

use hearth_engine::api::{ApiError, StopReason, Usage};
use hearth_engine::template::tool_calls::{ParsedEvent, ToolCallFormat, ToolCallParser};
use serde_json::Value;

use super::emit::Emitter;
use super::sse::SseEvent;
use super::{count, data_json, stream_error, Ending, Translate};

/// A tool call being streamed.
#[derive(Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

/// The state of one chat-completions stream.
pub(crate) struct Translator {
    /// Reads tool calls written as text; `None` when the request offered no tools.
    text_calls: Option<ToolCallParser>,
    /// Tool calls by their index in the stream, sent on once the message ends (their
    /// arguments are only known whole then).
    calls: BTreeMap<u64, PendingCall>,
    finish: Option<String>,
    usage: Option<Usage>,
}

impl Translator {
    /// A translator for a request that offered tools (`with_tools`) or not.
    pub(crate) fn new(with_tools: bool) -> Translator {
        Translator {
            text_calls: with_tools.then(|| ToolCallParser::new(Some(ToolCallFormat::HERMES))),
            calls: BTreeMap::new(),
            finish: None,
            usage: None,
        }
    }

    fn content(&mut self, text: &str, out: &mut Emitter<'_>) {
        match &mut self.text_calls {
            Some(parser) => {
                let events = parser.push(text);
                parsed(events, out);
            }
            None => out.text(text),
        }
    }

    fn tool_call_deltas(&mut self, deltas: &[Value]) {
        for (position, delta) in deltas.iter().enumerate() {
            // `index` is required by OpenAI; a server that leaves it out sends whole calls.
            let index = delta
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let call = self.calls.entry(index).or_default();
            let field =
                |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
            if let Some(id) = field(delta, "id") {
                call.id = id;
            }
            let function = delta.get("function").unwrap_or(&Value::Null);
            if let Some(name) = field(function, "name") {
                // OpenAI sends the name once; a server that repeats it in every piece is
                // not sending fragments of it.
                if call.name != name {
                    call.name.push_str(&name);
                }
            }
            match function.get("arguments") {
                Some(Value::String(piece)) => call.arguments.push_str(piece),
                // A server that sends the arguments as an object (not OpenAI's wire form).
                Some(object @ Value::Object(_)) => call.arguments = object.to_string(),
                _ => {}
            }
        }
    }

    /// Ends the message: text held back by the parser, then the streamed calls.
    fn ending(&mut self, out: &mut Emitter<'_>) -> Ending {
        if let Some(parser) = &mut self.text_calls {
            let events = parser.finish(true);
            parsed(events, out);
        }
        for call in std::mem::take(&mut self.calls).into_values() {
            out.tool_call(&call.id, &call.name, &call.arguments);
        }
        let stop = match self.finish.as_deref() {
            Some("length") => Some(StopReason::MaxTokens),
            Some("tool_calls" | "function_call") => Some(StopReason::ToolUse),
            // `stop` after calls read from the text still waits for their results.
            _ if out.tool_calls() > 0 => Some(StopReason::ToolUse),
            _ => Some(StopReason::EndTurn),
        };
        Ending {
            stop,
            stop_sequence: None,
            usage: self.usage.unwrap_or_default(),
        }
    }
}

/// Passes the parser's findings on.
fn parsed(events: Vec<ParsedEvent>, out: &mut Emitter<'_>) {
    for event in events {
        match event {
            ParsedEvent::Text(text) => out.text(&text),
            ParsedEvent::ToolCall(call) => out.tool_call("", &call.name, &call.input.to_string()),
        }
    }
}

impl Translate for Translator {
    fn event(
        &mut self,
        event: &SseEvent,
        out: &mut Emitter<'_>,
    ) -> Result<Option<Ending>, ApiError> {
        if event.data.trim() == "[DONE]" {
            return Ok(Some(self.ending(out)));
        }
        let chunk = data_json(event)?;
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            return Err(stream_error(&chunk));
        }
        let id = chunk.get("id").and_then(Value::as_str).unwrap_or("");
        out.start(
            id,
            chunk.get("model").and_then(Value::as_str),
            Usage::default(),
        );
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage_of(usage, chunk.get("timings")));
        }
        // n = 1: the first choice is the answer.
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return Ok(None);
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        for field in ["reasoning_content", "reasoning"] {
            if let Some(thinking) = delta.get(field).and_then(Value::as_str) {
                out.thinking(thinking);
                break;
            }
        }
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            self.content(text, out);
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            self.tool_call_deltas(calls);
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(reason.to_string());
        }
        Ok(None)
    }

    fn end_of_stream(&mut self, out: &mut Emitter<'_>) -> Result<Ending, ApiError> {
        // Some servers close after the last chunk without `[DONE]`: the finish reason
        // says the message was whole.
        if self.finish.is_some() {
            return Ok(self.ending(out));
        }
        Err(ApiError::internal(
            "the stream ended without a finish_reason (the server closed the connection)",
        ))
    }
}

/// OpenAI usage as the contract's: `prompt_tokens` includes the cached ones, which the
/// contract counts apart (`cache_read_input_tokens`); OpenAI has no count of tokens
/// written to a cache. llama.cpp's server reports its cache hits in `timings.cache_n`.
fn usage_of(usage: &Value, timings: Option<&Value>) -> Usage {
    let prompt = count(usage, &["prompt_tokens"]).unwrap_or(0);
    let cached = count(usage, &["prompt_tokens_details", "cached_tokens"])
        .or_else(|| timings.and_then(|t| count(t, &["cache_n"])))
        .unwrap_or(0)
        .min(prompt);
    Usage {
        input_tokens: prompt - cached,
        cache_read_input_tokens: cached,
        cache_creation_input_tokens: 0,
        output_tokens: count(usage, &["completion_tokens"]).unwrap_or(0),
        thinking_tokens: count(usage, &["completion_tokens_details", "reasoning_tokens"])
            .unwrap_or(0),
        ..Usage::default()
    }
}
