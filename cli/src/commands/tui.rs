//! `hearth` with no subcommand: the interactive TUI, wired to a session.
//!
//! The model file is resolved (and fetched on first use, with progress on stderr) before
//! the TUI takes the terminal; loading it and starting the session happen behind the
//! TUI's own progress line.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use hearth_agent::{
    context_window, Backend, BackendFactory, LocalBackend, RemoteBackend, RemoteOptions,
    ScriptedBackend, SessionBuilder,
};
use hearth_engine::model::load::Model;
use hearth_hub::{self as hub, HubOptions, NoProgress};
use hearth_tui::{App, Loaded, Settings, Startup};

use crate::args::{EngineArgs, TuiArgs};
use crate::commands::endpoint::{self, EndpointModels};
use crate::commands::exec::setup_error;
use crate::commands::{local_engine, resolve_model};
use crate::config::Environment;
use crate::error::CliError;

/// The most files offered to `@path` completion: enough for any repository a person
/// browses by name, bounded so a huge tree does not delay the start.
const MAX_COMPLETION_FILES: usize = 20_000;

/// Runs the TUI.
pub fn run(env: &Environment, a: TuiArgs) -> Result<(), CliError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(CliError::usage(anyhow!(
            "the interactive TUI needs a terminal; use `hearth exec TASK` in scripts and CI"
        )));
    }
    let plan = session_builder(env, &a)?.build().map_err(setup_error)?;
    let root = plan.root().to_path_buf();

    // Resolved here, while stderr is still the user's: a first run fetches the model.
    let remote = endpoint::options(&a.session, &a.model.model)?;
    let model = match (&a.session.backend_script, &remote) {
        (Some(script), _) => ModelSource::Script(script.clone()),
        (None, Some(options)) => ModelSource::Endpoint(options.clone()),
        (None, None) => ModelSource::File(resolve_model(env, &a.model.model)?),
    };
    let model_name = match &model {
        ModelSource::Script(_) => "scripted".to_string(),
        ModelSource::File(_) => a.model.model.clone(),
        ModelSource::Endpoint(options) => options
            .model
            .clone()
            .unwrap_or_else(|| options.endpoint.clone()),
    };
    let settings = Settings {
        model: model_name,
        mode: a.mode,
        thinking_budget: plan.config.request.budget.thinking_tokens(),
        color: !env.no_color,
        files: repository_files(&root),
    };
    let ctx = a.session.ctx;
    let cache = a.session.engine.clone();
    let cache_dir = env.cache_dir.clone();
    let opener = ModelOpener {
        hub: HubOptions {
            // The TUI owns the terminal by then: no progress bars on stderr.
            progress: Arc::new(NoProgress),
            ..env.hub_options()
        },
        ctx,
        cache: a.session.engine.clone(),
    };
    let startup: Startup = Box::new(move || {
        let backend = model.backend(ctx, &cache_dir, &cache)?;
        let model_id = backend.model_id();
        let context_window = backend.context_tokens();
        let mut session = plan.open(backend).map_err(|e| e.to_string())?;
        match remote {
            Some(options) => session.set_backend_factory(Box::new(EndpointModels { options })),
            None => session.set_backend_factory(Box::new(opener)),
        }
        let session_id = session.id().to_string();
        Ok((
            hearth_agent::spawn(session),
            Loaded {
                session_id,
                model: model_id,
                context_window,
            },
        ))
    });
    let log_file = env.cache_dir.join("logs/tui.log");
    if let Err(e) = crate::logging::redirect_to(&log_file) {
        // Before the TUI takes the screen, stderr is still readable.
        eprintln!(
            "hearth: cannot write the log to {}: {e}; log lines are dropped",
            log_file.display()
        );
        log::set_max_level(log::LevelFilter::Off);
    }
    hearth_tui::run(App::new(settings), startup)
        .context("the terminal failed")
        .map_err(CliError::failure)
}

/// The TUI's flags as a session setup: the same builder as exec's, so the same budget.
fn session_builder(env: &Environment, a: &TuiArgs) -> Result<SessionBuilder, CliError> {
    a.session.builder(env, a.mode, a.max_tokens)
}

/// Opens the model `/model NAME|PATH` asks for, set up as the one hearth started with.
struct ModelOpener {
    hub: HubOptions,
    ctx: Option<usize>,
    cache: EngineArgs,
}

impl BackendFactory for ModelOpener {
    fn open(&self, name: &str) -> Result<Box<dyn Backend>, String> {
        let model_ref = hub::parse_model_ref(name).map_err(|e| e.to_string())?;
        let path = hub::resolve(&model_ref, &self.hub).map_err(|e| e.to_string())?;
        ModelSource::File(path).backend(self.ctx, &self.hub.cache_dir, &self.cache)
    }
}

/// Where the model comes from.
enum ModelSource {
    /// A GGUF file, run by the engine in this process.
    File(PathBuf),
    /// The hidden testing aid: replies replayed from a script.
    Script(PathBuf),
    /// A model server (`--endpoint`).
    Endpoint(RemoteOptions),
}

impl ModelSource {
    fn backend(
        self,
        ctx: Option<usize>,
        cache_dir: &Path,
        cache: &EngineArgs,
    ) -> Result<Box<dyn Backend>, String> {
        match self {
            ModelSource::Endpoint(options) => RemoteBackend::connect(options)
                .map(|b| Box::new(b) as Box<dyn Backend>)
                .map_err(|e| e.to_string()),
            ModelSource::Script(path) => ScriptedBackend::from_file(&path)
                .map(|b| Box::new(b) as Box<dyn Backend>)
                .map_err(|e| e.to_string()),
            ModelSource::File(path) => {
                let model = Model::load(&path).map_err(|e| e.to_string())?;
                // The file's stem names the model on the status line; the full path is long.
                let name = path.file_stem().map_or_else(
                    || path.display().to_string(),
                    |s| s.to_string_lossy().into(),
                );
                let context = context_window(ctx, model.config().context_length);
                // A disk cache that cannot be opened only costs time; the screen has no
                // place for the warning before the session starts, so it is dropped.
                let (engine, _warning) = local_engine(cache_dir, model, &name, context, cache);
                Ok(Box::new(LocalBackend::new(Arc::new(engine))))
            }
        }
    }
}

/// The repository's files relative to `root`, .gitignore respected, sorted.
fn repository_files(root: &Path) -> Vec<String> {
    let mut files: Vec<String> = ignore::WalkBuilder::new(root)
        .build()
        .flatten()
        .filter(|entry| entry.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|entry| {
            let relative = entry.path().strip_prefix(root).ok()?;
            Some(relative.to_string_lossy().into_owned())
        })
        .take(MAX_COMPLETION_FILES)
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser as _;

    use crate::args::{Cli, Command};
    use crate::config::Environment;

    /// Both front ends' flags go through one builder: the same flags, the same request
    /// budget, and thinking on top of the answer's share in the TUI as in exec.
    #[test]
    fn exec_and_the_tui_ask_for_the_same_request_budget() {
        let env = Environment::from_process();
        let cd = env!("CARGO_MANIFEST_DIR");
        let flags = [
            "--cd",
            cd,
            "--ephemeral",
            "--think",
            "4096",
            "--max-tokens",
            "2048",
        ];
        let tui = Cli::try_parse_from(["hearth"].iter().chain(&flags)).unwrap();
        let exec =
            Cli::try_parse_from(["hearth", "exec"].iter().chain(&flags).chain(&["task"])).unwrap();
        let Some(Command::Exec(exec)) = exec.command else {
            panic!("not parsed as exec");
        };
        let tui = super::session_builder(&env, &tui.tui)
            .unwrap()
            .build()
            .unwrap();
        let exec = crate::commands::exec::session_builder(&env, &exec)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(tui.config.request.budget, exec.config.request.budget);
        let budget = tui.config.request.budget;
        assert_eq!(budget.thinking_tokens(), Some(4096));
        assert!(budget.max_tokens() >= 4096 + 2048, "{budget:?}");

        // The TUI's own default answer budget keeps its share too.
        let tui = Cli::try_parse_from(["hearth", "--cd", cd, "--think", "4096"]).unwrap();
        let budget = super::session_builder(&env, &tui.tui).unwrap().budget;
        assert!(budget.max_tokens() >= 4096 + budget.answer_tokens());
        assert!(budget.answer_tokens() > 0);
    }
}
