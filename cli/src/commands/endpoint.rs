//! `--endpoint`: a model server as the session's backend, for the TUI and `hearth exec`.
//!
//! The key is read here, from the environment variable `--api-key-env` names: the binary
//! reads the environment, the agent library never does.

use anyhow::anyhow;
use hearth_agent::{Backend, BackendFactory, RemoteBackend, RemoteOptions};

use crate::args::SessionArgs;
use crate::error::CliError;

/// The prompt budget with an endpoint and no --ctx: servers do not report their window,
/// and every server a team runs hearth's default models on offers at least this much.
pub const DEFAULT_ENDPOINT_CONTEXT: u32 = 16_384;

/// The remote model `session` asks for, as `model` names it (`default`: the server's
/// first model); `None` without `--endpoint`. A missing key variable is a usage error
/// naming it.
pub fn options(session: &SessionArgs, model: &str) -> Result<Option<RemoteOptions>, CliError> {
    let Some(endpoint) = &session.endpoint else {
        return Ok(None);
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(CliError::usage(anyhow!(
            "--endpoint {endpoint:?}: expected an http:// or https:// URL"
        )));
    }
    let api_key = match &session.api_key_env {
        None => None,
        Some(name) => match std::env::var(name) {
            Ok(key) if !key.is_empty() => Some(key),
            Ok(_) => {
                return Err(CliError::usage(anyhow!(
                    "--api-key-env {name}: the environment variable {name} is empty"
                )))
            }
            Err(_) => {
                return Err(CliError::usage(anyhow!(
                    "--api-key-env {name}: the environment variable {name} is not set \
                     (or not valid UTF-8)"
                )))
            }
        },
    };
    let context_tokens = match session.ctx {
        Some(ctx) => {
            u32::try_from(ctx).map_err(|_| CliError::usage(anyhow!("--ctx {ctx}: too large")))?
        }
        None => DEFAULT_ENDPOINT_CONTEXT,
    };
    Ok(Some(RemoteOptions {
        endpoint: endpoint.clone(),
        api: session.api,
        api_key,
        model: (model != "default").then(|| model.to_string()),
        context_tokens,
    }))
}

/// Connects to the endpoint (asking it for its model when none was named); a server that
/// cannot be reached is a failure whose message names the URL.
pub fn connect(options: RemoteOptions) -> Result<RemoteBackend, CliError> {
    RemoteBackend::connect(options).map_err(CliError::failure)
}

/// `/model NAME` in the TUI with an endpoint: another model of the same server.
pub struct EndpointModels {
    /// The endpoint, key and window the session started with.
    pub options: RemoteOptions,
}

impl BackendFactory for EndpointModels {
    fn open(&self, name: &str) -> Result<Box<dyn Backend>, String> {
        let options = RemoteOptions {
            model: Some(name.to_string()),
            ..self.options.clone()
        };
        RemoteBackend::connect(options)
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .map_err(|e| e.to_string())
    }
}
