//! Helpers for the end-to-end tests that run the built `hearth` binary.
//!
//! The binary is built once per test process with the same cargo that runs
//! the tests; the default model is fetched once per machine into the user's
//! cache dir by `hearth model pull`, exactly as a user would get it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The path of the `hearth` binary, building it on first use.
///
/// Panics (failing the test) when the build fails.
pub fn hearth_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "hearth", "--bin", "hearth"])
            .current_dir(workspace_root())
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo to build hearth: {e}"));
        assert!(status.success(), "building the hearth binary failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace_root().join("target"));
        let bin = target
            .join("debug")
            .join(format!("hearth{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// A `hearth` command with a clean, predictable environment.
pub fn hearth() -> Command {
    let mut cmd = Command::new(hearth_bin());
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

/// Runs `hearth` with `args` and returns its output.
pub fn run_hearth(args: &[&str]) -> Output {
    hearth()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run hearth {args:?}: {e}"))
}

/// The default model's local path, pulled on first use (once per machine:
/// later runs find it in the cache).
pub fn default_model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let out = hearth()
            .args(["model", "pull"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run hearth model pull: {e}"));
        assert!(
            out.status.success(),
            "hearth model pull failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        PathBuf::from(path)
    })
}

/// The text of a test fixture under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests").join("fixtures").join(name)
}

/// stdout as UTF-8 text.
pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as UTF-8 text.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
