//! Finding a repository's test command: from the task's words, the project's instruction
//! files, or the build files that name a test runner.

use std::fmt;
use std::path::Path;

use crate::fs::read_source;
use crate::walk::walk_files;

/// The instruction files searched for a test command, in this order.
const INSTRUCTION_FILES: [&str; 2] = ["AGENTS.md", "HEARTH.md"];

/// The largest file read while detecting (build files and instructions are small; a larger
/// one is not what it seems).
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// The most Python files looked at for `unittest` imports: enough for a small project,
/// bounded for a large one.
const MAX_PYTHON_TEST_FILES: usize = 64;

/// The first words of a command line that runs a program a project's tests are run with:
/// a code span starting otherwise (`tests/`, `parse_date`) is not a command.
const RUNNERS: &[&str] = &[
    "bash", "bun", "cargo", "ctest", "deno", "go", "gradle", "just", "make", "mvn", "node", "npm",
    "npx", "nox", "pnpm", "pytest", "python", "python3", "sh", "tox", "yarn",
];

/// What `npm init` writes as the test script: a project with it has no tests.
const NPM_PLACEHOLDER: &str = "Error: no test specified";

/// A test command and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCommand {
    /// The command line, run with `sh -c` in the repository root.
    pub command: String,
    /// Where it came from.
    pub source: TestCommandSource,
}

/// Where a [`TestCommand`] was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestCommandSource {
    /// The task's text named it.
    Task,
    /// A project instruction file (`AGENTS.md`, `HEARTH.md`) named it.
    Instructions(String),
    /// Inferred from this project file (`Cargo.toml`, `package.json`, a Python test file…),
    /// a path relative to the repository root.
    ProjectFile(String),
}

impl fmt::Display for TestCommandSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestCommandSource::Task => f.write_str("the task"),
            TestCommandSource::Instructions(file) | TestCommandSource::ProjectFile(file) => {
                f.write_str(file)
            }
        }
    }
}

/// The test command of the repository at `root` for `task`: a command the task names (as
/// in "run `pytest -q`"), else one a line about tests in `AGENTS.md` or `HEARTH.md` names
/// (inline or in a fenced block), else the one its build files imply (`Cargo.toml`,
/// `package.json` with a real `test` script, Python test configuration or test files, a
/// `Makefile` with a `test` or `check` target, `go.mod`, in this order), else a test script
/// by its conventional name (`tests/run.sh`, `test.sh`, `run_tests.sh`). `None` when
/// nothing says how the tests run.
pub fn detect_test_command(root: &Path, task: &str) -> Option<TestCommand> {
    if let Some(command) = command_in_text(task) {
        return Some(TestCommand {
            command,
            source: TestCommandSource::Task,
        });
    }
    for name in INSTRUCTION_FILES {
        let Some(text) = read(root, name) else {
            continue;
        };
        if let Some(command) = command_in_text(&text) {
            return Some(TestCommand {
                command,
                source: TestCommandSource::Instructions(name.to_string()),
            });
        }
    }
    from_project_files(root)
}

fn read(root: &Path, name: &str) -> Option<String> {
    let path = root.join(name);
    path.is_file()
        .then(|| read_source(&path, MAX_FILE_BYTES))
        .flatten()
}

/// Whether `line` talks about tests (`pytest`, `Testing`, `make check` count).
fn mentions_tests(line: &str) -> bool {
    let lower = line.to_lowercase();
    lower.contains("test") || lower.contains("check")
}

/// Whether `span` is a command line a project runs, judged by its first word.
fn looks_like_command(span: &str) -> bool {
    let Some(first) = span.split_whitespace().next() else {
        return false;
    };
    RUNNERS.contains(&first) || first.starts_with("./") || first.ends_with(".sh")
}

/// The first test command in `text`: an inline code span that is a command and mentions
/// tests, or is on a line whose prose does; or a command line in a fenced block that mentions tests itself or
/// follows a line (a heading, a sentence) that does.
fn command_in_text(text: &str) -> Option<String> {
    let mut in_fence = false;
    let mut fence_about_tests = false;
    let mut previous = "";
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            fence_about_tests = in_fence && mentions_tests(previous);
            continue;
        }
        if in_fence {
            let command = trimmed.strip_prefix("$ ").unwrap_or(trimmed).trim();
            if looks_like_command(command) && (fence_about_tests || mentions_tests(command)) {
                return Some(command.to_string());
            }
            continue;
        }
        if !trimmed.is_empty() {
            previous = trimmed;
        }
        // Odd-numbered pieces between backticks are the inline code spans; the words around
        // them say what the line is about (a span naming a `tests/` folder does not).
        let prose_about_tests = mentions_tests(&trimmed.split('`').step_by(2).collect::<String>());
        let mut spans = trimmed.split('`').skip(1).step_by(2).map(str::trim);
        if let Some(span) =
            spans.find(|s| looks_like_command(s) && (prose_about_tests || mentions_tests(s)))
        {
            return Some(span.to_string());
        }
    }
    None
}

/// The test command the project's build files imply.
fn from_project_files(root: &Path) -> Option<TestCommand> {
    let found = |command: &str, file: &str| {
        Some(TestCommand {
            command: command.to_string(),
            source: TestCommandSource::ProjectFile(file.to_string()),
        })
    };
    if root.join("Cargo.toml").is_file() {
        return found("cargo test", "Cargo.toml");
    }
    if let Some(text) = read(root, "package.json") {
        if npm_has_tests(&text) {
            return found("npm test", "package.json");
        }
    }
    if let Some(command) = python_tests(root) {
        return Some(command);
    }
    if let Some(text) = read(root, "Makefile") {
        for target in ["test", "check"] {
            if has_make_target(&text, target) {
                return found(&format!("make {target}"), "Makefile");
            }
        }
    }
    if root.join("go.mod").is_file() {
        return found("go test ./...", "go.mod");
    }
    TEST_SCRIPTS
        .iter()
        .find(|script| root.join(script).is_file())
        .and_then(|script| found(&format!("sh {script}"), script))
}

/// Shell scripts that run a project's tests by their conventional names, looked for when no
/// build file says how the tests run (a shell project has none).
const TEST_SCRIPTS: [&str; 6] = [
    "tests/run.sh",
    "test/run.sh",
    "tests/test.sh",
    "test.sh",
    "run_tests.sh",
    "run-tests.sh",
];

/// Whether a `package.json` has a `test` script other than npm's placeholder.
fn npm_has_tests(text: &str) -> bool {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    json.pointer("/scripts/test")
        .and_then(|script| script.as_str())
        .is_some_and(|script| !script.trim().is_empty() && !script.contains(NPM_PLACEHOLDER))
}

/// Whether a Makefile defines `target` (`test:` or `test: deps`, not `test := x`).
fn has_make_target(text: &str, target: &str) -> bool {
    text.lines().any(|line| {
        line.strip_prefix(target).is_some_and(|rest| {
            let rest = rest.trim_start();
            rest.starts_with(':') && !rest.starts_with(":=")
        })
    })
}

/// pytest when the project configures Python tests or has test files, unless the test
/// files use `unittest` and nothing mentions pytest: then `python3 -m unittest`.
fn python_tests(root: &Path) -> Option<TestCommand> {
    let pytest = |file: &str| {
        Some(TestCommand {
            command: "python3 -m pytest -q".to_string(),
            source: TestCommandSource::ProjectFile(file.to_string()),
        })
    };
    for config in ["pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini"] {
        if root.join(config).is_file() {
            return pytest(config);
        }
    }
    let tests: Vec<String> = walk_files(root, root)
        .iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let is_test =
                name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"));
            is_test.then(|| path.strip_prefix(root).ok()?.to_str().map(str::to_string))?
        })
        .take(MAX_PYTHON_TEST_FILES)
        .collect();
    let first = tests.first()?;
    let sources: Vec<String> = tests
        .iter()
        .filter_map(|file| read_source(&root.join(file), MAX_FILE_BYTES))
        .collect();
    let uses_pytest = sources.iter().any(|s| s.contains("pytest"));
    let uses_unittest = sources
        .iter()
        .any(|s| s.contains("import unittest") || s.contains("from unittest"));
    if uses_pytest || !uses_unittest {
        return pytest(first);
    }
    // unittest discovers `test*.py` by default; files named the other way need a pattern.
    let command = if tests.iter().any(|file| file_name(file).starts_with("test")) {
        "python3 -m unittest"
    } else {
        "python3 -m unittest discover -p '*_test.py'"
    };
    Some(TestCommand {
        command: command.to_string(),
        source: TestCommandSource::ProjectFile(first.clone()),
    })
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::test_support::repo_with as repo;

    fn detect(files: &[(&str, &str)], task: &str) -> Option<(String, String)> {
        let dir = repo(files);
        detect_test_command(dir.path(), task).map(|t| (t.command, t.source.to_string()))
    }

    fn found(command: &str, source: &str) -> Option<(String, String)> {
        Some((command.to_string(), source.to_string()))
    }

    #[test]
    fn the_task_names_the_command_first() {
        let files = [("Cargo.toml", "[package]\n")];
        assert_eq!(
            detect(&files, "Fix `parse_date`, then run `pytest -q tests/`."),
            found("pytest -q tests/", "the task")
        );
        assert_eq!(
            detect(
                &files,
                "Why does it fail?\nRun the tests with `npm run unit`."
            ),
            found("npm run unit", "the task")
        );
        // A code span that is no command, or a command on a line not about tests, is not it.
        assert_eq!(
            detect(&files, "Rename `tests/` and run `cargo fmt`."),
            found("cargo test", "Cargo.toml")
        );
    }

    #[test]
    fn instruction_files_name_it_inline_or_fenced() {
        let inline = [
            (
                "AGENTS.md",
                "# Notes\nTests live in `tests/`.\nRun the tests with `make check-all`.\n",
            ),
            ("Cargo.toml", ""),
        ];
        assert_eq!(
            detect(&inline, "fix it"),
            found("make check-all", "AGENTS.md")
        );
        let fenced = [(
            "HEARTH.md",
            "## Running the tests\n\n```sh\n# fast\n$ ./scripts/test.sh --quick\n```\n",
        )];
        assert_eq!(
            detect(&fenced, "fix it"),
            found("./scripts/test.sh --quick", "HEARTH.md")
        );
        // A fenced block under a heading that is not about tests is skipped.
        let other = [
            ("AGENTS.md", "## Build\n```\ncargo build\n```\n"),
            ("go.mod", ""),
        ];
        assert_eq!(detect(&other, "x"), found("go test ./...", "go.mod"));
    }

    #[test]
    fn cargo_and_npm_projects() {
        assert_eq!(
            detect(&[("Cargo.toml", "[package]\n")], "x"),
            found("cargo test", "Cargo.toml")
        );
        let npm = r#"{"scripts": {"test": "node --test"}}"#;
        assert_eq!(
            detect(&[("package.json", npm)], "x"),
            found("npm test", "package.json")
        );
        let placeholder = r#"{"scripts": {"test": "echo \"Error: no test specified\" && exit 1"}}"#;
        assert_eq!(detect(&[("package.json", placeholder)], "x"), None);
        assert_eq!(detect(&[("package.json", "{not json")], "x"), None);
    }

    #[test]
    fn python_projects_use_pytest_or_unittest() {
        assert_eq!(
            detect(&[("pyproject.toml", "[project]\n")], "x"),
            found("python3 -m pytest -q", "pyproject.toml")
        );
        assert_eq!(
            detect(&[("tox.ini", "")], "x"),
            found("python3 -m pytest -q", "tox.ini")
        );
        let plain = [("tests/test_dates.py", "def test_x():\n    assert 1\n")];
        assert_eq!(
            detect(&plain, "x"),
            found("python3 -m pytest -q", "tests/test_dates.py")
        );
        let unit = [(
            "test_dates.py",
            "import unittest\nclass T(unittest.TestCase): pass\n",
        )];
        assert_eq!(
            detect(&unit, "x"),
            found("python3 -m unittest", "test_dates.py")
        );
        let suffix = [("dates_test.py", "from unittest import TestCase\n")];
        assert_eq!(
            detect(&suffix, "x"),
            found(
                "python3 -m unittest discover -p '*_test.py'",
                "dates_test.py"
            )
        );
    }

    #[test]
    fn makefile_targets_and_go_modules() {
        assert_eq!(
            detect(
                &[("Makefile", "all: build\n\ntest: build\n\tsh t.sh\n")],
                "x"
            ),
            found("make test", "Makefile")
        );
        assert_eq!(
            detect(&[("Makefile", "check:\n\tsh t.sh\n")], "x"),
            found("make check", "Makefile")
        );
        // A variable named like a target is not one.
        assert_eq!(detect(&[("Makefile", "test := 1\nall:\n")], "x"), None);
        assert_eq!(
            detect(&[("go.mod", "module x\n")], "x"),
            found("go test ./...", "go.mod")
        );
        assert_eq!(detect(&[("README.md", "hello")], "x"), None);
    }

    #[test]
    fn a_test_script_by_its_conventional_name_when_no_build_file_says() {
        assert_eq!(
            detect(&[("tests/run.sh", "echo ok\n"), ("lib/a.sh", "")], "x"),
            found("sh tests/run.sh", "tests/run.sh")
        );
        assert_eq!(
            detect(&[("run_tests.sh", "echo ok\n")], "x"),
            found("sh run_tests.sh", "run_tests.sh")
        );
        // A build file comes first.
        assert_eq!(
            detect(
                &[("tests/run.sh", ""), ("Makefile", "test:\n\tsh t.sh\n")],
                "x"
            ),
            found("make test", "Makefile")
        );
    }
}
