//! git_status, git_diff, git_log, git_show and git_blame on repositories built with git2.

use hearth_tools::ToolError;
use serde_json::json;

use crate::common::TestRepo;

/// Two commits: the first adds `notes.txt` (two lines) and `src/app.py`, the second
/// changes the second line of `notes.txt`.
fn history() -> (TestRepo, git2::Oid, git2::Oid) {
    let mut repo = TestRepo::new();
    repo.write("notes.txt", "alpha\nbeta\n");
    repo.write("src/app.py", "print('hi')\n");
    let first = repo.commit("Add notes\n\nWith a body line.\n");
    repo.write("notes.txt", "alpha\nBETA\n");
    let second = repo.commit("Shout beta");
    (repo, first, second)
}

#[test]
fn status_lists_branch_and_changes_like_git_status_short() {
    let (repo, _, _) = history();
    assert_eq!(
        repo.text("git_status", json!({})),
        "## main\n(clean: nothing to commit)\n"
    );
    repo.write("notes.txt", "changed\n");
    repo.write("staged.txt", "new\n");
    repo.stage("staged.txt");
    repo.write("untracked/dir/file.txt", "x\n");
    std::fs::remove_file(repo.path("src/app.py")).unwrap();
    repo.write(".gitignore", "*.log\n");
    repo.write("debug.log", "ignored\n");
    assert_eq!(
        repo.text("git_status", json!({})),
        "## main\n M notes.txt\n D src/app.py\nA  staged.txt\n?? .gitignore\n?? untracked/\n"
    );
}

#[test]
fn status_before_the_first_commit_and_outside_a_repository() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    assert_eq!(
        repo.text("git_status", json!({})),
        "## No commits yet on main\n?? a.txt\n"
    );
    // Blame before the first commit fails in git, and the model is told so.
    let error = repo.error("git_blame", json!({"path": "a.txt"}));
    assert!(error.is_model_fixable(), "{error}");
    let plain = TestRepo::plain();
    let error = plain.error("git_status", json!({}));
    assert!(matches!(error, ToolError::NotARepository { .. }), "{error}");
    assert!(error.is_model_fixable());
}

#[test]
fn diff_shows_unstaged_staged_and_revision_changes() {
    let (repo, first, _) = history();
    assert_eq!(repo.text("git_diff", json!({})), "(no differences)\n");
    repo.write("notes.txt", "alpha\nBETA\ngamma\n");
    let unstaged = repo.text("git_diff", json!({}));
    assert_eq!(
        unstaged
            .lines()
            .filter(|l| !l.starts_with("index "))
            .collect::<Vec<_>>(),
        [
            "diff --git a/notes.txt b/notes.txt",
            "--- a/notes.txt",
            "+++ b/notes.txt",
            "@@ -1,2 +1,3 @@",
            " alpha",
            " BETA",
            "+gamma"
        ]
    );
    assert_eq!(
        repo.text("git_diff", json!({"staged": true})),
        "(no differences)\n"
    );
    repo.stage("notes.txt");
    assert!(repo
        .text("git_diff", json!({"staged": true}))
        .contains("+gamma\n"));
    assert_eq!(repo.text("git_diff", json!({})), "(no differences)\n");

    let range = repo.text("git_diff", json!({"rev_range": "HEAD~1..HEAD"}));
    assert!(
        range.contains("-beta\n+BETA\n") && !range.contains("gamma"),
        "{range}"
    );
    let reverse = repo.text("git_diff", json!({"rev_range": "HEAD..HEAD~1"}));
    assert!(reverse.contains("-BETA\n+beta\n"), "{reverse}");
    let against_first = repo.text("git_diff", json!({"rev_range": first.to_string()}));
    assert!(
        against_first.contains("-beta\n+BETA\n+gamma\n"),
        "{against_first}"
    );
    let three_dots = repo.text("git_diff", json!({"rev_range": "HEAD~1...HEAD"}));
    assert!(three_dots.contains("+BETA\n"), "{three_dots}");
    assert_eq!(
        repo.text(
            "git_diff",
            json!({"rev_range": "HEAD~1..HEAD", "path": "src"})
        ),
        "(no differences)\n"
    );
}

#[test]
fn diff_rejects_bad_revisions_and_argument_mixes() {
    let (repo, _, _) = history();
    let error = repo.error("git_diff", json!({"rev_range": "no-such-branch"}));
    assert!(matches!(error, ToolError::BadRevision { .. }), "{error}");
    assert!(error.to_string().contains("no-such-branch"));
    let error = repo.error(
        "git_diff",
        json!({"rev_range": "HEAD~1..HEAD", "staged": true}),
    );
    assert!(matches!(error, ToolError::BadArguments { .. }), "{error}");
    let error = repo.error("git_diff", json!({"path": "../elsewhere"}));
    assert!(
        matches!(error, ToolError::OutsideRepository { .. }),
        "{error}"
    );
}

#[test]
fn log_prints_commits_newest_first_like_git_log() {
    let (repo, first, second) = history();
    let expected = format!(
        "commit {second}\nAuthor: Ada Lovelace <ada@example.com>\nDate:   Tue Nov 14 22:14:20 2023 +0000\n\n    Shout beta\n\n\
         commit {first}\nAuthor: Ada Lovelace <ada@example.com>\nDate:   Tue Nov 14 22:13:20 2023 +0000\n\n    Add notes\n\n    With a body line.\n"
    );
    assert_eq!(repo.text("git_log", json!({})), expected);
    let latest = repo.text("git_log", json!({"max_count": 1}));
    assert!(
        latest.starts_with(&format!("commit {second}\n")) && !latest.contains(&first.to_string())
    );
    let python = repo.text("git_log", json!({"path": "src/app.py"}));
    assert!(
        python.starts_with(&format!("commit {first}\n")) && !python.contains(&second.to_string()),
        "{python}"
    );
    assert_eq!(
        repo.text("git_log", json!({"path": "nothing.txt"})),
        "(no commits change nothing.txt)\n"
    );
    assert_eq!(
        TestRepo::new().text("git_log", json!({})),
        "(no commits yet)\n"
    );
}

#[test]
fn show_prints_a_commit_with_its_patch_or_a_file_at_a_revision() {
    let (repo, first, second) = history();
    let shown = repo.text("git_show", json!({"rev": "HEAD"}));
    assert!(
        shown.starts_with(&format!(
            "commit {second}\nAuthor: Ada Lovelace <ada@example.com>\n"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("    Shout beta\n\ndiff --git a/notes.txt b/notes.txt\n"),
        "{shown}"
    );
    assert!(
        shown.contains("@@ -1,2 +1,2 @@\n alpha\n-beta\n+BETA\n"),
        "{shown}"
    );
    let root = repo.text("git_show", json!({"rev": first.to_string()}));
    assert!(
        root.contains("new file mode 100644") && root.contains("+print('hi')\n"),
        "{root}"
    );
    assert_eq!(
        repo.text("git_show", json!({"rev": "HEAD~1:notes.txt"})),
        "alpha\nbeta\n"
    );
    assert_eq!(
        repo.text("git_show", json!({"rev": "HEAD:src"})),
        "tree HEAD:src\n\napp.py\n"
    );
    let error = repo.error("git_show", json!({"rev": "HEAD~7"}));
    assert!(matches!(error, ToolError::BadRevision { .. }), "{error}");
}

#[test]
fn blame_attributes_each_line_including_uncommitted_ones() {
    let (repo, first, second) = history();
    repo.write("notes.txt", "alpha\nBETA\ngamma\n");
    let blame = repo.text("git_blame", json!({"path": "notes.txt"}));
    let first_short = &first.to_string()[..7];
    let second_short = &second.to_string()[..8];
    assert_eq!(
        blame,
        format!(
            "^{first_short} (Ada Lovelace      2023-11-14 22:13:20 +0000 1) alpha\n\
             {second_short} (Ada Lovelace      2023-11-14 22:14:20 +0000 2) BETA\n\
             00000000 (Not Committed Yet                           3) gamma\n"
        )
    );
    let part = repo.text(
        "git_blame",
        json!({"path": "notes.txt", "start_line": 2, "end_line": 2}),
    );
    assert!(
        part.starts_with(second_short) && part.ends_with("2) BETA\n"),
        "{part}"
    );
    let error = repo.error("git_blame", json!({"path": "notes.txt", "start_line": 9}));
    assert!(matches!(error, ToolError::BadArguments { .. }), "{error}");
    repo.write("fresh.txt", "new\n");
    assert!(matches!(
        repo.error("git_blame", json!({"path": "fresh.txt"})),
        ToolError::NotTracked { .. }
    ));
    assert!(matches!(
        repo.error("git_blame", json!({"path": "src"})),
        ToolError::IsDirectory { .. }
    ));
}

#[test]
fn log_search_finds_the_commits_that_add_or_remove_a_string() {
    let mut repo = TestRepo::new();
    repo.write("config.py", "DEBUG = False\n");
    let root = repo.commit("Start");
    repo.write("config.py", "DEBUG = False\nMAX_RETRIES = 3\n");
    let introduced = repo.commit("Retry failed requests");
    // Touches the line but keeps one occurrence: not a match, as with `git log -S`.
    repo.write("config.py", "DEBUG = True\nMAX_RETRIES = 5\n");
    let tuned = repo.commit("Retry more");
    std::fs::rename(repo.path("config.py"), repo.path("settings.py")).unwrap();
    let renamed = repo.commit("Rename the config");
    repo.write("settings.py", "DEBUG = True\n");
    let removed = repo.commit("Drop retries");

    let found = repo.text("git_log", json!({"search": "MAX_RETRIES"}));
    let ids: Vec<&str> = found
        .lines()
        .filter_map(|line| line.strip_prefix("commit "))
        .collect();
    assert_eq!(
        ids,
        [removed.to_string(), introduced.to_string()],
        "{found}"
    );
    assert!(
        found.contains("Author: Ada Lovelace <ada@example.com>\n")
            && found.contains("    Retry failed requests\n"),
        "{found}"
    );
    for other in [root, tuned, renamed] {
        assert!(!found.contains(&other.to_string()), "{found}");
    }
    let first = repo.text("git_log", json!({"search": "MAX_RETRIES", "max_count": 1}));
    assert!(first.starts_with(&format!("commit {removed}\n")), "{first}");
    let in_old_path = repo.text(
        "git_log",
        json!({"search": "MAX_RETRIES", "path": "config.py"}),
    );
    assert!(
        in_old_path.starts_with(&format!("commit {renamed}\n"))
            && in_old_path.contains(&format!("commit {introduced}\n"))
            && !in_old_path.contains(&removed.to_string()),
        "{in_old_path}"
    );
    // No change: the commits whose message says it, or else the latest ones, one a line.
    let short = |id: &git2::Oid| id.to_string()[..7].to_string();
    let none = repo.text("git_log", json!({"search": "TIMEOUT", "max_count": 2}));
    assert_eq!(
        none,
        format!(
            // The test repository's commits are a minute apart from 2023-11-14 22:13:20 UTC.
            "(no commits add or remove `TIMEOUT`)\nThe latest commits:\n\
             {} 2023-11-14  Drop retries\n{} 2023-11-14  Rename the config\n",
            short(&removed),
            short(&renamed),
        )
    );
    let by_message = repo.text("git_log", json!({"search": "retries"}));
    assert!(
        by_message.starts_with(&format!(
            "(no commits add or remove `retries`)\nCommits whose message mentions `retries`:\n{} ",
            short(&removed)
        )) && by_message.trim_end().ends_with("Drop retries"),
        "{by_message}"
    );
    let in_path = repo.text("git_log", json!({"search": "TIMEOUT", "path": "config.py"}));
    assert!(
        in_path.contains("The latest commits that changed config.py:\n")
            && in_path.contains("  Retry more\n")
            && !in_path.contains("Drop retries"),
        "{in_path}"
    );
    let empty = repo.error("git_log", json!({"search": ""}));
    assert!(matches!(empty, ToolError::BadArguments { .. }), "{empty}");
}
