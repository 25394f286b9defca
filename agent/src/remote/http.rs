//! The HTTP side of an endpoint: its URLs, its key, and errors that name it.

use std::time::Duration;

use hearth_engine::api::ApiError;
use serde_json::Value;

use super::Api;

/// How long to wait for a connection. Reading has no limit: on a CPU a long prompt can take
/// minutes before the first token, and servers keep such streams alive themselves.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of an error body quoted in a message.
const MAX_QUOTED_BODY: usize = 600;

/// A server and how to authenticate to it.
pub(crate) struct Endpoint {
    /// The base URL as given, without a trailing slash.
    base: String,
    api_key: Option<String>,
    client: reqwest::blocking::Client,
}

impl Endpoint {
    /// An endpoint at `base` (with or without a trailing `/v1`).
    pub(crate) fn new(base: &str, api_key: Option<String>) -> Result<Endpoint, ApiError> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(None)
            // A fresh connection per request: between two model requests the agent runs
            // tools for seconds or minutes, longer than servers keep an idle connection
            // (uvicorn: 5 s), and a stream the server aborted leaves its connection dead;
            // reusing either fails with a reset. A connect costs nothing next to a request.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| ApiError::internal(format!("{base}: cannot set up HTTP: {e}")))?;
        Ok(Endpoint {
            base: base.trim_end_matches('/').to_string(),
            api_key,
            client,
        })
    }

    /// The URL of `path` (such as `chat/completions`) under the API's `/v1`. A base that
    /// already ends in `/v1` is used as it is: that is how OpenAI-compatible servers are
    /// usually given (`http://host:8000/v1`), and Anthropic's without it.
    pub(crate) fn url(&self, path: &str) -> String {
        if self.base.ends_with("/v1") {
            format!("{}/{path}", self.base)
        } else {
            format!("{}/v1/{path}", self.base)
        }
    }

    /// POSTs `body` to `path` for a streamed answer. A status other than success is an
    /// error carrying the server's own message.
    pub(crate) fn post(
        &self,
        api: Api,
        path: &str,
        body: &Value,
    ) -> Result<reqwest::blocking::Response, ApiError> {
        let url = self.url(path);
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ApiError::internal(format!("{url}: cannot encode the request: {e}")))?;
        let request = self
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(bytes);
        let request = self.authorize(api, request);
        let response = request.send().map_err(|e| connection_error(&url, &e))?;
        check_status(&url, response)
    }

    /// GETs `path` as JSON.
    pub(crate) fn get_json(&self, api: Api, path: &str) -> Result<Value, ApiError> {
        let url = self.url(path);
        let request = self.authorize(api, self.client.get(&url));
        let response = request.send().map_err(|e| connection_error(&url, &e))?;
        let response = check_status(&url, response)?;
        let text = response
            .text()
            .map_err(|e| ApiError::internal(format!("{url}: cannot read the answer: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| ApiError::internal(format!("{url}: the answer is not JSON ({e})")))
    }

    /// The key in the headers each API expects. The Messages API takes `x-api-key`;
    /// servers that front it (and Claude Code's `ANTHROPIC_AUTH_TOKEN`) also take a Bearer
    /// token, so both go out.
    fn authorize(
        &self,
        api: Api,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        let request = match api {
            // Required by Anthropic's API; others ignore it.
            Api::Messages => request.header("anthropic-version", "2023-06-01"),
            Api::OpenAi | Api::Responses => request,
        };
        let Some(key) = &self.api_key else {
            return request;
        };
        let request = request.bearer_auth(key);
        match api {
            Api::Messages => request.header("x-api-key", key),
            Api::OpenAi | Api::Responses => request,
        }
    }
}

/// A request that got no answer, naming the URL and the innermost cause (which says
/// "Connection refused" rather than reqwest's "error sending request").
pub(crate) fn connection_error(url: &str, error: &reqwest::Error) -> ApiError {
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    ApiError {
        kind: "api_connection_error".to_string(),
        message: format!("{url}: cannot reach the server: {cause}"),
    }
}

/// `response` if its status is a success; otherwise an error with the server's message.
fn check_status(
    url: &str,
    response: reqwest::blocking::Response,
) -> Result<reqwest::blocking::Response, ApiError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().unwrap_or_default();
    let (kind, message) = error_of(&body);
    Err(ApiError {
        kind: kind.unwrap_or_else(|| {
            if status.is_client_error() {
                "invalid_request_error".to_string()
            } else {
                "api_error".to_string()
            }
        }),
        message: format!("{url}: HTTP {status}: {message}"),
    })
}

/// The type and message of an error body in any of the shapes servers use: Anthropic's
/// and OpenAI's `{"error": {"type", "message"}}`, `{"error": "text"}`, FastAPI's
/// `{"detail": …}` (llama-cpp-python), `{"message": …}`; otherwise the body itself.
pub(crate) fn error_of(body: &str) -> (Option<String>, String) {
    let quoted = || {
        let body = body.trim();
        match body.char_indices().nth(MAX_QUOTED_BODY) {
            Some((cut, _)) => format!("{}…", &body[..cut]),
            None if body.is_empty() => "(no message)".to_string(),
            None => body.to_string(),
        }
    };
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return (None, quoted());
    };
    let error = value.get("error").unwrap_or(&value);
    let kind = error
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| *t != "error")
        .map(str::to_string);
    let message = match (error.as_str(), error.get("message"), value.get("detail")) {
        (Some(text), _, _) => text.to_string(),
        (None, Some(Value::String(text)), _) => text.clone(),
        (None, _, Some(Value::String(text))) => text.clone(),
        (None, _, Some(detail)) => detail.to_string(),
        _ => quoted(),
    };
    (kind, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_take_v1_once() {
        let e = Endpoint::new("http://127.0.0.1:8080/", None).unwrap();
        assert_eq!(e.url("messages"), "http://127.0.0.1:8080/v1/messages");
        let e = Endpoint::new("http://host:8000/v1", None).unwrap();
        assert_eq!(
            e.url("chat/completions"),
            "http://host:8000/v1/chat/completions"
        );
    }

    #[test]
    fn error_bodies_give_their_message() {
        let anthropic = r#"{"type":"error","error":{"type":"not_found_error","message":"model: \"x\" is not served"}}"#;
        assert_eq!(
            error_of(anthropic),
            (
                Some("not_found_error".to_string()),
                "model: \"x\" is not served".to_string()
            )
        );
        let openai = r#"{"error":{"message":"n: only 1 is supported","type":"invalid_request_error","code":null}}"#;
        assert_eq!(error_of(openai).1, "n: only 1 is supported");
        let fastapi = r#"{"detail":[{"loc":["body","messages"],"msg":"field required"}]}"#;
        assert!(error_of(fastapi).1.contains("field required"));
        assert_eq!(error_of("Bad Gateway").1, "Bad Gateway");
        assert_eq!(error_of("").1, "(no message)");
    }
}
