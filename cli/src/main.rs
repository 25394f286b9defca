//! The `hearth` binary: parses arguments, reads configuration and wires the
//! crates together. Logic lives in the library crates.

mod args;
mod commands;
mod config;
mod error;
mod logging;
mod policy;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hearth: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let env = config::Environment::from_process();
    // A server logs each request it answers unless told otherwise, as llama.cpp's and
    // vLLM's do; every other command writes warnings only.
    let default_level = match cli.command {
        Some(Command::Serve(_)) => log::LevelFilter::Info,
        _ => log::LevelFilter::Warn,
    };
    logging::init(env.log_level.as_deref(), default_level)
        .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    if let Some(n) = cli.threads {
        hearth_engine::cpu::set_threads(n).map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    }
    match cli.command {
        None => commands::tui::run(&env, cli.tui),
        Some(Command::Generate(a)) => commands::generate::run(&env, a),
        Some(Command::Exec(a)) => commands::exec::run(&env, a),
        Some(Command::Perplexity(a)) => commands::perplexity::run(&env, a),
        Some(Command::Model(a)) => commands::model::run(&env, a),
        Some(Command::Bench(a)) => commands::bench::run(&env, a),
        Some(Command::Config(a)) => commands::config::run(&env, a),
        Some(Command::Serve(a)) => commands::serve::run(&env, a),
        Some(Command::Keys(a)) => commands::keys::run(a),
        Some(Command::Usage(a)) => commands::usage::run(&env, a),
    }
}
