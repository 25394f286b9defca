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

use std::path::Path;
use std::process::Command;

use hearth_tests::hearth;

#[test]
fn client_sdks_against_hearth_serve() {
    // This package's own directory (cli/), as compiled into this test.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("tests/clients/run.sh");
    // Every wait inside the script is bounded (pip 600 s, the server's start 60 s, each
    // SDK's checks 600 s); `timeout` bounds the whole in case one is not.
    let out = Command::new("timeout")
        .arg("2000")
        .arg("bash")
        .arg(&script)
        .arg(hearth!().path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
    assert!(
        stdout.contains("sdk_anthropic: 7 passed, 0 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sdk_openai: 9 passed, 0 failed"),
        "{stdout}"
    );
}
