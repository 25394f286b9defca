//! Helpers for the end-to-end tests that run the built `hearth` binary.
//!
//! The tests under `tests/tests/` are integration tests of the `hearth` package
//! (declared in `cli/Cargo.toml`), so cargo builds the binary before them and
//! names it in `CARGO_BIN_EXE_hearth`, whatever the profile and target dir;
//! [`hearth!`] hands that path to these helpers. The default model is fetched
//! once per machine into the user's cache dir by `hearth model pull`, exactly as
//! a user would get it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `hearth` binary cargo built for the calling test, as a [`Hearth`].
///
/// Only integration tests of the `hearth` package see `CARGO_BIN_EXE_hearth`,
/// and only at compile time, so the lookup expands in the test itself.
#[macro_export]
macro_rules! hearth {
    () => {
        $crate::Hearth::at(::std::path::Path::new(env!("CARGO_BIN_EXE_hearth")))
    };
}

/// The built `hearth` binary: what the tests run.
#[derive(Clone, Copy, Debug)]
pub struct Hearth {
    bin: &'static Path,
}

impl Hearth {
    /// The binary at `bin`; tests get it from [`hearth!`].
    pub fn at(bin: &'static Path) -> Hearth {
        Hearth { bin }
    }

    /// The binary's path.
    pub fn path(self) -> &'static Path {
        self.bin
    }

    /// A `hearth` command with a clean, predictable environment.
    pub fn command(self) -> Command {
        let mut cmd = Command::new(self.bin);
        cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
        cmd
    }

    /// Runs `hearth` with `args` and returns its output.
    pub fn run(self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}", self.bin.display()))
    }

    /// The default model's local path, pulled on first use (once per machine:
    /// later runs find it in the cache).
    ///
    /// Panics (failing the test) when the pull fails.
    pub fn default_model(self) -> &'static Path {
        static MODEL: OnceLock<PathBuf> = OnceLock::new();
        MODEL.get_or_init(|| {
            let out = self.run(&["model", "pull"]);
            assert!(
                out.status.success(),
                "hearth model pull failed:\n{}",
                stderr_of(&out)
            );
            PathBuf::from(stdout_of(&out).trim())
        })
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The path of a test fixture under `tests/fixtures/`.
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

/// Runs a checking script (`program` with `args`) bounded by `timeout SECONDS` and
/// returns its stdout; fails the test, showing both streams, when the script fails or its
/// stdout lacks `passed` (the line it prints when every check passed).
pub fn run_checks(seconds: u32, program: &str, args: &[&std::ffi::OsStr], passed: &str) -> String {
    let out = Command::new("timeout")
        .arg(seconds.to_string())
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {args:?}: {e}"));
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert!(
        out.status.success() && stdout.contains(passed),
        "{program} {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::workspace_root;

    /// This crate has `autotests = false`, so a file added to `tests/tests/` runs only
    /// once `cli/Cargo.toml` declares it; forgetting that would leave it silently unrun.
    #[test]
    fn every_end_to_end_test_file_is_declared_in_the_hearth_package() {
        let root = workspace_root();
        let manifest = std::fs::read_to_string(root.join("cli/Cargo.toml")).unwrap();
        let mut undeclared = Vec::new();
        for entry in std::fs::read_dir(root.join("tests/tests")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let declared = format!("path = \"../tests/tests/{name}\"");
            if name.ends_with(".rs") && !manifest.contains(&declared) {
                undeclared.push(name);
            }
        }
        assert!(
            undeclared.is_empty(),
            "tests/tests/ files with no [[test]] entry in cli/Cargo.toml (so never run): \
             {undeclared:?}"
        );
    }
}
