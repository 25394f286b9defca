//! `hearth exec`: run the agent on one task to completion, without a UI.
//!
//! stdout carries only the result: the final answer, or with `--json` the JSON-lines
//! events of docs/exec-json.md. Progress goes to stderr. Exit codes: 0 done, 1 failed,
//! 2 usage error, 3 the turn limit was reached.

use std::borrow::Cow;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use hearth_agent::protocol::{Event, ToolCall, TurnStop, UsageReport, PROTOCOL_VERSION};
use hearth_agent::{
    context_window, Approval, Backend, LocalBackend, Mode, ScriptedBackend, SessionBuilder,
    SetupError, TurnIo,
};
use hearth_engine::api::Usage;
use serde_json::{json, Value};

use crate::args::ExecArgs;
use crate::commands::{endpoint, load_model, local_engine};
use crate::config::Environment;
use crate::error::CliError;
use terminal_text::strip_controls;

mod terminal_text;

/// The exit code when the task reached `--max-turns`.
const EXIT_TURN_LIMIT: u8 = 3;

/// Runs `hearth exec`.
pub fn run(env: &Environment, a: ExecArgs) -> Result<(), CliError> {
    let task = read_task(&a.task)?;
    let plan = session_builder(env, &a)?.build().map_err(setup_error)?;
    let root = plan.root().to_path_buf();
    let backend = backend(env, &a)?;
    let model_id = backend.model_id();
    let mut session = plan.open(backend).map_err(CliError::failure)?;
    let mode = a.mode;

    let stderr_is_terminal = std::io::stderr().is_terminal();
    let mut io = ExecIo {
        json: a.json,
        mode,
        color: stderr_is_terminal,
        strip: stderr_is_terminal && !a.raw,
        usage: Usage::default(),
        thinking_shown: false,
    };
    io.line(json!({
        "type": "session.started",
        "schema_version": PROTOCOL_VERSION,
        "session_id": session.id(),
        "model": model_id,
        "mode": mode.name(),
        "root": root,
    }));
    if !a.json {
        eprintln!(
            "hearth exec: session {} in {} ({mode})",
            session.id(),
            root.display()
        );
    }

    let finished = match session.run_turn(&task, &mut io) {
        Ok(finished) => finished,
        Err(error) => {
            io.line(json!({"type": "session.failed", "error": error.to_string()}));
            return Err(CliError::failure(error));
        }
    };
    if let Some(path) = &a.output_last_message {
        std::fs::write(path, &finished.answer)
            .with_context(|| format!("--output-last-message {}", path.display()))
            .map_err(CliError::failure)?;
    }
    let summary = json!({
        "answer": finished.answer,
        "turns": finished.requests,
        "stop": finished.stop,
        "session_id": session.id(),
        "usage": usage_json(&io.usage),
    });
    match finished.stop {
        TurnStop::Done | TurnStop::MaxTokens => {
            io.line(with_type("session.completed", summary));
            if !a.json {
                let answer = finished.answer.trim_end();
                // A pipe or file gets the answer unchanged: it is data there, not display.
                if std::io::stdout().is_terminal() && !a.raw {
                    println!("{}", strip_controls(answer));
                } else {
                    println!("{answer}");
                }
            }
            Ok(())
        }
        TurnStop::MaxTurns => {
            let error = format!(
                "the task reached --max-turns {} before the model answered",
                a.max_turns
            );
            io.line(with_type("session.failed", with_error(summary, &error)));
            Err(CliError::with_code(EXIT_TURN_LIMIT, anyhow!(error)))
        }
        TurnStop::Interrupted | TurnStop::Failed => {
            let error = "the turn ended without an answer".to_string();
            io.line(with_type("session.failed", with_error(summary, &error)));
            Err(CliError::failure(anyhow!(error)))
        }
    }
}

/// exec's flags as a session setup.
pub(crate) fn session_builder(env: &Environment, a: &ExecArgs) -> Result<SessionBuilder, CliError> {
    let mut builder = a.session.builder(env, a.mode, a.max_tokens)?;
    builder.budget = builder.budget.with_thinking_min(a.think_min);
    builder.temperature = Some(a.temperature);
    builder.seed = a.seed;
    builder.max_requests_per_turn = a.max_turns;
    Ok(builder)
}

/// A setup error as the user sees it: their input's fault (exit 2) or the machine's.
pub(crate) fn setup_error(error: SetupError) -> CliError {
    if error.is_usage() {
        CliError::usage(error)
    } else {
        CliError::failure(error)
    }
}

fn read_task(task: &str) -> Result<String, CliError> {
    let text = if task == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the task from stdin")
            .map_err(CliError::usage)?;
        text
    } else {
        task.to_string()
    };
    if text.trim().is_empty() {
        return Err(CliError::usage(anyhow!(
            "the task is empty; give it as an argument or on stdin with `-`"
        )));
    }
    Ok(text.trim().to_string())
}

fn backend(env: &Environment, a: &ExecArgs) -> Result<Box<dyn Backend>, CliError> {
    if let Some(script) = &a.session.backend_script {
        let scripted = ScriptedBackend::from_file(script).map_err(CliError::usage)?;
        return Ok(Box::new(scripted));
    }
    if let Some(options) = endpoint::options(&a.session, &a.model.model)? {
        return Ok(Box::new(endpoint::connect(options)?));
    }
    let model = load_model(env, &a.model.model)?;
    let context = context_window(a.session.ctx, model.config().context_length);
    let (engine, warning) = local_engine(
        &env.cache_dir,
        model,
        &a.model.model,
        context,
        &a.session.engine,
    );
    if let Some(warning) = warning {
        eprintln!("hearth: warning: {warning}");
    }
    Ok(Box::new(LocalBackend::new(Arc::new(engine))))
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "output_tokens": usage.output_tokens,
        "thinking_tokens": usage.thinking_tokens,
    })
}

/// `body` with a `type` field first, as every line has.
fn with_type(kind: &str, body: Value) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("type".into(), json!(kind));
    if let Value::Object(fields) = body {
        map.extend(fields);
    }
    Value::Object(map)
}

fn with_error(mut body: Value, error: &str) -> Value {
    if let Value::Object(map) = &mut body {
        map.insert("error".into(), json!(error));
    }
    body
}

/// Where the session's events go in exec: JSON lines on stdout, or progress on stderr.
struct ExecIo {
    json: bool,
    mode: Mode,
    color: bool,
    /// Remove control sequences from text printed to stderr (a terminal, without `--raw`).
    strip: bool,
    /// The current turn's usage, from the latest usage event.
    usage: Usage,
    /// Thinking was printed and its line not ended yet.
    thinking_shown: bool,
}

impl ExecIo {
    /// Writes one JSON line to stdout (with `--json` only).
    fn line(&self, value: Value) {
        if self.json {
            let mut out = std::io::stdout().lock();
            // A closed stdout (a pipe whose reader left) cannot be reported anywhere useful.
            let _ = writeln!(out, "{value}").and_then(|()| out.flush());
        }
    }

    /// `text` as it may reach stderr: without control sequences on a terminal.
    fn shown<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.strip {
            strip_controls(text)
        } else {
            Cow::Borrowed(text)
        }
    }

    fn progress(&self, text: &str) {
        if self.json {
            return;
        }
        let text = self.shown(text);
        if self.color {
            eprintln!("\x1b[2m{text}\x1b[0m");
        } else {
            eprintln!("{text}");
        }
    }
}

/// A one-line rendering of a tool call's arguments, cut for the terminal.
fn brief(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

impl TurnIo for ExecIo {
    fn emit(&mut self, event: Event) {
        if let Event::Usage(UsageReport { turn, .. }) = &event {
            self.usage = *turn;
        }
        if self.json {
            match serde_json::to_value(&event) {
                Ok(value) => self.line(value),
                Err(e) => eprintln!("hearth exec: cannot encode an event: {e}"),
            }
            return;
        }
        if self.thinking_shown && !matches!(event, Event::ThinkingDelta(_)) {
            self.thinking_shown = false;
            eprintln!();
        }
        match &event {
            Event::ThinkingDelta(delta) => {
                self.thinking_shown = true;
                let text = self.shown(&delta.text);
                if self.color {
                    eprint!("\x1b[2m{text}\x1b[0m");
                } else {
                    eprint!("{text}");
                }
            }
            Event::ToolCallProposed(call) => {
                self.progress(&format!("→ {} {}", call.tool, brief(&call.input)))
            }
            Event::ToolOutput(output) if output.is_error => self.progress(&format!(
                "  ✗ {}",
                output.output.lines().next().unwrap_or("")
            )),
            Event::Compacted(c) => self.progress(&format!(
                "· context compacted: {} messages summarized ({} → {} tokens)",
                c.replaced_messages, c.tokens_before, c.tokens_after
            )),
            Event::Usage(report) if report.turn.thinking_tokens > 0 => self.progress(&format!(
                "· thought for {} tokens ({} output tokens in all)",
                report.turn.thinking_tokens, report.turn.output_tokens
            )),
            Event::Error(e) => eprintln!("hearth exec: {}", self.shown(&e.message)),
            _ => {}
        }
    }

    fn approve(&mut self, call: &ToolCall) -> Approval {
        Approval::Denied(format!(
            "hearth exec never asks for approval, and mode `{}` does not allow `{}` without it; \
             finish the task without it, or say what should be run",
            self.mode, call.tool
        ))
    }

    fn interrupted(&self) -> bool {
        false
    }

    // On stderr in both output modes: stdout carries only the answer or the JSON events.
    fn log(&mut self, line: &str) {
        if self.json {
            eprintln!("hearth exec: {}", self.shown(line));
        } else {
            self.progress(&format!("· {line}"));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser as _;

    use crate::args::{Cli, Command};

    #[test]
    fn raw_is_off_unless_asked_for() {
        let exec = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Some(Command::Exec(exec)) => exec,
            _ => panic!("{args:?} not parsed as exec"),
        };
        assert!(!exec(&["hearth", "exec", "task"]).raw);
        assert!(exec(&["hearth", "exec", "--raw", "task"]).raw);
    }
}
