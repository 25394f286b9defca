//! Localize → repair → validate, before the model's first step, for a task that says the
//! tests fail (the pipeline of Agentless).
//!
//! A small model shown a whole repository and a failure often rewrites the wrong function;
//! shown the one function the failure points at, it fixes the same bug at once. So when the
//! task reads like a fix and the mode lets the tests and edits run without asking, the turn
//! opens by running the tests. When they fail, the functions the failure points at
//! ([`suspects`]) are shown to the model one at a time beside the failure, with a request
//! for that function's new text; each candidate is applied through `edit_file`, the tests
//! run, and a candidate they reject is undone. The first candidate is greedy, the others
//! sampled: the request's prefix is in the engine's prefix cache, so each extra candidate
//! costs only its own tokens.
//!
//! Candidates are side requests: they never enter the history. A candidate that passes does,
//! as the edit call and its result, so the model's next step (its answer) knows what
//! changed. When none passes, the turn goes on as usual, with the failure and the suspect
//! in the first message.

use std::ops::ControlFlow;

use hearth_engine::api::{self, ContentBlock, Message, Role, ToolChoice, ToolResultContent, Usage};
use hearth_tools::{localize, outline_source, FailingTest, Localized, Suspect, SymbolKind};
use serde_json::json;

use crate::error::AgentError;
use crate::history::text_of;
use crate::permissions::{Decision, EDIT_TOOL};
use crate::session::{Session, TurnIo};
use crate::task_kind::asks_for_a_fix;
use crate::verify::{TestRun, WorkCheck};

/// How many suspects get candidates, strongest first.
const MAX_SUSPECTS: usize = 3;

/// How many candidates a turn asks for in all. They go round the suspects: each one's
/// greedy candidate first, then sampled ones, so a wrong first suspect costs one candidate.
const MAX_CANDIDATES: u32 = 6;

/// At most this many failing tests are shown beside the failure.
const MAX_TESTS_SHOWN: usize = 2;

/// The temperature of the sampled candidates: different enough from the greedy one to
/// try another repair, not so hot that the code stops being code.
const SAMPLE_TEMPERATURE: f32 = 0.8;

/// Output tokens a candidate may take beyond the function's own size (in tokens, counted
/// as a quarter of its bytes).
const CANDIDATE_TOKEN_SLACK: u32 = 256;

impl Session {
    /// Appends the turn's first `message` and, for a fix task (`check`'s task) whose tests
    /// fail, tries the repairs. `true`: a repair made the tests pass, and it is in the history.
    pub(crate) fn open_turn(
        &mut self,
        mut message: Message,
        check: &mut WorkCheck,
        usage: &mut Usage,
        io: &mut dyn TurnIo,
    ) -> Result<bool, AgentError> {
        let task = check.task.clone();
        let failing = if asks_for_a_fix(&task) && self.edits_run_unasked() {
            self.run_tests(check, io)?.filter(|run| !run.passed)
        } else {
            None
        };
        let Some(run) = failing else {
            self.append_message(message)?;
            return Ok(false);
        };
        let found =
            localize(&self.ctx.root, &run.output, &task, MAX_SUSPECTS).unwrap_or_else(|error| {
                io.log(&format!("no suspects for the failure: {error}"));
                Localized::default()
            });
        message
            .content
            .push(ContentBlock::text(localized_failure(&run, &found)));
        self.append_message(message)?;
        if found.suspects.is_empty() {
            io.log("no function found that the failure points at: no repairs tried");
            return Ok(false);
        }
        self.repair(&found, check, usage, io)
    }

    /// Whether an edit would run without asking, as the repairs' edits must.
    fn edits_run_unasked(&self) -> bool {
        let probe = json!({ "path": "", "old": "", "new": "" });
        self.config.permissions.decide(EDIT_TOOL, true, &probe) == Decision::Allow
    }

    /// Asks for candidates, round the suspects, until the tests pass with one of them.
    fn repair(
        &mut self,
        found: &Localized,
        check: &mut WorkCheck,
        usage: &mut Usage,
        io: &mut dyn TurnIo,
    ) -> Result<bool, AgentError> {
        let suspects = &found.suspects;
        // Per suspect: the texts tried (its own first), and how many candidates failed.
        let mut tried: Vec<Vec<String>> = suspects
            .iter()
            .map(|s| vec![s.text.trim_end().to_string()])
            .collect();
        let mut failed = vec![0_u32; suspects.len()];
        for n in 0..MAX_CANDIDATES {
            if io.interrupted() {
                return Ok(false);
            }
            let index = n as usize % suspects.len();
            let (suspect, round) = (&suspects[index], n / suspects.len() as u32);
            io.log(&format!(
                "asking for a repair of `{}` in {} (lines {}–{})",
                suspect.name, suspect.path, suspect.start_line, suspect.end_line
            ));
            let request = repair_request(suspect, failed[index]);
            let reply = self.ask_for_candidate(&request, suspect, round, usage, io)?;
            let Some(candidate) = candidate_from(&reply, suspect) else {
                io.log("the candidate held no code for the function: skipped");
                continue;
            };
            let trimmed = candidate.trim_end().to_string();
            if tried[index].contains(&trimmed) {
                io.log("the candidate repeats one already tried: skipped");
                continue;
            }
            tried[index].push(trimmed);
            let id = format!("repair-{}-{n}", check.turn);
            let input = json!({ "path": suspect.path, "old": suspect.text, "new": candidate });
            let edit = self.run_call(&id, EDIT_TOOL, &input, io)?;
            if edit.is_error {
                continue;
            }
            match self.run_tests(check, io)? {
                Some(run) if run.passed => {
                    self.keep_repair(&id, input, &edit.text, &run)?;
                    return Ok(true);
                }
                Some(_) => {
                    failed[index] += 1;
                    self.undo(io)?;
                }
                None => {
                    // The tests could not run again: nothing tells a good candidate apart.
                    self.undo(io)?;
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    /// One side request for a new text of `suspect`: the history with `repair_request`
    /// added to its last message, calls forbidden; greedy in the first `round`, sampled
    /// after. Its usage counts like any request's.
    fn ask_for_candidate(
        &mut self,
        repair_request: &str,
        suspect: &Suspect,
        round: u32,
        usage: &mut Usage,
        io: &mut dyn TurnIo,
    ) -> Result<String, AgentError> {
        let mut history = self.history.clone();
        if let Some(last) = history.last_mut() {
            last.content.push(ContentBlock::text(repair_request));
        }
        let mut request = self.prefix.request(&history, &self.config.request);
        request.tool_choice = Some(ToolChoice::None);
        request.thinking = None;
        let size = u32::try_from(suspect.text.len() / 4).unwrap_or(u32::MAX);
        request.max_tokens = request
            .max_tokens
            .min(size.saturating_add(CANDIDATE_TOKEN_SLACK));
        if round == 0 {
            request.temperature = Some(0.0);
        } else {
            request.temperature = Some(SAMPLE_TEMPERATURE);
            let base = self.config.request.seed.unwrap_or(0);
            request.seed = Some(base.wrapping_add(u64::from(round)));
        }
        let mut on_event = |_: &api::Event| {
            if io.interrupted() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let response = self.backend.stream(&request, &mut on_event)?;
        self.count_usage(response.usage, usage, io)?;
        Ok(text_of(&Message {
            role: Role::Assistant,
            content: response.content,
        }))
    }

    /// Puts a repair that passed into the history, as the model's edit and its result.
    fn keep_repair(
        &mut self,
        id: &str,
        input: serde_json::Value,
        edit_output: &str,
        run: &TestRun,
    ) -> Result<(), AgentError> {
        self.append_message(Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse {
                id: id.to_string(),
                name: EDIT_TOOL.to_string(),
                input,
            }],
        })?;
        let text = format!(
            "{edit_output}\n\n[hearth ran the tests] `{}` passes with this change.",
            run.test.command
        );
        self.append_message(Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                tool_use_id: id.to_string(),
                content: vec![ToolResultContent::Text { text }],
                is_error: false,
            }],
        })
    }
}

/// The failure as the first message shows it, with the failing tests' code and the
/// function it points at most.
fn localized_failure(run: &TestRun, found: &Localized) -> String {
    let mut text = format!("Before any change, {}", run.report());
    text.push_str(&failing_tests(&found.failing_tests));
    if let Some(suspect) = found.suspects.first() {
        text.push_str(&format!(
            "\n\nThe function the failure points at is `{}` in {} (lines {}–{}):\n```{}\n{}```",
            suspect.name,
            suspect.path,
            suspect.start_line,
            suspect.end_line,
            suspect.language.name(),
            suspect.text
        ));
    }
    text
}

/// The failing tests' code, as a paragraph (empty when the output pointed at none).
fn failing_tests(tests: &[FailingTest]) -> String {
    tests
        .iter()
        .take(MAX_TESTS_SHOWN)
        .map(|test| {
            format!(
                "\n\nThe failing test, {} line {}:\n```\n{}```",
                test.path, test.start_line, test.text
            )
        })
        .collect()
}

/// What a side request asks for (the failure and the failing tests are in the message it
/// follows); `failed` earlier candidates for this suspect did not make the tests pass.
fn repair_request(suspect: &Suspect, failed: u32) -> String {
    let mut text = format!(
        "Rewrite `{}` in {} so that the tests pass. It is now:\n```{}\n{}```",
        suspect.name,
        suspect.path,
        suspect.language.name(),
        suspect.text,
    );
    if failed > 0 {
        text.push_str("\n\nA rewrite tried before did not make the tests pass: write another.");
    }
    text.push_str(&format!(
        "\n\nReply with the corrected `{}`, whole, in one ```{} code block, and nothing else: \
         the function's code, not JSON and not a tool call.",
        suspect.name,
        suspect.language.name()
    ));
    text
}

/// The new text of `suspect` in a reply: the definition of the function in its first
/// fenced code block (a wrapper around it, such as an `impl` block, is left out), indented
/// as the function is in the file and ending as it does. `None` when there is no block or
/// the block does not define the function in the file's language (a tool call written as
/// JSON, code in another language).
fn candidate_from(reply: &str, suspect: &Suspect) -> Option<String> {
    let code = first_code_block(reply)?;
    let short_name = suspect
        .name
        .rsplit([':', '.'])
        .next()
        .unwrap_or(&suspect.name);
    let definitions = outline_source(suspect.language, &code).ok()?;
    let function = definitions.iter().find(|d| {
        d.name == short_name && matches!(d.kind, SymbolKind::Function | SymbolKind::Method)
    })?;
    let lines: Vec<&str> = code.lines().collect();
    let span = lines.get(function.line.checked_sub(1)?..function.end_line.min(lines.len()))?;
    let mut text = reindent(&span.join("\n"), &leading_indent(&suspect.text));
    if suspect.text.ends_with('\n') && !text.ends_with('\n') {
        text.push('\n');
    }
    Some(text)
}

/// The body of the first ```-fenced block of `reply`, without its fence lines.
fn first_code_block(reply: &str) -> Option<String> {
    let mut lines = reply
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("```"));
    lines.next()?;
    let body: Vec<&str> = lines
        .take_while(|l| !l.trim_start().starts_with("```"))
        .collect();
    if body.iter().all(|l| l.trim().is_empty()) {
        return None;
    }
    Some(body.join("\n") + "\n")
}

/// The indentation of the first non-blank line of `text`.
fn leading_indent(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l[..l.len() - l.trim_start().len()].to_string())
        .unwrap_or_default()
}

/// `code` with its common indentation replaced by `indent` (a model often writes a method
/// flush left).
fn reindent(code: &str, indent: &str) -> String {
    let own = leading_indent(code);
    if own == indent {
        return code.to_string();
    }
    code.lines()
        .map(|line| {
            if line.trim().is_empty() {
                String::new()
            } else {
                let rest = line.strip_prefix(own.as_str()).unwrap_or(line);
                format!("{indent}{rest}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if code.ends_with('\n') { "\n" } else { "" }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hearth_tools::Language;

    fn suspect(text: &str) -> Suspect {
        Suspect {
            path: "inventory/stock.py".into(),
            language: Language::Python,
            name: "Stock.is_low".into(),
            start_line: 4,
            end_line: 5,
            text: text.into(),
            score: 8,
        }
    }

    #[test]
    fn a_method_written_flush_left_is_indented_as_in_the_file() {
        let s = suspect("    def is_low(self):\n        return self.q < 5\n");
        let reply = "Here:\n```python\ndef is_low(self):\n    return self.q <= 5\n```\nDone.";
        assert_eq!(
            candidate_from(reply, &s).unwrap(),
            "    def is_low(self):\n        return self.q <= 5\n"
        );
    }

    #[test]
    fn a_reply_without_the_function_is_no_candidate() {
        let s = suspect("    def is_low(self):\n        return self.q < 5\n");
        assert_eq!(candidate_from("It is fine as it is.", &s), None);
        assert_eq!(candidate_from("```python\nx = 1\n```", &s), None);
        // A tool call written as JSON names the function but defines nothing.
        let json = "```json\n{\"name\": \"rewrite\", \"code\": \"def is_low(self): pass\"}\n```";
        assert_eq!(candidate_from(json, &s), None);
        assert_eq!(candidate_from("```\n\n```", &s), None);
    }

    #[test]
    fn a_wrapper_around_the_function_is_left_out() {
        let s = Suspect {
            path: "src/shapes.rs".into(),
            language: Language::Rust,
            name: "Rect::area".into(),
            start_line: 3,
            end_line: 5,
            text: "    pub fn area(&self) -> f64 {\n        self.w + self.h\n    }\n".into(),
            score: 8,
        };
        let reply = "```rust\nimpl Rect {\n    pub fn area(&self) -> f64 {\n        self.w * self.h\n    }\n}\n```";
        assert_eq!(
            candidate_from(reply, &s).unwrap(),
            "    pub fn area(&self) -> f64 {\n        self.w * self.h\n    }\n"
        );
    }

    #[test]
    fn an_unclosed_block_still_gives_its_code() {
        let s = suspect("def is_low(item):\n    return item.q < 5\n");
        assert_eq!(
            candidate_from("```python\ndef is_low(item):\n    return item.q <= 5", &s).unwrap(),
            "def is_low(item):\n    return item.q <= 5\n"
        );
    }
}
