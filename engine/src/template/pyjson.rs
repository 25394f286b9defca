//! Python's `json.dumps` and `repr(float)` over template values.
//!
//! Hugging Face transformers replaces jinja2's `tojson` filter with
//! `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
//! sort_keys=sort_keys)`. Chat templates print tool schemas and tool-call
//! arguments through it, so its exact spacing, escaping and key order end up in
//! the prompt, and a prompt that differs by one space from what the model was
//! trained on costs quality and breaks prefix caches shared with other engines.

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Error, ErrorKind, Value};
use std::fmt::Write;

/// The options of Python's `json.dumps` that chat templates use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DumpOptions {
    /// Escape every non-ASCII character as `\uXXXX`.
    pub ensure_ascii: bool,
    /// `None` prints on one line; otherwise the string put once per nesting level.
    pub indent: Option<String>,
    /// Between items of arrays and objects.
    pub item_separator: String,
    /// Between a key and its value.
    pub key_separator: String,
    /// Sort object keys instead of keeping their insertion order.
    pub sort_keys: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            ensure_ascii: false,
            indent: None,
            item_separator: ", ".to_owned(),
            key_separator: ": ".to_owned(),
            sort_keys: false,
        }
    }
}

/// The `tojson` filter as transformers defines it: positional arguments in the
/// order of its Python signature `(ensure_ascii, indent, separators, sort_keys)`,
/// or the same names as keyword arguments.
pub(crate) fn tojson_filter(
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if args.len() > NAMES.len() {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            "tojson takes at most 4 arguments: ensure_ascii, indent, separators, sort_keys",
        ));
    }
    let mut given: [Option<Value>; 4] = Default::default();
    for (slot, arg) in given.iter_mut().zip(args.iter()) {
        *slot = Some(arg.clone());
    }
    for (slot, name) in given.iter_mut().zip(NAMES) {
        if let Some(v) = kwargs.get::<Option<Value>>(name)? {
            if slot.is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson got argument {name} both by position and by keyword"),
                ));
            }
            *slot = Some(v);
        }
    }
    kwargs.assert_all_used()?;
    let [ensure_ascii, indent, separators, sort_keys] = given;
    let options = dump_options(ensure_ascii, indent, separators, sort_keys)?;
    let mut out = String::new();
    dump(value, &options, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn dump_options(
    ensure_ascii: Option<Value>,
    indent: Option<Value>,
    separators: Option<Value>,
    sort_keys: Option<Value>,
) -> Result<DumpOptions, Error> {
    let mut options = DumpOptions {
        ensure_ascii: ensure_ascii.is_some_and(|v| v.is_true()),
        sort_keys: sort_keys.is_some_and(|v| v.is_true()),
        ..DumpOptions::default()
    };
    options.indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => Some(match v.as_str() {
            Some(s) => s.to_owned(),
            None => {
                let width = v.as_i64().ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!(
                            "tojson indent must be an integer or a string, got {}",
                            v.kind()
                        ),
                    )
                })?;
                // Python multiplies a space by the indent; a negative count gives "".
                " ".repeat(usize::try_from(width).unwrap_or(0))
            }
        }),
    };
    if options.indent.is_some() {
        // json.dumps drops the space after commas when indenting, so lines do
        // not end in whitespace.
        options.item_separator = ",".to_owned();
    }
    if let Some(v) = separators.filter(|v| !v.is_none() && !v.is_undefined()) {
        let parts: Vec<Value> = v.try_iter().map_err(|_| separators_error(&v))?.collect();
        match parts.as_slice() {
            [item, key] if item.as_str().is_some() && key.as_str().is_some() => {
                options.item_separator = item.as_str().unwrap_or_default().to_owned();
                options.key_separator = key.as_str().unwrap_or_default().to_owned();
            }
            _ => return Err(separators_error(&v)),
        }
    }
    Ok(options)
}

fn separators_error(v: &Value) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("tojson separators must be a pair of strings (item, key), got {v}"),
    )
}

/// Appends `value` as JSON in the layout of Python's `json.dumps`.
pub(crate) fn dump(
    value: &Value,
    options: &DumpOptions,
    level: usize,
    out: &mut String,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => push_number(value, out)?,
        ValueKind::String => push_string(
            value.as_str().unwrap_or_default(),
            options.ensure_ascii,
            out,
        ),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            push_container(out, options, level, '[', ']', &items, |item, out| {
                dump(item, options, level + 1, out)
            })?;
        }
        ValueKind::Map => {
            let mut entries: Vec<(String, Value)> = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push((json_key(&key)?, item));
            }
            if options.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            push_container(
                out,
                options,
                level,
                '{',
                '}',
                &entries,
                |(key, item), out| {
                    push_string(key, options.ensure_ascii, out);
                    out.push_str(&options.key_separator);
                    dump(item, options, level + 1, out)
                },
            )?;
        }
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "tojson cannot serialize an undefined value",
            ))
        }
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson cannot serialize a value of kind {other}"),
            ))
        }
    }
    Ok(())
}

fn push_container<T>(
    out: &mut String,
    options: &DumpOptions,
    level: usize,
    open: char,
    close: char,
    items: &[T],
    mut push_item: impl FnMut(&T, &mut String) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if items.is_empty() {
        out.push(close);
        return Ok(());
    }
    let newline = |out: &mut String, depth: usize| {
        if let Some(indent) = &options.indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(indent);
            }
        }
    };
    newline(out, level + 1);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&options.item_separator);
            newline(out, level + 1);
        }
        push_item(item, out)?;
    }
    newline(out, level);
    out.push(close);
    Ok(())
}

/// Object keys the way `json.dumps` coerces them: strings as they are,
/// numbers, booleans and None in their JSON spelling.
fn json_key(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_owned()),
        ValueKind::None => Ok("null".to_owned()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.to_owned()),
        ValueKind::Number => {
            let mut s = String::new();
            push_number(key, &mut s)?;
            Ok(s)
        }
        other => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("tojson object keys must be strings, numbers, booleans or none, got {other}"),
        )),
    }
}

fn push_number(value: &Value, out: &mut String) -> Result<(), Error> {
    if value.is_integer() {
        let _ = write!(out, "{value}");
        return Ok(());
    }
    let x = f64::try_from(value.clone())?;
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        out.push_str(&python_float_repr(x));
    }
    Ok(())
}

fn push_string(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `repr(x)` of a finite Python float: the shortest digits that round-trip,
/// positional between 1e-4 and 1e16, scientific with a two-digit exponent
/// outside, and always a `.0` on integral values.
pub(crate) fn python_float_repr(x: f64) -> String {
    // Rust's `{:e}` also gives the shortest round-trip digits; only the layout differs.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // Position of the decimal point counted from the first digit.
    let point = exponent + 1;
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let n = digits.len() as i32;
    let body = if !(-3..=16).contains(&point) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{fraction}e{exp_sign}{:02}", exponent.abs())
    } else if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point < n {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    } else {
        format!("{digits}{}.0", "0".repeat((point - n) as usize))
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dumps(json: &str, options: &DumpOptions) -> String {
        let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
        let mut out = String::new();
        dump(&Value::from_serialize(&parsed), options, 0, &mut out).unwrap();
        out
    }

    #[test]
    fn float_repr_matches_python() {
        // Expected strings are what CPython 3.11 prints for repr(x).
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456.789, "123456.789"),
            (1.2345678901234567e100, "1.2345678901234567e+100"),
            (2.5e-300, "2.5e-300"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float_repr(x), want, "repr({x})");
        }
    }

    #[test]
    fn dumps_keeps_key_order_and_python_spacing() {
        let got = dumps(
            r#"{"b": [1, 2.0, null], "a": {"x": true}}"#,
            &DumpOptions::default(),
        );
        assert_eq!(got, r#"{"b": [1, 2.0, null], "a": {"x": true}}"#);
    }

    #[test]
    fn dumps_indents_like_python() {
        let options = DumpOptions {
            indent: Some("  ".into()),
            item_separator: ",".into(),
            ..DumpOptions::default()
        };
        let got = dumps(r#"{"a": [1, {}], "b": []}"#, &options);
        assert_eq!(got, "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": []\n}");
    }

    #[test]
    fn dumps_escapes_like_python() {
        let got = dumps(
            r#""<a href='x'>&\u0001\u007f é 😀\n""#,
            &DumpOptions::default(),
        );
        assert_eq!(got, "\"<a href='x'>&\\u0001\u{7f} é 😀\\n\"");
        let ascii = DumpOptions {
            ensure_ascii: true,
            ..DumpOptions::default()
        };
        assert_eq!(dumps(r#""é😀""#, &ascii), r#""\u00e9\ud83d\ude00""#);
    }
}
