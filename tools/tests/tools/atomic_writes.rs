//! Every tool that writes a user's file replaces it atomically: the file keeps its mode, and
//! no temporary file is left beside it.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::common::TestRepo;

fn mode(repo: &TestRepo, relative: &str) -> u32 {
    std::fs::metadata(repo.path(relative))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn set_mode(repo: &TestRepo, relative: &str, mode: u32) {
    std::fs::set_permissions(repo.path(relative), std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The names in the repository's root, sorted.
fn names(repo: &TestRepo) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn edits_overwrites_and_renames_keep_the_file_mode() {
    let repo = TestRepo::plain();
    repo.write("run.sh", "#!/bin/sh\necho one\n");
    set_mode(&repo, "run.sh", 0o750);
    repo.call(
        "edit_file",
        json!({"path": "run.sh", "old": "echo one", "new": "echo two"}),
    )
    .unwrap();
    assert_eq!(repo.read("run.sh"), "#!/bin/sh\necho two\n");
    assert_eq!(mode(&repo, "run.sh"), 0o750);

    repo.write("secret.txt", "old\n");
    set_mode(&repo, "secret.txt", 0o600);
    repo.call(
        "write_file",
        json!({"path": "secret.txt", "content": "new\n", "overwrite": true}),
    )
    .unwrap();
    assert_eq!(repo.read("secret.txt"), "new\n");
    assert_eq!(mode(&repo, "secret.txt"), 0o600);

    repo.write("tool.py", "def helper():\n    return 1\n\nhelper()\n");
    set_mode(&repo, "tool.py", 0o755);
    repo.call("rename_symbol", json!({"old": "helper", "new": "assist"}))
        .unwrap();
    assert!(repo.read("tool.py").contains("def assist()"));
    assert_eq!(mode(&repo, "tool.py"), 0o755);

    assert_eq!(names(&repo), ["run.sh", "secret.txt", "tool.py"]);
}
