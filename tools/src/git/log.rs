//! `git_log`: recent commits, optionally only those that touch a path.

use git2::{Commit, DiffOptions, Repository, Sort};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::args::lenient_usize;
use crate::git::{bounded, commit_header, open_repository, pathspec};
use crate::{ToolContext, ToolError, ToolOutput, TypedTool};

/// Lists commits from HEAD backwards, like `git log`.
#[derive(Debug, Default, Clone, Copy)]
pub struct GitLogTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// How many commits to show (default 10)
    #[serde(default, deserialize_with = "lenient_usize")]
    #[schemars(range(min = 1))]
    max_count: Option<usize>,
    /// Only commits that changed this file or directory
    #[serde(default)]
    path: Option<String>,
}

const NAME: &str = "git_log";
const DEFAULT_COUNT: usize = 10;

impl TypedTool for GitLogTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "Show commits from HEAD backwards (id, author, date, message), like `git log`; \
         with path, only the commits that changed that file or directory.";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let max_count = match args.max_count {
            Some(0) => {
                return Err(ToolError::bad_arguments(
                    NAME,
                    "max_count must be at least 1",
                ))
            }
            Some(count) => count,
            None => DEFAULT_COUNT,
        };
        let repo = open_repository(ctx)?;
        let spec = pathspec(ctx, args.path.as_deref())?;
        let head = match repo.head() {
            Ok(head) => head,
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
                return Ok(ToolOutput::text("(no commits yet)\n".to_string(), false));
            }
            Err(e) => return Err(ToolError::git("read HEAD", e)),
        };
        let head_id = head
            .peel_to_commit()
            .map_err(|e| ToolError::git("read HEAD's commit", e))?
            .id();
        let mut walk = repo
            .revwalk()
            .map_err(|e| ToolError::git("walk the history", e))?;
        walk.push(head_id)
            .map_err(|e| ToolError::git("walk the history", e))?;
        walk.set_sorting(Sort::TIME)
            .map_err(|e| ToolError::git("sort the history", e))?;

        let mut text = String::new();
        let mut shown = 0usize;
        for id in walk {
            let id = id.map_err(|e| ToolError::git("walk the history", e))?;
            let commit = repo
                .find_commit(id)
                .map_err(|e| ToolError::git("read a commit", e))?;
            if let Some(spec) = &spec {
                if !touches(&repo, &commit, spec)? {
                    continue;
                }
            }
            if shown > 0 {
                text.push('\n');
            }
            text.push_str(&commit_header(&commit));
            shown += 1;
            if shown == max_count {
                break;
            }
        }
        let empty = match &args.path {
            Some(path) => format!("(no commits change {path})"),
            None => "(no commits yet)".to_string(),
        };
        Ok(bounded(ctx, &text, &empty))
    }
}

/// Whether a commit changed `spec`: it differs there from every parent (so a merge that
/// took the path from one side unchanged is skipped, as git's history simplification does).
fn touches(repo: &Repository, commit: &Commit<'_>, spec: &str) -> Result<bool, ToolError> {
    let tree = commit
        .tree()
        .map_err(|e| ToolError::git("read a commit's tree", e))?;
    let differs = |parent_tree: Option<&git2::Tree<'_>>| -> Result<bool, ToolError> {
        let mut options = DiffOptions::new();
        options.pathspec(spec).disable_pathspec_match(true);
        let diff = repo
            .diff_tree_to_tree(parent_tree, Some(&tree), Some(&mut options))
            .map_err(|e| ToolError::git("compare a commit with its parent", e))?;
        Ok(diff.deltas().len() > 0)
    };
    if commit.parent_count() == 0 {
        return differs(None);
    }
    for parent in commit.parents() {
        let parent_tree = parent
            .tree()
            .map_err(|e| ToolError::git("read a parent's tree", e))?;
        if !differs(Some(&parent_tree))? {
            return Ok(false);
        }
    }
    Ok(true)
}
