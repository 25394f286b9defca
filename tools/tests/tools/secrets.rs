//! Secret files (`.env`, keys): refused by the tools that would show their text, skipped by
//! searches and retrieval, listed by name, and readable once the user lifts the rule.

use hearth_tools::{repo_map, retrieve, SecretFiles, ToolError, DEFAULT_SECRET_RULES};
use serde_json::json;

use crate::common::TestRepo;

const TOKEN: &str = "API_TOKEN=sk-live-0123456789";

fn repo_with_secrets() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("app.py", "import os\nTOKEN = os.environ['API_TOKEN']\n");
    repo.write(".env", format!("{TOKEN}\n"));
    repo.write(
        "certs/server.pem",
        "-----BEGIN PRIVATE KEY-----\nAPI_TOKEN\n",
    );
    repo.write(".env.example", "API_TOKEN=\n");
    repo
}

fn assert_secret_refusal(err: &ToolError, path: &str, rule: &str) {
    let text = err.to_string();
    assert!(
        matches!(err, ToolError::SecretFile { .. }) && err.is_model_fixable(),
        "{text}"
    );
    assert!(
        text.contains(&format!("`{path}`")) && text.contains(&format!("rule `{rule}`")),
        "{text}"
    );
    assert!(text.contains("lift"), "says how to lift it: {text}");
    assert!(!text.contains("sk-live"), "{text}");
}

#[test]
fn reading_editing_or_blaming_a_secret_file_is_refused_with_its_rule() {
    let mut repo = repo_with_secrets();
    repo.commit("add files");
    let err = repo.error("read_file", json!({"path": ".env"}));
    assert_secret_refusal(&err, ".env", ".env");
    let err = repo.error("read_file", json!({"path": "./certs/server.pem"}));
    assert_secret_refusal(&err, "./certs/server.pem", "*.pem");
    let err = repo.error(
        "edit_file",
        json!({"path": ".env", "old": "API_TOKEN", "new": "X"}),
    );
    assert_secret_refusal(&err, ".env", ".env");
    let err = repo.error(
        "write_file",
        json!({"path": ".env", "content": "x", "overwrite": true}),
    );
    assert_secret_refusal(&err, ".env", ".env");
    let err = repo.error("git_blame", json!({"path": ".env"}));
    assert_secret_refusal(&err, ".env", ".env");
    let err = repo.error("git_show", json!({"rev": "HEAD:.env"}));
    assert_secret_refusal(&err, ".env", ".env");
    assert_eq!(
        repo.read(".env"),
        format!("{TOKEN}\n"),
        "nothing was written"
    );
    // A template is not a secret.
    assert!(repo
        .text("read_file", json!({"path": ".env.example"}))
        .contains("API_TOKEN="));
}

#[cfg(unix)]
#[test]
fn a_link_to_a_secret_file_is_refused_too() {
    let repo = repo_with_secrets();
    std::os::unix::fs::symlink(".env", repo.path("notes.txt")).unwrap();
    let err = repo.error("read_file", json!({"path": "notes.txt"}));
    assert_secret_refusal(&err, "notes.txt", ".env");
}

#[test]
fn searches_skip_secret_files_and_listings_name_them() {
    let repo = repo_with_secrets();
    let found = repo.text("grep", json!({"pattern": "API_TOKEN"}));
    assert!(found.contains("app.py:2:"), "{found}");
    assert!(
        !found.contains("sk-live") && !found.contains("server.pem"),
        "{found}"
    );
    let err = repo.error("grep", json!({"pattern": "API", "path": ".env"}));
    assert_secret_refusal(&err, ".env", ".env");
    let listed = repo.text("list_files", json!({}));
    assert!(listed.contains(".env\n"), "{listed}");
}

#[test]
fn git_patches_and_searches_leave_secret_files_out() {
    let mut repo = repo_with_secrets();
    repo.commit("add files");
    repo.write(".env", "API_TOKEN=sk-live-changed\n");
    let diff = repo.text("git_diff", json!({}));
    assert!(!diff.contains("sk-live"), "{diff}");
    assert!(
        diff.contains("changes to `.env` not shown") && diff.contains("rule `.env`"),
        "{diff}"
    );
    let shown = repo.text("git_show", json!({"rev": "HEAD"}));
    assert!(
        !shown.contains("sk-live") && shown.contains("app.py"),
        "{shown}"
    );
    // Which commits hold a string would reveal a secret file's text.
    let searched = repo.text("git_log", json!({"search": "sk-live-0123"}));
    assert!(
        searched.starts_with("(no commits add or remove"),
        "{searched}"
    );
}

#[test]
fn retrieval_and_the_repository_map_never_read_secret_files() {
    let repo = repo_with_secrets();
    let retrieved = retrieve(repo.root(), "where is API_TOKEN set", 100_000, &[]).unwrap();
    assert!(retrieved.text.contains("app.py"), "{}", retrieved.text);
    assert!(!retrieved.text.contains("sk-live"), "{}", retrieved.text);
    assert!(
        !retrieved.text.contains("PRIVATE KEY"),
        "{}",
        retrieved.text
    );
    let map = repo_map(repo.root(), 100_000).unwrap();
    assert!(
        !map.contains(".env\n") && !map.contains("server.pem"),
        "{map}"
    );
}

#[test]
fn the_user_can_lift_a_rule() {
    let mut repo = repo_with_secrets();
    let mut rules: Vec<&str> = DEFAULT_SECRET_RULES.to_vec();
    rules.push("!.env");
    repo.ctx.secret_files = SecretFiles::new(&rules).unwrap();
    assert!(repo
        .text("read_file", json!({"path": ".env"}))
        .contains(TOKEN));
    assert!(repo
        .text("grep", json!({"pattern": "sk-live"}))
        .contains(".env:1:"));
    // The other rules still hold.
    let err = repo.error("read_file", json!({"path": "certs/server.pem"}));
    assert_secret_refusal(&err, "certs/server.pem", "*.pem");
    repo.ctx.secret_files = SecretFiles::none();
    assert!(repo
        .text("read_file", json!({"path": "certs/server.pem"}))
        .contains("PRIVATE KEY"));
}
