//! The turn loop: request → stream → tool calls → permission → tool → result → next
//! request, until the model answers or the turn reaches its request limit. An answer after
//! edits is checked by the project's tests where the mode allows (`verify.rs`).

use std::ops::ControlFlow;

use hearth_engine::api::{self, ContentBlock, Message, Role, StopReason, ToolResultContent, Usage};
use serde_json::Value;

use crate::acting::tool_named_in;
use crate::answer::{take_answer, ANSWER_TOOL, BRIEF_ANSWER_TOKENS};
use crate::error::AgentError;
use crate::history::{starts_user_turn, text_of};
use crate::permissions::{EDIT_TOOL, RENAME_TOOL, SHELL_TOOL};
use crate::protocol::{
    ErrorReport, Event, TextDelta, TurnFinished, TurnStarted, TurnStop, UsageReport,
};
use crate::session::{Session, TurnIo};
use crate::store::Record;
use crate::task_kind::{asks_for_a_change, asks_for_a_rename, asks_only_a_question};
use crate::verify::WorkCheck;

impl Session {
    /// Runs one user turn to its end and reports how it ended (also as
    /// [`Event::TurnFinished`]). An error is reported as [`Event::Error`] first.
    pub fn run_turn(
        &mut self,
        text: &str,
        io: &mut dyn TurnIo,
    ) -> Result<TurnFinished, AgentError> {
        let message = self.user_message(text)?;
        // An instruction file that was not read (a symlink out of the repository, a FIFO) is
        // the user's to know about, not only the model's: library code prints nothing.
        for warning in crate::prompt::unread_instruction_warnings(&message) {
            io.log(&warning);
        }
        // The message is appended (and counted) once the turn has opened (repair.rs).
        let turn = self.turns + u32::from(starts_user_turn(&message));
        io.emit(Event::TurnStarted(TurnStarted { turn }));
        let mut turn_usage = Usage::default();
        let mut requests = 0;
        let mut check = WorkCheck::new(text, turn);
        let result = self.turn_loop(message, &mut check, io, &mut turn_usage, &mut requests);
        // Each turn ends on disk, so a power loss keeps every turn that finished.
        let result = result.and_then(|finished| self.sync_store().map(|()| finished));
        let finished = match result {
            Ok(finished) => finished,
            Err(error) => {
                io.emit(Event::Error(ErrorReport {
                    message: error.to_string(),
                }));
                io.emit(Event::TurnFinished(TurnFinished {
                    stop: TurnStop::Failed,
                    answer: String::new(),
                    requests,
                }));
                return Err(error);
            }
        };
        io.emit(Event::TurnFinished(finished.clone()));
        Ok(finished)
    }

    fn turn_loop(
        &mut self,
        message: Message,
        check: &mut WorkCheck,
        io: &mut dyn TurnIo,
        turn_usage: &mut Usage,
        requests: &mut u32,
    ) -> Result<TurnFinished, AgentError> {
        let max = self.config.max_requests_per_turn.max(1);
        // A repair that made the failing tests pass (repair.rs) leaves only the answer.
        let repaired = self.open_turn(message, check, turn_usage, io)?;
        // Whether this turn already made the model act after it wrote about a tool
        // (acting.rs), and whether the next request must be a call.
        let mut made_to_act = false;
        let mut must_call = false;
        // The calls made since files last changed: a reply whose calls all repeat some of
        // them is stuck in a loop (a small model is, once it has done the work, or when it
        // alternates two calls: an edit that fails, then a read of the same file), and the
        // next step must change something or answer. After a change, reading again is new.
        let mut made_calls: Vec<(String, Value)> = Vec::new();
        // Whether a call of this turn changed a file (an edit that failed changed nothing).
        let mut edited = false;
        let mut must_answer = repaired;
        let mut answer_checked = repaired;
        // Whether the next request must be an edit, and whether this turn already asked.
        let (mut must_edit, mut made_to_edit) = (false, false);
        // Whether the last reply's calls changed a file without error, on a change task.
        let mut just_edited = false;
        // A turn that only asks a question may call the tools that read, and the answer: a
        // small model otherwise "fixes" the code it was asked about.
        let question_only = asks_only_a_question(&check.task);
        let question_tools = question_only
            .then(|| self.reading_tools())
            .filter(|names| !names.is_empty());
        if !repaired {
            let task = check.task.clone();
            let direct = self.config.answer_from_context && question_only;
            if let Some(answer) = self.answer_from_context(&task, direct, turn_usage, io)? {
                *requests = 1;
                io.emit(Event::TextDelta(TextDelta {
                    text: answer.clone(),
                }));
                self.append_message(Message::assistant(answer.clone()))?;
                return Ok(TurnFinished {
                    stop: TurnStop::from_model(Some(StopReason::EndTurn)),
                    answer,
                    requests: 1,
                });
            }
        }
        for request_number in 1..=max {
            *requests = request_number;
            self.compact_if_needed(io)?;
            let mut request = self.prefix.request(&self.history, &self.config.request);
            if std::mem::take(&mut must_call) {
                request.tool_choice = Some(api::ToolChoice::Any);
            }
            // A change made: the answer is next, and it runs the checks (verify.rs), whose
            // failures the model then fixes; left free, a small model wanders through blame
            // and log, or undoes its own edit, until the turn ends at its limit.
            if std::mem::take(&mut just_edited) {
                must_answer = true;
            }
            if let Some(names) = question_tools
                .as_ref()
                .filter(|_| request.tool_choice.is_some())
            {
                request.tool_choice = Some(api::ToolChoice::AnyOf {
                    names: names.clone(),
                });
            }
            if std::mem::take(&mut must_edit) {
                // A rename is one call of its own tool where it is offered.
                let rename_offered = request.tools.iter().any(|t| t.name == RENAME_TOOL);
                let edit = if asks_for_a_rename(&check.task) && rename_offered {
                    RENAME_TOOL
                } else {
                    EDIT_TOOL
                };
                request.tool_choice = Some(api::ToolChoice::Tool {
                    name: edit.to_string(),
                });
            }
            if std::mem::take(&mut must_answer) {
                request.tool_choice = Some(api::ToolChoice::Tool {
                    name: ANSWER_TOOL.to_string(),
                });
                request.max_tokens = self
                    .config
                    .request
                    .budget
                    .answer_at_most(BRIEF_ANSWER_TOKENS)
                    .max_tokens();
            }
            let response = self.stream_reply(&request, io)?;
            self.count_usage(response.usage, turn_usage, io)?;
            let cancelled = response.stop_reason == Some(StopReason::Cancelled) || io.interrupted();
            let mut content = response.content;
            if cancelled {
                // Calls of a cut-off message never run, and a call without a result is not a
                // valid conversation: keep only what was said.
                content.retain(|b| !matches!(b, ContentBlock::ToolUse { .. }));
            }
            // The answer call (answer.rs) ends the turn as text.
            let delivered = take_answer(content);
            // An answer delivered through its tool is an act, whatever words it uses ("the
            // shell function that …" names the `shell` tool by accident).
            let answered_by_call = delivered.answer.is_some();
            let content = delivered.content;
            if let Some(answer) = delivered.answer.filter(|a| !a.is_empty()) {
                io.emit(Event::TextDelta(TextDelta { text: answer }));
            }
            let calls: Vec<(String, String, Value)> = content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolUse { id, name, input } => {
                        Some((id.clone(), name.clone(), input.clone()))
                    }
                    _ => None,
                })
                .collect();
            let message = Message {
                role: Role::Assistant,
                content,
            };
            let answer = text_of(&message);
            if !cancelled
                && calls.is_empty()
                && !answered_by_call
                && !made_to_act
                && request_number < max
            {
                if let Some(tool) = tool_named_in(&answer, &check.task, &request.tools) {
                    // Prose about acting is not an answer: the same request again, where
                    // the engine lets the model write nothing but a call.
                    io.log(&format!(
                        "the model wrote about `{tool}` instead of calling a tool: asking again \
                         with a call required"
                    ));
                    made_to_act = true;
                    must_call = true;
                    continue;
                }
            }
            let repeats = !calls.is_empty()
                && calls.iter().all(|(_, name, input)| {
                    made_calls.iter().any(|(n, i)| n == name && i == input)
                });
            if repeats {
                // The repeated calls would return what the history already holds: they run
                // nothing and the reply is dropped, so the same request, with its next step
                // fixed, reads its whole prompt from the cache.
                if asks_for_a_change(&check.task) && !edited && !made_to_edit {
                    // Looking again will not make the change: the next step is an edit.
                    io.log("the model repeated its last calls on a change task: its next step must be an edit");
                    made_to_edit = true;
                    must_edit = true;
                } else {
                    io.log("the model repeated its last calls: its next step must be the answer");
                    must_answer = true;
                }
                continue;
            }
            self.append_message(message)?;
            self.measured = Some((
                self.history.len(),
                response.usage.prompt_tokens() + response.usage.output_tokens,
            ));
            if !cancelled && calls.is_empty() {
                if let Some(report) = self.check_work(check, io)? {
                    // Past the last request the loop ends with the failure in the history,
                    // closed by the note of the request limit.
                    self.append_message(Message::user(report))?;
                    if io.interrupted() {
                        return self.end_without_answer(TurnStop::Interrupted, request_number);
                    }
                    continue;
                }
            }
            if !cancelled && calls.is_empty() && !answer_checked && request_number < max {
                // Once a turn: a question's answer is checked against the files it cites.
                answer_checked = true;
                let note = if check.mutated {
                    None
                } else {
                    self.check_citations(&check.task, &answer, io)
                };
                if let Some(note) = note {
                    self.append_message(Message::user(note))?;
                    continue;
                }
            }
            if cancelled || calls.is_empty() {
                let stop = if cancelled {
                    TurnStop::Interrupted
                } else {
                    TurnStop::from_model(response.stop_reason)
                };
                return Ok(TurnFinished {
                    stop,
                    answer,
                    requests: request_number,
                });
            }
            let these_calls: Vec<(String, Value)> = calls
                .iter()
                .map(|(_, name, input)| (name.clone(), input.clone()))
                .collect();
            check.note_calls(&self.tools, calls.iter().map(|(_, name, _)| name.as_str()));
            let mut results = Vec::with_capacity(calls.len());
            let change_task = asks_for_a_change(&check.task);
            let mut changed_files = false;
            for (id, name, input) in calls {
                let result = self.run_call(&id, &name, &input, io)?;
                let changed = !result.is_error && self.edits_files(&name);
                changed_files |= changed;
                just_edited |= change_task && changed;
                results.push(ContentBlock::ToolResult {
                    tool_use_id: id,
                    content: vec![ToolResultContent::Text { text: result.text }],
                    is_error: result.is_error,
                });
            }
            self.append_message(Message {
                role: Role::User,
                content: results,
            })?;
            // The same change made again right after is still a repeat.
            if changed_files {
                made_calls.clear();
                edited = true;
            }
            made_calls.extend(these_calls);
            if io.interrupted() {
                return self.end_without_answer(TurnStop::Interrupted, request_number);
            }
        }
        self.end_without_answer(TurnStop::MaxTurns, max)
    }

    /// The names of the offered tools that change nothing, and the answer tool: what a turn
    /// that only asks a question may call.
    fn reading_tools(&self) -> Vec<String> {
        let offered: Vec<&str> = self.prefix.tools.iter().map(|t| t.name.as_str()).collect();
        offered
            .into_iter()
            .filter(|name| {
                *name == ANSWER_TOOL || self.tools.get(name).is_some_and(|tool| !tool.mutates())
            })
            .map(str::to_string)
            .collect()
    }

    /// Whether the tool `name` changes files (not the shell: a command's effect is unknown).
    fn edits_files(&self, name: &str) -> bool {
        name != SHELL_TOOL && self.tools.get(name).is_some_and(|tool| tool.mutates())
    }

    /// Ends a turn whose last message holds tool results the model has not seen: a short
    /// assistant note closes it, so the next user turn follows an assistant message.
    fn end_without_answer(
        &mut self,
        stop: TurnStop,
        requests: u32,
    ) -> Result<TurnFinished, AgentError> {
        let note = match stop {
            TurnStop::MaxTurns => {
                format!("(stopped: this turn reached its limit of {requests} model requests)")
            }
            _ => "(stopped: interrupted by the user)".to_string(),
        };
        self.append_message(Message::assistant(note.clone()))?;
        Ok(TurnFinished {
            stop,
            answer: note,
            requests,
        })
    }

    /// Adds one request's `usage` to the turn's and the session's, records it and reports
    /// it: every request of a turn, side requests included, is counted here.
    pub(crate) fn count_usage(
        &mut self,
        usage: Usage,
        turn_usage: &mut Usage,
        io: &mut dyn TurnIo,
    ) -> Result<(), AgentError> {
        turn_usage.add(&usage);
        self.usage.add(&usage);
        self.record(Record::Usage { usage })?;
        io.emit(Event::Usage(UsageReport {
            request: usage,
            turn: *turn_usage,
            session: self.usage,
        }));
        Ok(())
    }

    fn stream_reply(
        &mut self,
        request: &api::Request,
        io: &mut dyn TurnIo,
    ) -> Result<api::Response, AgentError> {
        let mut on_event = |event: &api::Event| {
            if let api::Event::ContentBlockDelta { delta, .. } = event {
                match delta {
                    api::Delta::TextDelta { text } if !text.is_empty() => {
                        io.emit(Event::TextDelta(TextDelta { text: text.clone() }))
                    }
                    api::Delta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                        io.emit(Event::ThinkingDelta(TextDelta {
                            text: thinking.clone(),
                        }))
                    }
                    _ => {}
                }
            }
            if io.interrupted() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        Ok(self.backend.stream(request, &mut on_event)?)
    }

    /// Flushes the session file to disk, when the session is saved.
    pub(crate) fn sync_store(&mut self) -> Result<(), AgentError> {
        if let Some(store) = &mut self.store {
            store.sync()?;
        }
        Ok(())
    }
}
