//! A Responses API body into the engine's [`Request`]: `input` as a string or items
//! (messages with text parts, `function_call` and `function_call_output` items; reasoning
//! items passed back are left out), `instructions`, flat function tools (other tool kinds,
//! such as `web_search`, are left out: this server runs none), `tool_choice`,
//! `max_output_tokens`, `reasoning.effort`, sampling. Nothing is stored, so a
//! `previous_response_id` is refused: the client must send the whole conversation, as
//! Codex CLI does with `store: false`.

use hearth_engine::api::{Request, ToolChoice, ToolDefinition};
use serde_json::{json, Map, Value};

use crate::admit::OutputLimit;
use crate::error::ServeError;
use crate::openai::convert::{check_tool_choice, choice_word, effort_thinking, tool, Conversation};
use crate::openai::fields::{self, at, get, wrong, Fields};

/// A parsed request and what the response object repeats of it.
#[derive(Debug)]
pub(crate) struct ResponsesRequest {
    /// The request for the engine.
    pub request: Request,
    /// The model asked for.
    pub model: String,
    /// How its output is limited.
    pub limit: OutputLimit,
    /// The request's settings as the response object shows them (`instructions`,
    /// `tools`, `tool_choice`, `max_output_tokens`, `temperature`, `top_p`, `reasoning`).
    pub echo: Map<String, Value>,
}

/// Parses a `/v1/responses` body.
pub(crate) fn parse(bytes: &[u8]) -> Result<ResponsesRequest, ServeError> {
    let body = fields::object_body(bytes)?;
    let model = fields::required_string(&body, "model", "")?;
    if let Some(id) = get(&body, "previous_response_id") {
        return Err(ServeError::invalid(format!(
            "previous_response_id: {id} cannot be continued: this server does not store \
             responses (every response is answered as with store: false); send the whole \
             conversation in input instead"
        )));
    }
    if let Some(format) = get(&body, "text").and_then(|t| t.get("format")) {
        if format.get("type").and_then(Value::as_str) != Some("text") {
            return Err(ServeError::invalid(format!(
                "text.format: {format} is not supported: this server answers in text \
                 (use a function tool to get JSON)"
            )));
        }
    }
    let stream = fields::boolean(&body, "stream")?.unwrap_or(false);
    let max_tokens = fields::count(&body, "max_output_tokens")?;
    if max_tokens == Some(0) {
        return Err(ServeError::invalid(
            "max_output_tokens: must be at least 1, got 0",
        ));
    }
    let mut conversation = Conversation::default();
    if let Some(instructions) = fields::string(&body, "instructions", "")? {
        conversation.system.push(instructions);
    }
    input(&body, &mut conversation)?;
    let (tools, tools_echo) = tools(&body)?;
    let tool_choice = check_tool_choice(tool_choice(&body)?, &tools, "tool_choice")?;
    let effort = match get(&body, "reasoning") {
        None => None,
        Some(Value::Object(r)) => fields::string(r, "effort", "reasoning")?,
        Some(other) => {
            return Err(wrong(
                "reasoning",
                "an object such as {\"effort\": \"low\"}",
                other,
            ))
        }
    };
    let thinking = match &effort {
        Some(e) => Some(effort_thinking(e, "reasoning.effort", max_tokens)?),
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
        stop_sequences: Vec::new(),
        thinking,
        stream,
        seed: fields::seed(&body)?,
        stop_on_loop: false,
        // The server's to set, from the key the request came with.
        cache_salt: None,
    };
    let mut echo = Map::new();
    echo.insert(
        "instructions".into(),
        get(&body, "instructions").cloned().unwrap_or(Value::Null),
    );
    echo.insert("max_output_tokens".into(), json!(max_tokens));
    echo.insert("tools".into(), Value::Array(tools_echo));
    echo.insert(
        "tool_choice".into(),
        get(&body, "tool_choice").cloned().unwrap_or(json!("auto")),
    );
    echo.insert(
        "temperature".into(),
        json!(request.temperature.unwrap_or(1.0)),
    );
    echo.insert("top_p".into(), json!(request.top_p.unwrap_or(1.0)));
    echo.insert(
        "reasoning".into(),
        json!({"effort": effort, "summary": null}),
    );
    Ok(ResponsesRequest {
        request,
        model,
        limit: OutputLimit {
            field: "max_output_tokens",
            given: max_tokens.is_some(),
        },
        echo,
    })
}

/// `input`: a string (one user message) or items in order.
fn input(body: &Fields, conversation: &mut Conversation) -> Result<(), ServeError> {
    let items = match get(body, "input") {
        Some(Value::String(text)) => {
            conversation.user(text.clone());
            return Ok(());
        }
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) | None => {
            return Err(ServeError::invalid(
                "input: missing or empty; give the user's text or input items",
            ))
        }
        Some(other) => return Err(wrong("input", "a string or an array of items", other)),
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("input[{i}]");
        let Value::Object(it) = item else {
            return Err(wrong(&path, "an item object", item));
        };
        // A message may leave out its type (`{"role": "user", "content": …}`).
        let kind = match fields::string(it, "type", &path)? {
            Some(kind) => kind,
            None if it.contains_key("role") => "message".into(),
            None => return Err(ServeError::invalid(format!("{path}.type: missing"))),
        };
        match kind.as_str() {
            "message" => {
                let role = fields::required_string(it, "role", &path)?;
                let content_path = at(&path, "content");
                let text = match get(it, "content") {
                    Some(c) => fields::text_content(c, &content_path)?,
                    None => return Err(ServeError::invalid(format!("{content_path}: missing"))),
                };
                match role.as_str() {
                    "system" | "developer" => conversation.system.push(text),
                    "user" => conversation.user(text),
                    "assistant" => conversation.assistant_text(text),
                    other => {
                        return Err(ServeError::invalid(format!(
                            "{path}.role: {other:?} is not supported; expected \"user\", \
                             \"assistant\", \"system\" or \"developer\""
                        )))
                    }
                }
            }
            "function_call" => {
                let call_id = fields::required_string(it, "call_id", &path)?;
                let name = fields::required_string(it, "name", &path)?;
                let arguments = fields::arguments(
                    get(it, "arguments").unwrap_or(&Value::String(String::new())),
                    &at(&path, "arguments"),
                )?;
                conversation.assistant_call(call_id, name, arguments);
            }
            "function_call_output" => {
                let call_id = fields::required_string(it, "call_id", &path)?;
                let output_path = at(&path, "output");
                let output = match get(it, "output") {
                    Some(o) => fields::text_content(o, &output_path)?,
                    None => return Err(ServeError::invalid(format!("{output_path}: missing"))),
                };
                conversation.tool_result(call_id, output);
            }
            // Earlier reasoning is not part of the prompt (Qwen's templates drop it), and
            // a search this server never ran has no result to show.
            "reasoning" | "web_search_call" => {}
            other => {
                return Err(ServeError::invalid(format!(
                    "{path}.type: {other:?} is not supported; expected \"message\", \
                     \"function_call\", \"function_call_output\" or \"reasoning\""
                )))
            }
        }
    }
    Ok(())
}

/// The function tools (flat: `{type, name, description, parameters}`; the Chat
/// Completions nesting under `function` is read too), and their echo.
fn tools(body: &Fields) -> Result<(Vec<ToolDefinition>, Vec<Value>), ServeError> {
    let tools = match get(body, "tools") {
        None => return Ok((Vec::new(), Vec::new())),
        Some(Value::Array(t)) => t,
        Some(other) => return Err(wrong("tools", "an array of tools", other)),
    };
    let mut out = Vec::new();
    let mut echo = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        let Value::Object(fields_of) = t else {
            return Err(wrong(&path, "a tool object", t));
        };
        if fields_of.get("type").and_then(Value::as_str) != Some("function") {
            continue;
        }
        let (f, f_path) = match fields_of.get("function") {
            Some(Value::Object(f)) => (f, at(&path, "function")),
            _ => (fields_of, path.clone()),
        };
        out.push(tool(
            fields::required_string(f, "name", &f_path)?,
            fields::string(f, "description", &f_path)?,
            get(f, "parameters"),
        ));
        echo.push(t.clone());
    }
    Ok((out, echo))
}

/// `tool_choice`: a word, `{type: "function", name}`, or `allowed_tools`.
fn tool_choice(body: &Fields) -> Result<Option<ToolChoice>, ServeError> {
    let expected = "\"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": …}";
    match get(body, "tool_choice") {
        None => Ok(None),
        Some(Value::String(word)) => choice_word(word).map(Some).ok_or_else(|| {
            ServeError::invalid(format!("tool_choice: {word:?} is not one of {expected}"))
        }),
        Some(Value::Object(o)) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = o
                    .get("name")
                    .or_else(|| o.get("function").and_then(|f| f.get("name")))
                    .and_then(Value::as_str)
                    .ok_or_else(|| ServeError::invalid("tool_choice.name: missing"))?;
                Ok(Some(ToolChoice::Tool { name: name.into() }))
            }
            Some("allowed_tools") => {
                let names: Vec<String> = o
                    .get("tools")
                    .and_then(Value::as_array)
                    .map(|tools| {
                        tools
                            .iter()
                            .filter_map(|t| t.get("name")?.as_str())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
                match o.get("mode").and_then(Value::as_str) {
                    Some("required") if !names.is_empty() => Ok(Some(ToolChoice::AnyOf { names })),
                    Some("auto") => Ok(Some(ToolChoice::Auto)),
                    _ => Err(ServeError::invalid(
                        "tool_choice: allowed_tools needs a mode of \"auto\" or \"required\" \
                         and at least one function in tools",
                    )),
                }
            }
            // Hosted tools (web search, file search) are not run here.
            Some(other) => Err(ServeError::invalid(format!(
                "tool_choice.type: {other:?} is not supported; expected {expected}"
            ))),
            None => Err(ServeError::invalid("tool_choice.type: missing")),
        },
        Some(other) => Err(wrong("tool_choice", expected, other)),
    }
}
