//! The command line, as clap types.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use hearth_agent::{Api, BadThinking, Mode, Resume, SandboxLevel, SessionBuilder};

use crate::config::Environment;
use crate::error::CliError;
use crate::policy::Policy;

mod bench;
pub use bench::{BenchArgs, BenchCacheArgs, BenchCommand, BenchSpecArgs, ColdTurns};

/// hearth: a terminal-first coding assistant with its own inference engine.
///
/// With no subcommand, hearth opens the interactive TUI in the current repository.
#[derive(Debug, Parser)]
#[command(
    name = "hearth",
    version,
    about,
    propagate_version = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Worker threads for the engine (default: one per core).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub tui: TuiArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `hearth` with no subcommand: the interactive TUI.
#[derive(Debug, Args)]
pub struct TuiArgs {
    #[command(flatten)]
    pub model: ModelChoice,
    /// What tools may do without asking.
    #[arg(long, default_value = "ask", value_name = "MODE", value_parser = mode_parser())]
    pub mode: Mode,
    /// The most tokens of a model reply's answer, after any thinking.
    #[arg(long, default_value_t = 2048, value_name = "N")]
    pub max_tokens: u32,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// The session and backend flags every agent front end takes (the TUI, `hearth exec`).
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// Allow shell commands matching this prefix or glob without approval (repeatable).
    #[arg(long, value_name = "RULE")]
    pub allow: Vec<String>,
    /// Never run shell commands matching this prefix or glob, in any mode (repeatable).
    #[arg(long, value_name = "RULE")]
    pub deny: Vec<String>,
    /// The OS sandbox of shell commands: read-only (write nothing but a private temporary
    /// directory), workspace-write (also the repository, except .git) or off (your full
    /// rights). Default: read-only in the read-only mode, workspace-write otherwise.
    #[arg(long, value_name = "LEVEL", value_parser = sandbox_parser())]
    pub sandbox: Option<SandboxLevel>,
    /// Let shell commands use the network (off by default).
    #[arg(long)]
    pub network: bool,
    /// Let the model think for up to N tokens before it answers, on top of --max-tokens
    /// (`off` or 0: no thinking). exec shows thinking on stderr, dimmed (with --json:
    /// `thinking.delta` events).
    #[arg(long, default_value = "off", value_name = "N|off", value_parser = parse_think)]
    pub think: u32,
    /// Context window in tokens (default: the model's, at most 16384). With --endpoint the
    /// server does not say its window, so prompts are budgeted for 16384 unless this says
    /// otherwise.
    #[arg(long, value_name = "N")]
    pub ctx: Option<usize>,
    /// Talk to a model server at this URL instead of running the model here: `hearth
    /// serve`, vLLM, llama.cpp, any server of the --api protocol (e.g.
    /// http://127.0.0.1:8080, or http://host:8000/v1). --model names the server's model
    /// (default: the first it lists).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The protocol the --endpoint speaks: messages (Anthropic Messages, as `hearth serve`),
    /// openai (Chat Completions) or responses (OpenAI Responses).
    #[arg(long, default_value = "messages", value_name = "API", requires = "endpoint",
          value_parser = api_parser())]
    pub api: Api,
    /// The environment variable holding the --endpoint's API key (keys are never given as
    /// flags, which other users can read in the process list). Default: no key.
    #[arg(long, value_name = "NAME", requires = "endpoint")]
    pub api_key_env: Option<String>,
    /// Run in this repository (default: the current directory).
    #[arg(long = "cd", short = 'C', value_name = "DIR")]
    pub cd: Option<PathBuf>,
    /// Continue the session with this id.
    #[arg(long, value_name = "ID", conflicts_with = "last")]
    pub resume: Option<String>,
    /// Continue the latest session of this repository.
    #[arg(long)]
    pub last: bool,
    /// Do not save the session.
    #[arg(long)]
    pub ephemeral: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Testing aid: replay model replies from this JSON file instead of running a model
    /// (a JSON array of replies; see `hearth_agent::ScriptedReply`).
    #[arg(long, hide = true, value_name = "FILE", conflicts_with = "endpoint")]
    pub backend_script: Option<PathBuf>,
}

impl SessionArgs {
    /// The session these flags ask for, in `mode` with `max_tokens` for each answer; the
    /// front end adds its own settings.
    pub fn builder(
        &self,
        env: &Environment,
        mode: Mode,
        max_tokens: u32,
    ) -> Result<SessionBuilder, CliError> {
        let cwd = std::env::current_dir().map_err(CliError::failure)?;
        let root = self
            .cd
            .as_ref()
            .map_or_else(|| cwd.clone(), |d| cwd.join(d));
        let policy = Policy::load(&env.policy_file)?.values;
        let mut builder = SessionBuilder::new(root, &env.sessions_dir, mode, max_tokens);
        // The user's file first, then the flags: both apply.
        builder.allow = [policy.permissions.allow, self.allow.clone()].concat();
        builder.deny = [policy.permissions.deny, self.deny.clone()].concat();
        builder.budget = builder.budget.with_thinking(Some(self.think));
        builder.save = !self.ephemeral;
        builder.resume = Resume::from_flags(self.resume.clone(), self.last);
        builder.shell_env = Environment::shell_environment();
        builder.shell_extra_env = policy.shell.env;
        builder.secret_file_exceptions = policy.files.allow_secret_files;
        builder.sandbox = self.sandbox.or(policy.sandbox.level);
        builder.network = self.network || policy.sandbox.network.unwrap_or(false);
        Ok(builder)
    }
}

/// `--sandbox`: one of the sandbox levels, by name.
fn sandbox_parser() -> impl TypedValueParser<Value = SandboxLevel> {
    PossibleValuesParser::new(SandboxLevel::ALL.map(SandboxLevel::name))
        .try_map(|name| name.parse::<SandboxLevel>())
}

/// `--api`: one of the wire protocols, by name.
fn api_parser() -> impl TypedValueParser<Value = Api> {
    PossibleValuesParser::new(Api::ALL.map(Api::name)).try_map(|name| name.parse::<Api>())
}

/// `--mode`: one of the permission modes, by name.
fn mode_parser() -> impl TypedValueParser<Value = Mode> {
    PossibleValuesParser::new(Mode::ALL.map(Mode::name)).try_map(|name| name.parse::<Mode>())
}

/// `--think`: a budget in tokens, or `off` (0).
fn parse_think(text: &str) -> Result<u32, BadThinking> {
    Ok(hearth_agent::parse_thinking(text)?.unwrap_or(0))
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent on a task to completion, without a UI (for scripts and CI).
    Exec(ExecArgs),
    /// Generate text from a raw prompt or a chat message.
    Generate(GenerateArgs),
    /// Measure a model's perplexity on a text file.
    Perplexity(PerplexityArgs),
    /// Fetch, list and inspect models.
    Model(ModelArgs),
    /// Measure prefill and decode speed and the memory bandwidth bound.
    Bench(BenchArgs),
    /// Show the policy in force: the sandbox, command rules, what commands see.
    Config(ConfigArgs),
    /// Serve the model over HTTP on this machine: the Anthropic Messages API and OpenAI's
    /// Chat Completions, Responses and Completions APIs.
    Serve(ServeArgs),
    /// Manage the API keys of `hearth serve --api-keys`.
    Keys(KeysArgs),
    /// Sum `hearth serve`'s usage ledger: requests and tokens by key or by day.
    Usage(UsageArgs),
}

/// `hearth usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// The ledger to read (default: the one `hearth serve` writes).
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Group by the key's name or by day (UTC).
    #[arg(long, default_value = "key", value_parser = ["key", "day"])]
    pub by: String,
    /// Only requests from this day on (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
}

/// `hearth keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// The keys subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Make a key for NAME, append its hash to the keys file (created if missing) and
    /// print the key once on stdout: it is not stored, only its SHA-256.
    Add {
        /// Who holds the key (what the usage ledger and logs call it).
        name: String,
        /// The keys file (TOML, one `[[key]]` table per key).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Keys of one cache group share their prefix cache.
        #[arg(long, value_name = "GROUP")]
        cache_group: Option<String>,
    },
}

/// `hearth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelChoice,
    /// Where to listen: HOST:PORT; without --api-keys only a loopback address is allowed.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    pub listen: String,
    /// The keys file (`hearth keys add`): every API request must then present one of its
    /// keys, and --listen may be any address.
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// How many requests may wait for the model; more are refused at once (529 on the
    /// Messages API, 429 on OpenAI's, with `retry-after`).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_queue: usize,
    /// How many requests are computed at once, their forward passes batched together
    /// (continuous batching); 1 serves one request at a time.
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_batch: u16,
    /// Rows of one batched pass while requests are decoding: a new prompt is prefilled
    /// this many tokens at a time beside them (fewer: smoother streams; more: a sooner
    /// first token for the newcomer).
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub step_tokens: u16,
    /// Where every API request's usage is appended as a JSON line (`hearth usage` sums
    /// it); default: `~/.local/share/hearth/usage.jsonl`.
    #[arg(long, value_name = "FILE")]
    pub usage_ledger: Option<PathBuf>,
    /// Context window in tokens (default: the model's).
    #[arg(long, value_name = "N")]
    pub ctx: Option<usize>,
    /// Another model name requests may use for the served model (repeatable), e.g. the
    /// name a client sends that cannot be configured.
    #[arg(long, value_name = "NAME")]
    pub alias: Vec<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `hearth config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// The config subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print every policy setting in force and where it came from.
    Show {
        /// The permission mode to show the sandbox default for.
        #[arg(long, default_value = "ask", value_name = "MODE", value_parser = mode_parser())]
        mode: Mode,
    },
}

/// Which model to run.
#[derive(Debug, Args)]
pub struct ModelChoice {
    /// A model name (see `hearth model list`) or a path to a .gguf file.
    #[arg(long, short = 'm', value_name = "NAME|PATH", default_value = "default")]
    pub model: String,
}

/// How the local engine runs, for commands that serve an agent: its prompt cache and
/// its decoding.
#[derive(Clone, Debug, Args)]
pub struct EngineArgs {
    /// Memory for cached prompt prefixes that no request is using (e.g. 512MiB, 2GiB);
    /// 0 keeps none in memory.
    #[arg(long, default_value = "2GiB", value_name = "SIZE", value_parser = parse_size)]
    pub kv_cache_mem: u64,
    /// Where cached prompt prefixes spill to disk, so a new process starts warm
    /// (default: the `kv` folder of hearth's cache dir).
    #[arg(long, value_name = "DIR")]
    pub kv_cache_dir: Option<PathBuf>,
    /// The most disk one model's spilled prefixes may take; 0 turns spilling off.
    #[arg(long, default_value = "8GiB", value_name = "SIZE", value_parser = parse_size)]
    pub kv_cache_disk: u64,
    /// Decode one token per pass: no drafts copied from the context (speculative
    /// decoding, on by default, never changes the output, only how fast it comes).
    #[arg(long)]
    pub no_speculate: bool,
}

/// A byte count: a number with an optional unit (`K`, `M`, `G`, `T`, powers of 1024,
/// with or without `iB`/`B`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; expected a size such as 512MiB or 2GiB"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a size such as 512MiB or 2GiB"))?;
    Ok((value * (1u64 << shift) as f64) as u64)
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelChoice,
    /// A raw prompt, continued as is (special tokens such as <|im_start|> are recognized).
    #[arg(
        long,
        conflicts_with = "chat",
        required_unless_present = "chat",
        value_name = "TEXT"
    )]
    pub prompt: Option<String>,
    /// A user message, sent through the model's chat template.
    #[arg(long, value_name = "TEXT")]
    pub chat: Option<String>,
    /// A system message for --chat.
    #[arg(long, requires = "chat", value_name = "TEXT")]
    pub system: Option<String>,
    /// The most tokens to generate.
    #[arg(long, short = 'n', default_value_t = 512, value_name = "N")]
    pub max_tokens: usize,
    /// Sampling temperature; 0 means greedy.
    #[arg(long, default_value_t = 0.8, value_name = "T")]
    pub temperature: f32,
    /// Keep only the K most likely tokens (0: off).
    #[arg(long, default_value_t = 40, value_name = "K")]
    pub top_k: usize,
    /// Nucleus sampling threshold (1: off).
    #[arg(long, default_value_t = 0.95, value_name = "P")]
    pub top_p: f32,
    /// Drop tokens less likely than P times the best (0: off).
    #[arg(long, default_value_t = 0.05, value_name = "P")]
    pub min_p: f32,
    /// Penalty for recently generated tokens (1: off).
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub repeat_penalty: f32,
    /// Seed for sampling (default: random).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Stop when this string is generated (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Context window in tokens (default: the model's).
    #[arg(long, value_name = "N")]
    pub ctx: Option<usize>,
    /// Print no timing summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Decode one token per pass: no drafts copied from the context (speculative
    /// decoding never changes the output, only how fast it comes).
    #[arg(long)]
    pub no_speculate: bool,
}

/// `hearth perplexity`.
#[derive(Debug, Args)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub model: ModelChoice,
    /// The text file to score.
    pub file: PathBuf,
    /// Window length in tokens; the second half of each window is scored.
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub ctx: usize,
    /// Score at most this many windows.
    #[arg(long, value_name = "N")]
    pub chunks: Option<usize>,
    /// Print {"perplexity": …, "tokens": …} on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `hearth model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

/// The model subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download a known model into the cache (default: the default model).
    Pull {
        /// The model name.
        #[arg(default_value = "default")]
        name: String,
    },
    /// List known and cached models.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Describe a model: architecture, size, quantization, context, template.
    Info {
        /// A model name or a path to a .gguf file.
        model: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `hearth exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The task, or `-` to read it from stdin.
    #[arg(value_name = "TASK|-")]
    pub task: String,
    #[command(flatten)]
    pub model: ModelChoice,
    /// Write JSON-lines events to stdout (schema: docs/exec-json.md) instead of the answer.
    #[arg(long)]
    pub json: bool,
    /// Print model text to a terminal as is. By default control sequences (colours, cursor
    /// moves, clipboard and title writes) are removed from what reaches a terminal, since a
    /// terminal obeys them; output to a pipe or file is never changed.
    #[arg(long)]
    pub raw: bool,
    /// What tools may do. exec never asks: a call that would need approval is refused and
    /// the model is told so.
    #[arg(long, default_value = "auto-edit", value_name = "MODE", value_parser = mode_parser())]
    pub mode: Mode,
    /// The most model requests the task may take (exit code 3 when reached).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_turns: u32,
    /// The most tokens of a model reply's answer, after any thinking.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_tokens: u32,
    /// Budget forcing: when the model ends its thinking before N tokens, "Wait" is
    /// inserted and it thinks on (up to the --think budget).
    #[arg(long, value_name = "N", requires = "think")]
    pub think_min: Option<u32>,
    /// Sampling temperature; 0 is greedy (default: greedy, for reproducible runs).
    #[arg(long, default_value_t = 0.0, value_name = "T")]
    pub temperature: f32,
    /// Sampling seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Also write the final answer to this file.
    #[arg(long, value_name = "FILE")]
    pub output_last_message: Option<PathBuf>,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{parse_size, Cli, Command};
    use clap::Parser as _;

    #[test]
    fn mode_and_think_are_parsed_by_clap() {
        let cli = Cli::try_parse_from(["hearth", "--mode", "full-auto", "--think", "off"]).unwrap();
        assert_eq!(cli.tui.mode, hearth_agent::Mode::FullAuto);
        assert_eq!(cli.tui.session.think, 0);
        let cli = Cli::try_parse_from(["hearth", "exec", "--think", "512", "task"]).unwrap();
        let Some(Command::Exec(exec)) = cli.command else {
            panic!("not parsed as exec");
        };
        assert_eq!(exec.mode, hearth_agent::Mode::AutoEdit);
        assert_eq!(exec.session.think, 512);
        for (args, flag, expected) in [
            (
                ["hearth", "exec", "--mode", "yolo", "task"],
                "--mode",
                "auto-edit",
            ),
            (
                ["hearth", "exec", "--think", "lots", "task"],
                "--think",
                "off",
            ),
        ] {
            let err = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "a usage error");
            let text = err.to_string();
            assert!(text.contains(flag) && text.contains(expected), "{text}");
        }
        let err = Cli::try_parse_from(["hearth", "--mode", "yolo"]).unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("2 parsecs").is_err());
        assert!(parse_size("lots").is_err());
    }
}
