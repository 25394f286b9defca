//! The answer as a tool call. Every request asks for `tool_choice: any`, which the engine
//! enforces while decoding, so each step the model takes is a valid call of a real tool
//! from its first token: it cannot write prose about a tool, an untagged JSON call, or a
//! call of a tool that does not exist. Its reply to the user is the `answer` tool's `text`.
//!
//! The session turns that call back into text before it enters the history: the
//! conversation saved, resumed and shown is the same as a model that answered in prose
//! would leave, and a backend that ignores `tool_choice` and answers in text still ends
//! the turn the old way.

use hearth_engine::api::{ContentBlock, ToolDefinition};
use serde_json::{json, Value};

/// The name of the tool that delivers the answer.
pub const ANSWER_TOOL: &str = "answer";

/// The most answer tokens of a request the agent makes to get the answer (the answer from
/// the code shown, the closing answer after a change or a loop): a brief reply needs far
/// fewer, and a small model given the whole budget after a change fills it with invented
/// commits and pushes ("The commit hash is 'abc123' …", 1,024 tokens, 30 s on two cores).
/// A cut answer ends at its last whole sentence.
pub(crate) const BRIEF_ANSWER_TOKENS: u32 = 256;

/// The `answer` tool's definition, as the model sees it beside the repository's tools.
pub fn answer_tool() -> ToolDefinition {
    ToolDefinition {
        name: ANSWER_TOOL.to_string(),
        description: "Reply to the user and end your turn. Call it once you have looked at \
                      the code that decides the answer, or once the change is made. `text` \
                      is the whole reply: brief and direct, naming the files, functions or \
                      commits it rests on."
            .to_string(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "The reply to the user."}
            },
            "required": ["text"],
            "additionalProperties": false
        }),
    }
}

/// What a reply's content holds once an `answer` call is taken out of it.
#[derive(Debug, PartialEq)]
pub(crate) struct Delivered {
    /// The reply's blocks: the answer call made text, or cut before a late answer call.
    pub(crate) content: Vec<ContentBlock>,
    /// The answer's text, when the reply delivered one.
    pub(crate) answer: Option<String>,
}

/// Takes the `answer` call out of a reply's `content`.
///
/// An answer that is the reply's first call ends the turn: it becomes a text block (what
/// came after it is dropped; the model said it was done). An answer after other calls is
/// dropped with what follows it: it was written before the model saw those calls' results,
/// so the calls run and the model answers again knowing them.
pub(crate) fn take_answer(content: Vec<ContentBlock>) -> Delivered {
    let is_call = |b: &ContentBlock| matches!(b, ContentBlock::ToolUse { .. });
    let Some(at) = content
        .iter()
        .position(|b| matches!(b, ContentBlock::ToolUse { name, .. } if name == ANSWER_TOOL))
    else {
        return Delivered {
            content,
            answer: None,
        };
    };
    let first_call = !content[..at].iter().any(is_call);
    let mut content = content;
    let tail = content.split_off(at);
    if !first_call {
        return Delivered {
            content,
            answer: None,
        };
    }
    let text = match tail.first() {
        Some(ContentBlock::ToolUse { input, .. }) => answer_text(input),
        _ => String::new(),
    };
    // Prose the model wrote before the call (a backend that lets it) is kept before it,
    // so the history holds all that was said.
    content.push(ContentBlock::text(text.clone()));
    Delivered {
        content,
        answer: Some(text),
    }
}

/// The `text` of an answer call's input. A call cut off by the token limit or by the
/// engine's loop stop (the `{"_error", "_raw"}` marker) keeps the text written so far, less
/// the loop, as a prose answer cut there would; any other shape is shown as written, so
/// nothing the model said is lost.
fn answer_text(input: &Value) -> String {
    match input.get("text") {
        Some(Value::String(text)) => text.trim().to_string(),
        _ => input
            .get("_raw")
            .and_then(Value::as_str)
            .and_then(partial_text)
            .map(|text| cut_cleanly(&text))
            .unwrap_or_else(|| input.to_string()),
    }
}

/// The shortest run a loop at the end of a cut answer is looked for with, in characters.
const MIN_LOOP_CHARS: usize = 60;

/// `text` with the loop it ends in (a run of characters repeated back to back at least
/// three times, over at least [`MIN_LOOP_CHARS`]) cut after the run's first time, marked
/// with an ellipsis; unchanged when it ends in none.
fn without_loop(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    for period in 1..=n / 3 {
        let span = (3 * period).max(MIN_LOOP_CHARS.div_ceil(period) * period);
        if span > n {
            continue;
        }
        let tail = &chars[n - span..];
        if !tail.iter().zip(&tail[period..]).all(|(a, b)| a == b) {
            continue;
        }
        let mut start = n - span;
        while start > 0 && chars[start - 1] == chars[start - 1 + period] {
            start -= 1;
        }
        let kept: String = chars[..start + period].iter().collect();
        return format!("{} …", kept.trim_end().trim_end_matches([',', ';']));
    }
    text.to_string()
}

/// A cut answer's `text` ended where a reader can tell: after its loop's first round
/// (`without_loop`), else after its last whole sentence or paragraph, else marked as cut.
/// An answer cut at the token limit mid-word ("by hand: `tests/") reads as broken.
fn cut_cleanly(text: &str) -> String {
    let unlooped = without_loop(text);
    if unlooped != text {
        return unlooped;
    }
    let mut ends = text.char_indices().rev().filter_map(|(i, c)| {
        let after = text[i + c.len_utf8()..].chars().next();
        let sentence = matches!(c, '.' | '!' | '?') && after.is_none_or(char::is_whitespace);
        let paragraph = c == '\n' && after == Some('\n');
        (sentence || paragraph).then_some(i + c.len_utf8())
    });
    // Cutting back to the last sentence must not throw away most of what was written.
    match ends.next() {
        Some(end) if end == text.len() => text.to_string(),
        Some(end) if end * 3 >= text.len() => text[..end].trim_end().to_string(),
        _ => format!("{} …", text.trim_end()),
    }
}

/// The decoded `text` string of a call's JSON cut off inside that string.
fn partial_text(raw: &str) -> Option<String> {
    const OPENING: &str = "\"text\": \"";
    let start = raw.find(OPENING)? + OPENING.len();
    let rest = &raw[start..];
    // The cut may fall inside an escape (`\`, `\u00`): drop at most a few characters.
    rest.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(rest.len()))
        .rev()
        .take(8)
        .find_map(|end| serde_json::from_str::<String>(&format!("\"{}\"", &rest[..end])).ok())
        .map(|text| text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_at_the_end_of_a_cut_answer_is_kept_once() {
        let looped = format!(
            "It has several files, such as {}`engine/src/ap",
            "`engine/src/api/content.rs`, ".repeat(20)
        );
        assert_eq!(
            without_loop(&looped),
            "It has several files, such as `engine/src/api/content.rs` …"
        );
        // Text without a loop, or with a short repeat, is left alone.
        assert_eq!(without_loop("A short answer..."), "A short answer...");
        assert_eq!(without_loop("ha ha ha"), "ha ha ha");
    }

    fn call(name: &str, input: Value) -> ContentBlock {
        ContentBlock::ToolUse {
            id: format!("toolu_{name}"),
            name: name.into(),
            input,
        }
    }

    #[test]
    fn a_first_answer_call_becomes_the_text_of_the_reply() {
        let delivered = take_answer(vec![
            call(ANSWER_TOOL, json!({"text": " `total` in src/tax.py \n"})),
            call("read_file", json!({"path": "x"})),
        ]);
        assert_eq!(delivered.answer.as_deref(), Some("`total` in src/tax.py"));
        assert_eq!(
            delivered.content,
            vec![ContentBlock::text("`total` in src/tax.py")]
        );
    }

    #[test]
    fn an_answer_after_other_calls_waits_for_their_results() {
        let read = call("read_file", json!({"path": "x"}));
        let delivered = take_answer(vec![
            read.clone(),
            call(ANSWER_TOOL, json!({"text": "guess"})),
        ]);
        assert_eq!(delivered.answer, None);
        assert_eq!(delivered.content, vec![read]);
    }

    #[test]
    fn a_reply_without_an_answer_call_is_unchanged() {
        let content = vec![ContentBlock::text("plain"), call("grep", json!({}))];
        let delivered = take_answer(content.clone());
        assert_eq!(
            delivered,
            Delivered {
                content,
                answer: None
            }
        );
    }

    #[test]
    fn an_answer_cut_off_by_the_token_limit_keeps_its_text() {
        let raw =
            r#"{"name": "answer", "arguments": {"text": "It parses \"GGUF\" files\n and \u00e"#;
        let delivered = take_answer(vec![call(
            ANSWER_TOOL,
            json!({"_error": "the tool call is not valid JSON", "_raw": raw}),
        )]);
        assert_eq!(
            delivered.answer.as_deref(),
            Some("It parses \"GGUF\" files\n and …")
        );
    }

    #[test]
    fn a_cut_answer_ends_after_its_last_whole_sentence() {
        let text = "It is a coding assistant. It runs `hearth exec` and serves models.\n\n\
                    **What exists:** the engine, the agent (by hand: `tests/";
        assert_eq!(
            cut_cleanly(text),
            "It is a coding assistant. It runs `hearth exec` and serves models."
        );
        // A sentence that ended where the cut fell is whole; one long sentence is marked.
        assert_eq!(cut_cleanly("Done."), "Done.");
        assert_eq!(
            cut_cleanly("One. A long sentence that goes on and on and is cut"),
            "One. A long sentence that goes on and on and is cut …"
        );
    }

    #[test]
    fn an_answer_of_another_shape_keeps_what_was_written() {
        let delivered = take_answer(vec![call(ANSWER_TOOL, json!({"reply": "42"}))]);
        assert_eq!(delivered.answer.as_deref(), Some("{\"reply\":\"42\"}"));
    }
}
