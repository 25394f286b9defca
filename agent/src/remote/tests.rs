//! The translations on recorded streams (no network): each protocol's bytes give the
//! contract's events, and those events fold into the message returned.

#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;

use hearth_engine::api::{
    self, ContentBlock, Delta, Event, Message, MessageAccumulator, Request, StopReason,
    SystemPrompt, ToolChoice, ToolDefinition, ToolResultContent, Usage,
};
use serde_json::json;

use super::{translate, Api};

/// Runs `bytes` through the translation of `api`; returns the events passed on and the
/// message, after checking the events fold into that very message.
fn run(api: Api, bytes: &str, request: &Request) -> (Vec<Event>, api::Response) {
    let mut events = Vec::new();
    let response = translate(api, bytes.as_bytes(), "m", request, &mut |e| {
        events.push(e.clone());
        ControlFlow::Continue(())
    })
    .unwrap();
    let mut folded = MessageAccumulator::new();
    for e in &events {
        folded.push(e).unwrap();
    }
    assert_eq!(folded.into_message().as_ref(), Some(&response));
    (events, response)
}

fn with_tools() -> Request {
    Request {
        messages: vec![Message::user("which function adds?")],
        tools: vec![ToolDefinition {
            name: "read_file".into(),
            description: "Read a file".into(),
            input_schema: json!({"type": "object"}),
        }],
        tool_choice: Some(ToolChoice::Any),
        max_tokens: 64,
        ..Request::default()
    }
}

fn tool(response: &api::Response, at: usize) -> (&str, &str, &serde_json::Value) {
    match &response.content[at] {
        ContentBlock::ToolUse { id, name, input } => (id, name, input),
        other => panic!("block {at} is not a tool call: {other:?}"),
    }
}

/// `hearth serve`'s stream, as recorded: usage whole in both `message_start` and
/// `message_delta`, a signed thinking block, text, a call whose input comes in pieces.
const HEARTH_MESSAGES: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_ab1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"qwen2\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":32,\"cache_creation_input_tokens\":0,\"output_tokens\":0,\"thinking_tokens\":0}}}\n\n\
event: ping\ndata: {\"type\":\"ping\"}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Look at calc.\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig1\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Reading.\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_x_1\",\"name\":\"read_file\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"calc.py\\\"}\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":32,\"cache_creation_input_tokens\":0,\"output_tokens\":20,\"thinking_tokens\":5}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

#[test]
fn messages_streams_give_thinking_text_calls_and_usage() {
    let (events, response) = run(Api::Messages, HEARTH_MESSAGES, &with_tools());
    assert_eq!(response.id, "msg_ab1");
    assert_eq!(response.model, "qwen2");
    assert_eq!(
        response.content[0],
        ContentBlock::Thinking {
            thinking: "Look at calc.".into(),
            signature: "sig1".into()
        }
    );
    assert_eq!(response.content[1], ContentBlock::text("Reading."));
    assert_eq!(
        tool(&response, 2),
        ("toolu_x_1", "read_file", &json!({"path": "calc.py"}))
    );
    assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 12,
            cache_read_input_tokens: 32,
            cache_creation_input_tokens: 0,
            output_tokens: 20,
            thinking_tokens: 5,
            ..Usage::default()
        }
    );
    // Pings reach the caller, which checks for an interrupt on every event.
    assert!(events.contains(&Event::Ping));
    // Deltas stream as they come, so the TUI shows thinking and text live.
    assert!(events.iter().any(|e| matches!(e,
        Event::ContentBlockDelta { delta: Delta::ThinkingDelta { thinking }, .. } if thinking == "Look at calc.")));
}

#[test]
fn messages_streams_from_other_servers_keep_start_usage_and_skip_unknown_blocks() {
    // Anthropic's shape: input tokens only at the start, a server tool's block in between.
    let bytes = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":7,\"cache_creation_input_tokens\":100,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"s\",\"name\":\"web_search\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"pause_turn\"},\"usage\":{\"output_tokens\":9}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let (_, response) = run(Api::Messages, bytes, &Request::default());
    assert_eq!(response.content, vec![ContentBlock::text("hi")]);
    assert_eq!(response.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(response.usage.input_tokens, 7);
    assert_eq!(response.usage.cache_creation_input_tokens, 100);
    assert_eq!(response.usage.output_tokens, 9);
}

#[test]
fn errors_in_a_stream_and_a_cut_stream_are_errors() {
    let bytes = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"the queue is full\"}}\n\n";
    let error = translate(
        Api::Messages,
        bytes.as_bytes(),
        "m",
        &Request::default(),
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap_err();
    assert_eq!(error.kind, "overloaded_error");
    assert!(error.message.contains("the queue is full"), "{error}");

    let cut = &HEARTH_MESSAGES[..HEARTH_MESSAGES.find("event: message_delta").unwrap()];
    let error = translate(
        Api::Messages,
        cut.as_bytes(),
        "m",
        &Request::default(),
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap_err();
    assert!(error.message.contains("message_stop"), "{error}");

    let openai = "data: {\"error\":{\"message\":\"context length exceeded\",\"type\":\"invalid_request_error\"}}\n\n";
    let error = translate(
        Api::OpenAi,
        openai.as_bytes(),
        "m",
        &Request::default(),
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap_err();
    assert!(error.message.contains("context length exceeded"), "{error}");
}

/// A vLLM-style stream: reasoning, text, a call streamed in pieces, then usage with cache hits.
const VLLM_CHAT: &str = "data: {\"id\":\"chatcmpl-1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"calc.py has add\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Let me check.\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"path\\\": \\\"ca\"}}]},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"lc.py\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"model\":\"qwen3\",\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":30,\"total_tokens\":130,\"prompt_tokens_details\":{\"cached_tokens\":64},\"completion_tokens_details\":{\"reasoning_tokens\":6}}}\n\n\
data: [DONE]\n\n";

#[test]
fn chat_completion_streams_give_reasoning_text_calls_and_cached_usage() {
    let (_, response) = run(Api::OpenAi, VLLM_CHAT, &with_tools());
    assert_eq!(response.id, "chatcmpl-1");
    assert_eq!(response.model, "qwen3");
    assert!(matches!(&response.content[0],
        ContentBlock::Thinking { thinking, .. } if thinking == "calc.py has add"));
    assert_eq!(response.content[1], ContentBlock::text("Let me check."));
    assert_eq!(
        tool(&response, 2),
        ("call_9", "read_file", &json!({"path": "calc.py"}))
    );
    assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 36,
            cache_read_input_tokens: 64,
            cache_creation_input_tokens: 0,
            output_tokens: 30,
            thinking_tokens: 6,
            ..Usage::default()
        }
    );
}

#[test]
fn tool_calls_written_as_text_are_calls_when_tools_were_offered() {
    // llama-cpp-python with the model's own template: the call is content, cut anywhere,
    // the finish reason `stop`, no usage, no `[DONE]`.
    let pieces = [
        "I will read it.\n<tool",
        "_call>\n{\"name\": \"read_file\", ",
        "\"arguments\": {\"path\": \"calc.py\"}}\n</tool_call>",
    ];
    let mut bytes = String::new();
    for piece in pieces {
        let chunk = json!({"id": "c", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
        bytes.push_str(&format!("data: {chunk}\n\n"));
    }
    bytes.push_str("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    let (_, response) = run(Api::OpenAi, &bytes, &with_tools());
    assert_eq!(response.content[0], ContentBlock::text("I will read it."));
    let (id, name, input) = tool(&response, 1);
    // Made from the message id: unique across the conversation.
    assert_eq!(id, "toolu_c_1");
    assert_eq!((name, input), ("read_file", &json!({"path": "calc.py"})));
    assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(response.usage, Usage::default());

    // Without tools the same text is only text.
    let (_, response) = run(Api::OpenAi, &bytes, &Request::default());
    assert_eq!(response.content.len(), 1);
    assert_eq!(response.stop_reason, Some(StopReason::EndTurn));
}

#[test]
fn broken_call_arguments_reach_the_model_as_a_malformed_call() {
    let bytes = "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{\\\"path\\\": calc\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
    let (_, response) = run(Api::OpenAi, bytes, &with_tools());
    let (_, _, input) = tool(&response, 0);
    assert!(input["_error"].as_str().unwrap().contains("not valid JSON"));
    assert_eq!(input["_raw"], json!("{\"path\": calc"));
}

#[test]
fn a_break_from_the_caller_stops_reading_and_cancels() {
    let mut seen = 0;
    let response = translate(
        Api::OpenAi,
        VLLM_CHAT.as_bytes(),
        "m",
        &with_tools(),
        &mut |e| {
            seen += 1;
            if matches!(e, Event::ContentBlockDelta { .. }) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap();
    assert_eq!(response.stop_reason, Some(StopReason::Cancelled));
    // message_start, the thinking block's start, its first delta: nothing after the Break.
    assert_eq!(seen, 3);
    // The call after the Break was never acted on.
    assert!(response
        .content
        .iter()
        .all(|b| !matches!(b, ContentBlock::ToolUse { .. })));
}

#[test]
fn responses_streams_give_reasoning_text_calls_and_usage() {
    let events = [
        json!({"type": "response.created", "response": {"id": "resp_1", "model": "gpt", "status": "in_progress"}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1"}}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "think"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning"}}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "role": "assistant"}}),
        json!({"type": "response.output_text.delta", "output_index": 1, "delta": "Reading "}),
        json!({"type": "response.output_text.delta", "output_index": 1, "delta": "calc.py"}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": {"type": "message"}}),
        json!({"type": "response.output_item.added", "output_index": 2, "item": {"type": "function_call", "call_id": "call_1", "name": "read_file", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 2, "delta": "{\"path\":"}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 2, "delta": "\"calc.py\"}"}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": {"type": "function_call"}}),
        json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
            "usage": {"input_tokens": 50, "input_tokens_details": {"cached_tokens": 40},
                      "output_tokens": 12, "output_tokens_details": {"reasoning_tokens": 3}}}}),
    ];
    let bytes: String = events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    let (_, response) = run(Api::Responses, &bytes, &with_tools());
    assert_eq!(response.id, "resp_1");
    assert!(matches!(&response.content[0],
        ContentBlock::Thinking { thinking, .. } if thinking == "think"));
    assert_eq!(response.content[1], ContentBlock::text("Reading calc.py"));
    assert_eq!(
        tool(&response, 2),
        ("call_1", "read_file", &json!({"path": "calc.py"}))
    );
    assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(
        (
            response.usage.input_tokens,
            response.usage.cache_read_input_tokens,
            response.usage.output_tokens,
            response.usage.thinking_tokens
        ),
        (10, 40, 12, 3)
    );
}

/// A conversation with every kind of block: a call, its (failed) result, more text.
fn conversation() -> Request {
    let mut request = with_tools();
    request.system = SystemPrompt::text("You are hearth.");
    request.messages.push(Message {
        role: api::Role::Assistant,
        content: vec![
            ContentBlock::Thinking {
                thinking: "hm".into(),
                signature: String::new(),
            },
            ContentBlock::ToolUse {
                id: "call_1".into(),
                name: "read_file".into(),
                input: json!({"path": "calc.py"}),
            },
        ],
    });
    request.messages.push(Message {
        role: api::Role::User,
        content: vec![
            ContentBlock::ToolResult {
                tool_use_id: "call_1".into(),
                content: vec![ToolResultContent::Text {
                    text: "no such file".into(),
                }],
                is_error: true,
            },
            ContentBlock::text("try again"),
        ],
    });
    request
}

#[test]
fn chat_requests_put_tool_results_right_after_their_calls() {
    let body = super::openai_request::body(&conversation(), "qwen", false);
    assert_eq!(body["model"], "qwen");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["tool_choice"], "required");
    assert_eq!(body["tools"][0]["function"]["name"], "read_file");
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
    assert_eq!(messages[2]["content"], "");
    let call = &messages[2]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert_eq!(call["function"]["arguments"], "{\"path\":\"calc.py\"}");
    assert_eq!(messages[3]["tool_call_id"], "call_1");
    assert_eq!(messages[3]["content"], "Error: no such file");
    assert_eq!(messages[4]["content"], "try again");

    // A server that refused `required` is asked for `auto`.
    let body = super::openai_request::body(&conversation(), "qwen", true);
    assert_eq!(body["tool_choice"], "auto");
}

#[test]
fn responses_requests_are_stateless_input_items() {
    let body = super::responses::body(&conversation(), "gpt");
    assert_eq!(body["store"], false);
    assert_eq!(body["instructions"], "You are hearth.");
    assert_eq!(body["tools"][0]["name"], "read_file");
    assert_eq!(body["tool_choice"], "required");
    let types: Vec<&str> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "message",
            "function_call",
            "function_call_output",
            "message"
        ]
    );
    assert_eq!(body["input"][2]["call_id"], "call_1");
}

#[test]
fn messages_requests_are_the_contract_with_the_model_named() {
    let body = super::messages::body(&conversation(), "qwen");
    assert_eq!(body["model"], "qwen");
    assert_eq!(body["stream"], true);
    assert_eq!(body["tool_choice"]["type"], "any");
    let back: Request = serde_json::from_value(body).unwrap();
    assert_eq!(back.messages, conversation().messages);
}

#[test]
fn api_names_parse() {
    for api in Api::ALL {
        assert_eq!(api.name().parse::<Api>().unwrap(), api);
    }
    let error = "anthropic".parse::<Api>().unwrap_err().to_string();
    assert!(
        error.contains("anthropic") && error.contains("openai"),
        "{error}"
    );
}
