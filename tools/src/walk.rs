//! Walking the repository as a developer sees it: .gitignore respected, `.git` skipped.

use std::path::{Path, PathBuf};

use ignore::WalkBuilder;

use crate::SecretFiles;

/// The files under `start` (a directory or a file inside `root`), sorted by path.
///
/// The walk starts at `root`, so the repository's own ignore files apply even when `start`
/// is a subdirectory; branches that cannot lead to `start` are pruned. A `start` that is
/// itself ignored (`target/`) was asked for by name, so it is walked on its own, with only
/// the ignore files inside it. Hidden files are listed (`.github/` matters) but `.git`
/// never is. Ignore files above `root` and the user's global excludes are not read: the
/// result depends on the repository alone. Symlinks are listed only when they point at a
/// file inside `root`; symlinked directories are not entered. Unreadable entries are skipped.
///
/// Files the default secret-file rules deny are left out: what walks the repository on its
/// own (retrieval, the repository map, the symbol tools) never reads a `.env` or a key into a
/// prompt, whatever the user lifted for the model's own reads ([`walk_files_with`]).
pub(crate) fn walk_files(root: &Path, start: &Path) -> Vec<PathBuf> {
    walk_files_with(root, start, &SecretFiles::default())
}

/// [`walk_files`] leaving out the files `secrets` denies (none with [`SecretFiles::none`],
/// for a listing of names).
pub(crate) fn walk_files_with(root: &Path, start: &Path, secrets: &SecretFiles) -> Vec<PathBuf> {
    let mut files = walk_all(root, start);
    files.retain(|file| secrets.allows(root, file));
    files
}

fn walk_all(root: &Path, start: &Path) -> Vec<PathBuf> {
    if start.is_file() {
        return vec![start.to_path_buf()];
    }
    let inside_git = start
        .strip_prefix(root)
        .is_ok_and(|relative| relative.components().any(|c| c.as_os_str() == ".git"));
    if inside_git {
        return Vec::new();
    }
    let files = walk(root, root, start);
    if files.is_empty() && start != root && has_entries(start) {
        return walk(root, start, start);
    }
    files
}

fn walk(root: &Path, from: &Path, start: &Path) -> Vec<PathBuf> {
    let start_owned = start.to_path_buf();
    let mut builder = WalkBuilder::new(from);
    builder
        .hidden(false)
        .parents(false)
        .git_global(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(move |entry| {
            let path = entry.path();
            entry.file_name() != ".git"
                && (path.starts_with(&start_owned) || start_owned.starts_with(path))
        });
    let mut files: Vec<PathBuf> = builder
        .build()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().starts_with(start))
        .filter(|entry| {
            let Some(file_type) = entry.file_type() else {
                return false;
            };
            if file_type.is_file() {
                return true;
            }
            file_type.is_symlink()
                && entry
                    .path()
                    .canonicalize()
                    .is_ok_and(|target| target.starts_with(root) && target.is_file())
        })
        .map(ignore::DirEntry::into_path)
        .collect();
    files.sort();
    files
}

fn has_entries(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn ignored_and_git_files_are_hidden_and_order_is_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for file in [
            "b.rs",
            "a/z.rs",
            "a/y.rs",
            ".github/ci.yml",
            ".git/HEAD",
            "target/out.o",
            "sub/.git",
        ] {
            fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            fs::write(root.join(file), "x").unwrap();
        }
        fs::write(root.join(".gitignore"), "target/\n").unwrap();
        let listed: Vec<String> = walk_files(&root, &root)
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            listed,
            [".github/ci.yml", ".gitignore", "a/y.rs", "a/z.rs", "b.rs"]
        );
        let under_a = walk_files(&root, &root.join("a"));
        assert_eq!(under_a, [root.join("a/y.rs"), root.join("a/z.rs")]);
        assert_eq!(walk_files(&root, &root.join("b.rs")), [root.join("b.rs")]);
        assert_eq!(
            walk_files(&root, &root.join("target")),
            [root.join("target/out.o")]
        );
        assert!(walk_files(&root, &root.join(".git")).is_empty());
    }

    #[test]
    fn secret_files_are_left_out_unless_the_rules_allow_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for file in ["a.rs", ".env", "keys/server.pem", "id_rsa"] {
            fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            fs::write(root.join(file), "x").unwrap();
        }
        assert_eq!(walk_files(&root, &root), [root.join("a.rs")]);
        assert!(walk_files(&root, &root.join(".env")).is_empty());
        assert_eq!(walk_files_with(&root, &root, &SecretFiles::none()).len(), 4);
    }
}
