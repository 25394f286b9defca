//! Errors of the server, independent of the wire protocol: a class, an HTTP status and a
//! message naming the input. Each protocol module renders them in its own shape (the
//! Messages API's `{"type":"error","error":{…}}`, OpenAI's `{"error":{…}}`).

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hearth_engine::api::ApiError;

/// The classes of error a client can tell apart; each has its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong: the client must change it (400).
    InvalidRequest,
    /// The model asked for is not served here (404).
    NotFound,
    /// The path or method is not served here (404).
    NotFoundPath,
    /// No API key, or one the server does not know (401).
    Unauthorized,
    /// The body is over the size limit (413).
    TooLarge,
    /// The key is over its requests or tokens per minute (429).
    RateLimited,
    /// The queue is full: try again later (529, as the Messages API).
    Overloaded,
    /// The model is still loading: try again later (503).
    Loading,
    /// The server failed on a valid request (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status a response of this class has.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound | ErrorKind::NotFoundPath => StatusCode::NOT_FOUND,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            // 529 is the Messages API's "overloaded"; its SDKs retry it.
            ErrorKind::Overloaded => {
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            ErrorKind::Loading => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The seconds a client should wait before trying again (`retry-after`), for the
    /// classes that say so: a full queue. (A key over its rate limit is told its own.)
    pub fn retry_after(self) -> Option<u64> {
        match self {
            // One request ahead ends or leaves within seconds on any machine that serves.
            ErrorKind::Overloaded => Some(OVERLOADED_RETRY_SECONDS),
            ErrorKind::Loading => Some(LOADING_RETRY_SECONDS),
            _ => None,
        }
    }

    /// The Messages API's name of the class (`error.type`).
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::NotFound | ErrorKind::NotFoundPath => "not_found_error",
            ErrorKind::Unauthorized => "authentication_error",
            ErrorKind::TooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Overloaded | ErrorKind::Loading => "overloaded_error",
            ErrorKind::Internal => "api_error",
        }
    }
}

/// `retry-after` of a full queue.
const OVERLOADED_RETRY_SECONDS: u64 = 1;

/// `retry-after` while the model loads (seconds on a laptop, a minute for a large model).
const LOADING_RETRY_SECONDS: u64 = 5;

/// An error answered to a client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServeError {
    /// Its class and status.
    pub kind: ErrorKind,
    /// What went wrong, naming the input and what was expected.
    pub message: String,
}

impl ServeError {
    /// An error of class `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ServeError {
        ServeError {
            kind,
            message: message.into(),
        }
    }

    /// The request is wrong (400).
    pub fn invalid(message: impl Into<String>) -> ServeError {
        ServeError::new(ErrorKind::InvalidRequest, message)
    }

    /// The server failed (500).
    pub fn internal(message: impl Into<String>) -> ServeError {
        ServeError::new(ErrorKind::Internal, message)
    }

    /// The HTTP answer of this error: `status`, the API's JSON `body`, `retry-after` where
    /// the class has one, and the class in the response's extensions (the usage ledger
    /// records it as the request's outcome).
    pub(crate) fn respond(&self, status: StatusCode, body: serde_json::Value) -> Response {
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.kind.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self.kind);
        response
    }

    /// The contract's form of this error, for an `error` event.
    pub fn to_api(&self) -> ApiError {
        ApiError {
            kind: self.kind.anthropic_type().to_string(),
            message: self.message.clone(),
        }
    }
}

impl From<ApiError> for ServeError {
    /// The engine's errors keep their class: a request the engine refuses is the
    /// client's to fix (400), anything else is the server's (500).
    fn from(e: ApiError) -> ServeError {
        let kind = match e.kind.as_str() {
            "invalid_request_error" => ErrorKind::InvalidRequest,
            "not_found_error" => ErrorKind::NotFound,
            "overloaded_error" => ErrorKind::Overloaded,
            _ => ErrorKind::Internal,
        };
        ServeError::new(kind, e.message)
    }
}
