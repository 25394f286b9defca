#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// A finished block of the message, as the events describe it.
#[derive(Clone, Debug, PartialEq)]
enum Block {
    Text(String),
    Call(String, Value),
}

fn fold(events: Vec<ParsedEvent>, blocks: &mut Vec<Block>, last_was_text: &mut bool) {
    for e in events {
        match e {
            ParsedEvent::Text(t) => {
                assert!(!t.is_empty(), "empty text event");
                match blocks.last_mut() {
                    Some(Block::Text(prev)) if *last_was_text => prev.push_str(&t),
                    _ => blocks.push(Block::Text(t)),
                }
                *last_was_text = true;
            }
            ParsedEvent::ToolCall(c) => {
                blocks.push(Block::Call(c.name, c.input));
                *last_was_text = false;
            }
        }
    }
}

fn parse_pieces(pieces: &[&str]) -> Vec<Block> {
    let mut p = ToolCallParser::new(Some(ToolCallFormat::HERMES));
    let (mut blocks, mut last_was_text) = (Vec::new(), false);
    for piece in pieces {
        fold(p.push(piece), &mut blocks, &mut last_was_text);
    }
    fold(p.finish(true), &mut blocks, &mut last_was_text);
    blocks
}

/// Parses `text` whole, char by char, and cut in two at every char boundary,
/// checks that every way gives the same blocks, and returns them.
fn parse(text: &str) -> Vec<Block> {
    let whole = parse_pieces(&[text]);
    let chars: Vec<String> = text.chars().map(String::from).collect();
    let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(
        parse_pieces(&refs),
        whole,
        "char by char differs for {text:?}"
    );
    for (i, _) in text.char_indices() {
        assert_eq!(
            parse_pieces(&[&text[..i], &text[i..]]),
            whole,
            "split at {i} differs for {text:?}"
        );
    }
    whole
}

fn text(t: &str) -> Block {
    Block::Text(t.to_string())
}

fn call(name: &str, input: Value) -> Block {
    Block::Call(name.to_string(), input)
}

#[test]
fn plain_text_passes_through_trimmed() {
    assert_eq!(parse("Hello, world.\n"), vec![text("Hello, world.")]);
    assert_eq!(
        parse("a < b and <tool> is not a call"),
        vec![text("a < b and <tool> is not a call")]
    );
    assert_eq!(parse(""), vec![]);
}

#[test]
fn one_call() {
    let out = parse("<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/main.rs\"}}\n</tool_call>");
    assert_eq!(out, vec![call("read_file", json!({"path": "src/main.rs"}))]);
}

#[test]
fn two_calls_and_text_around_them() {
    let out = parse(
        "Let me look.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n\
         <tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, 2]}}\n</tool_call>\nDone.",
    );
    assert_eq!(
        out,
        vec![
            text("Let me look."),
            call("a", json!({})),
            call("b", json!({"x": [1, 2]})),
            text("Done."),
        ]
    );
}

#[test]
fn inner_whitespace_of_text_is_kept() {
    assert_eq!(
        parse("  line one\n\n  line two  \n"),
        vec![text("line one\n\n  line two")]
    );
}

#[test]
fn malformed_json_becomes_an_error_call_not_a_loss() {
    let raw = "{\"name\": \"edit_file\", \"arguments\": {\"path\": \"a.rs\",}}";
    let out = parse(&format!("<tool_call>\n{raw}\n</tool_call>"));
    let [Block::Call(name, input)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(name, "edit_file");
    assert_eq!(input["_raw"], raw);
    assert!(
        input["_error"].as_str().unwrap().contains("not valid JSON"),
        "{input}"
    );

    let out = parse("<tool_call>\nnot json at all\n</tool_call>");
    assert_eq!(out.len(), 1);
    let Block::Call(name, input) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(name, INVALID_TOOL_CALL_NAME);
    assert_eq!(input["_raw"], "not json at all");
}

#[test]
fn calls_with_a_wrong_shape_say_what_is_wrong() {
    let cases = [
        ("[1]", INVALID_TOOL_CALL_NAME, "an array"),
        (
            "{\"arguments\": {}}",
            INVALID_TOOL_CALL_NAME,
            "no \\\"name\\\"",
        ),
        ("{\"name\": 3}", INVALID_TOOL_CALL_NAME, "a number"),
        ("{\"name\": \"t\", \"arguments\": [1]}", "t", "an array"),
        (
            "{\"name\": \"t\", \"arguments\": \"[1]\"}",
            "t",
            "string holding an array",
        ),
        (
            "{\"name\": \"t\", \"arguments\": \"{oops\"}",
            "t",
            "string is not valid JSON",
        ),
    ];
    for (body, want_name, want_error) in cases {
        let out = parse(&format!("<tool_call>{body}</tool_call>"));
        let [Block::Call(name, input)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(name, want_name, "{body}");
        let error = input["_error"].to_string();
        assert!(error.contains(want_error), "{body}: {error}");
        assert_eq!(input["_raw"], body);
    }
}

#[test]
fn arguments_as_a_json_string_are_decoded() {
    let out = parse("<tool_call>{\"name\": \"grep\", \"arguments\": \"{\\\"pattern\\\": \\\"fn main\\\"}\"}</tool_call>");
    assert_eq!(out, vec![call("grep", json!({"pattern": "fn main"}))]);
    let out = parse("<tool_call>{\"name\": \"git_status\"}</tool_call>");
    assert_eq!(out, vec![call("git_status", json!({}))]);
    let out = parse("<tool_call>{\"name\": \"x\", \"parameters\": {\"a\": 1}}</tool_call>");
    assert_eq!(out, vec![call("x", json!({"a": 1}))]);
}

#[test]
fn partial_tags_are_held_back_and_released_when_not_a_tag() {
    let mut p = ToolCallParser::new(Some(ToolCallFormat::HERMES));
    assert_eq!(p.push("see <tool"), vec![ParsedEvent::Text("see".into())]);
    assert_eq!(p.push("_c"), vec![]);
    assert_eq!(
        p.push("x> here"),
        vec![ParsedEvent::Text(" <tool_cx> here".into())]
    );
    let mut p = ToolCallParser::new(Some(ToolCallFormat::HERMES));
    assert_eq!(
        p.push("end <tool_ca"),
        vec![ParsedEvent::Text("end".into())]
    );
    assert_eq!(p.finish(true), vec![ParsedEvent::Text(" <tool_ca".into())]);
}

#[test]
fn unicode_survives_every_split() {
    let out = parse(
        "Ça marche — 東京 🌧 <tool_call>{\"name\": \"w\", \"arguments\": {\"city\": \"Zürich 🏔\"}}</tool_call>",
    );
    assert_eq!(
        out,
        vec![
            text("Ça marche — 東京 🌧"),
            call("w", json!({"city": "Zürich 🏔"}))
        ]
    );
}

#[test]
fn unterminated_call_at_the_end() {
    let out = parse("<tool_call>\n{\"name\": \"a\", \"arguments\": {\"p\": 1}}\n");
    assert_eq!(out, vec![call("a", json!({"p": 1}))]);
    let out = parse("<tool_call>\n{\"name\": \"a\", \"argu");
    let [Block::Call(name, input)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(name, "a");
    assert!(
        input["_error"]
            .as_str()
            .unwrap()
            .contains("no closing </tool_call>"),
        "{input}"
    );
}

#[test]
fn cancelled_parse_drops_an_unfinished_call() {
    let mut p = ToolCallParser::new(Some(ToolCallFormat::HERMES));
    assert_eq!(
        p.push("hi <tool_call>{\"name\""),
        vec![ParsedEvent::Text("hi".into())]
    );
    assert_eq!(p.finish(false), vec![]);
}

#[test]
fn without_a_format_everything_is_text() {
    let mut p = ToolCallParser::new(None);
    let mut out = p.push("<tool_call>{}</tool_call>");
    out.extend(p.finish(true));
    assert_eq!(
        out,
        vec![ParsedEvent::Text("<tool_call>{}</tool_call>".into())]
    );
}

#[test]
fn format_detection() {
    assert_eq!(
        ToolCallFormat::detect(Some("... <tool_call> ..."), Architecture::Llama),
        Some(ToolCallFormat::HERMES)
    );
    assert_eq!(
        ToolCallFormat::detect(None, Architecture::Qwen2),
        Some(ToolCallFormat::HERMES)
    );
    assert_eq!(
        ToolCallFormat::detect(Some("{{ messages }}"), Architecture::Llama),
        None
    );
}

#[test]
fn fenced_json_calls_are_calls() {
    let out = parse("```json\n{\n  \"name\": \"read_file\",\n  \"arguments\": {\n    \"path\": \"src/main.rs\"\n  }\n}\n```");
    assert_eq!(out, vec![call("read_file", json!({"path": "src/main.rs"}))]);
    let out =
        parse("Here:\n```\n{\"name\": \"grep\", \"arguments\": {\"pattern\": \"x\"}}\n```\nok");
    assert_eq!(
        out,
        vec![
            text("Here:"),
            call("grep", json!({"pattern": "x"})),
            text("ok")
        ]
    );
}

#[test]
fn fenced_blocks_that_are_not_calls_stay_text() {
    for answer in [
        "Use this:\n```rust\nfn main() {}\n```\ndone",
        "Config:\n```json\n{\"name\": \"hearth\", \"version\": 1}\n```",
        "Broken:\n```json\n{\"name\": oops\n```",
        "Inline `code` and ``two`` ticks, then ```json\n{\"name\"",
    ] {
        assert_eq!(parse(answer), vec![text(answer.trim())], "{answer}");
    }
}

#[test]
fn fenced_calls_can_be_turned_off() {
    let format = ToolCallFormat {
        fenced_json: false,
        ..ToolCallFormat::HERMES
    };
    let mut p = ToolCallParser::new(Some(format));
    let answer = "```json\n{\"name\": \"a\", \"arguments\": {}}\n```";
    let mut out = p.push(answer);
    out.extend(p.finish(true));
    assert_eq!(out, vec![ParsedEvent::Text(answer.into())]);
}

/// A reply that is nothing but a call without tags is read as the call: bare, in the
/// template's doubled-brace spelling (with the closing braces the model gets wrong), or
/// inside one wrapping tag (`<answer>`, `<response>`, `<tools>`); however the text was cut.
#[test]
fn a_whole_reply_spelled_as_a_bare_call_is_the_call() {
    let read = Block::Call("Read".into(), json!({"file_path": "calc.py"}));
    for text in [
        r#"{"name": "Read", "arguments": {"file_path": "calc.py"}}"#,
        r#"  {{"name": "Read", "arguments": {"file_path": "calc.py"}}}}"#,
        r#"{{"name": "Read", "arguments": {"file_path": "calc.py"}}}"#,
        r#"<answer>{"name": "Read", "arguments": {"file_path": "calc.py"}}</answer>"#,
        "<response>\n{{\"name\": \"Read\", \"arguments\": {\"file_path\": \"calc.py\"}}}}\n</response>",
        "<tools>\n{\"name\": \"Read\", \"arguments\": {\"file_path\": \"calc.py\"}}\n</tools>",
        r#"<function_call>{"name": "Read", "arguments": {"file_path": "calc.py"}}"#,
        r#"<{{"name": "Read", "arguments": {"file_path": "calc.py"}}}>"#,
    ] {
        assert_eq!(parse(text), vec![read.clone()], "{text}");
    }
}

/// What merely resembles a bare call stays the text it was: JSON of another shape, a call
/// after some prose, a call followed by prose, and (with the request's tools known) a name
/// that is not one of them.
#[test]
fn what_only_looks_like_a_bare_call_stays_text() {
    for text in [
        r#"{"name": "Ada", "age": 36}"#,
        r#"Here it is: {"name": "Read", "arguments": {}}"#,
        r#"{"name": "Read", "arguments": {}} and then I will answer"#,
        "<answer>add</answer>",
        "<b>bold</b> {\"name\": \"Read\", \"arguments\": {}}",
        "<a very long tag name that is not a tag>{\"name\": \"Read\", \"arguments\": {}}",
        "{ not json",
    ] {
        assert_eq!(
            parse(text),
            vec![Block::Text(text.trim().to_string())],
            "{text}"
        );
    }
    let mut p =
        ToolCallParser::new(Some(ToolCallFormat::HERMES)).with_tool_names(vec!["Read".to_string()]);
    let text = r#"{"name": "Write", "arguments": {"path": "x"}}"#;
    let (mut blocks, mut last_was_text) = (Vec::new(), false);
    fold(p.push(text), &mut blocks, &mut last_was_text);
    fold(p.finish(true), &mut blocks, &mut last_was_text);
    assert_eq!(blocks, vec![Block::Text(text.to_string())]);
    // Without tools offered (fenced_json off) a bare call is text too.
    let format = ToolCallFormat {
        fenced_json: false,
        ..ToolCallFormat::HERMES
    };
    let mut p = ToolCallParser::new(Some(format));
    let text = r#"{"name": "Read", "arguments": {}}"#;
    let (mut blocks, mut last_was_text) = (Vec::new(), false);
    fold(p.push(text), &mut blocks, &mut last_was_text);
    fold(p.finish(true), &mut blocks, &mut last_was_text);
    assert_eq!(blocks, vec![Block::Text(text.to_string())]);
}
