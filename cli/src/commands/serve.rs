//! `hearth serve`: the model behind the Anthropic Messages API on this machine.

use std::sync::{Arc, Mutex, PoisonError};

use hearth_engine::schedule::BatchOptions;
use hearth_serve::{ApiKeys, Ledger, LoadingRunner, ServeOptions, StartError};

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
    let keys = api_keys
        .as_ref()
        .map_or_else(String::new, |k| format!(", {} API keys", k.len()));
    let ledger_shown = ledger.path().display().to_string();
    let mut aliases = a.alias.clone();
    let given = &a.model.model;
    if !given.contains(['/', '\\']) && !given.ends_with(".gguf") {
        aliases.push(given.clone());
    }
    let options = ServeOptions {
        model_aliases: aliases,
        api_keys,
        ledger: Some(ledger),
        queue_capacity: a.max_queue,
        max_batch: usize::from(a.max_batch),
        ..ServeOptions::default()
    };
    // The server listens at once and answers 503 (`/health` too) while the model loads,
    // so a router or orchestrator sees a worker starting, not a dead one.
    let loading = LoadingRunner::new(id.clone());
    let (failed, stop) = tokio::sync::oneshot::channel::<()>();
    let failure: Arc<Mutex<Option<CliError>>> = Arc::new(Mutex::new(None));
    let loader = {
        let (loading, failure, env, keys) = (
            loading.clone(),
            Arc::clone(&failure),
            env.clone(),
            keys.clone(),
        );
        move |bound: std::net::SocketAddr| match load_engine(&env, &path, &id, &a) {
            Ok(engine) => {
                loading.ready(Arc::new(engine));
                // Scripts and tests wait for this line: requests are served from now on.
                eprintln!("hearth serve: {id} ready{keys}; listening on http://{bound}");
            }
            Err(e) => {
                loading.failed(e.to_string());
                *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                let _ = failed.send(());
            }
        }
    };
    let stop = async {
        // A dropped sender (the loader ended well) is no reason to stop.
        if stop.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let served = hearth_serve::serve_blocking(
        address,
        Arc::new(loading),
        options,
        |bound| {
            eprintln!("hearth serve: usage ledger {ledger_shown}");
            // Not yet "listening on": that line says the model is ready.
            eprintln!("hearth serve: loading the model; /health answers 503 until ready at http://{bound}");
            if let Err(e) = std::thread::Builder::new()
                .name("hearth-load".into())
                .spawn(move || loader(bound))
            {
                eprintln!("hearth serve: cannot start loading the model: {e}");
            }
        },
        stop,
    );
    if let Some(error) = failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return Err(error);
    }
    served.map_err(|e| match e {
        StartError::Address { .. } | StartError::Bind { .. } => CliError::usage(e),
        other => CliError::failure(other),
    })
}

/// Loads the model at `path` and makes the engine `hearth serve` runs: its context
/// window, prompt cache and, for more than one request at once, the batch scheduler.
fn load_engine(
    env: &Environment,
    path: &std::path::Path,
    id: &str,
    a: &ServeArgs,
) -> Result<hearth_engine::engine::Engine, CliError> {
    let model = load_model(env, &path.display().to_string())?;
    let context = a.ctx.unwrap_or(model.config().context_length);
    let (mut engine, warning) = local_engine(&env.cache_dir, model, id, context, &a.engine);
    if let Some(warning) = warning {
        eprintln!("hearth: warning: {warning}");
    }
    if a.max_batch > 1 {
        engine
            .start_scheduler(BatchOptions {
                step_tokens: usize::from(a.step_tokens),
                ..BatchOptions::default()
            })
            .map_err(|e| CliError::failure(anyhow::anyhow!("starting the batch scheduler: {e}")))?;
    }
    eprintln!(
        "hearth serve: {id} loaded ({context} tokens of context, up to {} requests at once)",
        a.max_batch
    );
    Ok(engine)
}
