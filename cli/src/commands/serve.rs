//! `hearth serve`: the model behind the Anthropic Messages API on this machine.

use std::sync::Arc;

use hearth_serve::{ApiKeys, Ledger, ServeOptions, StartError};

use crate::args::ServeArgs;
use crate::commands::{load_model, local_engine, resolve_model};
use crate::config::Environment;
use crate::error::CliError;

/// Serves the model `a` names on `a.listen` until Ctrl-C.
pub fn run(env: &Environment, a: ServeArgs) -> Result<(), CliError> {
    // Refused before the model loads: a wrong address or keys file should not cost a
    // minute.
    let api_keys = match &a.api_keys {
        Some(path) => Some(Arc::new(ApiKeys::load(path).map_err(CliError::usage)?)),
        None => None,
    };
    let address =
        hearth_serve::listen_address(&a.listen, api_keys.is_some()).map_err(CliError::usage)?;
    let ledger_path = a.usage_ledger.as_ref().unwrap_or(&env.usage_ledger);
    let ledger = Arc::new(Ledger::open(ledger_path).map_err(CliError::usage)?);
    let path = resolve_model(env, &a.model.model)?;
    // The file's stem is the id responses carry (`qwen2.5-coder-1.5b-instruct-q4_k_m`);
    // the name it was started with (`default`, an alias) is accepted too.
    let id = path.file_stem().map_or_else(
        || a.model.model.clone(),
        |s| s.to_string_lossy().into_owned(),
    );
    let model = load_model(env, &path.display().to_string())?;
    let context = a.ctx.unwrap_or(model.config().context_length);
    let (engine, warning) = local_engine(&env.cache_dir, model, &id, context, &a.engine);
    if let Some(warning) = warning {
        eprintln!("hearth: warning: {warning}");
    }
    let mut aliases = a.alias.clone();
    let given = &a.model.model;
    if !given.contains(['/', '\\']) && !given.ends_with(".gguf") {
        aliases.push(given.clone());
    }
    let keys = api_keys
        .as_ref()
        .map_or_else(String::new, |k| format!(", {} API keys", k.len()));
    let ledger_shown = ledger.path().display().to_string();
    let options = ServeOptions {
        model_aliases: aliases,
        api_keys,
        ledger: Some(ledger),
        queue_capacity: a.max_queue,
        ..ServeOptions::default()
    };
    hearth_serve::serve_blocking(address, Arc::new(engine), options, |bound| {
        eprintln!("hearth serve: usage ledger {ledger_shown}");
        eprintln!(
            "hearth serve: {id} ({context} tokens of context{keys}) listening on http://{bound}"
        );
    })
    .map_err(|e| match e {
        StartError::Address { .. } | StartError::Bind { .. } => CliError::usage(e),
        other => CliError::failure(other),
    })
}
