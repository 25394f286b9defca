//! Parsing the model's arguments: strict about names, lenient about how numbers are written.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;

use crate::{ToolError, ToolOutput};

/// Parses a tool's arguments; a missing or `null` argument object means "no arguments".
pub(crate) fn parse_args<T: DeserializeOwned>(
    tool: &'static str,
    args: &Value,
) -> Result<T, ToolError> {
    let args = if args.is_null() {
        Value::Object(serde_json::Map::new())
    } else {
        args.clone()
    };
    if !args.is_object() {
        return Err(ToolError::bad_arguments(
            tool,
            format!("expected a JSON object of arguments, got {args}"),
        ));
    }
    serde_json::from_value(args).map_err(|e| ToolError::bad_arguments(tool, e.to_string()))
}

/// The arguments of the tools that show lines of one file (read_file, git_blame).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileLines {
    /// File path relative to the repository root
    pub(crate) path: String,
    /// First line to show (default 1)
    #[serde(default, deserialize_with = "lenient_usize")]
    #[schemars(range(min = 1))]
    pub(crate) start_line: Option<usize>,
    /// Last line to show (default: the end)
    #[serde(default, deserialize_with = "lenient_usize")]
    #[schemars(range(min = 1))]
    pub(crate) end_line: Option<usize>,
}

impl FileLines {
    /// The 1-based range `(first, last)` of the `total` lines of the file that was asked
    /// for, checked; `None` when the file has no lines ([`FileLines::empty`] says so).
    pub(crate) fn range(
        &self,
        tool: &'static str,
        total: usize,
    ) -> Result<Option<(usize, usize)>, ToolError> {
        if total == 0 {
            return Ok(None);
        }
        line_range(tool, self.start_line, self.end_line, total).map(Some)
    }

    /// What a tool shows for a file of no lines.
    pub(crate) fn empty(&self) -> ToolOutput {
        ToolOutput::text(format!("({} is empty)\n", self.path), false)
    }
}

/// The JSON schema of a tool's arguments, derived from the struct they are parsed into, so
/// the two cannot disagree.
///
/// Reduced to what the model needs: no `$schema`, `title` or root description (the tool has
/// its own), no `format` or `default`, and an optional argument is its type alone, not also
/// `null`. The key order is that of the struct, the same on every run: the schemas are part
/// of the prompt prefix, which is cached only if it is byte for byte the same.
pub(crate) fn schema_for<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.meta_schema = None;
            settings.inline_subschemas = true;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(root) = &mut schema {
        root.remove("title");
        root.remove("description");
        // Some endpoints refuse an object schema without properties (a tool of no arguments).
        if !root.contains_key("properties") {
            root.insert("properties".into(), Value::Object(serde_json::Map::new()));
        }
        if let Some(Value::Object(properties)) = root.get_mut("properties") {
            properties.values_mut().for_each(tidy_property);
        }
    }
    schema
}

fn tidy_property(property: &mut Value) {
    let Value::Object(property) = property else {
        return;
    };
    property.remove("format");
    property.remove("default");
    if let Some(Value::Array(types)) = property.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            property.insert("type".into(), only);
        }
    }
}

// Small models often quote numbers and booleans ("start_line": "10"); accepting both
// spellings costs nothing and saves a round trip.

/// An optional non-negative integer written as a number or a string of digits.
pub(crate) fn lenient_usize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    let number = match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match number {
        Some(n) => usize::try_from(n)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("{n} is too large"))),
        None => Err(D::Error::custom("expected a non-negative integer")),
    }
}

/// An optional boolean written as `true`/`false` or as the strings "true"/"false".
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(text)) if text.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(text)) if text.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(D::Error::custom(format!(
            "expected true or false, got {other}"
        ))),
    }
}

/// A 1-based inclusive line range as given, checked against a text of `total` lines.
///
/// Returns the range to show as 1-based `(first, last)`; `last` is clamped to the end.
fn line_range(
    tool: &'static str,
    start: Option<usize>,
    end: Option<usize>,
    total: usize,
) -> Result<(usize, usize), ToolError> {
    let first = start.unwrap_or(1);
    if first == 0 {
        return Err(ToolError::bad_arguments(
            tool,
            "start_line is 1-based; 0 is not a line",
        ));
    }
    if let Some(end) = end {
        if end < first {
            return Err(ToolError::bad_arguments(
                tool,
                format!("end_line {end} is before start_line {first}"),
            ));
        }
    }
    if first > total.max(1) {
        return Err(ToolError::bad_arguments(
            tool,
            format!("start_line {first} is past the end of the file, which has {total} lines"),
        ));
    }
    Ok((first, end.unwrap_or(total).min(total)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Example {
        path: String,
        #[serde(default, deserialize_with = "lenient_usize")]
        start_line: Option<usize>,
        #[serde(default, deserialize_with = "lenient_bool")]
        flag: Option<bool>,
    }

    #[test]
    fn numbers_and_booleans_may_be_quoted() {
        let args: Example = parse_args(
            "t",
            &json!({"path": "a", "start_line": "12", "flag": "true"}),
        )
        .unwrap();
        assert_eq!(
            (args.path.as_str(), args.start_line, args.flag),
            ("a", Some(12), Some(true))
        );
        let args: Example =
            parse_args("t", &json!({"path": "a", "start_line": 3, "flag": false})).unwrap();
        assert_eq!((args.start_line, args.flag), (Some(3), Some(false)));
        let args: Example = parse_args("t", &json!({"path": "a", "start_line": null})).unwrap();
        assert_eq!(args.start_line, None);
    }

    #[test]
    fn mistakes_are_named_in_the_error() {
        let error = parse_args::<Example>("t", &json!({"path": "a", "start": 1})).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `start`"),
            "{error}"
        );
        let error = parse_args::<Example>("t", &json!({})).unwrap_err();
        assert!(
            error.to_string().contains("missing field `path`"),
            "{error}"
        );
        let error =
            parse_args::<Example>("t", &json!({"path": "a", "start_line": "ten"})).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("expected a non-negative integer"),
            "{error}"
        );
        let error = parse_args::<Example>("t", &json!({"path": "a", "flag": 3})).unwrap_err();
        assert!(
            error.to_string().contains("expected true or false, got 3"),
            "{error}"
        );
        let error = parse_args::<Example>("t", &json!(["a"])).unwrap_err();
        assert!(
            error.to_string().contains("expected a JSON object"),
            "{error}"
        );
    }

    #[test]
    fn line_ranges_are_checked() {
        assert_eq!(line_range("t", None, None, 10).unwrap(), (1, 10));
        assert_eq!(line_range("t", Some(3), Some(99), 10).unwrap(), (3, 10));
        assert_eq!(line_range("t", None, None, 0).unwrap(), (1, 0));
        assert!(line_range("t", Some(0), None, 10).is_err());
        assert!(line_range("t", Some(11), None, 10).is_err());
        assert!(line_range("t", Some(5), Some(4), 10).is_err());
    }
}
