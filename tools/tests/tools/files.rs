//! read_file, list_files, grep, edit_file and write_file, and the paths they refuse.

use hearth_tools::{OutputLimits, ToolError};
use serde_json::json;

use crate::common::TestRepo;

fn sample() -> TestRepo {
    let repo = TestRepo::plain();
    repo.write(
        "src/lib.rs",
        "pub fn one() {}\npub fn two() {}\n\npub fn three() {}\n",
    );
    repo.write("src/main.rs", "fn main() {\n    hearth::one();\n}\n");
    repo.write("README.md", "# Title\nOne line about ONE thing.\n");
    repo.write(".gitignore", "target/\n*.log\n");
    repo.write("target/debug/out.rs", "pub fn one() {}\n");
    repo.write("build.log", "one\n");
    repo.write(".git/HEAD", "ref: refs/heads/main\n");
    repo
}

#[test]
fn read_file_numbers_lines_and_reads_ranges() {
    let repo = sample();
    assert_eq!(
        repo.text("read_file", json!({"path": "src/lib.rs"})),
        "1\tpub fn one() {}\n2\tpub fn two() {}\n3\t\n4\tpub fn three() {}\n"
    );
    assert_eq!(
        repo.text(
            "read_file",
            json!({"path": "src/lib.rs", "start_line": 2, "end_line": "3"})
        ),
        "2\tpub fn two() {}\n3\t\n"
    );
    let absolute = repo.path("src/main.rs");
    assert!(repo
        .text("read_file", json!({"path": absolute}))
        .starts_with("1\tfn main() {\n"));
    let error = repo.error("read_file", json!({"path": "src/lib.rs", "start_line": 9}));
    assert!(
        error
            .to_string()
            .contains("past the end of the file, which has 4 lines"),
        "{error}"
    );
    assert!(error.is_model_fixable());
}

#[test]
fn read_file_cuts_long_files_and_says_where_to_go_on() {
    let repo = sample();
    let long: String = (1..=5_000).map(|i| format!("line {i}\n")).collect();
    repo.write("long.txt", long);
    let output = repo.call("read_file", json!({"path": "long.txt"})).unwrap();
    assert!(output.truncated);
    assert!(
        output.text.starts_with("   1\tline 1\n"),
        "{}",
        &output.text[..40]
    );
    assert!(output.text.contains(" 400\tline 400\n"));
    assert!(!output.text.contains("line 401\n"));
    assert!(
        output
            .text
            .ends_with("[… 4,600 more lines cut; read on with start_line=401]\n"),
        "{}",
        output.text
    );
}

#[test]
fn read_file_refuses_binary_missing_and_directories() {
    let repo = sample();
    repo.write("image.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    assert!(matches!(
        repo.error("read_file", json!({"path": "image.png"})),
        ToolError::Binary { .. }
    ));
    assert!(matches!(
        repo.error("read_file", json!({"path": "nope.rs"})),
        ToolError::NotFound { .. }
    ));
    assert!(matches!(
        repo.error("read_file", json!({"path": "src"})),
        ToolError::IsDirectory { .. }
    ));
    let error = repo.error("read_file", json!({"file": "src/lib.rs"}));
    assert!(
        matches!(
            error,
            ToolError::BadArguments {
                tool: "read_file",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn paths_outside_the_repository_are_refused() {
    let repo = sample();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret\n").unwrap();
    let absolute_outside = outside.path().join("secret.txt");
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path(), repo.path("escape")).unwrap();
    for path in [
        json!("../secret.txt"),
        json!("src/../../secret.txt"),
        json!(absolute_outside),
        json!("escape/secret.txt"),
    ] {
        let error = repo.error("read_file", json!({"path": path}));
        assert!(
            matches!(error, ToolError::OutsideRepository { .. }),
            "{path}: {error}"
        );
        assert!(error.is_model_fixable());
    }
    assert!(matches!(
        repo.error("list_files", json!({"path": ".."})),
        ToolError::OutsideRepository { .. }
    ));
    assert!(matches!(
        repo.error("grep", json!({"pattern": "x", "path": "/"})),
        ToolError::OutsideRepository { .. }
    ));
    let error = repo.error(
        "write_file",
        json!({"path": "escape/planted.txt", "content": "x"}),
    );
    assert!(
        matches!(error, ToolError::OutsideRepository { .. }),
        "{error}"
    );
    assert!(!outside.path().join("planted.txt").exists());
    let error = repo.error(
        "edit_file",
        json!({"path": absolute_outside, "old": "secret", "new": "public"}),
    );
    assert!(
        matches!(error, ToolError::OutsideRepository { .. }),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&absolute_outside).unwrap(),
        "secret\n"
    );
}

#[test]
fn list_files_hides_ignored_files_and_sorts() {
    let repo = sample();
    assert_eq!(
        repo.text("list_files", json!({})),
        ".gitignore\nREADME.md\nsrc/lib.rs\nsrc/main.rs\n"
    );
    assert_eq!(
        repo.text("list_files", json!({"pattern": "*.rs"})),
        "src/lib.rs\nsrc/main.rs\n"
    );
    assert_eq!(
        repo.text("list_files", json!({"path": "src", "pattern": "src/m*.rs"})),
        "src/main.rs\n"
    );
    assert_eq!(
        repo.text("list_files", json!({"pattern": "*.py"})),
        "(no files match `*.py`)\n"
    );
    assert!(matches!(
        repo.error("list_files", json!({"path": "missing"})),
        ToolError::NotFound { .. }
    ));
}

#[test]
fn list_files_cuts_long_listings() {
    let mut repo = TestRepo::plain();
    for i in 0..250 {
        repo.write(&format!("data/file{i:03}.txt"), "x");
    }
    repo.ctx.limits = OutputLimits {
        max_lines: 10,
        ..OutputLimits::default()
    };
    let output = repo.call("list_files", json!({})).unwrap();
    assert!(output.truncated);
    assert!(output.text.starts_with("data/file000.txt\n"));
    assert!(output.text.ends_with(
        "data/file009.txt\n[… 240 more files cut; narrow the listing with path or pattern]\n"
    ));
}

#[test]
fn grep_reports_file_line_text_and_skips_ignored_and_binary_files() {
    let repo = sample();
    repo.write("blob.bin", b"pub fn one\0");
    assert_eq!(
        repo.text("grep", json!({"pattern": r"fn (one|main)"})),
        "src/lib.rs:1: pub fn one() {}\nsrc/main.rs:1: fn main() {\n"
    );
    assert_eq!(
        repo.text(
            "grep",
            json!({"pattern": "one", "case_insensitive": true, "glob": "*.md"})
        ),
        "README.md:2: One line about ONE thing.\n"
    );
    assert_eq!(
        repo.text("grep", json!({"pattern": "three", "path": "src/lib.rs"})),
        "src/lib.rs:4: pub fn three() {}\n"
    );
    assert_eq!(
        repo.text("grep", json!({"pattern": "zebra"})),
        "(no matches for `zebra`)\n"
    );
    let error = repo.error("grep", json!({"pattern": "fn ("}));
    assert!(
        matches!(error, ToolError::InvalidPattern { what: "regex", .. }),
        "{error}"
    );
}

#[test]
fn grep_cuts_long_results() {
    let mut repo = TestRepo::plain();
    repo.write("many.txt", "match\n".repeat(1_500));
    repo.ctx.limits = OutputLimits {
        max_lines: 100,
        ..OutputLimits::default()
    };
    let output = repo.call("grep", json!({"pattern": "match"})).unwrap();
    assert!(output.truncated);
    assert_eq!(output.text.lines().count(), 101);
    assert!(output.text.ends_with(
        "many.txt:100: match\n[… 1,400 more matches cut; narrow the search with path or glob]\n"
    ));
}

#[test]
fn edit_file_replaces_a_unique_snippet_and_returns_the_diff() {
    let repo = sample();
    let output = repo
        .call("edit_file", json!({"path": "src/lib.rs", "old": "pub fn two() {}", "new": "pub fn two() -> u8 { 2 }"}))
        .unwrap();
    assert_eq!(
        repo.read("src/lib.rs"),
        "pub fn one() {}\npub fn two() -> u8 { 2 }\n\npub fn three() {}\n"
    );
    assert!(
        output
            .text
            .starts_with("Edited src/lib.rs at line 2:\n--- a/src/lib.rs\n+++ b/src/lib.rs\n"),
        "{}",
        output.text
    );
    assert!(output
        .text
        .contains("\n-pub fn two() {}\n+pub fn two() -> u8 { 2 }\n"));
    let change = output.changes.into_iter().next().unwrap();
    assert_eq!(change.path, "src/lib.rs");
    assert_eq!(
        change.before.as_deref(),
        Some("pub fn one() {}\npub fn two() {}\n\npub fn three() {}\n")
    );
    assert_eq!(change.after, repo.read("src/lib.rs"));
    assert!(change.diff.contains("@@ -1,4 +1,4 @@"));
}

#[test]
fn edit_file_refuses_missing_and_repeated_snippets_with_hints() {
    let repo = sample();
    repo.write("dup.txt", "x = 1\ny = 2\nx = 1\nz = 3\nx = 1\n");
    let error = repo.error(
        "edit_file",
        json!({"path": "dup.txt", "old": "x = 1", "new": "x = 9"}),
    );
    assert!(
        matches!(error, ToolError::NotUnique { count: 3, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("occurs 3 times") && error.to_string().contains("lines 1, 3, 5"),
        "{error}"
    );

    let error = repo.error(
        "edit_file",
        json!({"path": "src/lib.rs", "old": "pub fn tow() {}", "new": "x"}),
    );
    assert!(matches!(error, ToolError::NotFoundInFile { .. }), "{error}");
    assert!(
        error
            .to_string()
            .ends_with("closest line is 2 (93% alike). Copy the text exactly, without the line numbers:\n2\tpub fn two() {}"),
        "{error}"
    );
    // Indented wrongly and misspelt: the closest lines, as the file indents them.
    let error = repo.error(
        "edit_file",
        json!({"path": "src/main.rs", "old": "fn main() {\nhearth::onne();", "new": "x"}),
    );
    assert!(
        error
            .to_string()
            .ends_with(":\n1\tfn main() {\n2\t    hearth::one();"),
        "{error}"
    );
    assert_eq!(
        repo.read("src/main.rs"),
        "fn main() {\n    hearth::one();\n}\n"
    );
    assert_eq!(repo.read("dup.txt"), "x = 1\ny = 2\nx = 1\nz = 3\nx = 1\n");

    let error = repo.error(
        "edit_file",
        json!({"path": "src/lib.rs", "old": "", "new": "x"}),
    );
    assert!(matches!(error, ToolError::BadArguments { .. }));
    repo.write("photo.jpg", b"\xff\xd8\0\0");
    assert!(matches!(
        repo.error(
            "edit_file",
            json!({"path": "photo.jpg", "old": "a", "new": "b"})
        ),
        ToolError::Binary { .. }
    ));
}

#[test]
fn edit_file_keeps_crlf_line_endings() {
    let repo = TestRepo::plain();
    repo.write("win.txt", "first\r\nsecond\r\nthird\r\n");
    repo.call(
        "edit_file",
        json!({"path": "win.txt", "old": "first\nsecond", "new": "1st\n2nd"}),
    )
    .unwrap();
    assert_eq!(repo.read("win.txt"), "1st\r\n2nd\r\nthird\r\n");
}

#[test]
fn writes_into_git_are_refused() {
    let repo = sample();
    for path in [
        ".git/HEAD",
        ".git/hooks/pre-commit",
        "src/../.git/config",
        "vendor/.git/config",
    ] {
        let error = repo.error(
            "write_file",
            json!({"path": path, "content": "x", "overwrite": true}),
        );
        assert!(
            matches!(error, ToolError::GitDirWrite { .. }),
            "{path}: {error}"
        );
    }
    let error = repo.error(
        "edit_file",
        json!({"path": ".git/HEAD", "old": "main", "new": "evil"}),
    );
    assert!(matches!(error, ToolError::GitDirWrite { .. }), "{error}");
    assert_eq!(repo.read(".git/HEAD"), "ref: refs/heads/main\n");
    assert!(!repo.path(".git/hooks").exists());
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(".git", repo.path("innocent")).unwrap();
        let error = repo.error(
            "write_file",
            json!({"path": "innocent/config", "content": "x"}),
        );
        assert!(matches!(error, ToolError::GitDirWrite { .. }), "{error}");
    }
}

#[test]
fn write_file_creates_files_and_directories_but_overwrites_only_when_asked() {
    let repo = sample();
    let output = repo
        .call(
            "write_file",
            json!({"path": "docs/guide/intro.md", "content": "# Intro\nHello\n"}),
        )
        .unwrap();
    assert_eq!(
        output.text,
        "Created docs/guide/intro.md (2 lines, 14 bytes)\n"
    );
    assert_eq!(repo.read("docs/guide/intro.md"), "# Intro\nHello\n");
    let change = output.changes.into_iter().next().unwrap();
    assert_eq!(change.before, None);
    assert!(
        change
            .diff
            .starts_with("--- /dev/null\n+++ b/docs/guide/intro.md\n"),
        "{}",
        change.diff
    );

    let error = repo.error(
        "write_file",
        json!({"path": "docs/guide/intro.md", "content": "new"}),
    );
    assert!(matches!(error, ToolError::AlreadyExists { .. }), "{error}");
    assert_eq!(repo.read("docs/guide/intro.md"), "# Intro\nHello\n");

    let output = repo
        .call("write_file", json!({"path": "docs/guide/intro.md", "content": "# Intro\nBye\n", "overwrite": "true"}))
        .unwrap();
    assert!(output.text.contains("-Hello\n+Bye\n"), "{}", output.text);
    assert_eq!(
        output.changes[0].before.as_deref(),
        Some("# Intro\nHello\n")
    );
    assert!(matches!(
        repo.error("write_file", json!({"path": "src", "content": "x"})),
        ToolError::IsDirectory { .. }
    ));
    let error = repo.error(
        "write_file",
        json!({"path": "README.md/child.txt", "content": "x"}),
    );
    assert!(matches!(error, ToolError::BadArguments { .. }), "{error}");
}
