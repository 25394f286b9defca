//! Finding tool calls in generated text, incrementally.
//!
//! Each model family writes its tool calls in its own syntax, which its chat
//! template teaches it. [`ToolCallFormat`] describes one syntax as data (the
//! tags around a JSON call), so another family is one more constant rather
//! than another parser. [`ToolCallParser`] turns text, fed in pieces of any
//! size, into plain text and complete calls; the result does not depend on
//! where the pieces were cut, which is what makes streamed and non-streamed
//! answers equal.

use serde_json::{json, Map, Value};

use crate::model::config::Architecture;

#[path = "call_openings.rs"]
mod openings;

use openings::{bare_opening, is_tag_prefix, opening_at, Opening};
pub(crate) use openings::{untagged_start, UntaggedStart};

/// The name given to a call whose name could not be read.
pub const INVALID_TOOL_CALL_NAME: &str = "invalid_tool_call";

/// How a model family writes a tool call: `open`, a JSON object
/// `{"name": …, "arguments": {…}}`, then `close`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolCallFormat {
    /// What the family is called, for messages.
    pub family: &'static str,
    /// The tag that starts a call.
    pub open: &'static str,
    /// The tag that ends a call.
    pub close: &'static str,
    /// Also accept a call written as a fenced JSON block
    /// (```` ```json\n{"name": …, "arguments": {…}}\n``` ````), as small
    /// Qwen2.5-Coder models often do (llama.cpp's Hermes parser accepts it
    /// too), and a reply that is nothing but such a call without tags: bare,
    /// in the chat template's own doubled-brace spelling (`{{"name": …}}`,
    /// which the model copies from the template's instructions), or inside
    /// one wrapping tag (`<answer>`, `<response>`, `<tools>`, …). Anything that
    /// is not such a call stays text.
    pub fenced_json: bool,
}

impl ToolCallFormat {
    /// Qwen2.5, Qwen3 and other Hermes-style templates:
    /// `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`.
    pub const HERMES: ToolCallFormat = ToolCallFormat {
        family: "hermes",
        open: "<tool_call>",
        close: "</tool_call>",
        fenced_json: true,
    };

    /// The format a model writes, judged first from its chat template (which
    /// is what teaches the model the syntax) and then from its architecture;
    /// `None` when hearth knows no tool-call syntax for it.
    pub fn detect(template_source: Option<&str>, arch: Architecture) -> Option<ToolCallFormat> {
        if template_source.is_some_and(|s| s.contains(Self::HERMES.open)) {
            return Some(Self::HERMES);
        }
        match arch {
            Architecture::Qwen2 | Architecture::Qwen3 => Some(Self::HERMES),
            Architecture::Llama => None,
        }
    }
}

/// A tool call read from the text, valid or not.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedToolCall {
    /// The tool's name ([`INVALID_TOOL_CALL_NAME`] when none could be read).
    pub name: String,
    /// The arguments object; for a malformed call, `{"_error": what is wrong,
    /// "_raw": the text of the call}`, so the model can be told and retry.
    pub input: Value,
}

impl ParsedToolCall {
    /// Whether the call was read without error.
    pub fn is_valid(&self) -> bool {
        self.input.get("_error").is_none()
    }
}

/// What the parser found in the text so far.
#[derive(Clone, Debug, PartialEq)]
pub enum ParsedEvent {
    /// More text of the current text block; a text block ends where a tool
    /// call begins. Never empty.
    Text(String),
    /// A whole tool call.
    ToolCall(ParsedToolCall),
}

/// The fence that opens and closes a fenced JSON call.
pub(super) const FENCE: &str = "```";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    /// Reading plain text, watching for the opening tag.
    Text,
    /// Inside a call, collecting its body until the closing tag.
    Call,
    /// Inside a fenced JSON block that starts like a call; `opening` is the
    /// fence text before the JSON, given back if the block is not a call.
    Fenced {
        /// The text from the fence to the JSON's opening brace.
        opening: String,
    },
    /// A reply that opened with a bare call's JSON: everything is held until
    /// the end, then read as one call or given back as text.
    Bare {
        /// The text before the JSON's opening brace (a wrapping tag).
        opening: String,
    },
}

/// Splits generated text into text and tool calls as it arrives.
///
/// Text blocks are trimmed: whitespace at the start of a block is dropped,
/// whitespace at its end is held back until more text follows (so the space
/// between two calls never makes a block of its own). A possible beginning
/// of the opening tag is held back until it is known not to be one, so a
/// partial `<tool_call>` never leaks into the text.
#[derive(Clone, Debug)]
pub struct ToolCallParser {
    format: Option<ToolCallFormat>,
    mode: Mode,
    /// Unprocessed text: in text mode a possible partial opening tag, in call
    /// mode the call's body so far.
    buffer: String,
    /// Whitespace at the end of the current text block, not yet released.
    held_whitespace: String,
    text_block_open: bool,
    /// Nothing has come out yet, so the reply may still be a bare call.
    at_start: bool,
    /// The tools a bare call may name; `None`: any name.
    tool_names: Option<Vec<String>>,
    /// Every character is text, whitespace included ([`ToolCallParser::verbatim`]).
    verbatim: bool,
}

impl ToolCallParser {
    /// A parser for `format`; with `None` every character is plain text.
    pub fn new(format: Option<ToolCallFormat>) -> ToolCallParser {
        ToolCallParser {
            format,
            mode: Mode::Text,
            buffer: String::new(),
            held_whitespace: String::new(),
            text_block_open: false,
            at_start: true,
            tool_names: None,
            verbatim: false,
        }
    }

    /// A parser that reads no calls and trims nothing: the continuation of a raw prompt,
    /// whose leading newline or indentation is part of the text.
    pub fn verbatim() -> ToolCallParser {
        ToolCallParser {
            verbatim: true,
            ..ToolCallParser::new(None)
        }
    }

    /// This parser, reading a bare call (see [`ToolCallFormat::fenced_json`])
    /// only when it names one of `names`: without tags, a reply that merely
    /// looks like a call must not become one.
    pub fn with_tool_names(mut self, names: Vec<String>) -> ToolCallParser {
        self.tool_names = Some(names);
        self
    }

    /// Adds a piece of generated text; returns what it completes.
    pub fn push(&mut self, piece: &str) -> Vec<ParsedEvent> {
        let mut out = Vec::new();
        self.buffer.push_str(piece);
        let Some(format) = self.format else {
            let text = std::mem::take(&mut self.buffer);
            self.emit_text(&text, &mut out);
            return out;
        };
        loop {
            match self.mode.clone() {
                Mode::Text if self.at_start && format.fenced_json => {
                    match bare_opening(&self.buffer, &format) {
                        Opening::Partial => return out,
                        Opening::Bare(len) => {
                            let opening = self.buffer.drain(..len).collect();
                            self.mode = Mode::Bare { opening };
                        }
                        _ => self.at_start = false,
                    }
                }
                Mode::Bare { .. } => return out,
                Mode::Text => {
                    let found = self.buffer.char_indices().find_map(|(at, _)| {
                        match opening_at(&self.buffer[at..], format) {
                            Opening::No => None,
                            other => Some((at, other)),
                        }
                    });
                    let ready_until = found.map_or(self.buffer.len(), |(at, _)| at);
                    let ready: String = self.buffer.drain(..ready_until).collect();
                    self.emit_text(&ready, &mut out);
                    match found {
                        Some((_, Opening::Tag(len))) => {
                            self.buffer.drain(..len);
                            self.mode = Mode::Call;
                        }
                        Some((_, Opening::Fence(len))) => {
                            let opening = self.buffer.drain(..len).collect();
                            self.mode = Mode::Fenced { opening };
                        }
                        _ => return out,
                    }
                }
                Mode::Call => match self.buffer.find(format.close) {
                    Some(at) => {
                        let body: String = self.buffer.drain(..at).collect();
                        self.buffer.drain(..format.close.len());
                        self.mode = Mode::Text;
                        self.emit_call(parse_call(&body, None), &mut out);
                    }
                    None => return out,
                },
                Mode::Fenced { opening } => match self.buffer.find(FENCE) {
                    Some(at) => {
                        let body: String = self.buffer.drain(..at).collect();
                        self.buffer.drain(..FENCE.len());
                        self.mode = Mode::Text;
                        self.fenced_block(&opening, &body, true, &mut out);
                    }
                    None => return out,
                },
            }
        }
    }

    /// A fenced block is a call only if it is valid JSON shaped like one;
    /// anything else is given back as the text it was.
    fn fenced_block(
        &mut self,
        opening: &str,
        body: &str,
        closed: bool,
        out: &mut Vec<ParsedEvent>,
    ) {
        let call = serde_json::from_str::<Value>(body.trim()).ok().filter(|v| {
            v.get("name").is_some_and(Value::is_string)
                && (v.get("arguments").is_some() || v.get("parameters").is_some())
        });
        match call {
            Some(_) => self.emit_call(parse_call(body, None), out),
            None => {
                let close = if closed { FENCE } else { "" };
                self.emit_text(&format!("{opening}{body}{close}"), out);
            }
        }
    }

    /// Ends the text. With `complete`, whatever is held back comes out: a
    /// partial tag as text, an unterminated call as a call (valid if its JSON
    /// is whole, since models sometimes end the turn without the closing
    /// tag). Without it (the generation was cancelled) an unfinished call is
    /// dropped, as nobody should act on it.
    pub fn finish(&mut self, complete: bool) -> Vec<ParsedEvent> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.buffer);
        let mode = std::mem::replace(&mut self.mode, Mode::Text);
        match (mode, self.format) {
            (Mode::Call, Some(format)) => {
                if complete {
                    self.emit_call(parse_call(&rest, Some(format.close)), &mut out);
                }
            }
            (Mode::Fenced { opening }, _) => {
                if complete {
                    self.fenced_block(&opening, &rest, false, &mut out);
                }
            }
            (Mode::Bare { opening }, _) => {
                if complete {
                    match self.bare_call(&rest) {
                        Some(call) => self.emit_call(call, &mut out),
                        None => self.emit_text(&format!("{opening}{rest}"), &mut out),
                    }
                }
            }
            _ => self.emit_text(&rest, &mut out),
        }
        self.held_whitespace.clear();
        out
    }

    /// The call a whole reply spells without tags, if it is one: JSON shaped
    /// like a call once the wrapping tag's closing tag (`</answer>`) and the doubled
    /// outer braces of the template's spelling are taken off, naming a tool of
    /// the request.
    fn bare_call(&self, body: &str) -> Option<ParsedToolCall> {
        let mut text = body.trim();
        // The wrapping tag's closing tag (`</answer>`), whichever it was.
        if let Some(open) = text.rfind("</") {
            let closing = text[open + 2..].strip_suffix('>');
            if closing.is_some_and(|name| is_tag_prefix(&format!("<{name}")) && !name.is_empty()) {
                text = text[..open].trim_end();
            }
        }
        // The end of a tag the model never finished (`<{{"name": …}}>`).
        if text.ends_with("}>") {
            text = text[..text.len() - 1].trim_end();
        }
        let mut candidate = text.strip_prefix("{{").map_or(text, |_| &text[1..]);
        // The doubled spelling leaves one or two closing braces too many.
        for _ in 0..3 {
            let value = serde_json::from_str::<Value>(candidate).ok();
            let name = value.as_ref().and_then(|v| {
                let named = v.get("name").and_then(Value::as_str)?;
                (v.get("arguments").is_some() || v.get("parameters").is_some()).then_some(named)
            });
            if let Some(name) = name {
                let known = self
                    .tool_names
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|n| n == name));
                return known.then(|| parse_call(candidate, None));
            }
            candidate = candidate.strip_suffix('}')?.trim_end();
        }
        None
    }

    fn emit_text(&mut self, text: &str, out: &mut Vec<ParsedEvent>) {
        if self.verbatim {
            if !text.is_empty() {
                self.text_block_open = true;
                push_text(out, text.to_string());
            }
            return;
        }
        let text = if self.text_block_open {
            text
        } else {
            text.trim_start()
        };
        if text.is_empty() {
            return;
        }
        let body = text.trim_end();
        if body.is_empty() {
            self.held_whitespace.push_str(text);
            return;
        }
        let mut piece = std::mem::take(&mut self.held_whitespace);
        piece.push_str(body);
        self.held_whitespace.push_str(&text[body.len()..]);
        self.text_block_open = true;
        push_text(out, piece);
    }

    fn emit_call(&mut self, call: ParsedToolCall, out: &mut Vec<ParsedEvent>) {
        self.at_start = false;
        self.held_whitespace.clear();
        self.text_block_open = false;
        out.push(ParsedEvent::ToolCall(call));
    }
}

/// Appends text, merging with a text event just before it.
fn push_text(out: &mut Vec<ParsedEvent>, piece: String) {
    if let Some(ParsedEvent::Text(last)) = out.last_mut() {
        last.push_str(&piece);
    } else {
        out.push(ParsedEvent::Text(piece));
    }
}

/// Reads one call's body; never fails: what is wrong goes into the input.
/// `missing_close` names the closing tag when the text ended without it.
fn parse_call(body: &str, missing_close: Option<&str>) -> ParsedToolCall {
    let raw = body.trim();
    let malformed = |name: Option<String>, error: String| ParsedToolCall {
        name: name.unwrap_or_else(|| INVALID_TOOL_CALL_NAME.to_string()),
        input: json!({ "_error": error, "_raw": raw }),
    };
    let unterminated = missing_close
        .map(|close| format!(" (the call has no closing {close} tag)"))
        .unwrap_or_default();
    let value: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(e) => {
            return malformed(
                name_in_broken_json(raw),
                format!("the tool call is not valid JSON: {e}{unterminated}"),
            )
        }
    };
    let Value::Object(mut call) = value else {
        return malformed(
            None,
            format!(
                "the tool call must be a JSON object with \"name\" and \"arguments\", got {}",
                json_kind(&value)
            ),
        );
    };
    let name = match call.remove("name") {
        Some(Value::String(name)) if !name.is_empty() => name,
        Some(other) => {
            return malformed(
                None,
                format!(
                    "the tool call's \"name\" must be a non-empty string, got {}",
                    json_kind(&other)
                ),
            )
        }
        None => return malformed(None, "the tool call has no \"name\"".to_string()),
    };
    // Llama-style calls say "parameters"; accept either spelling.
    let arguments = call
        .remove("arguments")
        .or_else(|| call.remove("parameters"));
    let input = match arguments {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(args)) => Value::Object(args),
        // Some models write the arguments as a string of JSON.
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(args)) => Value::Object(args),
            Ok(other) => {
                return malformed(
                    Some(name),
                    format!(
                    "the tool call's \"arguments\" must be a JSON object, got a string holding {}",
                    json_kind(&other)
                ),
                )
            }
            Err(e) => {
                return malformed(
                    Some(name),
                    format!("the tool call's \"arguments\" string is not valid JSON: {e}"),
                )
            }
        },
        Some(other) => {
            return malformed(
                Some(name),
                format!(
                    "the tool call's \"arguments\" must be a JSON object, got {}",
                    json_kind(&other)
                ),
            )
        }
    };
    ParsedToolCall { name, input }
}

/// The `"name": "…"` value of a call whose JSON does not parse, so the error
/// can still be addressed to the tool the model meant.
fn name_in_broken_json(raw: &str) -> Option<String> {
    let after_key = &raw[raw.find("\"name\"")? + "\"name\"".len()..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let value = after_colon.strip_prefix('"')?;
    let name = &value[..value.find('"')?];
    (!name.is_empty() && !name.contains('\\')).then(|| name.to_string())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "tool_calls_tests.rs"]
mod tests;
