//! Path safety: every path a tool touches is resolved here, physically, against the root.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use crate::ToolError;

/// What a tool means to do with a path; writes are held to a stricter rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading or listing.
    Read,
    /// Creating or changing a file: refused anywhere inside a `.git` directory.
    Write,
}

/// Symlink hops followed before giving up, as the Linux kernel does (ELOOP at 40).
const MAX_SYMLINK_HOPS: usize = 40;

enum Part {
    Parent,
    Normal(OsString),
}

/// Resolves a path the model gave (relative to `root`, or absolute) to a physical path
/// inside `root`, which must be canonical.
///
/// `..` and symlinks are resolved as the file system would, component by component, so a
/// symlink that points out of the repository is caught even when the final file does not
/// exist yet. The path need not exist. Errors: [`ToolError::OutsideRepository`] when the
/// result leaves `root`, and for [`Access::Write`], [`ToolError::GitDirWrite`] when any
/// component of the result below `root` is `.git`.
pub fn resolve_path(root: &Path, input: &str, access: Access) -> Result<PathBuf, ToolError> {
    let requested = Path::new(input.trim());
    let mut pending = VecDeque::new();
    let mut current = if requested.is_absolute() {
        PathBuf::new()
    } else {
        root.to_path_buf()
    };
    push_components(requested, &mut current, &mut pending, false);

    // Components appended that do not exist on disk: `..` over them is lexical, and past
    // them nothing can be a symlink.
    let mut missing_depth = 0usize;
    let mut hops = 0usize;
    while let Some(part) = pending.pop_front() {
        match part {
            Part::Parent => {
                current.pop();
                missing_depth = missing_depth.saturating_sub(1);
            }
            Part::Normal(name) => {
                let candidate = current.join(&name);
                if missing_depth > 0 {
                    missing_depth += 1;
                    current = candidate;
                    continue;
                }
                match fs::symlink_metadata(&candidate) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        hops += 1;
                        if hops > MAX_SYMLINK_HOPS {
                            return Err(ToolError::InvalidPath {
                                path: input.to_string(),
                                reason: format!(
                                    "it goes through more than {MAX_SYMLINK_HOPS} symlinks"
                                ),
                            });
                        }
                        let target =
                            fs::read_link(&candidate).map_err(|e| ToolError::io(&candidate, e))?;
                        // The target replaces the link: its components go first, resolved
                        // from the link's own directory (or from `/` when absolute).
                        push_components(&target, &mut current, &mut pending, true);
                    }
                    Ok(_) => current = candidate,
                    Err(e)
                        if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) =>
                    {
                        missing_depth = 1;
                        current = candidate;
                    }
                    Err(e) if e.kind() == ErrorKind::InvalidInput => {
                        return Err(ToolError::InvalidPath {
                            path: input.to_string(),
                            reason: e.to_string(),
                        });
                    }
                    Err(e) => return Err(ToolError::io(&candidate, e)),
                }
            }
        }
    }

    let Ok(relative) = current.strip_prefix(root) else {
        return Err(ToolError::OutsideRepository {
            path: input.to_string(),
        });
    };
    if access == Access::Write
        && relative
            .components()
            .any(|c| c.as_os_str().eq_ignore_ascii_case(".git"))
    {
        return Err(ToolError::GitDirWrite {
            path: input.to_string(),
        });
    }
    Ok(current)
}

/// Queues the components of `path`; an absolute path (or prefix) resets `current` instead.
/// With `at_front`, the components go before what is already pending (symlink targets).
fn push_components(
    path: &Path,
    current: &mut PathBuf,
    pending: &mut VecDeque<Part>,
    at_front: bool,
) {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(prefix) => *current = PathBuf::from(prefix.as_os_str()),
            Component::RootDir => current.push(Component::RootDir.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => parts.push(Part::Parent),
            Component::Normal(name) => parts.push(Part::Normal(name.to_os_string())),
        }
    }
    if at_front {
        for part in parts.into_iter().rev() {
            pending.push_front(part);
        }
    } else {
        pending.extend(parts);
    }
}

/// The path of `absolute` relative to `root`, with `/` separators, for output; the root
/// itself is ".".
pub(crate) fn display_path(root: &Path, absolute: &Path) -> String {
    match absolute.strip_prefix(root) {
        Ok(relative) if relative.as_os_str().is_empty() => ".".to_string(),
        Ok(relative) => relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => absolute.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("src/nested")).unwrap();
        fs::write(root.join("src/lib.rs"), "fn main() {}\n").unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        (dir, root)
    }

    #[test]
    fn relative_and_absolute_paths_inside_the_root_resolve() {
        let (_dir, root) = repo();
        assert_eq!(
            resolve_path(&root, "src/lib.rs", Access::Read).unwrap(),
            root.join("src/lib.rs")
        );
        assert_eq!(
            resolve_path(&root, "./src/../src/lib.rs", Access::Read).unwrap(),
            root.join("src/lib.rs")
        );
        let absolute = root.join("src/lib.rs");
        assert_eq!(
            resolve_path(&root, absolute.to_str().unwrap(), Access::Read).unwrap(),
            absolute
        );
        assert_eq!(resolve_path(&root, "", Access::Read).unwrap(), root);
        assert!(matches!(
            resolve_path(&root, "bad\0name", Access::Read),
            Err(ToolError::InvalidPath { .. })
        ));
        assert_eq!(
            resolve_path(&root, "new/dir/file.txt", Access::Write).unwrap(),
            root.join("new/dir/file.txt")
        );
    }

    #[test]
    fn parent_components_over_missing_directories_are_lexical() {
        let (_dir, root) = repo();
        assert_eq!(
            resolve_path(&root, "missing/../src/lib.rs", Access::Read).unwrap(),
            root.join("src/lib.rs")
        );
        assert!(matches!(
            resolve_path(&root, "missing/../../x", Access::Read),
            Err(ToolError::OutsideRepository { .. })
        ));
    }

    #[test]
    fn escapes_are_refused() {
        let (_dir, root) = repo();
        for input in ["../outside.txt", "src/../../outside", "/etc/passwd"] {
            assert!(
                matches!(
                    resolve_path(&root, input, Access::Read),
                    Err(ToolError::OutsideRepository { .. })
                ),
                "{input} should be outside"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_before_the_check() {
        let (_dir, root) = repo();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
        std::os::unix::fs::symlink("src", root.join("inside")).unwrap();
        std::os::unix::fs::symlink(".git/config", root.join("sneaky")).unwrap();
        assert!(matches!(
            resolve_path(&root, "escape/new-file.txt", Access::Write),
            Err(ToolError::OutsideRepository { .. })
        ));
        assert_eq!(
            resolve_path(&root, "inside/lib.rs", Access::Read).unwrap(),
            root.join("src/lib.rs")
        );
        assert!(matches!(
            resolve_path(&root, "sneaky", Access::Write),
            Err(ToolError::GitDirWrite { .. })
        ));
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(matches!(
            resolve_path(&root, "loop", Access::Read),
            Err(ToolError::InvalidPath { .. })
        ));
    }

    #[test]
    fn writes_into_git_are_refused_but_reads_are_not() {
        let (_dir, root) = repo();
        for input in [
            ".git/config",
            "src/../.git/hooks/pre-commit",
            "vendor/.git/HEAD",
            ".GIT/config",
        ] {
            assert!(
                matches!(
                    resolve_path(&root, input, Access::Write),
                    Err(ToolError::GitDirWrite { .. })
                ),
                "{input} should be refused"
            );
        }
        assert!(resolve_path(&root, ".git/config", Access::Read).is_ok());
        assert!(resolve_path(&root, ".gitignore", Access::Write).is_ok());
    }

    #[test]
    fn display_paths_are_relative_with_slashes() {
        let (_dir, root) = repo();
        assert_eq!(
            display_path(&root, &root.join("src").join("lib.rs")),
            "src/lib.rs"
        );
        assert_eq!(display_path(&root, &root), ".");
    }
}
