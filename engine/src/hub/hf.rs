//! Downloading a model file from the Hugging Face hub (or any server with the
//! same `{endpoint}/{repo}/resolve/main/{file}` layout).

use std::path::Path;
use std::time::Duration;

use super::catalog::ModelSource;
use super::error::{error_chain, FetchError};
use super::progress;
use super::staging::StagedFile;

/// How long to wait for a TCP (and TLS) connection before giving up on the hub.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The blocking client applies this to each send and to each read of the
/// body, so it catches a stalled transfer without limiting a slow, steady one.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The download URL of `model` on the hub at `endpoint`.
pub(crate) fn url(endpoint: &str, model: &ModelSource) -> String {
    format!(
        "{}/{}/resolve/main/{}",
        endpoint.trim_end_matches('/'),
        model.hf_repo,
        model.hf_file
    )
}

/// Downloads `model` from `url` into `dest`, verified, with an optional
/// bearer `token`. Blocking: call it from a thread that is not running an
/// async runtime (reqwest's blocking client starts its own).
pub(crate) fn download(
    model: &ModelSource,
    url: &str,
    token: Option<&str>,
    dest: &Path,
    show_progress: bool,
) -> Result<(), FetchError> {
    let http_err = |e: &dyn std::error::Error| FetchError::Http {
        url: url.to_string(),
        detail: error_chain(e),
    };
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(STALL_TIMEOUT)
        .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| http_err(&e))?;
    let mut request = client.get(url);
    if let Some(token) = token {
        // reqwest drops this header when a redirect leaves the host, so the
        // token never reaches the CDN the hub redirects to.
        request = request.bearer_auth(token);
    }
    let mut response = request.send().map_err(|e| http_err(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::HttpStatus {
            url: url.to_string(),
            status: status.as_u16(),
            hint: status_hint(status.as_u16(), token.is_some()),
        });
    }
    if let Some(length) = response.content_length() {
        if length != model.size {
            return Err(FetchError::SizeMismatch {
                what: format!("the file at {url} (by its Content-Length)"),
                actual: length,
                expected: model.size,
            });
        }
    }
    let what = format!("the file downloaded from {url}");
    let mut staged = StagedFile::create(model, dest)?;
    let bar = progress::bytes_bar(
        show_progress,
        model.size,
        format!("downloading {}", model.file_name),
    );
    let copied = staged.append_from(&mut response, &what, &bar, |e| http_err(&e));
    bar.finish_and_clear();
    copied?;
    staged.commit(dest, &what)
}

/// Advice for an error status whose usual cause is known.
fn status_hint(status: u16, has_token: bool) -> &'static str {
    match status {
        401 | 403 if has_token => " (is the token valid, and has it access to this repository?)",
        401 | 403 => " (the repository may be gated or private: pass a Hugging Face token)",
        404 => " (no such repository or file at this endpoint)",
        429 => " (rate limited: try again later, or pass a Hugging Face token)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::catalog::default_model;

    #[test]
    fn url_follows_the_resolve_layout() {
        let m = default_model();
        let expected = "https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
        assert_eq!(url("https://huggingface.co", m), expected);
        assert_eq!(url("https://huggingface.co/", m), expected);
    }

    #[test]
    fn auth_failures_explain_the_token() {
        assert!(status_hint(401, false).contains("token"));
        assert!(status_hint(403, true).contains("token valid"));
        assert_eq!(status_hint(500, false), "");
    }
}
