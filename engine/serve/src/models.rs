//! Which model names a request may ask for, and the model list (`GET /v1/models`).
//!
//! The choice: a request must name the served model by its id, by `default`, or by an
//! alias the operator gave (the CLI adds the `--model` name it was started with and the
//! file's stem). Anything else is a 404 naming what is served, so a client pointed at
//! the wrong server finds out at once instead of getting another model's answers.
//! Clients that send their own model names (Claude Code sends Anthropic's) are pointed
//! at the served id (`ANTHROPIC_MODEL`) or given aliases (`hearth serve --alias NAME`).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::error::{ErrorKind, ServeError};

/// The served model's id and the other names it answers to (compared ignoring case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelNames {
    /// The id responses carry and `/v1/models` lists.
    pub id: String,
    /// Other accepted names; `default` is always one.
    pub aliases: Vec<String>,
}

impl ModelNames {
    /// The names of model `id`, with `aliases` beside it and `default`.
    pub fn new(id: impl Into<String>, aliases: &[String]) -> ModelNames {
        let id = id.into();
        let mut all = vec!["default".to_string()];
        for a in aliases {
            if !a.eq_ignore_ascii_case(&id) && !all.iter().any(|b| b.eq_ignore_ascii_case(a)) {
                all.push(a.clone());
            }
        }
        ModelNames { id, aliases: all }
    }

    /// Whether `requested` names the served model; a 404 naming both if not.
    pub fn check(&self, requested: &str) -> Result<(), ServeError> {
        let requested = requested.trim();
        if requested.eq_ignore_ascii_case(&self.id)
            || self
                .aliases
                .iter()
                .any(|a| a.eq_ignore_ascii_case(requested))
        {
            return Ok(());
        }
        Err(ServeError::new(
            ErrorKind::NotFound,
            format!(
                "model: {requested:?} is not served here; this server serves {:?} \
                 (also accepted: {})",
                self.id,
                self.aliases.join(", ")
            ),
        ))
    }
}

/// `GET /v1/models`: the Messages API's list shape, with the fields OpenAI clients and
/// routers read (`object`, `owned_by`, `created`) beside Anthropic's.
pub(crate) async fn list(State(state): State<std::sync::Arc<AppState>>) -> Json<Value> {
    let id = &state.names.id;
    Json(json!({
        "object": "list",
        "data": [{
            "type": "model",
            "object": "model",
            "id": id,
            "display_name": id,
            "created_at": state.started_rfc3339,
            "created": state.started_unix,
            "owned_by": "hearth",
            "context_window": state.runner.context_tokens(),
        }],
        "has_more": false,
        "first_id": id,
        "last_id": id,
    }))
}

/// `GET /v1/models/{id}`: the one model, or a 404.
pub(crate) async fn get_one(
    State(state): State<std::sync::Arc<AppState>>,
    axum::extract::Path(requested): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.names.check(&requested) {
        Ok(()) => Json(json!({
            "type": "model",
            "object": "model",
            "id": state.names.id,
            "display_name": state.names.id,
            "created_at": state.started_rfc3339,
            "created": state.started_unix,
            "owned_by": "hearth",
        }))
        .into_response(),
        Err(e) => crate::anthropic::error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_id_default_and_aliases_are_accepted_and_nothing_else() {
        let names = ModelNames::new("qwen-tiny", &["tiny".into(), "QWEN-TINY".into()]);
        for ok in ["qwen-tiny", "Qwen-Tiny", "default", "tiny", " tiny "] {
            names.check(ok).unwrap();
        }
        let err = names.check("claude-sonnet-4-5").unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.contains("claude-sonnet-4-5"), "{}", err.message);
        assert!(err.message.contains("qwen-tiny"), "{}", err.message);
    }
}
