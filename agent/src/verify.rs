//! Work that is checked: when a turn that changed the repository is about to end, the
//! session runs the project's tests (where the permissions let that command run without
//! asking) and, while they fail, hands the model the failure and lets it go on.
//!
//! The run is an ordinary `shell` call made by the session: it goes through the same
//! permission check, sandbox, timeout and output bounds as the model's own calls, and front
//! ends see it as the usual [`Event::ToolCallProposed`] and [`Event::ToolOutput`] pair.
//!
//! [`Event::ToolCallProposed`]: crate::protocol::Event::ToolCallProposed
//! [`Event::ToolOutput`]: crate::protocol::Event::ToolOutput

use hearth_tools::{detect_test_command, shell_exit_code, TestCommand, ToolRegistry};
use serde_json::json;

use crate::error::AgentError;
use crate::permissions::{Decision, SHELL_TOOL};
use crate::session::{Session, TurnIo};

/// How the message handing a failure to the model begins: a harness note
/// ([`HARNESS_TAG`](crate::history::HARNESS_TAG)), which the tag tells apart from a user
/// who writes "The tests fail …" themselves.
const TESTS_FAIL: &str = "[hearth ran the tests] The tests fail";

/// The most characters of a failing run's output the model is shown: the end of it, where
/// the assertion, the traceback and the summary are.
const MAX_FAILURE_CHARS: usize = 4_000;

/// What one turn knows about checking its work.
pub(crate) struct WorkCheck {
    /// The turn's text, which may name the test command.
    pub(crate) task: String,
    /// The turn's number (for the calls' ids).
    pub(crate) turn: u32,
    /// Whether a call that may have changed the repository ran since the tests last ran.
    changed: bool,
    /// The test command, once looked for (`Some(None)`: there is none).
    command: Option<Option<TestCommand>>,
    /// How many times the tests ran in this turn (for the calls' ids).
    runs: u32,
    /// Whether any call that may change the repository ran in this turn.
    pub(crate) mutated: bool,
}

impl WorkCheck {
    /// The check of turn number `turn`, started with `task`.
    pub(crate) fn new(task: &str, turn: u32) -> WorkCheck {
        WorkCheck {
            task: task.to_string(),
            turn,
            changed: false,
            command: None,
            runs: 0,
            mutated: false,
        }
    }

    /// Notes the calls of one model reply: an edit or a command may change what the tests
    /// see. A call that fails or is refused counts too; a needless run costs less than a
    /// missed one.
    pub(crate) fn note_calls<'a>(
        &mut self,
        tools: &ToolRegistry,
        names: impl IntoIterator<Item = &'a str>,
    ) {
        if names
            .into_iter()
            .any(|name| tools.get(name).is_some_and(|tool| tool.mutates()))
        {
            self.changed = true;
            self.mutated = true;
        }
    }
}

/// One run of the project's tests.
pub(crate) struct TestRun {
    /// The command that ran.
    pub(crate) test: TestCommand,
    /// What it printed, as the shell tool reports it.
    pub(crate) output: String,
    /// Whether it exited with 0.
    pub(crate) passed: bool,
}

impl TestRun {
    /// The message that hands this run, failing, to the model.
    pub(crate) fn report(&self) -> String {
        failure_report(&self.test, &self.output)
    }
}

impl Session {
    /// Runs the tests when the turn changed something since they last ran and the
    /// permissions allow the test command without asking. `Some` holds the message for the
    /// model when they fail; `None`: they pass, or nothing was run (a log line says why).
    pub(crate) fn check_work(
        &mut self,
        check: &mut WorkCheck,
        io: &mut dyn TurnIo,
    ) -> Result<Option<String>, AgentError> {
        if !std::mem::take(&mut check.changed) {
            return Ok(None);
        }
        let run = self.run_tests(check, io)?;
        Ok(run.filter(|run| !run.passed).map(|run| run.report()))
    }

    /// Runs the project's tests now, when a test command is found and the permissions let
    /// it run without asking; `None` when they did not run (a log line says why).
    pub(crate) fn run_tests(
        &mut self,
        check: &mut WorkCheck,
        io: &mut dyn TurnIo,
    ) -> Result<Option<TestRun>, AgentError> {
        check.changed = false;
        let root = &self.ctx.root;
        let found = check
            .command
            .get_or_insert_with(|| detect_test_command(root, &check.task));
        let Some(test) = found.clone() else {
            io.log("tests not run: no test command found in the task, AGENTS.md, HEARTH.md or the project's files");
            return Ok(None);
        };
        let input = json!({ "command": test.command });
        let decision = self.config.permissions.decide(SHELL_TOOL, true, &input);
        let refused = match decision {
            Decision::Allow => None,
            Decision::Ask => Some(format!(
                "it needs approval in {} mode (an allow rule for it lets it run)",
                self.config.permissions.mode
            )),
            Decision::Deny(reason) => Some(format!("it is refused: {reason}")),
        };
        if let Some(why) = refused {
            io.log(&format!(
                "tests not run: `{}` (from {}): {why}",
                test.command, test.source
            ));
            return Ok(None);
        }
        check.runs += 1;
        let id = format!("check-{}-{}", check.turn, check.runs);
        io.log(&format!(
            "running the tests: `{}` (from {})",
            test.command, test.source
        ));
        let result = self.run_call(&id, SHELL_TOOL, &input, io)?;
        if result.is_error {
            // The call did not run (the tool refused its arguments): nothing was learned
            // about the code, so the model is not told its work fails.
            io.log(&format!("tests not run: {}", result.text));
            return Ok(None);
        }
        Ok(Some(TestRun {
            passed: shell_exit_code(&result.text) == Some(0),
            test,
            output: result.text,
        }))
    }
}

/// The message that hands a failing run to the model.
fn failure_report(test: &TestCommand, output: &str) -> String {
    format!(
        "{TESTS_FAIL} (`{}`, the test command from {}):\n```\n{}\n```\n\
         Find the cause in the code, fix it, and finish once the tests pass.",
        test.command,
        test.source,
        tail(output.trim_end(), MAX_FAILURE_CHARS)
    )
}

/// The last `max` characters of `text`, from a line start, with a note of what was cut.
fn tail(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    // A partial first line helps no one: start at the next whole line when there is one.
    if let Some(newline) = text[start..].find('\n') {
        start += newline + 1;
    }
    let cut_lines = text[..start].lines().count();
    format!("[… {cut_lines} earlier lines cut]\n{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::is_harness_note;
    use hearth_engine::api::Message;

    #[test]
    fn a_user_who_writes_that_the_tests_fail_still_starts_a_turn() {
        let own = Message::user("The tests fail on main, fix them");
        assert!(!is_harness_note(&own));
        assert!(crate::history::starts_user_turn(&own));
        let test = TestCommand {
            command: "make test".into(),
            source: hearth_tools::TestCommandSource::Task,
        };
        let report = Message::user(failure_report(&test, "FAIL"));
        assert!(is_harness_note(&report));
        assert!(!crate::history::starts_user_turn(&report));
    }

    #[test]
    fn long_output_keeps_its_end_from_a_line_start() {
        let text = (1..=100)
            .map(|n| format!("line {n}"))
            .collect::<Vec<_>>()
            .join("\n");
        let kept = tail(&text, 40);
        assert!(kept.starts_with("[… "), "{kept}");
        assert!(kept.ends_with("line 99\nline 100"), "{kept}");
        let body = kept.split_once('\n').map_or("", |(_, body)| body);
        assert!(body.starts_with("line "), "{kept}");
        assert!(body.len() <= 40);
        assert_eq!(tail("short", 40), "short");
        // A cut inside a multi-byte character moves to its end.
        assert!(tail(&"é".repeat(50), 11).ends_with('é'));
    }
}
