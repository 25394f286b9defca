//! `git_status`: `git status --short --branch`.

use git2::{Repository, Status, StatusOptions};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::git::{bounded, open_repository};
use crate::{ToolContext, ToolError, ToolOutput, TypedTool};

/// Shows the branch and the changed, staged and untracked files.
#[derive(Debug, Default, Clone, Copy)]
pub struct GitStatusTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {}

const NAME: &str = "git_status";

impl TypedTool for GitStatusTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "Show the current branch and which files are modified, staged or untracked, \
         as `git status --short --branch` prints them.";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, Args {}: Args) -> Result<ToolOutput, ToolError> {
        let repo = open_repository(ctx)?;
        let mut text = branch_line(&repo)?;
        let mut options = StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(false)
            .include_ignored(false)
            .renames_head_to_index(true);
        let statuses = repo
            .statuses(Some(&mut options))
            .map_err(|e| ToolError::git("read the status", e))?;
        let mut lines: Vec<String> = statuses
            .iter()
            .filter_map(|entry| status_line(&entry))
            .collect();
        // As git prints them: tracked changes first, then untracked files, each by path.
        lines.sort_by(|a, b| (a.starts_with("??"), &a[3..]).cmp(&(b.starts_with("??"), &b[3..])));
        if lines.is_empty() {
            text.push_str("(clean: nothing to commit)\n");
        }
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        Ok(bounded(ctx, &text, ""))
    }
}

/// `## branch...upstream [ahead N, behind M]`, or the unborn and detached forms.
fn branch_line(repo: &Repository) -> Result<String, ToolError> {
    let head = match repo.head() {
        Ok(head) => head,
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
            let name = repo
                .find_reference("HEAD")
                .ok()
                .and_then(|r| {
                    r.symbolic_target()
                        .map(|t| t.trim_start_matches("refs/heads/").to_string())
                })
                .unwrap_or_else(|| "HEAD".to_string());
            return Ok(format!("## No commits yet on {name}\n"));
        }
        Err(e) => return Err(ToolError::git("read HEAD", e)),
    };
    if !head.is_branch() {
        return Ok("## HEAD (no branch)\n".to_string());
    }
    let name = head.shorthand().unwrap_or("HEAD").to_string();
    let branch = git2::Branch::wrap(head);
    let Ok(upstream) = branch.upstream() else {
        return Ok(format!("## {name}\n"));
    };
    let upstream_name = upstream
        .name()
        .ok()
        .flatten()
        .unwrap_or("upstream")
        .to_string();
    let mut line = format!("## {name}...{upstream_name}");
    if let (Some(local), Some(remote)) = (branch.get().target(), upstream.get().target()) {
        let (ahead, behind) = repo
            .graph_ahead_behind(local, remote)
            .map_err(|e| ToolError::git("compare with upstream", e))?;
        let parts: Vec<String> = [(ahead, "ahead"), (behind, "behind")]
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, word)| format!("{word} {count}"))
            .collect();
        if !parts.is_empty() {
            line.push_str(&format!(" [{}]", parts.join(", ")));
        }
    }
    line.push('\n');
    Ok(line)
}

/// One `XY path` line; `None` for entries git status would not show.
fn status_line(entry: &git2::StatusEntry<'_>) -> Option<String> {
    let status = entry.status();
    let path = entry.path().unwrap_or("?").to_string();
    if status.is_wt_new() {
        return Some(format!("?? {path}"));
    }
    if status.is_conflicted() {
        return Some(format!("UU {path}"));
    }
    let index = index_code(status);
    let worktree = worktree_code(status);
    if index == ' ' && worktree == ' ' {
        return None;
    }
    let shown_path = match entry.head_to_index().filter(|_| status.is_index_renamed()) {
        Some(delta) => {
            let old = delta
                .old_file()
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let new = delta
                .new_file()
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or(path);
            format!("{old} -> {new}")
        }
        None => path,
    };
    Some(format!("{index}{worktree} {shown_path}"))
}

fn index_code(status: Status) -> char {
    if status.is_index_new() {
        'A'
    } else if status.is_index_modified() {
        'M'
    } else if status.is_index_deleted() {
        'D'
    } else if status.is_index_renamed() {
        'R'
    } else if status.is_index_typechange() {
        'T'
    } else {
        ' '
    }
}

fn worktree_code(status: Status) -> char {
    if status.is_wt_modified() {
        'M'
    } else if status.is_wt_deleted() {
        'D'
    } else if status.is_wt_renamed() {
        'R'
    } else if status.is_wt_typechange() {
        'T'
    } else {
        ' '
    }
}
