//! Reading OpenAI request bodies field by field, so every error names the field by its
//! path on the wire (`messages[2].tool_calls[0].function.arguments`) and says what was
//! expected. `null` counts as absent, as OpenAI's SDKs send it for unset options.

use serde_json::{Map, Value};

use crate::anthropic::request::type_name;
use crate::error::ServeError;

/// A JSON object's fields.
pub(crate) type Fields = Map<String, Value>;

/// The body as a JSON object; malformed JSON and other values are told apart.
pub(crate) fn object_body(bytes: &[u8]) -> Result<Fields, ServeError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ServeError::invalid(format!("the request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(fields) => Ok(fields),
        other => Err(ServeError::invalid(format!(
            "the request body must be a JSON object, got {}",
            type_name(&other)
        ))),
    }
}

/// `path.key`, or `key` at the top.
pub(crate) fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The error for field `path` holding `got` where `expected` was wanted.
pub(crate) fn wrong(path: &str, expected: &str, got: &Value) -> ServeError {
    ServeError::invalid(format!(
        "{path}: expected {expected}, got {}",
        type_name(got)
    ))
}

/// Field `key`, `None` when absent or null.
pub(crate) fn get<'a>(fields: &'a Fields, key: &str) -> Option<&'a Value> {
    fields.get(key).filter(|v| !v.is_null())
}

/// A string field.
pub(crate) fn string(fields: &Fields, key: &str, path: &str) -> Result<Option<String>, ServeError> {
    match get(fields, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong(&at(path, key), "a string", other)),
    }
}

/// A required string field.
pub(crate) fn required_string(
    fields: &Fields,
    key: &str,
    path: &str,
) -> Result<String, ServeError> {
    string(fields, key, path)?
        .ok_or_else(|| ServeError::invalid(format!("{}: missing", at(path, key))))
}

/// A boolean field.
pub(crate) fn boolean(fields: &Fields, key: &str) -> Result<Option<bool>, ServeError> {
    match get(fields, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong(key, "true or false", other)),
    }
}

/// A whole number field that fits in a u32.
pub(crate) fn count(fields: &Fields, key: &str) -> Result<Option<u32>, ServeError> {
    match get(fields, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| wrong(key, "a whole number >= 0", v)),
    }
}

/// A u64 field (the seed; negative seeds are taken as their two's complement, as a
/// client's signed 64-bit seed would be).
pub(crate) fn seed(fields: &Fields) -> Result<Option<u64>, ServeError> {
    match get(fields, "seed") {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_i64().map(|n| n as u64))
            .map(Some)
            .ok_or_else(|| wrong("seed", "a whole number", v)),
    }
}

/// A number field in `[low, high]`.
pub(crate) fn number(
    fields: &Fields,
    key: &str,
    low: f64,
    high: f64,
) -> Result<Option<f32>, ServeError> {
    match get(fields, key) {
        None => Ok(None),
        Some(v) => {
            let n = v.as_f64().ok_or_else(|| wrong(key, "a number", v))?;
            if !(low..=high).contains(&n) {
                return Err(ServeError::invalid(format!(
                    "{key}: {n} is out of range; expected a number from {low} to {high}"
                )));
            }
            Ok(Some(n as f32))
        }
    }
}

/// `top_p`: in (0, 1].
pub(crate) fn top_p(fields: &Fields) -> Result<Option<f32>, ServeError> {
    let p = number(fields, "top_p", 0.0, 1.0)?;
    if p == Some(0.0) {
        return Err(ServeError::invalid(
            "top_p: must be greater than 0 (and at most 1)",
        ));
    }
    Ok(p)
}

/// `stop`: a string or up to 4 strings.
pub(crate) fn stop(fields: &Fields) -> Result<Vec<String>, ServeError> {
    match get(fields, "stop") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong(&format!("stop[{i}]"), "a string", other)),
            })
            .collect(),
        Some(other) => Err(wrong("stop", "a string or an array of strings", other)),
    }
}

/// `n`: only 1 is served (one answer per request: the engine generates one sequence).
pub(crate) fn n_is_one(fields: &Fields) -> Result<(), ServeError> {
    match get(fields, "n") {
        None => Ok(()),
        Some(v) if v.as_u64() == Some(1) => Ok(()),
        Some(v) => Err(ServeError::invalid(format!(
            "n: {v} is not supported; this server generates one choice per request (n = 1), \
             send the request again for another"
        ))),
    }
}

/// Refuses a field this server cannot honour when it is set to anything but `allowed`
/// (absent and null always pass), saying why.
pub(crate) fn refuse(
    fields: &Fields,
    key: &str,
    allowed: &[Value],
    why: &str,
) -> Result<(), ServeError> {
    match get(fields, key) {
        Some(v) if !allowed.contains(v) => Err(ServeError::invalid(format!(
            "{key}: {v} is not supported: {why}"
        ))),
        _ => Ok(()),
    }
}

/// The text of `content`: a string, or an array of text parts (`text`, `input_text`,
/// `output_text`) joined; any other part is refused naming it.
pub(crate) fn text_content(content: &Value, path: &str) -> Result<String, ServeError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                let part_path = format!("{path}[{j}]");
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                match (kind, part.get("text")) {
                    ("text" | "input_text" | "output_text", Some(Value::String(t))) => {
                        text.push_str(t)
                    }
                    ("text" | "input_text" | "output_text", other) => {
                        return Err(wrong(
                            &format!("{part_path}.text"),
                            "a string",
                            other.unwrap_or(&Value::Null),
                        ))
                    }
                    ("refusal", _) => {}
                    (other, _) => {
                        return Err(ServeError::invalid(format!(
                            "{part_path}.type: {other:?} is not supported; this server takes \
                             text parts only"
                        )))
                    }
                }
            }
            Ok(text)
        }
        other => Err(wrong(path, "a string or an array of text parts", other)),
    }
}

/// Function arguments as JSON text into the object they hold; broken JSON is refused
/// naming the field (the engine's prompt needs the call's arguments as an object).
pub(crate) fn arguments(text: &Value, path: &str) -> Result<Value, ServeError> {
    match text {
        Value::String(s) if s.trim().is_empty() => Ok(Value::Object(Map::new())),
        Value::String(s) => serde_json::from_str(s)
            .map_err(|e| ServeError::invalid(format!("{path}: not valid JSON ({e}): {s}"))),
        // Some clients send the object itself.
        Value::Object(_) => Ok(text.clone()),
        other => Err(wrong(path, "a JSON string", other)),
    }
}
