//! A Chat Completions body into the engine's [`Request`]: messages of every role
//! (system and developer become the system prompt; tool messages become tool results),
//! function tools, `tool_choice`, the output limit, sampling, `reasoning_effort`. What
//! cannot be served (`n` > 1, log-probabilities, non-text parts, JSON modes) is refused
//! naming the field, rather than answered differently from what was asked.

use hearth_engine::api::{Request, ToolChoice};
use serde_json::{json, Value};

use crate::admit::OutputLimit;
use crate::error::ServeError;
use crate::openai::convert::{check_tool_choice, choice_word, effort_thinking, tool, Conversation};
use crate::openai::fields::{self, at, get, wrong, Fields};

/// A parsed request and what the wire says beside it.
#[derive(Debug)]
pub(crate) struct ChatRequest {
    /// The request for the engine.
    pub request: Request,
    /// The model asked for.
    pub model: String,
    /// How its output is limited.
    pub limit: OutputLimit,
    /// `stream_options.include_usage`: a last chunk with the usage.
    pub include_usage: bool,
}

/// Parses a `/v1/chat/completions` body.
pub(crate) fn parse(bytes: &[u8]) -> Result<ChatRequest, ServeError> {
    let body = fields::object_body(bytes)?;
    let model = fields::required_string(&body, "model", "")?;
    fields::n_is_one(&body)?;
    fields::refuse(
        &body,
        "logprobs",
        &[json!(false)],
        "log-probabilities are not computed",
    )?;
    fields::refuse(
        &body,
        "top_logprobs",
        &[json!(0)],
        "log-probabilities are not computed",
    )?;
    if let Some(format) = get(&body, "response_format") {
        if format.get("type").and_then(Value::as_str) != Some("text") {
            return Err(ServeError::invalid(format!(
                "response_format: {format} is not supported: this server answers in text \
                 (use a function tool to get JSON)"
            )));
        }
    }
    let stream = fields::boolean(&body, "stream")?.unwrap_or(false);
    let include_usage = match get(&body, "stream_options") {
        None => false,
        Some(Value::Object(o)) => fields::boolean(o, "include_usage")
            .map_err(|_| {
                ServeError::invalid("stream_options.include_usage: expected true or false")
            })?
            .unwrap_or(false),
        Some(other) => return Err(wrong("stream_options", "an object", other)),
    };
    let (limit_field, max_tokens) = match fields::count(&body, "max_completion_tokens")? {
        Some(n) => ("max_completion_tokens", Some(n)),
        None => ("max_tokens", fields::count(&body, "max_tokens")?),
    };
    if max_tokens == Some(0) {
        return Err(ServeError::invalid(format!(
            "{limit_field}: must be at least 1, got 0"
        )));
    }
    let mut conversation = conversation(&body)?;
    let tools = tools(&body)?;
    let tool_choice = check_tool_choice(tool_choice(&body)?, &tools, "tool_choice")?;
    let thinking = match fields::string(&body, "reasoning_effort", "")? {
        Some(effort) => Some(effort_thinking(&effort, "reasoning_effort", max_tokens)?),
        None => None,
    };
    let request = Request {
        model: None,
        system: conversation.system_prompt(),
        messages: conversation.messages,
        tools,
        tool_choice,
        max_tokens: max_tokens.unwrap_or(0),
        temperature: fields::number(&body, "temperature", 0.0, 2.0)?,
        top_p: fields::top_p(&body)?,
        top_k: None,
        stop_sequences: fields::stop(&body)?,
        thinking,
        stream,
        seed: fields::seed(&body)?,
        stop_on_loop: false,
        // The server's to set, from the key the request came with.
        cache_salt: None,
    };
    Ok(ChatRequest {
        request,
        model,
        limit: OutputLimit {
            field: limit_field,
            given: max_tokens.is_some(),
        },
        include_usage,
    })
}

/// `messages` in order.
fn conversation(body: &Fields) -> Result<Conversation, ServeError> {
    let messages = match get(body, "messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) | None => {
            return Err(ServeError::invalid(
                "messages: missing or empty; the request needs at least one user message",
            ))
        }
        Some(other) => return Err(wrong("messages", "an array of messages", other)),
    };
    let mut conversation = Conversation::default();
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let Value::Object(m) = message else {
            return Err(wrong(&path, "a message object", message));
        };
        let role = fields::required_string(m, "role", &path)?;
        let content_path = at(&path, "content");
        let content = get(m, "content");
        let text = |required: bool| -> Result<String, ServeError> {
            match content {
                Some(c) => fields::text_content(c, &content_path),
                None if required => Err(ServeError::invalid(format!("{content_path}: missing"))),
                None => Ok(String::new()),
            }
        };
        match role.as_str() {
            "system" | "developer" => conversation.system.push(text(true)?),
            "user" => conversation.user(text(true)?),
            "assistant" => {
                // `reasoning_content` sent back is left out: the model's earlier reasoning
                // is not part of the prompt (Qwen's templates drop it too).
                conversation.assistant_text(text(false)?);
                for (id, name, input) in tool_calls(m, &path)? {
                    conversation.assistant_call(id, name, input);
                }
            }
            "tool" => {
                let id = fields::required_string(m, "tool_call_id", &path)?;
                conversation.tool_result(id, text(true)?);
            }
            other => {
                return Err(ServeError::invalid(format!(
                    "{path}.role: {other:?} is not supported; expected \"system\", \
                     \"developer\", \"user\", \"assistant\" or \"tool\""
                )))
            }
        }
    }
    Ok(conversation)
}

/// An assistant message's `tool_calls`: id, function name, arguments as an object.
fn tool_calls(m: &Fields, path: &str) -> Result<Vec<(String, String, Value)>, ServeError> {
    let calls = match get(m, "tool_calls") {
        None => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(other) => return Err(wrong(&at(path, "tool_calls"), "an array", other)),
    };
    let mut out = Vec::with_capacity(calls.len());
    for (j, call) in calls.iter().enumerate() {
        let call_path = format!("{path}.tool_calls[{j}]");
        let Value::Object(c) = call else {
            return Err(wrong(&call_path, "a tool call object", call));
        };
        let id = fields::required_string(c, "id", &call_path)?;
        let function_path = at(&call_path, "function");
        let Some(Value::Object(f)) = get(c, "function") else {
            return Err(ServeError::invalid(format!(
                "{function_path}: expected an object with name and arguments"
            )));
        };
        let name = fields::required_string(f, "name", &function_path)?;
        let arguments = fields::arguments(
            get(f, "arguments").unwrap_or(&Value::String(String::new())),
            &at(&function_path, "arguments"),
        )?;
        out.push((id, name, arguments));
    }
    Ok(out)
}

/// `tools`: the function tools (other kinds are left out, as the Messages side leaves
/// out server tools: this server runs none of them).
fn tools(body: &Fields) -> Result<Vec<hearth_engine::api::ToolDefinition>, ServeError> {
    let tools = match get(body, "tools") {
        None => return Ok(Vec::new()),
        Some(Value::Array(t)) => t,
        Some(other) => return Err(wrong("tools", "an array of tools", other)),
    };
    let mut out = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        if t.get("type").and_then(Value::as_str) != Some("function") {
            continue;
        }
        let Some(Value::Object(f)) = t.get("function") else {
            return Err(ServeError::invalid(format!(
                "{path}.function: expected an object with name, description and parameters"
            )));
        };
        let function_path = at(&path, "function");
        out.push(tool(
            fields::required_string(f, "name", &function_path)?,
            fields::string(f, "description", &function_path)?,
            get(f, "parameters"),
        ));
    }
    Ok(out)
}

/// `tool_choice`: a word, one function, or `allowed_tools` (in `required` mode a call
/// of one of them; in `auto` mode the model decides).
fn tool_choice(body: &Fields) -> Result<Option<ToolChoice>, ServeError> {
    let expected = "\"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": \
                    {\"name\": …}}";
    let bad = || ServeError::invalid(format!("tool_choice: expected {expected}"));
    match get(body, "tool_choice") {
        None => Ok(None),
        Some(Value::String(word)) => choice_word(word).map(Some).ok_or_else(|| {
            ServeError::invalid(format!("tool_choice: {word:?} is not one of {expected}"))
        }),
        Some(Value::Object(o)) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = o
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| ServeError::invalid("tool_choice.function.name: missing"))?;
                Ok(Some(ToolChoice::Tool { name: name.into() }))
            }
            Some("allowed_tools") => {
                let allowed = o.get("allowed_tools").ok_or_else(bad)?;
                let names = allowed
                    .get("tools")
                    .and_then(Value::as_array)
                    .map(|tools| {
                        tools
                            .iter()
                            .filter_map(|t| t.get("function")?.get("name")?.as_str())
                            .map(String::from)
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                match allowed.get("mode").and_then(Value::as_str) {
                    Some("required") if !names.is_empty() => Ok(Some(ToolChoice::AnyOf { names })),
                    Some("auto") => Ok(Some(ToolChoice::Auto)),
                    _ => Err(ServeError::invalid(
                        "tool_choice.allowed_tools: expected a mode of \"auto\" or \
                         \"required\" and at least one function in tools",
                    )),
                }
            }
            _ => Err(bad()),
        },
        Some(other) => Err(wrong("tool_choice", expected, other)),
    }
}
