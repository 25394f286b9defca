//! `hearth serve`: the engine behind the HTTP APIs clients already speak.
//!
//! `max_batch` worker threads take requests from a FIFO queue ([`worker`]), each driving
//! one request while the engine's scheduler batches their forward passes; the HTTP side (axum on tokio) parses each wire protocol onto the
//! engine's contract (`hearth_engine::api`), queues it, and writes the events back in the
//! protocol's form: the Anthropic Messages API ([`anthropic`]: `/v1/messages`,
//! `/v1/messages/count_tokens`) and OpenAI's ([`openai`]: `/v1/chat/completions`,
//! `/v1/responses`, `/v1/completions`), with `/v1/models`, `/health` and `/`.
//!
//! Library code here neither prints nor reads the environment: the binary says where it
//! listens and decides the options.

#![warn(missing_docs)]

mod admit;
pub mod anthropic;
mod app;
pub mod error;
pub mod keys;
pub mod ledger;
pub mod limits;
pub mod loading;
mod metrics;
pub mod models;
pub mod openai;
mod respond;
pub mod signature;
pub mod worker;

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

pub use error::{ErrorKind, ServeError};
pub use keys::ApiKeys;
pub use ledger::Ledger;
pub use loading::LoadingRunner;
pub use worker::{QueueStats, Runner};

/// How a server behaves.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Names a request may give the model besides its id and `default`.
    pub model_aliases: Vec<String>,
    /// How long a stream may be silent (queued, or in a long prefill) before a `ping`.
    pub ping_interval: Duration,
    /// The largest request body accepted; larger ones get a 413.
    pub max_body_bytes: usize,
    /// Requests that may wait in the queue; more are refused as overloaded (529).
    pub queue_capacity: usize,
    /// Requests served at once (worker threads); above one, the runner should batch
    /// their passes ([`hearth_engine::engine::Engine::start_scheduler`]).
    pub max_batch: usize,
    /// The keys every API request must present; `None`: no keys, loopback only.
    pub api_keys: Option<Arc<ApiKeys>>,
    /// The usage ledger every API request is recorded in; `None`: none kept.
    pub ledger: Option<Arc<Ledger>>,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            model_aliases: Vec::new(),
            // The Messages API pings about this often; clients' idle timeouts are longer.
            ping_interval: Duration::from_secs(5),
            // A long agent conversation with its tools is a few MiB; this leaves room.
            max_body_bytes: 32 << 20,
            queue_capacity: 64,
            max_batch: 1,
            api_keys: None,
            ledger: None,
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address is not one this server may bind.
    #[error("--listen {address}: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Binding the socket failed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The OS's reason.
        source: std::io::Error,
    },
    /// The runtime, the worker thread or the signing key could not be made.
    #[error("starting the server failed: {0}")]
    Setup(String),
    /// Serving failed after it started.
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// The socket address `listen` names (`127.0.0.1:8080`, `[::1]:8080`,
/// `localhost:8080`, `0.0.0.0:8080`). Without API keys (`with_keys` false) it is refused
/// unless every address it resolves to is loopback: anything reachable from another
/// machine would serve anyone.
pub fn listen_address(listen: &str, with_keys: bool) -> Result<SocketAddr, StartError> {
    let bad = |reason: String| StartError::Address {
        address: listen.to_string(),
        reason,
    };
    let addresses: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| bad(format!("expected HOST:PORT such as 127.0.0.1:8080 ({e})")))?
        .collect();
    let first = *addresses
        .first()
        .ok_or_else(|| bad("resolves to no address".to_string()))?;
    if with_keys {
        return Ok(first);
    }
    if let Some(open) = addresses.iter().find(|a| !a.ip().is_loopback()) {
        return Err(bad(format!(
            "{} is not a loopback address; without --api-keys hearth serve listens only on \
             this machine (127.0.0.1 or [::1]); give it a keys file (`hearth keys add NAME \
             --file keys.toml`, then `--api-keys keys.toml`) to serve other machines",
            open.ip()
        )));
    }
    Ok(first)
}

/// A server bound to its socket, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: axum::Router,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `address` (loopback only, unless `options` has API keys; port 0 picks a free
    /// one) and starts the worker thread serving `runner`. Must be called inside a tokio
    /// runtime.
    pub async fn bind(
        address: SocketAddr,
        runner: Arc<dyn Runner>,
        options: ServeOptions,
    ) -> Result<Server, StartError> {
        if !address.ip().is_loopback() && options.api_keys.is_none() {
            return Err(StartError::Address {
                address: address.to_string(),
                reason: "not a loopback address, and the server has no API keys".into(),
            });
        }
        let router = app::router(runner, options).map_err(|e| StartError::Setup(e.message))?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Bind { address, source })?;
        Ok(Server { listener, router })
    }

    /// The address it listens on (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, StartError> {
        self.listener.local_addr().map_err(StartError::Serve)
    }

    /// Serves until `shutdown` completes, then lets open responses finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(StartError::Serve)
    }
}

/// Serves `runner` on `address` until Ctrl-C or `stop` completes, on a runtime of its
/// own: for a binary that is not async itself. `on_listening` is called with the bound
/// address once requests are accepted.
pub fn serve_blocking(
    address: SocketAddr,
    runner: Arc<dyn Runner>,
    options: ServeOptions,
    on_listening: impl FnOnce(SocketAddr),
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // The engine computes on its own thread (and its kernels' pool); the HTTP side
        // only moves bytes.
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| StartError::Setup(format!("the async runtime: {e}")))?;
    runtime.block_on(async move {
        let server = Server::bind(address, runner, options).await?;
        on_listening(server.local_addr()?);
        server
            .run(async {
                let ctrl_c = async {
                    // Without a signal handler the server runs until the process is
                    // killed (or `stop`).
                    if tokio::signal::ctrl_c().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    () = ctrl_c => {}
                    () = stop => {}
                }
            })
            .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_accepted_without_keys() {
        assert!(listen_address("127.0.0.1:8080", false).is_ok());
        assert!(listen_address("[::1]:0", false).is_ok());
        let err = listen_address("0.0.0.0:8080", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("0.0.0.0") && err.contains("--api-keys"),
            "{err}"
        );
        let err = listen_address("8080", false).unwrap_err().to_string();
        assert!(err.contains("HOST:PORT"), "{err}");
        // With keys any address may be bound: the keys decide who is served.
        assert!(listen_address("0.0.0.0:8080", true).is_ok());
        assert!(listen_address("8080", true).is_err());
    }
}
