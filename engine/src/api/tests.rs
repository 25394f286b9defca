use super::*;

#[test]
fn wire_forms_parse_strings_and_blocks() {
    let req: Request = serde_json::from_str(
        r#"{"system": "be brief", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"},
                         {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "read_file", "input": {"path": "a"}}]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "body"}]}],
            "thinking": {"type": "enabled", "budget_tokens": 64}}"#,
    )
    .unwrap();
    assert_eq!(req.system.joined(), "be brief");
    assert_eq!(req.messages[0], Message::user("hi"));
    assert_eq!(ThinkingConfig::budget(req.thinking.as_ref()), 64);
    match &req.messages[2].content[0] {
        ContentBlock::ToolResult {
            content, is_error, ..
        } => {
            assert_eq!(ToolResultContent::join(content), "body");
            assert!(!is_error);
        }
        other => panic!("{other:?}"),
    }
    let back = serde_json::to_value(&req).unwrap();
    assert_eq!(back["messages"][1]["content"][0]["type"], "tool_use");
}

#[test]
fn accumulator_builds_the_message_from_events() {
    let start = Response {
        id: "m".into(),
        kind: "message".into(),
        role: Role::Assistant,
        model: "x".into(),
        content: vec![],
        stop_reason: None,
        stop_sequence: None,
        usage: Usage::default(),
    };
    let events = vec![
        Event::MessageStart { message: start },
        Event::ContentBlockStart {
            index: 0,
            content_block: ContentBlock::text(""),
        },
        Event::ContentBlockDelta {
            index: 0,
            delta: Delta::TextDelta { text: "Hel".into() },
        },
        Event::ContentBlockDelta {
            index: 0,
            delta: Delta::TextDelta { text: "lo".into() },
        },
        Event::ContentBlockStop { index: 0 },
        Event::ContentBlockStart {
            index: 1,
            content_block: ContentBlock::ToolUse {
                id: "t".into(),
                name: "grep".into(),
                input: serde_json::json!({}),
            },
        },
        Event::ContentBlockDelta {
            index: 1,
            delta: Delta::InputJsonDelta {
                partial_json: "{\"pattern\":".into(),
            },
        },
        Event::ContentBlockDelta {
            index: 1,
            delta: Delta::InputJsonDelta {
                partial_json: " \"x\"}".into(),
            },
        },
        Event::ContentBlockStop { index: 1 },
        Event::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(StopReason::ToolUse),
                stop_sequence: None,
            },
            usage: Usage {
                input_tokens: 5,
                output_tokens: 7,
                ..Usage::default()
            },
        },
        Event::MessageStop,
    ];
    let mut acc = MessageAccumulator::new();
    for e in &events {
        acc.push(e).unwrap();
    }
    let m = acc.into_message().unwrap();
    assert_eq!(m.content[0], ContentBlock::text("Hello"));
    assert_eq!(
        m.content[1],
        ContentBlock::ToolUse {
            id: "t".into(),
            name: "grep".into(),
            input: serde_json::json!({"pattern": "x"})
        }
    );
    assert_eq!(m.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(m.usage.output_tokens, 7);
    let mut acc = MessageAccumulator::new();
    assert!(
        acc.push(&events[2]).is_err(),
        "a delta before the start is out of order"
    );
}

#[test]
fn tool_choice_has_the_wire_shape() {
    for (wire, choice) in [
        (r#"{"type": "auto"}"#, ToolChoice::Auto),
        (r#"{"type": "any"}"#, ToolChoice::Any),
        (r#"{"type": "none"}"#, ToolChoice::None),
        (
            r#"{"type": "tool", "name": "read_file", "disable_parallel_tool_use": true}"#,
            ToolChoice::Tool {
                name: "read_file".into(),
            },
        ),
        (
            r#"{"type": "any_of", "names": ["grep", "answer"]}"#,
            ToolChoice::AnyOf {
                names: vec!["grep".into(), "answer".into()],
            },
        ),
    ] {
        assert_eq!(serde_json::from_str::<ToolChoice>(wire).unwrap(), choice);
    }
    let req: Request = serde_json::from_str(r#"{"max_tokens": 1, "messages": []}"#).unwrap();
    assert_eq!(req.tool_choice, None);
    assert!(serde_json::to_value(&req)
        .unwrap()
        .get("tool_choice")
        .is_none());
}
