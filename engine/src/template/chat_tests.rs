#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use super::*;
use crate::api::{SystemPrompt, ToolDefinition};
use crate::template::ChatTemplate;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/template")
}

/// The Messages-protocol request that means the same as an HF-style
/// conversation: the inverse of [`template_input`], written independently.
fn request_from_hf(messages: &[Value], tools: &[Value]) -> Request {
    let mut req = Request {
        max_tokens: 16,
        ..Request::default()
    };
    let mut calls = 0;
    let mut pending_ids: Vec<String> = Vec::new();
    for m in messages {
        let content = m["content"].as_str().unwrap_or("").to_string();
        match m["role"].as_str().unwrap() {
            "system" => req.system = SystemPrompt::text(content),
            "user" => req.messages.push(Message::user(content)),
            "assistant" => {
                let mut blocks = Vec::new();
                if !content.is_empty() {
                    blocks.push(ContentBlock::text(content));
                }
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    calls += 1;
                    let id = call["id"]
                        .as_str()
                        .map(String::from)
                        .unwrap_or(format!("call_{calls}"));
                    pending_ids.push(id.clone());
                    blocks.push(ContentBlock::ToolUse {
                        id,
                        name: call["function"]["name"].as_str().unwrap().to_string(),
                        input: call["function"]["arguments"].clone(),
                    });
                }
                req.messages.push(Message {
                    role: Role::Assistant,
                    content: blocks,
                });
            }
            "tool" => {
                let id = m["tool_call_id"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| pending_ids.remove(0));
                pending_ids.retain(|p| *p != id);
                let result = ContentBlock::ToolResult {
                    tool_use_id: id,
                    content: vec![ToolResultContent::Text { text: content }],
                    is_error: false,
                };
                match req.messages.last_mut() {
                    Some(last)
                        if last.role == Role::User
                            && matches!(last.content[0], ContentBlock::ToolResult { .. }) =>
                    {
                        last.content.push(result)
                    }
                    _ => req.messages.push(Message {
                        role: Role::User,
                        content: vec![result],
                    }),
                }
            }
            other => panic!("role {other}"),
        }
    }
    req.tools = tools
        .iter()
        .map(|t| ToolDefinition {
            name: t["function"]["name"].as_str().unwrap().to_string(),
            description: t["function"]["description"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            input_schema: t["function"]["parameters"].clone(),
        })
        .collect();
    req
}

/// Every jinja2-verified Qwen case that a Messages request can express
/// renders to the same prompt through [`template_input`].
#[test]
fn requests_render_like_the_jinja2_reference() {
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap())
            .unwrap();
    let mut checked = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let template_file = case["template"].as_str().unwrap();
        let messages = case["messages"].as_array().unwrap();
        let last_role = messages.last().unwrap()["role"].as_str().unwrap();
        let expressible = template_file.starts_with("qwen")
            && case["add_generation_prompt"] == true
            && case["extra"].as_object().unwrap().is_empty()
            && case["expected"].is_string()
            && (last_role == "user" || last_role == "tool")
            && messages.iter().all(|m| {
                m.get("reasoning_content").is_none()
                    && !m["content"].as_str().unwrap_or("").contains("<think>")
                    && m["tool_calls"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .all(|c| c["function"]["arguments"].is_object())
            });
        if !expressible {
            continue;
        }
        let source = std::fs::read_to_string(fixtures().join(template_file)).unwrap();
        let template = ChatTemplate::new(
            &source,
            case["bos_token"].as_str().unwrap(),
            case["eos_token"].as_str().unwrap(),
        )
        .unwrap();
        let req = request_from_hf(messages, case["tools"].as_array().unwrap());
        let got = template.render(&template_input(&req).unwrap()).unwrap();
        assert_eq!(
            got,
            case["expected"].as_str().unwrap(),
            "{template_file} {name}"
        );
        checked.push(format!("{template_file} {name}"));
    }
    for must in [
        "qwen2.5.jinja tool_calls_and_results/gen",
        "qwen2.5.jinja tool_call_ends_conversation/gen",
        "qwen3.jinja edit_call_with_code/gen",
    ] {
        assert!(
            checked.iter().any(|c| c == must),
            "{must} was not checked: {checked:?}"
        );
    }
}

#[test]
fn translation_keeps_block_order_and_drops_past_thinking() {
    let req = Request {
        max_tokens: 8,
        messages: vec![
            Message::user("q"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Thinking {
                        thinking: "hmm".into(),
                        signature: String::new(),
                    },
                    ContentBlock::text("Looking."),
                    ContentBlock::ToolUse {
                        id: "t1".into(),
                        name: "grep".into(),
                        input: json!({"pattern": "x"}),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::ToolResult {
                        tool_use_id: "t1".into(),
                        content: vec![ToolResultContent::Text {
                            text: "bad regex".into(),
                        }],
                        is_error: true,
                    },
                    ContentBlock::text("and also"),
                ],
            },
        ],
        ..Request::default()
    };
    let input = template_input(&req).unwrap();
    assert_eq!(
        input.messages,
        vec![
            json!({"role": "user", "content": "q"}),
            json!({"role": "assistant", "content": "Looking.", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "grep", "arguments": {"pattern": "x"}}}]}),
            json!({"role": "tool", "tool_call_id": "t1", "content": "Error: bad regex"}),
            json!({"role": "user", "content": "and also"}),
        ]
    );
    assert!(input.tools.is_empty());
    assert!(input.add_generation_prompt);
}

#[test]
fn bad_conversations_are_refused_naming_the_problem() {
    let ok = Request {
        max_tokens: 4,
        messages: vec![Message::user("hi")],
        ..Request::default()
    };
    let cases: Vec<(Request, &str)> = vec![
        (
            Request {
                messages: vec![],
                ..ok.clone()
            },
            "messages is empty",
        ),
        (
            Request {
                max_tokens: 0,
                ..ok.clone()
            },
            "max_tokens",
        ),
        (
            Request {
                messages: vec![Message::user("hi"), Message::assistant("prefill")],
                ..ok.clone()
            },
            "(messages[1]) is from the assistant",
        ),
        (
            Request {
                messages: vec![Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult {
                        tool_use_id: "nope".into(),
                        content: vec![],
                        is_error: false,
                    }],
                }],
                ..ok.clone()
            },
            "tool_use_id \"nope\"",
        ),
        (
            Request {
                messages: vec![Message {
                    role: Role::User,
                    content: vec![],
                }],
                ..ok.clone()
            },
            "no content",
        ),
    ];
    for (req, want) in cases {
        let err = template_input(&req).unwrap_err();
        assert!(err.is_invalid_request(), "{err}");
        assert!(err.message.contains(want), "{want:?} not in {err}");
    }
}
