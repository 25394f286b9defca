//! The git tools, through libgit2: status, diff, log, show and blame, printed as git does.

pub(crate) mod blame;
mod confine;
pub(crate) mod diff;
pub(crate) mod log;
pub(crate) mod show;
pub(crate) mod status;
mod time;

use git2::{Commit, Diff, DiffDelta, DiffFindOptions, DiffFormat, DiffOptions, Repository};

use crate::output::BoundedText;
use crate::paths::{display_path, resolve_path, Access};
use crate::{SecretFiles, ToolContext, ToolError, ToolOutput};

pub(crate) use confine::open_repository;

/// A path argument as a pathspec relative to the repository root; `None` for the root.
/// The path need not exist (deleted files have history).
pub(crate) fn pathspec(ctx: &ToolContext, path: Option<&str>) -> Result<Option<String>, ToolError> {
    let Some(path) = path else { return Ok(None) };
    let resolved = resolve_path(&ctx.root, path, Access::Read)?;
    let relative = display_path(&ctx.root, &resolved);
    Ok(if relative == "." {
        None
    } else {
        Some(relative)
    })
}

/// The error for a revision the model gave that git cannot resolve.
pub(crate) fn bad_revision(rev: &str, error: &git2::Error) -> ToolError {
    ToolError::BadRevision {
        rev: rev.to_string(),
        message: error.message().to_string(),
    }
}

/// Renames are detected as `git diff` does by default (since git 2.9).
pub(crate) fn detect_renames(diff: &mut Diff<'_>) -> Result<(), ToolError> {
    diff.find_similar(Some(DiffFindOptions::new().renames(true)))
        .map_err(|e| ToolError::git("detect renames", e))
}

/// A commit's changes against its first parent (against nothing for a root commit), with
/// renames detected: what `git show` prints for a commit and `git log -S` searches.
pub(crate) fn first_parent_diff<'r>(
    repo: &'r Repository,
    commit: &Commit<'_>,
    options: &mut DiffOptions,
) -> Result<Diff<'r>, ToolError> {
    let tree = commit
        .tree()
        .map_err(|e| ToolError::git("read a commit's tree", e))?;
    let parent_tree = match commit.parents().next() {
        Some(parent) => Some(
            parent
                .tree()
                .map_err(|e| ToolError::git("read a parent's tree", e))?,
        ),
        None => None,
    };
    let mut diff = repo
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(options))
        .map_err(|e| ToolError::git("compare a commit with its parent", e))?;
    detect_renames(&mut diff)?;
    Ok(diff)
}

/// Whether either side of `delta` is a file `secrets` denies.
pub(crate) fn is_secret_delta(secrets: &SecretFiles, delta: &DiffDelta<'_>) -> bool {
    [delta.old_file().path(), delta.new_file().path()]
        .into_iter()
        .flatten()
        .any(|path| secrets.denying_rule(&path.to_string_lossy()).is_some())
}

/// A diff in git's patch format. The lines of a file `secrets` denies are left out, with a
/// note naming the file and the rule in their place.
pub(crate) fn patch_text(diff: &Diff<'_>, secrets: &SecretFiles) -> Result<String, ToolError> {
    let mut text = Vec::new();
    diff.print(DiffFormat::Patch, |delta, _hunk, line| {
        if is_secret_delta(secrets, &delta) {
            if line.origin() == 'F' {
                let path = delta.new_file().path().or(delta.old_file().path());
                let path = path.map(|p| p.to_string_lossy()).unwrap_or_default();
                let rule = secrets.denying_rule(&path).unwrap_or("a secret-file rule");
                text.extend_from_slice(
                    format!(
                        "(changes to `{path}` not shown: it matches the secret-file rule \
                         `{rule}`)\n"
                    )
                    .as_bytes(),
                );
            }
            return true;
        }
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin() as u8);
        }
        text.extend_from_slice(line.content());
        true
    })
    .map_err(|e| ToolError::git("print the diff", e))?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The header `git log` prints for a commit, message indented by four spaces.
pub(crate) fn commit_header(commit: &Commit<'_>) -> String {
    let mut text = format!("commit {}\n", commit.id());
    if commit.parent_count() > 1 {
        let parents: Vec<String> = commit.parent_ids().map(|id| short_id(&id)).collect();
        text.push_str(&format!("Merge: {}\n", parents.join(" ")));
    }
    let author = commit.author();
    text.push_str(&format!(
        "Author: {} <{}>\n",
        String::from_utf8_lossy(author.name_bytes()),
        String::from_utf8_lossy(author.email_bytes())
    ));
    let when = author.when();
    text.push_str(&format!(
        "Date:   {}\n\n",
        time::default_date(when.seconds(), when.offset_minutes())
    ));
    let message = String::from_utf8_lossy(commit.message_bytes());
    for line in message.trim_end().lines() {
        if line.is_empty() {
            text.push('\n');
        } else {
            text.push_str(&format!("    {line}\n"));
        }
    }
    text
}

/// The abbreviated id git shows by default (seven hex digits).
pub(crate) fn short_id(id: &git2::Oid) -> String {
    id.to_string()[..7].to_string()
}

/// Bounded output of already formatted text.
pub(crate) fn bounded(ctx: &ToolContext, text: &str, empty_note: &str) -> ToolOutput {
    if text.trim().is_empty() {
        return ToolOutput::text(format!("{empty_note}\n"), false);
    }
    let mut shown = BoundedText::new(ctx.limits);
    for line in text.lines() {
        shown.push_line(line);
    }
    let (text, truncated) = shown.finish();
    ToolOutput::text(text, truncated)
}
