//! The Landlock rulesets of a confined command, built in the parent (opening paths and
//! allocating are not safe between fork and exec) and handed to the child as descriptors.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetError, Scope, ABI,
};

use super::{SandboxLevel, SandboxPolicy};
use crate::ToolError;

/// The newest ABI whose rights are asked for; older kernels enforce what they know (best
/// effort), and kernels without Landlock are refused before this point.
const TARGET_ABI: ABI = ABI::V6;

/// Device files every command may write: redirections to `/dev/null` are everywhere.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// The two rulesets a command may be restricted by: `full` when `.git` is protected by a
/// read-only mount, `strict` when it could not be (the root's entries other than `.git` are
/// writable, the root directory itself is not).
pub(super) struct Rulesets {
    pub(super) full: OwnedFd,
    pub(super) strict: OwnedFd,
}

/// Builds both rulesets for a command in `root` whose temporary directory is `tmp`.
pub(super) fn build(
    policy: &SandboxPolicy,
    root: &Path,
    tmp: &Path,
) -> Result<Rulesets, ToolError> {
    let readable = readable_except(&policy.hidden);
    let (full_writable, strict_writable) = match policy.level {
        SandboxLevel::WorkspaceWrite => (
            vec![root.to_path_buf(), tmp.to_path_buf()],
            entries_except_git(root)
                .into_iter()
                .chain(std::iter::once(tmp.to_path_buf()))
                .collect(),
        ),
        SandboxLevel::ReadOnly | SandboxLevel::Off => {
            (vec![tmp.to_path_buf()], vec![tmp.to_path_buf()])
        }
    };
    let fail = |source: RulesetError| ToolError::Sandbox {
        reason: format!(
            "could not build the Landlock rules for `{}`: {source}",
            root.display()
        ),
    };
    Ok(Rulesets {
        full: ruleset(policy, &readable, &full_writable).map_err(fail)?,
        strict: ruleset(policy, &readable, &strict_writable).map_err(fail)?,
    })
}

fn ruleset(
    policy: &SandboxPolicy,
    readable: &[PathBuf],
    writable: &[PathBuf],
) -> Result<OwnedFd, RulesetError> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET_ABI))?
        // A confined command may not signal hearth or anything else outside its sandbox,
        // nor reach abstract Unix sockets (a desktop session's, a debugger's) outside it.
        .scope(Scope::from_all(TARGET_ABI))?;
    if !policy.network {
        // Handled with no rule allowing any port: no TCP bind or connect. seccomp refuses
        // the sockets themselves; this holds on its own where seccomp is not enough (TCP
        // over a socket passed in).
        ruleset = ruleset.handle_access(AccessNet::from_all(TARGET_ABI))?;
    }
    let created = ruleset
        .create()?
        .add_rules(path_beneath_rules(
            readable,
            AccessFs::from_read(TARGET_ABI),
        ))?
        .add_rules(path_beneath_rules(writable, AccessFs::from_all(TARGET_ABI)))?
        .add_rules(path_beneath_rules(DEVICES, AccessFs::from_file(TARGET_ABI)))?;
    Option::<OwnedFd>::from(created)
        .ok_or_else(|| RulesetError::from(landlock::CreateRulesetError::MissingHandledAccess))
}

/// Paths that together cover every file readable by the user except `hidden` ones: `/`
/// itself when nothing is hidden, otherwise the entries of each ancestor of a hidden path
/// that are neither hidden nor ancestors themselves (Landlock can only grant, so the hidden
/// paths are left out by granting around them).
pub(super) fn readable_except(hidden: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if hidden.is_empty() {
        out.push(PathBuf::from("/"));
    } else {
        grant_around(Path::new("/"), hidden, &mut out);
    }
    out
}

fn grant_around(dir: &Path, hidden: &[PathBuf], out: &mut Vec<PathBuf>) {
    // A directory that cannot be listed grants nothing: failing closed.
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            // Landlock follows the link; a link that leads to or above a hidden path would
            // grant it. The place it leads to is granted (or not) where it really lies.
            match path.canonicalize() {
                Ok(real) if hidden.iter().any(|h| h.starts_with(&real)) => continue,
                Ok(_) => out.push(path),
                Err(_) => {}
            }
        } else if hidden.contains(&path) {
            continue;
        } else if kind.is_dir() && hidden.iter().any(|h| h.starts_with(&path)) {
            grant_around(&path, hidden, out);
        } else {
            out.push(path);
        }
    }
}

/// The entries directly inside `root`, except `.git`.
fn entries_except_git(root: &Path) -> Vec<PathBuf> {
    fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name() != ".git")
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_hidden_grants_the_whole_tree() {
        assert_eq!(readable_except(&[]), vec![PathBuf::from("/")]);
    }

    #[test]
    fn a_hidden_path_is_granted_around() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        fs::create_dir_all(base.join("home/.ssh")).unwrap();
        fs::create_dir_all(base.join("home/code")).unwrap();
        fs::write(base.join("home/notes"), "x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(base.join("home"), base.join("home-link")).unwrap();
        let granted = readable_except(&[base.join("home/.ssh")]);
        assert!(granted.contains(&base.join("home/code")));
        assert!(granted.contains(&base.join("home/notes")));
        assert!(!granted
            .iter()
            .any(|p| p.starts_with(base.join("home/.ssh"))));
        assert!(!granted.contains(&base.join("home")));
        // The link leads above the hidden path, so granting it would grant the secret.
        assert!(!granted.contains(&base.join("home-link")));
        // Siblings of the ancestors are granted whole.
        assert!(granted.contains(&PathBuf::from("/usr")) || !Path::new("/usr").exists());
    }

    #[test]
    fn the_strict_set_leaves_out_git() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        fs::write(dir.path().join("a.py"), "").unwrap();
        let entries = entries_except_git(dir.path());
        assert_eq!(entries, vec![dir.path().join("a.py")]);
    }
}
