//! Downloading a model file from the Hugging Face hub (or any server with the
//! same `{endpoint}/{repo}/resolve/main/{file}` layout).

use std::path::Path;
use std::time::Duration;

use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;

use crate::catalog::ModelSource;
use crate::error::{error_chain, FetchError};
use crate::progress::{Phase, Progress};
use crate::staging::{partial_path, StagedFile};

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
/// bearer `token`. The bytes go to `{dest}.partial`, which outlives an
/// interrupted transfer (a dropped connection, a killed process): the next
/// call asks only for the rest with `Range: bytes=N-`, or starts again if the
/// server sends the whole file. The sha256 always covers the whole file.
/// Blocking: call it from a thread that is not running an async runtime
/// (reqwest's blocking client starts its own).
pub(crate) fn download(
    model: &ModelSource,
    url: &str,
    token: Option<&str>,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<(), FetchError> {
    let what = format!("the file downloaded from {url}");
    let mut staged = StagedFile::resume(model, &partial_path(dest), progress)?;
    if staged.written() < model.size {
        let received = receive(model, url, token, &mut staged, progress);
        progress.finish();
        received?;
    }
    if staged.written() < model.size {
        // The body ended early without an error; what came is kept.
        return Err(FetchError::SizeMismatch {
            what: format!("{what} (ended early; kept for the next attempt)"),
            actual: staged.written(),
            expected: model.size,
        });
    }
    staged.commit(dest, &what)
}

/// Sends the request (for the rest of the file, if `staged` holds a part)
/// and appends the body to `staged`.
fn receive(
    model: &ModelSource,
    url: &str,
    token: Option<&str>,
    staged: &mut StagedFile<'_>,
    progress: &dyn Progress,
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
    let offset = staged.written();
    if offset > 0 {
        request = request.header(RANGE, format!("bytes={offset}-"));
    }
    let mut response = request.send().map_err(|e| http_err(&e))?;
    let status = response.status();
    match status {
        StatusCode::PARTIAL_CONTENT if offset > 0 => {
            let range = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if content_range_start(range) != Some(offset) {
                return Err(FetchError::Http {
                    url: url.to_string(),
                    detail: format!("asked for bytes {offset}- and got Content-Range `{range}`"),
                });
            }
        }
        // Also a server that ignores ranges: its whole file replaces ours.
        StatusCode::OK => staged.restart()?,
        StatusCode::RANGE_NOT_SATISFIABLE => {
            // What we hold is no prefix of the server's file; the next
            // attempt starts from zero instead of asking again.
            staged.restart()?;
            return Err(FetchError::HttpStatus {
                url: url.to_string(),
                status: status.as_u16(),
                hint: " (the partial download did not fit the file; it was discarded)",
            });
        }
        _ => {
            return Err(FetchError::HttpStatus {
                url: url.to_string(),
                status: status.as_u16(),
                hint: status_hint(status.as_u16(), token.is_some()),
            })
        }
    }
    let remaining = model.size - staged.written();
    if let Some(length) = response.content_length() {
        if length != remaining {
            return Err(FetchError::SizeMismatch {
                what: format!("the data at {url} (by its Content-Length)"),
                actual: length,
                expected: remaining,
            });
        }
    }
    let what = format!("the file downloaded from {url}");
    let size = model.size;
    progress.update(Phase::Downloading, staged.written(), size);
    staged.append_from(
        &mut response,
        &what,
        |done| progress.update(Phase::Downloading, done, size),
        |e| http_err(&e),
    )?;
    Ok(())
}

/// The first byte of a `Content-Range: bytes FIRST-LAST/TOTAL` value.
fn content_range_start(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    let (first, _) = range.split_once('-')?;
    first.trim().parse().ok()
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
    use crate::catalog::default_model;

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

    #[test]
    fn content_range_gives_its_first_byte() {
        assert_eq!(content_range_start("bytes 100-999/1000"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("bytes */1000"), None);
        assert_eq!(content_range_start(""), None);
    }
}
