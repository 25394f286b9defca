//! `git_log`: recent commits, optionally only those that touch a path or that add or
//! remove a string (git's "pickaxe", `git log -S`).

use git2::{Commit, DiffOptions, Oid, Repository, Sort};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::args::lenient_usize;
use crate::fs::is_binary;
use crate::git::{
    bounded, commit_header, first_parent_diff, is_secret_delta, open_repository, pathspec,
    short_id, time,
};
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
    /// Only commits that add or remove this exact text, like `git log -S`: which commit introduced or removed X
    // One line: schemars keeps a doc comment's line breaks in the description.
    #[serde(default)]
    search: Option<String>,
}

const NAME: &str = "git_log";
const DEFAULT_COUNT: usize = 10;

/// How many commits a search reads before it stops: each costs a diff with its parent.
const MAX_SEARCHED: usize = 2_000;

impl TypedTool for GitLogTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "Show commits from HEAD backwards (id, author, date, message), like `git log`; \
         with path, only the commits that changed that file or directory; with search, only the commits \
         that added or removed that text (like `git log -S`), to answer \"which commit introduced X?\"";
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
        if args.search.as_deref() == Some("") {
            return Err(ToolError::bad_arguments(
                NAME,
                "search is empty; give the text whose introduction or removal to find",
            ));
        }
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
        let mut text = String::new();
        let mut shown = 0usize;
        let mut searched = 0usize;
        walk_history(&repo, head_id, |commit| {
            if let Some(needle) = &args.search {
                if searched == MAX_SEARCHED {
                    text.push_str(&format!(
                        "\n(stopped after searching {MAX_SEARCHED} commits; pass path to search one file's history further back)\n"
                    ));
                    return Ok(false);
                }
                searched += 1;
                if !changes_count(&repo, commit, spec.as_deref(), needle.as_bytes(), ctx)? {
                    return Ok(true);
                }
            } else if let Some(spec) = &spec {
                if !touches(&repo, commit, spec)? {
                    return Ok(true);
                }
            }
            if shown > 0 {
                text.push('\n');
            }
            text.push_str(&commit_header(commit));
            shown += 1;
            Ok(shown < max_count)
        })?;
        let within = args
            .path
            .as_ref()
            .map_or(String::new(), |path| format!(" in {path}"));
        let empty = match (&args.search, &args.path) {
            (Some(needle), _) => {
                let mut empty = format!("(no commits add or remove `{needle}`{within})");
                // The words of a question ("made the backups compressed") are seldom the
                // text of the change (`gzip`): the commits whose message says it, or else
                // the history searched, let the model find the commit by its subject.
                empty.push_str(&nearby_commits(
                    &repo,
                    head_id,
                    needle,
                    spec.as_deref(),
                    max_count,
                )?);
                empty
            }
            (None, Some(path)) => format!("(no commits change {path})"),
            (None, None) => "(no commits yet)".to_string(),
        };
        Ok(bounded(ctx, &text, &empty))
    }
}

/// Calls `visit` on each commit from `head` backwards, newest first, until it returns
/// `Ok(false)` or the history ends.
fn walk_history(
    repo: &Repository,
    head: Oid,
    mut visit: impl FnMut(&Commit<'_>) -> Result<bool, ToolError>,
) -> Result<(), ToolError> {
    let mut walk = repo
        .revwalk()
        .map_err(|e| ToolError::git("walk the history", e))?;
    walk.push(head)
        .map_err(|e| ToolError::git("walk the history", e))?;
    walk.set_sorting(Sort::TIME)
        .map_err(|e| ToolError::git("sort the history", e))?;
    for id in walk {
        let id = id.map_err(|e| ToolError::git("walk the history", e))?;
        let commit = repo
            .find_commit(id)
            .map_err(|e| ToolError::git("read a commit", e))?;
        if !visit(&commit)? {
            break;
        }
    }
    Ok(())
}

/// What a search that found no change shows instead, one line per commit (short id, date,
/// subject): the commits whose message mentions `needle` (case ignored), or when none does,
/// the latest commits that changed `spec` (or any commits, without one).
fn nearby_commits(
    repo: &Repository,
    head: Oid,
    needle: &str,
    spec: Option<&str>,
    max_count: usize,
) -> Result<String, ToolError> {
    let wanted = needle.to_lowercase();
    let mut mentioning = Vec::new();
    let mut latest = Vec::new();
    let mut read = 0usize;
    walk_history(repo, head, |commit| {
        read += 1;
        let message = String::from_utf8_lossy(commit.message_bytes()).to_lowercase();
        if mentioning.len() < max_count && message.contains(&wanted) {
            mentioning.push(one_line(commit));
        }
        if latest.len() < max_count && spec.map_or(Ok(true), |spec| touches(repo, commit, spec))? {
            latest.push(one_line(commit));
        }
        Ok(read < MAX_SEARCHED && mentioning.len() < max_count)
    })?;
    let (heading, lines) = if mentioning.is_empty() {
        let what = spec.map_or("The latest commits".to_string(), |spec| {
            format!("The latest commits that changed {spec}")
        });
        (what, latest)
    } else {
        (
            format!("Commits whose message mentions `{needle}`"),
            mentioning,
        )
    };
    if lines.is_empty() {
        return Ok(String::new());
    }
    Ok(format!("\n{heading}:\n{}", lines.join("\n")))
}

/// A commit as `git log --oneline --date=short` shows it: short id, date and subject.
fn one_line(commit: &Commit<'_>) -> String {
    let when = commit.author().when();
    let date = time::iso_date(when.seconds(), when.offset_minutes());
    let date = date.split(' ').next().unwrap_or(&date);
    let subject = String::from_utf8_lossy(commit.message_bytes())
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    format!("{} {date}  {subject}", short_id(&commit.id()))
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

/// Whether a commit changes how many times `needle` occurs in some file (under `spec`), as
/// `git log -S` decides: against its parent, with renames detected so that a moved file is
/// no change. Merges are skipped as git does without `-m`, and binary files as without
/// `--text`.
fn changes_count(
    repo: &Repository,
    commit: &Commit<'_>,
    spec: Option<&str>,
    needle: &[u8],
    ctx: &ToolContext,
) -> Result<bool, ToolError> {
    if commit.parent_count() > 1 {
        return Ok(false);
    }
    let mut options = DiffOptions::new();
    if let Some(spec) = spec {
        options.pathspec(spec).disable_pathspec_match(true);
    }
    let diff = first_parent_diff(repo, commit, &mut options)?;
    let count = |id: Oid| -> Result<Option<usize>, ToolError> {
        if id.is_zero() {
            return Ok(Some(0));
        }
        let blob = repo
            .find_blob(id)
            .map_err(|e| ToolError::git("read a file of a commit", e))?;
        let content = blob.content();
        Ok((!is_binary(content)).then(|| occurrences(content, needle)))
    };
    for delta in diff.deltas() {
        // A secret file is not searched: which commits hold a string would reveal its text.
        if is_secret_delta(&ctx.secret_files, &delta) {
            continue;
        }
        let before = count(delta.old_file().id())?;
        let after = count(delta.new_file().id())?;
        if let (Some(before), Some(after)) = (before, after) {
            if before != after {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// How many times `needle` occurs in `haystack`, not overlapping, as git counts for `-S`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = haystack;
    while let Some(at) = rest
        .windows(needle.len())
        .position(|window| window == needle)
    {
        count += 1;
        rest = &rest[at + needle.len()..];
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_do_not_overlap() {
        assert_eq!(occurrences(b"aaaa", b"aa"), 2);
        assert_eq!(occurrences(b"x LIMIT y LIMIT", b"LIMIT"), 2);
        assert_eq!(occurrences(b"", b"a"), 0);
    }
}
