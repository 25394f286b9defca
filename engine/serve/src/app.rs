//! The router and what every handler shares: the queue, the model, its names, the
//! signing key, the options. Each wire protocol is a sibling module that adds its routes
//! over the same queue (`anthropic`, `openai`).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hearth_engine::api::Usage;
use serde_json::{json, Value};

use crate::error::{ErrorKind, ServeError};
use crate::ledger::LedgerEntry;
use crate::limits::{OverLimit, RateLimits};
use crate::metrics::Metrics;
use crate::models::{self, ModelNames};
use crate::respond::Metered;
use crate::signature::Signer;
use crate::worker::{Queue, Runner};
use crate::{anthropic, openai, ServeOptions};

/// What every request handler reads.
pub(crate) struct AppState {
    pub runner: Arc<dyn Runner>,
    pub queue: Queue,
    pub names: ModelNames,
    pub signer: Signer,
    /// This process's random prefix of message and tool-call ids.
    pub nonce: String,
    pub options: ServeOptions,
    /// What each key used in the last minute, against its limits.
    pub limits: Arc<RateLimits>,
    /// What `GET /metrics` reports.
    pub metrics: Metrics,
    pub started_unix: u64,
    pub started_rfc3339: String,
    /// When the server started, for utilization over its uptime.
    pub started_instant: Instant,
}

/// The router of a server for `runner`: starts the worker thread and makes the signing
/// key. Fails only when the OS refuses a thread or randomness.
pub(crate) fn router(runner: Arc<dyn Runner>, options: ServeOptions) -> Result<Router, ServeError> {
    let queue = Queue::start(
        Arc::clone(&runner),
        options.queue_capacity,
        options.max_batch,
    )
    .map_err(|e| ServeError::internal(format!("starting the engine's worker thread: {e}")))?;
    let signer = Signer::random()
        .map_err(|e| ServeError::internal(format!("no randomness for the signing key: {e}")))?;
    let mut nonce = [0u8; 4];
    getrandom::fill(&mut nonce)
        .map_err(|e| ServeError::internal(format!("no randomness for message ids: {e}")))?;
    let started = SystemTime::now();
    let started_unix = started
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let names = ModelNames::new(runner.model_id(), &options.model_aliases);
    let state = Arc::new(AppState {
        runner,
        queue,
        names,
        signer,
        nonce: hex::encode(nonce),
        options,
        limits: Arc::new(RateLimits::default()),
        metrics: Metrics::new()
            .map_err(|e| ServeError::internal(format!("registering the metrics: {e}")))?,
        started_unix,
        started_rfc3339: rfc3339(started_unix),
        started_instant: Instant::now(),
    });
    // Every API route asks for a key when the server has keys; `/` and `/health` answer
    // anyone (Claude Code's first request, and a router's health checks).
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::get_one))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/responses", post(openai::responses))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/loads", get(loads))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_ready,
        ))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_key,
        ));
    Ok(Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are read with our own limit, to answer 413 in the API's shape.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            log_request,
        ))
        .with_state(state))
}

/// Reads a whole request body, refusing one over `limit` bytes with a 413.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ServeError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // to_bytes fails for a body over the limit, or one the client broke off.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut over = false;
        while let Some(s) = source {
            over |= s.is::<http_body_util::LengthLimitError>();
            source = s.source();
        }
        if over {
            ServeError::new(
                ErrorKind::TooLarge,
                format!("the request body is over the limit of {limit} bytes"),
            )
        } else {
            ServeError::invalid(format!("reading the request body failed: {e}"))
        }
    })
}

/// `GET /` and `HEAD /` (Claude Code's first request): the server is up.
async fn root(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"name": "hearth serve", "model": state.names.id}))
}

/// `GET /health`: up, the model, and the queue's counters (routers register a worker
/// from it); 503 while the model loads.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let ready = state.runner.is_ready();
    let body = Json(json!({
        "status": if ready { "ok" } else { "loading" },
        "model": state.names.id,
        "queue": state.queue.stats(),
    }));
    if ready {
        body.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// `GET /v1/loads`: what this worker is carrying, in the shape SGLang's workers answer
/// and routers such as SMG poll: requests running and waiting, KV use, utilization.
async fn loads(State(state): State<Arc<AppState>>) -> Json<Value> {
    let queue = state.queue.stats();
    let cache = state.runner.cache_stats();
    let batch = state.runner.batch_stats();
    let (used, budget) = cache.map_or((0, 0), |c| (c.blocks_in_memory, c.memory_budget_blocks));
    let block_tokens = hearth_engine::kv::BLOCK_TOKENS as u64;
    let token_usage = cache.map_or(0.0, |c| c.memory_usage());
    let hit_rate = cache.map_or(0.0, |c| c.hit_ratio());
    let uptime = Instant::now()
        .duration_since(state.started_instant)
        .as_secs_f64();
    let utilization = batch.map_or(0.0, |b| {
        if uptime > 0.0 {
            (b.busy.as_secs_f64() / uptime).min(1.0)
        } else {
            0.0
        }
    });
    let (running, waiting) = (queue.running, queue.queued);
    Json(json!({
        "timestamp": rfc3339(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        ),
        "version": concat!("hearth ", env!("CARGO_PKG_VERSION")),
        "dp_rank_count": 1,
        "loads": [{
            "dp_rank": 0,
            "num_running_reqs": running,
            "num_waiting_reqs": waiting,
            "num_total_reqs": running + waiting,
            "num_used_tokens": used * block_tokens,
            "max_total_num_tokens": budget * block_tokens,
            "token_usage": token_usage,
            "cache_hit_rate": hit_rate,
            "utilization": utilization,
            "max_running_requests": state.options.max_batch,
        }],
        "aggregate": {
            "total_running_reqs": running,
            "total_waiting_reqs": waiting,
            "total_reqs": running + waiting,
            "avg_token_usage": token_usage,
            "avg_utilization": utilization,
        },
    }))
}

/// Refuses API requests (not `GET`s: model lists and metrics answer at once) with a 503
/// while the model loads.
async fn require_ready(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::GET || state.runner.is_ready() {
        return next.run(request).await;
    }
    let error = ServeError::new(
        ErrorKind::Loading,
        format!(
            "the model {} is still loading; retry shortly",
            state.names.id
        ),
    );
    if request.uri().path().starts_with("/v1/messages") {
        anthropic::error_response(&error)
    } else {
        openai::error_response(&error)
    }
}

/// `GET /metrics`: Prometheus's text format (behind the keys, when the server has them:
/// the labels name the keys' holders).
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(
        state.queue.stats(),
        state.runner.cache_stats(),
        state.runner.batch_stats(),
    );
    let mut response = text.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Any other path: a 404 in the Messages API's shape, naming it.
async fn not_found(method: Method, uri: Uri) -> Response {
    anthropic::error_response(&ServeError::new(
        ErrorKind::NotFoundPath,
        format!("{method} {}: no such endpoint here", uri.path()),
    ))
}

/// A known path with the wrong method (`GET /v1/messages`): a 405 in the Messages API's
/// shape, naming what was asked. axum keeps the `Allow` header it computed.
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let mut response = anthropic::error_response(&ServeError::invalid(format!(
        "{method} {}: this endpoint does not take {method}",
        uri.path()
    )));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// Who made a request: the key it presented, in its extensions once [`require_key`] let it
/// through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The key's name.
    pub name: String,
    /// The prefix-cache namespace of its requests: its cache group's, else its own, so no
    /// key is served (or can time) a prefix another key's requests cached.
    pub cache_namespace: String,
}

/// Lets a request through when the server has no keys, or when it presents one of them
/// (`Authorization: Bearer KEY` or `x-api-key: KEY`); otherwise a 401 in the shape of the
/// API it was meant for.
async fn require_key(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(keys) = &state.options.api_keys else {
        return next.run(request).await;
    };
    let presented = presented_key(request.headers());
    let anthropic = request.uri().path().starts_with("/v1/messages")
        || request.headers().contains_key("anthropic-version");
    let respond = |error: &ServeError| {
        if anthropic {
            anthropic::error_response(error)
        } else {
            openai::error_response(error)
        }
    };
    if let Some(entry) = presented.and_then(|key| keys.check(key)) {
        let cache_namespace = match &entry.cache_group {
            Some(group) => format!("group:{group}"),
            None => format!("key:{}", entry.name),
        };
        let caller = Caller {
            name: entry.name.clone(),
            cache_namespace,
        };
        let mut response = match state.limits.admit(entry, Instant::now()) {
            Ok(()) => {
                request.extensions_mut().insert(caller.clone());
                next.run(request).await
            }
            Err(over) => rate_limited(&over, &respond),
        };
        // For the request's log line, written outside this layer.
        response.extensions_mut().insert(caller);
        return response;
    }
    let message = match presented {
        None => "no API key: send it as `Authorization: Bearer KEY` or `x-api-key: KEY`",
        Some(_) => "the API key is not one this server accepts",
    };
    respond(&ServeError::new(ErrorKind::Unauthorized, message))
}

/// The 429 of a key over a limit, with `retry-after` in whole seconds (at least 1).
fn rate_limited(over: &OverLimit, respond: &dyn Fn(&ServeError) -> Response) -> Response {
    let seconds = over.retry_after.as_secs() + u64::from(over.retry_after.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let error = ServeError::new(
        ErrorKind::RateLimited,
        format!(
            "this key is over its limit of {}: try again in {seconds} s",
            over.limit
        ),
    );
    let mut response = respond(&error);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The key a request presents: `x-api-key`, else the token of `Authorization: Bearer`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let value = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    value(X_API_KEY)
        .or_else(|| {
            let authorization = value(AUTHORIZATION.as_str())?;
            let (scheme, token) = authorization.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim)
        .filter(|key| !key.is_empty())
}

/// The Messages API's header for the key.
const X_API_KEY: &str = "x-api-key";

/// One line per request at `info`: method, path, status, and the time to the response's
/// head (a stream's body goes on after it; the engine's own log says when it ends).
async fn log_request(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let caller = response.extensions().get::<Caller>();
    let key = caller
        .map(|caller| format!(" (key {})", caller.name))
        .unwrap_or_default();
    let status = response.status();
    log::info!(
        "{method} {path} -> {} in {} ms{key}",
        status.as_u16(),
        started.elapsed().as_millis()
    );
    if path.starts_with("/v1/") {
        let endpoint = format!("{method} {path}");
        let key = caller.map(|c| c.name.as_str());
        state.metrics.request(&endpoint, status.as_u16(), key);
    }
    // A request to the API that queued no job (refused, or answered without the model)
    // has its ledger line here; a job's line is written by its meter as it ends.
    let metered = response.extensions().get::<Metered>().is_some();
    if let (Some(ledger), false, true) = (&state.options.ledger, metered, path.starts_with("/v1/"))
    {
        let outcome = match response.extensions().get::<ErrorKind>() {
            Some(kind) => kind.anthropic_type().to_string(),
            None if status.is_success() => "ok".to_string(),
            None => format!("http_{}", status.as_u16()),
        };
        ledger.append(&LedgerEntry {
            key: caller.map(|c| c.name.clone()),
            model: state.names.id.clone(),
            endpoint: format!("{method} {path}"),
            status: status.as_u16(),
            outcome,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ..LedgerEntry::ended_now(&Usage::default())
        });
    }
    response
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time (`2025-01-31T12:00:00Z`), by the
/// civil-from-days algorithm (Howard Hinnant's), for the model's `created_at` and the
/// usage ledger.
pub(crate) fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_599), "2024-12-31T23:59:59Z");
    }
}
