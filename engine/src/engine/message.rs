//! From generated text to the contract's events: a thinking block first when there is
//! one, then text blocks and tool calls as the parser finds them. The same blocks are
//! collected for the returned response, so a streamed answer folded with
//! [`api::MessageAccumulator`] equals the returned one.

use std::ops::ControlFlow;

use crate::api::{
    self, ContentBlock, Delta, Event, MessageDeltaBody, Response, Role, StopReason, Usage,
};
use crate::template::tool_calls::ParsedEvent;

/// Turns parser output into events, and collects the same blocks for the
/// returned response.
pub(crate) struct MessageWriter<'a> {
    on_event: &'a mut dyn FnMut(&Event) -> ControlFlow<()>,
    blocks: Vec<ContentBlock>,
    open_text: Option<usize>,
    open_thinking: Option<usize>,
    pub(crate) tool_calls: usize,
    /// The caller asked to stop: no more content is added, only closing events.
    pub(crate) cancelled: bool,
}

impl<'a> MessageWriter<'a> {
    pub(crate) fn new(on_event: &'a mut dyn FnMut(&Event) -> ControlFlow<()>) -> MessageWriter<'a> {
        MessageWriter {
            on_event,
            blocks: Vec::new(),
            open_text: None,
            open_thinking: None,
            tool_calls: 0,
            cancelled: false,
        }
    }

    pub(crate) fn send(&mut self, event: Event) {
        if (self.on_event)(&event).is_break() {
            self.cancelled = true;
        }
    }

    pub(crate) fn apply(&mut self, parsed: Vec<ParsedEvent>) {
        for p in parsed {
            if self.cancelled {
                return;
            }
            match p {
                ParsedEvent::Text(text) => self.text(text),
                ParsedEvent::ToolCall(call) => {
                    self.close_thinking();
                    self.close_text();
                    self.tool_calls += 1;
                    let index = self.blocks.len();
                    let id = format!("toolu_{}", self.tool_calls);
                    self.blocks.push(ContentBlock::ToolUse {
                        id: id.clone(),
                        name: call.name.clone(),
                        input: call.input.clone(),
                    });
                    self.send(Event::ContentBlockStart {
                        index,
                        content_block: ContentBlock::ToolUse {
                            id,
                            name: call.name,
                            input: serde_json::json!({}),
                        },
                    });
                    self.send(Event::ContentBlockDelta {
                        index,
                        delta: Delta::InputJsonDelta {
                            partial_json: call.input.to_string(),
                        },
                    });
                    self.send(Event::ContentBlockStop { index });
                }
            }
        }
    }

    /// Adds reasoning to the thinking block, opening it first.
    pub(crate) fn thinking(&mut self, piece: &str) {
        if self.cancelled || piece.is_empty() {
            return;
        }
        let index = match self.open_thinking {
            Some(index) => index,
            None => {
                self.close_text();
                let index = self.blocks.len();
                let empty = ContentBlock::Thinking {
                    thinking: String::new(),
                    signature: String::new(),
                };
                self.blocks.push(empty.clone());
                self.open_thinking = Some(index);
                self.send(Event::ContentBlockStart {
                    index,
                    content_block: empty,
                });
                index
            }
        };
        if let Some(ContentBlock::Thinking { thinking, .. }) = self.blocks.get_mut(index) {
            thinking.push_str(piece);
        }
        self.send(Event::ContentBlockDelta {
            index,
            delta: Delta::ThinkingDelta {
                thinking: piece.to_string(),
            },
        });
    }

    fn close_thinking(&mut self) {
        if let Some(index) = self.open_thinking.take() {
            self.send(Event::ContentBlockStop { index });
        }
    }

    fn text(&mut self, piece: String) {
        self.close_thinking();
        let index = match self.open_text {
            Some(index) => index,
            None => {
                let index = self.blocks.len();
                self.blocks.push(ContentBlock::text(""));
                self.open_text = Some(index);
                self.send(Event::ContentBlockStart {
                    index,
                    content_block: ContentBlock::text(""),
                });
                index
            }
        };
        if let Some(ContentBlock::Text { text }) = self.blocks.get_mut(index) {
            text.push_str(&piece);
        }
        self.send(Event::ContentBlockDelta {
            index,
            delta: Delta::TextDelta { text: piece },
        });
    }

    fn close_text(&mut self) {
        if let Some(index) = self.open_text.take() {
            self.send(Event::ContentBlockStop { index });
        }
    }

    /// Closes what is open, sends the message's end and returns the message.
    pub(crate) fn finish(
        mut self,
        serial: u64,
        model_id: &str,
        stop_reason: StopReason,
        stop_sequence: Option<String>,
        usage: Usage,
    ) -> Response {
        self.close_thinking();
        self.close_text();
        self.send(Event::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(stop_reason),
                stop_sequence: stop_sequence.clone(),
            },
            usage,
        });
        self.send(Event::MessageStop);
        api::Response {
            id: format!("msg_{serial:08}"),
            kind: "message".to_string(),
            role: Role::Assistant,
            model: model_id.to_string(),
            content: self.blocks,
            stop_reason: Some(stop_reason),
            stop_sequence,
            usage,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::api::MessageAccumulator;
    use crate::template::tool_calls::ParsedToolCall;
    use serde_json::json;

    /// The events the writer sends fold into the blocks it returns, for
    /// text, calls (valid and malformed) and text again.
    #[test]
    fn events_fold_into_the_returned_message() {
        let mut events = Vec::new();
        let mut on_event = |e: &Event| {
            events.push(e.clone());
            ControlFlow::Continue(())
        };
        let mut writer = MessageWriter::new(&mut on_event);
        writer.send(Event::MessageStart {
            message: Response {
                id: "msg_00000007".into(),
                kind: "message".into(),
                role: Role::Assistant,
                model: "m".into(),
                content: vec![],
                stop_reason: None,
                stop_sequence: None,
                usage: Usage::default(),
            },
        });
        let call = |name: &str, input| {
            ParsedEvent::ToolCall(ParsedToolCall {
                name: name.into(),
                input,
            })
        };
        writer.apply(vec![
            ParsedEvent::Text("Let me ".into()),
            ParsedEvent::Text("look.".into()),
        ]);
        writer.apply(vec![
            call("read_file", json!({"path": "a.rs", "n": [1, 2.5, "ü"]})),
            call(
                "invalid_tool_call",
                json!({"_error": "bad", "_raw": "{\"x"}),
            ),
            ParsedEvent::Text("Done.".into()),
        ]);
        let usage = Usage {
            input_tokens: 3,
            output_tokens: 9,
            ..Usage::default()
        };
        let response = writer.finish(7, "m", StopReason::ToolUse, None, usage);
        let mut acc = MessageAccumulator::new();
        for e in &events {
            acc.push(e).unwrap();
        }
        assert_eq!(acc.into_message().unwrap(), response);
        let ids: Vec<&str> = response
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolUse { id, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["toolu_1", "toolu_2"]);
        assert_eq!(response.content.len(), 4);
        assert_eq!(response.content[0], ContentBlock::text("Let me look."));
    }
}
