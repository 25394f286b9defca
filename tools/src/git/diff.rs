//! `git_diff`: the working tree, the index or a revision range, as a patch.

use git2::{DiffOptions, Repository, RevparseMode, Tree};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::args::lenient_bool;
use crate::git::{bad_revision, bounded, detect_renames, open_repository, patch_text, pathspec};
use crate::{ToolContext, ToolError, ToolOutput, TypedTool};

/// Shows changes as a unified diff, like `git diff`.
#[derive(Debug, Default, Clone, Copy)]
pub struct GitDiffTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// "A..B" (B against A), "A...B" (B against the merge base) or one revision (the working tree against it)
    #[serde(default)]
    rev_range: Option<String>,
    /// Only show changes to this file or directory
    #[serde(default)]
    path: Option<String>,
    /// Show staged changes (index against HEAD, or against rev_range's revision) (default false)
    #[serde(default, deserialize_with = "lenient_bool")]
    staged: Option<bool>,
}

const NAME: &str = "git_diff";

impl TypedTool for GitDiffTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "Show changes as a unified diff, like `git diff`: unstaged changes by default, staged \
         ones with staged=true, a revision against the working tree, or a range \"A..B\" / \"A...B\".";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let repo = open_repository(ctx)?;
        let mut options = DiffOptions::new();
        if let Some(spec) = pathspec(ctx, args.path.as_deref())? {
            options.pathspec(spec).disable_pathspec_match(true);
        }
        let staged = args.staged.unwrap_or(false);
        let rev_range = args
            .rev_range
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let diff = match rev_range {
            None if staged => {
                let head = head_tree(&repo)?;
                repo.diff_tree_to_index(head.as_ref(), None, Some(&mut options))
            }
            None => repo.diff_index_to_workdir(None, Some(&mut options)),
            Some(range) if range.contains("..") => {
                if staged {
                    return Err(ToolError::bad_arguments(
                        NAME,
                        "staged compares the index with one revision; it cannot be combined with a range \"A..B\"",
                    ));
                }
                let (old, new) = range_trees(&repo, range)?;
                repo.diff_tree_to_tree(Some(&old), Some(&new), Some(&mut options))
            }
            Some(rev) => {
                let tree = rev_tree(&repo, rev)?;
                if staged {
                    repo.diff_tree_to_index(Some(&tree), None, Some(&mut options))
                } else {
                    repo.diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))
                }
            }
        };
        let mut diff = diff.map_err(|e| ToolError::git("compute the diff", e))?;
        detect_renames(&mut diff)?;
        Ok(bounded(
            ctx,
            &patch_text(&diff, &ctx.secret_files)?,
            "(no differences)",
        ))
    }
}

/// HEAD's tree, or `None` before the first commit (everything staged is then new).
fn head_tree(repo: &Repository) -> Result<Option<Tree<'_>>, ToolError> {
    match repo.head() {
        Ok(head) => head
            .peel_to_tree()
            .map(Some)
            .map_err(|e| ToolError::git("read HEAD's tree", e)),
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => Ok(None),
        Err(e) => Err(ToolError::git("read HEAD", e)),
    }
}

/// The tree of one revision the model named.
pub(crate) fn rev_tree<'r>(repo: &'r Repository, rev: &str) -> Result<Tree<'r>, ToolError> {
    let object = repo
        .revparse_single(rev)
        .map_err(|e| bad_revision(rev, &e))?;
    object.peel_to_tree().map_err(|e| bad_revision(rev, &e))
}

/// The two trees of "A..B" (A and B) or "A...B" (the merge base of A and B, and B); an
/// empty side means HEAD, as in git.
fn range_trees<'r>(repo: &'r Repository, range: &str) -> Result<(Tree<'r>, Tree<'r>), ToolError> {
    let spec = repo.revparse(range).map_err(|e| bad_revision(range, &e))?;
    let head = || {
        repo.revparse_single("HEAD")
            .map_err(|e| bad_revision(range, &e))
    };
    let from = match spec.from() {
        Some(object) => object.clone(),
        None => head()?,
    };
    let to = match spec.to() {
        Some(object) => object.clone(),
        None => head()?,
    };
    let to_tree = to.peel_to_tree().map_err(|e| bad_revision(range, &e))?;
    let from_tree = if spec.mode().contains(RevparseMode::MERGE_BASE) {
        let from_commit = from.peel_to_commit().map_err(|e| bad_revision(range, &e))?;
        let to_commit = to.peel_to_commit().map_err(|e| bad_revision(range, &e))?;
        let base = repo
            .merge_base(from_commit.id(), to_commit.id())
            .map_err(|e| bad_revision(range, &e))?;
        let base_commit = repo
            .find_commit(base)
            .map_err(|e| ToolError::git("read the merge base", e))?;
        base_commit
            .tree()
            .map_err(|e| ToolError::git("read the merge base's tree", e))?
    } else {
        from.peel_to_tree().map_err(|e| bad_revision(range, &e))?
    };
    Ok((from_tree, to_tree))
}
