//! The arguments of `hearth bench` and its subcommands: the measurements beside the
//! agent's own commands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ModelChoice;

/// `hearth bench`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// A benchmark other than prefill and decode speed.
    #[command(subcommand)]
    pub what: Option<BenchCommand>,
    #[command(flatten)]
    pub model: ModelChoice,
    /// Runs of each test (default 3, or 1 with --quick).
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// Comma-separated tests: ppN (prefill N tokens), tgN (decode N tokens),
    /// tgN_dD (decode N tokens after D cached) [default: pp512,pp2048,tg128,tg128_d2048].
    #[arg(long, value_name = "LIST")]
    pub tests: Option<String>,
    /// Only pp512 and tg128, one run each (unless --tests / --runs say otherwise).
    #[arg(long)]
    pub quick: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Benchmarks of `hearth bench` beside prefill and decode speed.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Prompt caching: replay a multi-turn agent transcript cold and warm, per turn.
    Cache(BenchCacheArgs),
    /// Speculative decoding: a file rewrite, an edit call and prose, with drafts and without.
    Spec(BenchSpecArgs),
}

/// `hearth bench spec`.
#[derive(Debug, Args)]
pub struct BenchSpecArgs {
    #[command(flatten)]
    pub model: ModelChoice,
    /// Timed runs of each case, with drafts and without.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub runs: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// When `hearth bench cache` measures a turn without the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColdTurns {
    /// The first and the last turn.
    Ends,
    /// Every turn (slow: each recomputes its whole prompt).
    All,
    /// None.
    None,
}

/// `hearth bench cache`.
#[derive(Debug, Args)]
pub struct BenchCacheArgs {
    #[command(flatten)]
    pub model: ModelChoice,
    /// The transcript to replay: a Messages request (JSON) holding the whole conversation
    /// (default: the one built in, bench/cache/transcript.json).
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    /// Which turns also run cold, without the cache.
    #[arg(long, value_enum, default_value = "ends")]
    pub cold: ColdTurns,
    /// Skip timing two `hearth exec` processes sharing a fresh disk cache.
    #[arg(long)]
    pub no_second_process: bool,
    /// Replay only the requests: do not feed each recorded reply into the
    /// cache as its generation would have (the worst case, where the chat
    /// template renders every reply differently from how the model wrote it).
    #[arg(long)]
    pub prompts_only: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}
