//! Scale-out through an existing router: tests/clients/smg.sh starts two `hearth serve`
//! replicas on the tiny model and SMG (`smg launch --policy cache_aware`, from PyPI) in
//! front of them on loopback. Both register; requests sharing a prefix stick to one
//! replica and read it from its cache; with one replica killed, requests still succeed.
//!
//! SMG is installed with pip into a venv outside the repository on first use. When that
//! fails (no package index), this test fails: passing without the router would prove
//! nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_tests::{hearth, run_checks, workspace_root};

#[test]
fn two_replicas_behind_smg_share_prefixes_by_replica_and_survive_one_loss() {
    let script = workspace_root().join("tests/clients/smg.sh");
    // The script bounds pip (600 s) and the run (600 s); `timeout` bounds it whole.
    run_checks(
        1300,
        "bash",
        &[script.as_os_str(), hearth!().path().as_os_str()],
        "smg_router: 8 passed, 0 failed",
    );
}
