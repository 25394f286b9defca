//! What the engine's integration tests share.

use std::path::PathBuf;

/// The default model's file name in the cache.
pub const MODEL_FILE: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// The default model: `$HEARTH_TEST_MODEL`, else the CLI's cache
/// (`$XDG_CACHE_HOME/hearth/models`, default `~/.cache/hearth/models`).
///
/// Only tests marked `#[ignore = "needs the default model ..."]` call this, so they
/// run only when asked for (`--ignored`, as `.ci/run` does once the README's test
/// command has fetched the model); asked for without the model, they fail here
/// rather than pass without checking anything.
pub fn default_model() -> PathBuf {
    let candidates = [
        std::env::var_os("HEARTH_TEST_MODEL").map(PathBuf::from),
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d).join("hearth/models").join(MODEL_FILE)),
        std::env::var_os("HOME").map(|d| {
            PathBuf::from(d)
                .join(".cache/hearth/models")
                .join(MODEL_FILE)
        }),
    ];
    let tried: Vec<PathBuf> = candidates.into_iter().flatten().collect();
    match tried.iter().find(|p| p.is_file()) {
        Some(found) => found.clone(),
        None => panic!(
            "this test needs the default model {MODEL_FILE} and it is not at {tried:?}: \
             fetch it with `hearth model pull` (or run `cargo test --workspace` once), \
             or set HEARTH_TEST_MODEL to its path"
        ),
    }
}
