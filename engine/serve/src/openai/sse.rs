//! How OpenAI's protocols frame their server-sent events.

use axum::body::Bytes;
use serde_json::Value;

/// `data: JSON` (Chat Completions' and Completions' frames carry no event name).
pub(crate) fn data(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// `event: TYPE` then `data: JSON`, as the Responses API frames its events.
pub(crate) fn named(value: &Value) -> Bytes {
    let name = value.get("type").and_then(Value::as_str).unwrap_or("error");
    Bytes::from(format!("event: {name}\ndata: {value}\n\n"))
}

/// The end of a Chat Completions or Completions stream.
pub(crate) fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}
