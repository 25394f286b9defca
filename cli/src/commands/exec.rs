//! `hearth exec`: run the agent on one task to completion, without a UI.
//!
//! stdout carries only the result: the final answer, or with `--json` the JSON-lines
//! events of docs/exec-json.md. Progress goes to stderr. Exit codes: 0 done, 1 failed,
//! 2 usage error, 3 the turn limit was reached.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use hearth_agent::protocol::{Event, ToolCall, TurnStop, UsageReport, PROTOCOL_VERSION};
use hearth_agent::{
    Approval, Backend, CommandRule, LocalBackend, Mode, Permissions, Replay, RequestSettings,
    ScriptedBackend, Session, SessionConfig, StoreError, TurnIo,
};
use hearth_engine::api::{ThinkingConfig, Usage};
use serde_json::{json, Value};

use crate::args::ExecArgs;
use crate::commands::{load_model, local_engine};
use crate::config::Environment;
use crate::error::CliError;

/// The exit code when the task reached `--max-turns`.
const EXIT_TURN_LIMIT: u8 = 3;

/// Room for the tokens that close a thinking segment (`</think>` and a paragraph break in
/// the prompted mode): they are neither thinking nor answer.
const THINKING_DELIMITER_TOKENS: u32 = 8;

/// The largest context window exec asks the engine for by default: the KV cache of a
/// 32k window costs memory a CPU-only CI runner may not have.
const DEFAULT_MAX_CONTEXT: usize = 16_384;

/// Runs `hearth exec`.
pub fn run(env: &Environment, a: ExecArgs) -> Result<(), CliError> {
    let task = read_task(&a.task)?;
    let mode: Mode = a.mode.parse().map_err(CliError::usage)?;
    let mut permissions = Permissions::new(mode);
    for rule in &a.allow {
        permissions
            .allow
            .push(CommandRule::new(rule).map_err(CliError::usage)?);
    }
    for rule in &a.deny {
        permissions
            .deny
            .push(CommandRule::new(rule).map_err(CliError::usage)?);
    }
    let root = match &a.cd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(CliError::failure)?,
    };
    let root = root
        .canonicalize()
        .with_context(|| format!("--cd {}: not a directory that exists", root.display()))
        .map_err(CliError::usage)?;
    if !(0.0..=2.0).contains(&a.temperature) {
        return Err(CliError::usage(anyhow!(
            "--temperature {}: expected a value from 0 to 2",
            a.temperature
        )));
    }

    let think = parse_think(&a.think)?;
    let backend = backend(env, &a)?;
    let mut config = SessionConfig::new(&root);
    config.sessions_dir = (!a.ephemeral).then(|| env.sessions_dir.clone());
    config.permissions = permissions;
    config.request = RequestSettings {
        model: None,
        // The request's limit covers thinking too; --max-tokens bounds the answer after it.
        max_tokens: a
            .max_tokens
            .saturating_add(think.map_or(0, |n| n.saturating_add(THINKING_DELIMITER_TOKENS))),
        temperature: Some(a.temperature),
        seed: a.seed,
        thinking: think.map(|budget_tokens| ThinkingConfig::Enabled {
            budget_tokens,
            min_tokens: a.think_min.filter(|&n| n > 0),
        }),
    };
    config.max_requests_per_turn = a.max_turns.max(1);
    config.shell_env = Environment::shell_environment();

    let resume_from = if let Some(id) = &a.resume {
        Some(Replay::find(&env.sessions_dir, id).map_err(CliError::usage)?)
    } else if a.last {
        Some(
            Replay::find_last(&env.sessions_dir, &root).map_err(|e| match e {
                StoreError::NotFound { .. } => CliError::usage(e),
                other => CliError::failure(other),
            })?,
        )
    } else {
        None
    };
    let model_id = backend.model_id();
    let mut session = match resume_from {
        Some(path) => Session::resume(config, backend, &path),
        None => Session::start(config, backend),
    }
    .map_err(CliError::failure)?;

    let mut io = ExecIo {
        json: a.json,
        mode,
        color: std::io::stderr().is_terminal(),
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
                println!("{}", finished.answer.trim_end());
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

/// `--think`: a budget in tokens, or `off` (also 0).
fn parse_think(value: &str) -> Result<Option<u32>, CliError> {
    match value.trim() {
        "off" | "0" => Ok(None),
        n => n.parse::<u32>().map(Some).map_err(|_| {
            CliError::usage(anyhow!(
                "--think {value}: expected a number of tokens (e.g. 256) or `off`"
            ))
        }),
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
    if let Some(script) = &a.backend_script {
        let scripted = ScriptedBackend::from_file(script).map_err(CliError::usage)?;
        return Ok(Box::new(scripted));
    }
    let model = load_model(env, &a.model.model)?;
    let context = a
        .ctx
        .unwrap_or_else(|| model.config().context_length.min(DEFAULT_MAX_CONTEXT));
    let (engine, warning) = local_engine(&env.cache_dir, model, &a.model.model, context, &a.cache);
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

    fn progress(&self, text: &str) {
        if self.json {
            return;
        }
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
                if self.color {
                    eprint!("\x1b[2m{}\x1b[0m", delta.text);
                } else {
                    eprint!("{}", delta.text);
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
            Event::Error(e) => eprintln!("hearth exec: {}", e.message),
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
}
