//! `shell`: run a command in the repository, bounded in time and output.

pub(crate) mod env;
mod process;
mod sandbox;

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::args::lenient_usize;
use crate::output::{cut_line, group_thousands};
use crate::{OutputLimits, ToolContext, ToolError, ToolOutput, TypedTool};
use process::{run_command, script_command, Ending, HeadTail};
pub use sandbox::{
    landlock_abi, SandboxLevel, SandboxPolicy, SandboxUnavailable, CREDENTIAL_PATHS,
};

/// How the `shell` tool runs commands: the environment they get, the sandbox they run in,
/// and how long they may run.
#[derive(Clone)]
pub struct ShellPolicy {
    env: Vec<(String, String)>,
    /// The OS confinement of every command.
    pub sandbox: SandboxPolicy,
    /// The timeout when the model gives none.
    pub default_timeout: Duration,
    /// The longest timeout the model may ask for; longer requests are capped to it.
    pub max_timeout: Duration,
}

impl ShellPolicy {
    /// A policy whose commands get the allowed variables of `environment` and those named
    /// in `extra` (see [`crate::command_environment`]); the agent passes its own process
    /// environment and the user's configured names. Commands are sandboxed at
    /// [`SandboxLevel::WorkspaceWrite`] without network, and the credential files under the
    /// environment's `HOME` are hidden from them.
    pub fn new(environment: impl IntoIterator<Item = (String, String)>, extra: &[String]) -> Self {
        let environment: Vec<(String, String)> = environment.into_iter().collect();
        let mut sandbox = SandboxPolicy::default();
        if let Some((_, home)) = environment.iter().find(|(name, _)| name == "HOME") {
            sandbox = sandbox.hiding_credentials_of(std::path::Path::new(home));
        }
        ShellPolicy {
            env: env::command_environment(environment, extra),
            sandbox,
            default_timeout: Duration::from_secs(120),
            max_timeout: Duration::from_secs(600),
        }
    }

    /// This policy with commands confined at `level`, with or without network.
    pub fn with_sandbox(mut self, level: SandboxLevel, network: bool) -> Self {
        self.sandbox.level = level;
        self.sandbox.network = network;
        self
    }

    /// The variables commands run with (before each gets its own `TMPDIR`).
    pub fn environment(&self) -> &[(String, String)] {
        &self.env
    }
}

impl Default for ShellPolicy {
    /// Commands run with an empty environment (the shell's built-in `PATH` applies), in the
    /// default sandbox.
    fn default() -> Self {
        ShellPolicy::new(Vec::new(), &[])
    }
}

impl fmt::Debug for ShellPolicy {
    // Values stay out of logs: scrubbing is a heuristic, and a missed secret must not leak.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShellPolicy")
            .field(
                "env_names",
                &self
                    .env
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("sandbox", &self.sandbox)
            .field("default_timeout", &self.default_timeout)
            .field("max_timeout", &self.max_timeout)
            .finish()
    }
}

/// Runs a shell command in the repository root.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShellTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// The shell command line, e.g. "cargo test -q"
    command: String,
    /// Kill the command after this many seconds (default 120)
    #[serde(default, deserialize_with = "lenient_usize")]
    #[schemars(range(min = 1))]
    timeout_secs: Option<usize>,
}

const NAME: &str = "shell";

/// How the last line of a command's output that exited begins (the code and `]` follow).
const EXIT_CODE_PREFIX: &str = "[exit code: ";

/// The exit code in the text of a `shell` call's output; `None` when the command did not
/// exit by itself (killed by a signal or the timeout) or the text is not such an output.
pub fn shell_exit_code(output: &str) -> Option<i32> {
    output
        .trim_end()
        .lines()
        .last()?
        .strip_prefix(EXIT_CODE_PREFIX)?
        .strip_suffix(']')?
        .parse()
        .ok()
}

impl TypedTool for ShellTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "Run a command with `sh -c` in the repository root (no stdin) and get its combined \
         stdout and stderr and exit code. Use it to build, run tests or run project scripts.";
    const MUTATES: bool = true;

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        if args.command.trim().is_empty() {
            return Err(ToolError::bad_arguments(NAME, "`command` is empty"));
        }
        let timeout = match args.timeout_secs {
            Some(0) => {
                return Err(ToolError::bad_arguments(
                    NAME,
                    "timeout_secs must be at least 1",
                ))
            }
            Some(secs) => Duration::from_secs(secs as u64).min(ctx.shell.max_timeout),
            None => ctx.shell.default_timeout,
        };
        // A private temporary directory per command: the only place outside the repository
        // a confined command may write, gone when the call is over.
        let tmp = tempfile::Builder::new()
            .prefix("hearth-command-")
            .tempdir()
            .map_err(|e| ToolError::io(std::env::temp_dir(), e))?;
        let mut env = ctx.shell.env.clone();
        env.retain(|(name, _)| !env::TEMP_DIR_VARIABLES.contains(&name.as_str()));
        for name in env::TEMP_DIR_VARIABLES {
            env.push((name.to_string(), tmp.path().display().to_string()));
        }
        let mut command = script_command(&args.command, &ctx.root, &env);
        ctx.shell
            .sandbox
            .confine(&mut command, &ctx.root, tmp.path())?;
        let finished = run_command(command, timeout, ctx.limits.max_bytes)
            .map_err(|e| ToolError::io(&ctx.root, e))?;
        let (mut text, truncated) = render_output(&finished.output, ctx.limits);
        if finished.output_abandoned {
            text.push_str("[output capture stopped: a background process kept the output open]\n");
        }
        text.push_str(&match finished.ending {
            Ending::Exited(code) => format!("{EXIT_CODE_PREFIX}{code}]\n"),
            Ending::Signaled(signal) => format!("[terminated by signal {signal}]\n"),
            Ending::TimedOut => format!(
                "[timed out after {} s: the command and its child processes were killed]\n",
                timeout.as_secs()
            ),
        });
        Ok(ToolOutput::text(text, truncated))
    }
}

/// The captured output within the limits: all of it when it fits, otherwise its first and
/// last lines around a note of how many lines were cut (a build's errors are at the end).
fn render_output(captured: &HeadTail, limits: OutputLimits) -> (String, bool) {
    if captured.total_bytes == 0 {
        return ("(no output)\n".to_string(), false);
    }
    let owned_lines = |text: &str| -> Vec<String> { text.lines().map(str::to_string).collect() };
    let tail_bytes: Vec<u8> = captured.tail.iter().copied().collect();
    let (head_lines, tail_lines) = if captured.overflowed() {
        // The cut points fall mid-line: drop the partial lines at the seam.
        let head = String::from_utf8_lossy(&captured.head);
        let mut head_lines = owned_lines(&head);
        if !head.ends_with('\n') {
            head_lines.pop();
        }
        let tail_lines = owned_lines(&String::from_utf8_lossy(&tail_bytes))
            .into_iter()
            .skip(1)
            .collect();
        (head_lines, tail_lines)
    } else {
        let mut whole = captured.head.clone();
        whole.extend_from_slice(&tail_bytes);
        let all = owned_lines(&String::from_utf8_lossy(&whole));
        let fits = all.len() <= limits.max_lines && whole.len() + all.len() <= limits.max_bytes;
        if fits {
            let text = all
                .iter()
                .map(|line| format!("{}\n", cut_line(line, limits.max_line_chars)))
                .collect();
            return (text, false);
        }
        (all.clone(), all)
    };

    let first = pick_lines(head_lines.iter(), limits);
    let mut last = pick_lines(tail_lines.iter().rev(), limits);
    if !captured.overflowed() {
        // Head and tail are the same lines here; never show one twice.
        last.truncate(tail_lines.len().saturating_sub(first.len()));
    }
    last.reverse();
    let cut = captured
        .total_lines()
        .saturating_sub(first.len() + last.len());
    let mut text = String::new();
    for line in &first {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!("[… {} more lines cut]\n", group_thousands(cut)));
    for line in &last {
        text.push_str(line);
        text.push('\n');
    }
    (text, true)
}

/// Lines from `lines` (each cut to the line limit) while they fit in half the output limits.
fn pick_lines<'a>(lines: impl Iterator<Item = &'a String>, limits: OutputLimits) -> Vec<String> {
    let half_lines = (limits.max_lines / 2).max(1);
    let half_bytes = limits.max_bytes / 2;
    let mut picked = Vec::new();
    let mut bytes = 0usize;
    for line in lines {
        let line = cut_line(line, limits.max_line_chars).into_owned();
        if picked.len() >= half_lines || bytes + line.len() + 1 > half_bytes {
            break;
        }
        bytes += line.len() + 1;
        picked.push(line);
    }
    picked
}
