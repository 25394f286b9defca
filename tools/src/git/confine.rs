//! Opening the repository at the root, and nothing else: the git tools read only a
//! repository that lies wholly inside the root.
//!
//! libgit2 follows whatever the repository's files say. A planted `.git` *file* (`gitdir:
//! /elsewhere`), a `.git` symlink, `core.worktree` in the config, a `commondir` file, object
//! `alternates` or a symlink inside `.git` each make a tool that only reads history read
//! another repository or files outside the root, in every mode. So the repository is opened
//! without searching parent directories, and then every place libgit2 will read from (the
//! git directory, the common directory, the work tree, the alternate object directories and
//! any symlink under the git directory) must resolve inside the root, or the tools refuse it.
//! A submodule or a linked worktree (whose git directory lies in another checkout) is refused
//! by the same rule: the repository it reads is not inside the root.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, Repository, RepositoryOpenFlags};

use crate::{ToolContext, ToolError};

/// libgit2 follows alternates of alternates to this depth (`GIT_ALTERNATES_MAX_DEPTH`).
const MAX_ALTERNATES_DEPTH: usize = 5;

/// The most entries of the git directory looked at for symlinks. A git directory holds
/// few entries apart from loose objects; past this many the repository is refused rather
/// than trusted unchecked.
const MAX_GIT_DIR_ENTRIES: usize = 500_000;

/// The repository at the context's root, refused when any part of it lies outside the root.
pub(crate) fn open_repository(ctx: &ToolContext) -> Result<Repository, ToolError> {
    open_confined(&ctx.root)
}

/// The repository whose work tree is `root` (canonical), opened without looking at parent
/// directories, and checked to lie wholly inside `root`.
pub(crate) fn open_confined(root: &Path) -> Result<Repository, ToolError> {
    // NO_SEARCH: a root without a repository of its own must not pick up a parent's.
    let repo = Repository::open_ext(root, RepositoryOpenFlags::NO_SEARCH, [] as [&OsStr; 0])
        .map_err(|e| match e.code() {
            ErrorCode::NotFound => ToolError::NotARepository {
                root: root.to_path_buf(),
            },
            _ => ToolError::git("open the repository", e),
        })?;
    check_inside(root, "git directory", repo.path())?;
    check_inside(root, "common git directory", repo.commondir())?;
    if let Some(workdir) = repo.workdir() {
        let resolved = canonical(workdir);
        // Pathspecs are made relative to the root, so the work tree must be the root itself.
        if resolved.as_deref() != Some(root) {
            return Err(outside(root, "work tree", workdir));
        }
    }
    check_alternates(root, &repo.commondir().join("objects"), 0)?;
    check_git_dir_symlinks(root, repo.path())?;
    if repo.commondir() != repo.path() {
        check_git_dir_symlinks(root, repo.commondir())?;
    }
    Ok(repo)
}

/// `path` with every symlink resolved, `None` when it cannot be (it does not exist).
fn canonical(path: &Path) -> Option<PathBuf> {
    path.canonicalize().ok()
}

/// Refuses `path` (the repository's `what`) unless it resolves inside `root`.
fn check_inside(root: &Path, what: &'static str, path: &Path) -> Result<(), ToolError> {
    match canonical(path) {
        Some(resolved) if resolved.starts_with(root) => Ok(()),
        _ => Err(outside(root, what, path)),
    }
}

fn outside(root: &Path, what: &'static str, path: &Path) -> ToolError {
    ToolError::RepositoryOutsideRoot {
        root: root.to_path_buf(),
        what,
        path: path.to_path_buf(),
    }
}

/// Refuses object alternates (`objects/info/alternates`) that lead outside `root`,
/// following them as libgit2 does.
fn check_alternates(root: &Path, objects: &Path, depth: usize) -> Result<(), ToolError> {
    if depth > MAX_ALTERNATES_DEPTH {
        return Ok(());
    }
    let file = objects.join("info").join("alternates");
    let Ok(text) = fs::read_to_string(&file) else {
        // No alternates (the common case), or none libgit2 could read either.
        return Ok(());
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // A relative alternate is relative to the objects directory that names it.
        let alternate = objects.join(line);
        if !alternate.exists() {
            continue;
        }
        check_inside(root, "alternate object directory", &alternate)?;
        check_alternates(root, &alternate, depth + 1)?;
    }
    Ok(())
}

/// Refuses a symlink anywhere under the git directory that leads outside `root` (a
/// `.git/objects` or `.git/config` linked to another repository's).
fn check_git_dir_symlinks(root: &Path, git_dir: &Path) -> Result<(), ToolError> {
    let mut pending = vec![git_dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_GIT_DIR_ENTRIES {
                return Err(outside(root, "git directory (too large to check)", git_dir));
            }
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if file_type.is_symlink() {
                // A dangling link reads nothing; one that resolves must stay inside.
                if let Some(target) = canonical(&path) {
                    if !target.starts_with(root) {
                        return Err(outside(root, "git directory entry", &path));
                    }
                }
            } else if file_type.is_dir() {
                pending.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use git2::{RepositoryInitOptions, Signature};

    /// A repository with one commit of `secret.txt` holding `text`, in its own directory.
    fn repository(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let mut options = RepositoryInitOptions::new();
        options.initial_head("main");
        let repo = Repository::init_opts(&root, &options).unwrap();
        fs::write(root.join("secret.txt"), text).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("secret.txt")).unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let who = Signature::now("Eve", "eve@example.com").unwrap();
        repo.commit(Some("HEAD"), &who, &who, "secret", &tree, &[])
            .unwrap();
        (dir, root)
    }

    fn plain() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        (dir, root)
    }

    fn refusal(root: &Path) -> String {
        match open_confined(root) {
            Err(e @ ToolError::RepositoryOutsideRoot { .. }) => e.to_string(),
            Err(e) => panic!("expected a refusal, got {e}"),
            Ok(repo) => panic!("opened {:?}", repo.path()),
        }
    }

    #[test]
    fn a_repository_inside_the_root_opens() {
        let (_dir, root) = repository("ok");
        let repo = open_confined(&root).unwrap();
        assert_eq!(repo.workdir().unwrap().canonicalize().unwrap(), root);
    }

    #[test]
    fn a_parent_directorys_repository_is_not_searched_for() {
        let (_dir, root) = repository("ok");
        fs::create_dir(root.join("sub")).unwrap();
        assert!(matches!(
            open_confined(&root.join("sub")),
            Err(ToolError::NotARepository { .. })
        ));
    }

    #[test]
    fn a_gitdir_file_pointing_outside_is_refused() {
        let (_other, other) = repository("other repository");
        let (_dir, root) = plain();
        fs::write(
            root.join(".git"),
            format!("gitdir: {}\n", other.join(".git").display()),
        )
        .unwrap();
        let message = refusal(&root);
        assert!(
            message.contains("git directory") && message.contains("outside"),
            "{message}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_git_symlink_pointing_outside_is_refused() {
        let (_other, other) = repository("other repository");
        let (_dir, root) = plain();
        std::os::unix::fs::symlink(other.join(".git"), root.join(".git")).unwrap();
        assert!(refusal(&root).contains("git directory"));
    }

    #[test]
    fn a_core_worktree_outside_is_refused() {
        let (_dir, root) = repository("ok");
        let (_outside, outside_dir) = plain();
        let repo = Repository::open(&root).unwrap();
        repo.config()
            .unwrap()
            .set_str("core.worktree", outside_dir.to_str().unwrap())
            .unwrap();
        drop(repo);
        assert!(refusal(&root).contains("work tree"));
    }

    #[test]
    fn a_commondir_file_pointing_outside_is_refused() {
        let (_other, other) = repository("other repository");
        let (_dir, root) = repository("ok");
        fs::write(
            root.join(".git/commondir"),
            format!("{}\n", other.join(".git").display()),
        )
        .unwrap();
        assert!(refusal(&root).contains("common git directory"));
    }

    #[test]
    fn alternates_outside_are_refused() {
        let (_other, other) = repository("other repository");
        let (_dir, root) = repository("ok");
        fs::write(
            root.join(".git/objects/info/alternates"),
            format!("{}\n", other.join(".git/objects").display()),
        )
        .unwrap();
        assert!(refusal(&root).contains("alternate object directory"));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_inside_the_git_directory_pointing_outside_is_refused() {
        let (_other, other) = repository("other repository");
        let (_dir, root) = repository("ok");
        let refs = root.join(".git/refs/heads/main");
        fs::remove_file(&refs).unwrap();
        std::os::unix::fs::symlink(other.join(".git/refs/heads/main"), &refs).unwrap();
        assert!(refusal(&root).contains("git directory entry"));
    }
}
