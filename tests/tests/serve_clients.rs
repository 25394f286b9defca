//! The official client SDKs against the built `hearth serve` on loopback:
//! tests/clients/run.sh starts the server on the tiny model and runs the `anthropic` SDK
//! (streaming and not, a tool round trip, thinking, cache fields, every error case) and
//! the `openai` SDK (Chat Completions, legacy Completions and the Responses API: streaming
//! and not, tool round trips, reasoning, cached tokens, errors, previous_response_id).
//!
//! The SDKs are installed with pip into a venv outside the repository on first use. When
//! that fails (no package index), this test fails: passing without having run the SDK
//! would prove nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_tests::{hearth, run_checks, workspace_root};

#[test]
fn client_sdks_against_hearth_serve() {
    let script = workspace_root().join("tests/clients/run.sh");
    // Every wait inside the script is bounded (pip 600 s, the server's start 60 s, each
    // SDK's checks 600 s); `timeout` bounds the whole in case one is not.
    let stdout = run_checks(
        2000,
        "bash",
        &[script.as_os_str(), hearth!().path().as_os_str()],
        "sdk_anthropic: 7 passed, 0 failed",
    );
    assert!(
        stdout.contains("sdk_openai: 9 passed, 0 failed"),
        "{stdout}"
    );
}
