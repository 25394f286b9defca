//! Python's `str()` of template values, for `{{ ... }}` output and the `string` filter.
//!
//! jinja2 prints values with Python's `str()`: `None`, `True`, `['a', 1]`,
//! `{'k': 'v'}`. minijinja prints `none`, `true`, `["a", 1]`. Templates that
//! print a missing message content or a list directly would otherwise render
//! a different prompt than the one the model was trained with.

use super::pyjson::python_float_repr;
use minijinja::value::ValueKind;
use minijinja::{Error, Output, State, Value};
use std::fmt::Write;

/// The environment's formatter: strings as they are, everything else as `str()`.
pub(crate) fn python_formatter(
    out: &mut Output,
    _state: &State,
    value: &Value,
) -> Result<(), Error> {
    if let Some(s) = value.as_str() {
        out.write_str(s)?;
    } else {
        out.write_str(&python_str(value))?;
    }
    Ok(())
}

/// The `string` filter: Python's `str(x)`.
pub(crate) fn string_filter(value: &Value) -> Value {
    match value.as_str() {
        Some(_) => value.clone(),
        None => Value::from(python_str(value)),
    }
}

/// `str(x)`: undefined prints empty (jinja2's default `Undefined`), strings as themselves.
pub(crate) fn python_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::String => value.as_str().unwrap_or_default().to_owned(),
        _ => {
            let mut out = String::new();
            push_repr(value, &mut out);
            out
        }
    }
}

fn push_repr(value: &Value, out: &mut String) {
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => push_number(value, out),
        ValueKind::String => push_str_repr(value.as_str().unwrap_or_default(), out),
        ValueKind::Seq => {
            out.push('[');
            if let Ok(items) = value.try_iter() {
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    push_repr(&item, out);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(keys) = value.try_iter() {
                for (i, key) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    push_repr(&key, out);
                    out.push_str(": ");
                    let item = value.get_item(&key).unwrap_or(Value::UNDEFINED);
                    push_repr(&item, out);
                }
            }
            out.push('}');
        }
        // Functions, macros, namespaces and iterators have no Python spelling
        // worth imitating; minijinja's own is as good as jinja2's `<object at 0x..>`.
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

fn push_number(value: &Value, out: &mut String) {
    if value.is_integer() {
        let _ = write!(out, "{value}");
        return;
    }
    match f64::try_from(value.clone()) {
        Ok(x) if x.is_nan() => out.push_str("nan"),
        Ok(x) if x.is_infinite() => out.push_str(if x > 0.0 { "inf" } else { "-inf" }),
        Ok(x) => out.push_str(&python_float_repr(x)),
        Err(_) => {
            let _ = write!(out, "{value}");
        }
    }
}

/// `repr(s)` of a Python string: single quotes unless the text holds a single
/// quote and no double quote, with non-printable characters escaped.
fn push_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let code = c as u32;
                let _ = match code {
                    0..=0xff => write!(out, "\\x{code:02x}"),
                    0x100..=0xffff => write!(out, "\\u{code:04x}"),
                    _ => write!(out, "\\U{code:08x}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable` for one character, approximated without Unicode
/// tables: control characters, separators other than the space, and the common
/// invisible format characters are not printable.
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prints_like_python_str() {
        let json: serde_json::Value =
            serde_json::from_str(r#"{"a": [null, true, 1.5, "it's", "x\ny"], "b": {"c": "d"}}"#)
                .unwrap();
        let value = Value::from_serialize(&json);
        assert_eq!(
            python_str(&value),
            r#"{'a': [None, True, 1.5, "it's", 'x\ny'], 'b': {'c': 'd'}}"#
        );
        assert_eq!(python_str(&Value::from(())), "None");
        assert_eq!(python_str(&Value::from(false)), "False");
        assert_eq!(python_str(&Value::UNDEFINED), "");
        assert_eq!(python_str(&Value::from("\u{a0}\u{1}")), "\u{a0}\u{1}");
        assert_eq!(
            python_str(&Value::from(vec!["\u{a0}\u{1}"])),
            r"['\xa0\x01']"
        );
    }
}
