//! One module per subcommand, plus what they share.

pub mod bench;
pub mod exec;
pub mod generate;
pub mod model;
pub mod perplexity;
pub mod tui;

use std::path::PathBuf;

use hearth_engine::hub;
use hearth_engine::model::load::Model;

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
