//! One module per subcommand, plus what they share.

pub mod bench;
pub mod bench_cache;
pub mod bench_spec;
pub mod config;
pub mod endpoint;
pub mod exec;
pub mod generate;
pub mod keys;
pub mod model;
pub mod perplexity;
pub mod serve;
pub mod tui;
pub mod usage;

use std::path::{Path, PathBuf};

use hearth_engine::engine::prompt_cache::DiskCacheSettings;
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::model::load::Model;
use hearth_hub as hub;

use crate::args::EngineArgs;

use crate::config::Environment;
use crate::error::CliError;
use crate::progress;

/// Resolves a model name or path to a local file, fetching a known model on
/// first use.
pub fn resolve_model(env: &Environment, name: &str) -> Result<PathBuf, CliError> {
    let r = hub::parse_model_ref(name).map_err(CliError::usage)?;
    hub::resolve(&r, &env.hub_options()).map_err(|e| {
        if matches!(r, hub::ModelRef::Path(_)) {
            CliError::usage(e)
        } else {
            CliError::failure(e)
        }
    })
}

/// Resolves and loads a model, with a spinner on stderr while it loads.
pub fn load_model(env: &Environment, name: &str) -> Result<Model, CliError> {
    let path = resolve_model(env, name)?;
    let spin = progress::spinner(format!("loading {}", path.display()));
    // Load errors already name the file and what is wrong with it.
    let model = Model::load(&path).map_err(CliError::usage);
    spin.finish_and_clear();
    model
}

/// An engine serving `model` under the name `model_id` with a context window of
/// `context_tokens`, its prompt cache and decoding set up from `engine_args`. A disk cache that cannot be
/// opened is left out (the cache only saves time), with a warning for the user.
pub fn local_engine(
    cache_dir: &Path,
    model: Model,
    model_id: &str,
    context_tokens: usize,
    engine_args: &EngineArgs,
) -> (Engine, Option<String>) {
    let mut options = EngineOptions::for_model(&model, model_id);
    options.context_tokens = context_tokens;
    options.prompt_cache.memory_bytes =
        usize::try_from(engine_args.kv_cache_mem).unwrap_or(usize::MAX);
    if engine_args.no_speculate {
        options.speculation = None;
    }
    let mut engine = Engine::new(std::sync::Arc::new(model), options);
    if engine_args.kv_cache_disk > 0 {
        let disk = DiskCacheSettings {
            dir: engine_args
                .kv_cache_dir
                .clone()
                .unwrap_or_else(|| cache_dir.join("kv")),
            max_bytes: engine_args.kv_cache_disk,
        };
        if let Err(e) = engine.attach_disk_cache(&disk) {
            let warning = format!("the prompt cache stays in memory only: {e}");
            return (engine, Some(warning));
        }
    }
    (engine, None)
}
