//! `git_show`: one object as `git show` prints it: a commit with its patch, a tag, a tree
//! listing or a file's content at a revision.

use git2::{Commit, DiffOptions, Object, ObjectType, Repository};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::fs::is_binary;
use crate::git::{
    bad_revision, bounded, commit_header, first_parent_diff, open_repository, patch_text, time,
};
use crate::paths::{resolve_path, Access};
use crate::{SecretFiles, ToolContext, ToolError, ToolOutput, TypedTool};

/// Shows a commit (header and patch), a tag, a tree or a file at a revision.
#[derive(Debug, Default, Clone, Copy)]
pub struct GitShowTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// A revision: "HEAD", a commit id, a tag, or "REV:path" for a file at a revision
    rev: String,
}

const NAME: &str = "git_show";

/// Tags that point at tags are followed at most this deep.
const MAX_TAG_DEPTH: usize = 8;

impl TypedTool for GitShowTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "Show a git object like `git show`: a commit's message and patch (\"HEAD~2\", an id, a tag), \
         or a file as it was at a revision (\"HEAD~1:src/main.rs\").";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let rev = args.rev.trim();
        let repo = open_repository(ctx)?;
        let object = repo
            .revparse_single(rev)
            .map_err(|e| bad_revision(rev, &e))?;
        // `rev:path` names a file: one the secret-file rules deny is not shown.
        if let Some((_, path)) = rev.split_once(':') {
            let resolved = resolve_path(&ctx.root, path, Access::Read)?;
            ctx.secret_files.check(&ctx.root, &resolved, path)?;
        }
        let text = show_object(&repo, rev, &object, 0, &ctx.secret_files)?;
        Ok(bounded(ctx, &text, "(empty)"))
    }
}

fn show_object(
    repo: &Repository,
    rev: &str,
    object: &Object<'_>,
    depth: usize,
    secrets: &SecretFiles,
) -> Result<String, ToolError> {
    match object.kind() {
        Some(ObjectType::Commit) => {
            let commit = object.peel_to_commit().map_err(|e| bad_revision(rev, &e))?;
            show_commit(repo, &commit, secrets)
        }
        Some(ObjectType::Tag) if depth < MAX_TAG_DEPTH => {
            let tag = object.peel_to_tag().map_err(|e| bad_revision(rev, &e))?;
            let mut text = format!("tag {}\n", String::from_utf8_lossy(tag.name_bytes()));
            if let Some(tagger) = tag.tagger() {
                let when = tagger.when();
                text.push_str(&format!(
                    "Tagger: {} <{}>\nDate:   {}\n",
                    String::from_utf8_lossy(tagger.name_bytes()),
                    String::from_utf8_lossy(tagger.email_bytes()),
                    time::default_date(when.seconds(), when.offset_minutes())
                ));
            }
            if let Some(message) = tag.message_bytes() {
                text.push('\n');
                text.push_str(String::from_utf8_lossy(message).trim_end());
                text.push_str("\n\n");
            }
            let target = tag
                .target()
                .map_err(|e| ToolError::git("read a tag's target", e))?;
            text.push_str(&show_object(repo, rev, &target, depth + 1, secrets)?);
            Ok(text)
        }
        Some(ObjectType::Tree) => {
            let tree = object.peel_to_tree().map_err(|e| bad_revision(rev, &e))?;
            let mut text = format!("tree {rev}\n\n");
            for entry in tree.iter() {
                let slash = if entry.kind() == Some(ObjectType::Tree) {
                    "/"
                } else {
                    ""
                };
                text.push_str(&format!(
                    "{}{slash}\n",
                    String::from_utf8_lossy(entry.name_bytes())
                ));
            }
            Ok(text)
        }
        Some(ObjectType::Blob) => {
            let blob = object.peel_to_blob().map_err(|e| bad_revision(rev, &e))?;
            if blob.is_binary() || is_binary(blob.content()) {
                return Err(ToolError::Binary {
                    path: rev.to_string(),
                });
            }
            Ok(String::from_utf8_lossy(blob.content()).into_owned())
        }
        _ => Err(ToolError::BadRevision {
            rev: rev.to_string(),
            message: "it does not name a commit, tag, tree or file".to_string(),
        }),
    }
}

/// The commit's header and its patch against its first parent (git shows merges as a
/// combined diff; the first-parent patch is what changed on the branch merged into).
fn show_commit(
    repo: &Repository,
    commit: &Commit<'_>,
    secrets: &SecretFiles,
) -> Result<String, ToolError> {
    let mut text = commit_header(commit);
    let diff = first_parent_diff(repo, commit, &mut DiffOptions::new())?;
    let patch = patch_text(&diff, secrets)?;
    if !patch.is_empty() {
        text.push('\n');
        if commit.parent_count() > 1 {
            text.push_str("(diff against the first parent)\n");
        }
        text.push_str(&patch);
    }
    Ok(text)
}
