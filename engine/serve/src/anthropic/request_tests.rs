#![allow(clippy::unwrap_used)]
use super::*;
use hearth_engine::api::{ContentBlock, Role};

fn signer() -> Signer {
    Signer::with_key([1; 32])
}

fn parse_json(v: Value) -> Result<Parsed, ServeError> {
    parse(v.to_string().as_bytes(), &signer(), true)
}

/// What Claude Code sends: system messages inside `messages`, `cache_control`,
/// `metadata`, `context_management`, unknown fields, adaptive thinking, a server tool.
#[test]
fn a_claude_code_shaped_request_is_accepted() {
    let parsed = parse_json(json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.",
                    "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "system", "content": "Extra rules."},
            {"role": "user", "content": [{"type": "text", "text": "hi",
                                          "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}
        ],
        "tools": [
            {"name": "Bash", "description": "Run", "input_schema": {"type": "object"},
             "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": false},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "low"},
        "metadata": {"user_id": "u"},
        "context_management": {"edits": []},
        "some_future_field": 1
    }))
    .unwrap();
    let r = parsed.request;
    assert_eq!(parsed.model, "claude-sonnet-4-5");
    assert!(r.stream);
    assert_eq!(r.system.joined(), "You are Claude Code.\n\nExtra rules.");
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0].role, Role::User);
    assert_eq!(r.tools.len(), 1, "the server tool is left out");
    assert_eq!(r.thinking, Some(ThinkingConfig::enabled(1024)));
}

#[test]
fn wrong_types_name_the_field() {
    let err = parse_json(json!({"model": "m", "max_tokens": "many", "messages": []})).unwrap_err();
    assert!(err.message.starts_with("max_tokens:"), "{}", err.message);
    let err = parse_json(json!({"model": "m", "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}))
    .unwrap_err();
    assert!(
        err.message.starts_with("messages[0].content"),
        "{}",
        err.message
    );
    let err = parse_json(json!({"max_tokens": 5, "messages": []})).unwrap_err();
    assert!(err.message.starts_with("model:"), "{}", err.message);
    let err = parse(b"{\"model\": ", &signer(), true).unwrap_err();
    assert!(err.message.contains("not valid JSON"), "{}", err.message);
    assert!(err.message.contains("line 1"), "{}", err.message);
}

#[test]
fn thinking_budget_must_leave_room_for_the_answer() {
    let err = parse_json(json!({"model": "m", "max_tokens": 100,
        "thinking": {"type": "enabled", "budget_tokens": 100},
        "messages": [{"role": "user", "content": "hi"}]}))
    .unwrap_err();
    assert!(
        err.message.contains("thinking.budget_tokens"),
        "{}",
        err.message
    );
}

/// Thinking blocks come back accepted when unchanged and refused, naming the block, when
/// edited or unsigned.
#[test]
fn thinking_signatures_are_checked() {
    let thinking = "I should say hi.";
    let body = |text: &str, signature: &str| {
        json!({"model": "m", "max_tokens": 50, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": text, "signature": signature},
                {"type": "text", "text": "hi"}]},
            {"role": "user", "content": "again"}]})
    };
    let good = signer().sign(thinking);
    let parsed = parse_json(body(thinking, &good)).unwrap();
    assert!(matches!(
        &parsed.request.messages[1].content[0],
        ContentBlock::Thinking { thinking: t, .. } if t == thinking
    ));
    let err = parse_json(body("I should say bye.", &good)).unwrap_err();
    assert!(
        err.message.starts_with("messages[1].content[0]"),
        "{}",
        err.message
    );
    let err = parse_json(body(thinking, "")).unwrap_err();
    assert!(err.message.contains("signature"), "{}", err.message);
}
