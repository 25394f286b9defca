//! What the engine's integration tests share.

use std::path::PathBuf;

/// The default model's file name in the cache.
pub const MODEL_FILE: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// The default model, if this machine has it: `$HEARTH_TEST_MODEL`, else the
/// CLI's cache (`$XDG_CACHE_HOME/hearth/models`, default `~/.cache/hearth/models`).
/// When it is absent, says loudly which test (`what`) is skipped.
pub fn default_model(what: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HEARTH_TEST_MODEL").map(PathBuf::from),
        std::env::var_os("XDG_CACHE_HOME")
            .map(|d| PathBuf::from(d).join("hearth/models").join(MODEL_FILE)),
        std::env::var_os("HOME").map(|d| {
            PathBuf::from(d)
                .join(".cache/hearth/models")
                .join(MODEL_FILE)
        }),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        eprintln!(
            "\n*** SKIPPED: {what} needs {MODEL_FILE}: set HEARTH_TEST_MODEL or put it in \
             $XDG_CACHE_HOME/hearth/models (default ~/.cache/hearth/models) ***\n"
        );
    }
    found
}
