//! Scale-out through an existing router: tests/clients/smg.sh starts two `hearth serve`
//! replicas on the tiny model and SMG (`smg launch --policy cache_aware`, from PyPI) in
//! front of them on loopback. Both register; requests sharing a prefix stick to one
//! replica and read it from its cache; with one replica killed, requests still succeed.
//!
//! SMG is installed with pip into a venv outside the repository on first use. When that
//! fails (no package index), this test fails: passing without the router would prove
//! nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use hearth_tests::{hearth, workspace_root};

#[test]
fn two_replicas_behind_smg_share_prefixes_by_replica_and_survive_one_loss() {
    let script = workspace_root().join("tests/clients/smg.sh");
    // The script bounds pip (600 s) and the run (600 s); `timeout` bounds it whole.
    let out = Command::new("timeout")
        .arg("1300")
        .arg("bash")
        .arg(&script)
        .arg(hearth!().path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("smg_router: 8 passed, 0 failed"),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
}
