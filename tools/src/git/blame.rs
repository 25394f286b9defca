//! `git_blame`: who last changed each line of a file, as `git blame` prints it.

use std::collections::HashMap;
use std::path::Path;

use git2::{BlameOptions, Oid, Repository};

use crate::args::FileLines;
use crate::fs::{is_binary, read_text_file};
use crate::git::{open_repository, pathspec, time};
use crate::output::BoundedText;
use crate::paths::{resolve_path, Access};
use crate::{ToolContext, ToolError, ToolOutput, TypedTool};

/// Shows the commit, author and date that last changed each line of a file.
#[derive(Debug, Default, Clone, Copy)]
pub struct GitBlameTool;

const NAME: &str = "git_blame";

/// Who and when, per commit, as blame prints them.
struct Origin {
    author: String,
    date: String,
}

impl TypedTool for GitBlameTool {
    type Args = FileLines;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "Show which commit, author and date last changed each line of a file, like `git blame` \
         (uncommitted lines show as 00000000). Use start_line and end_line for part of a file.";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, args: FileLines) -> Result<ToolOutput, ToolError> {
        let repo = open_repository(ctx)?;
        let Some(relative) = pathspec(ctx, Some(&args.path))? else {
            return Err(ToolError::IsDirectory {
                path: args.path.clone(),
            });
        };
        let on_disk = resolve_path(&ctx.root, &args.path, Access::Read)?;
        // Blame prints every line of the file.
        ctx.secret_files.check(&ctx.root, &on_disk, &args.path)?;
        if on_disk.is_dir() {
            return Err(ToolError::IsDirectory {
                path: args.path.clone(),
            });
        }
        let committed = repo
            .blame_file(Path::new(&relative), Some(&mut BlameOptions::new()))
            .map_err(|e| match e.code() {
                git2::ErrorCode::NotFound => ToolError::NotTracked {
                    path: args.path.clone(),
                },
                _ => ToolError::git(format!("blame {relative}"), e),
            })?;
        // Blame the file as it is on disk, so line numbers agree with read_file; a file
        // deleted from the working tree is blamed as committed.
        let (blame, content) = if on_disk.exists() {
            let bytes = read_text_file(&on_disk, &args.path, ctx.limits.max_file_bytes)?;
            let blame = committed
                .blame_buffer(&bytes)
                .map_err(|e| ToolError::git(format!("blame {relative}"), e))?;
            (blame, bytes)
        } else {
            let bytes = committed_content(&repo, &relative)?;
            if is_binary(&bytes) {
                return Err(ToolError::Binary {
                    path: args.path.clone(),
                });
            }
            (committed, bytes)
        };
        let text = String::from_utf8_lossy(&content);
        let lines: Vec<&str> = text.lines().collect();
        let Some((first, last)) = args.range(NAME, lines.len())? else {
            return Ok(args.empty());
        };

        let mut origins: HashMap<Oid, Origin> = HashMap::new();
        let mut rows = Vec::new();
        for number in first..=last {
            let (id, boundary) = match blame.get_line(number) {
                Some(hunk) => (hunk.final_commit_id(), hunk.is_boundary()),
                None => (Oid::zero(), false),
            };
            if !id.is_zero() && !origins.contains_key(&id) {
                origins.insert(id, origin_of(&repo, id)?);
            }
            rows.push((number, id, boundary));
        }
        let author_width = origins
            .values()
            .map(|o| o.author.chars().count())
            .max()
            .unwrap_or(0)
            .max(17);
        let number_width = last.to_string().len();
        let mut shown = BoundedText::new(ctx.limits);
        for (number, id, boundary) in rows {
            let (short, author, date) = match origins.get(&id) {
                Some(origin) if boundary => (
                    format!("^{}", &id.to_string()[..7]),
                    origin.author.as_str(),
                    origin.date.as_str(),
                ),
                Some(origin) => (
                    id.to_string()[..8].to_string(),
                    origin.author.as_str(),
                    origin.date.as_str(),
                ),
                None => (
                    "00000000".to_string(),
                    "Not Committed Yet",
                    "                         ",
                ),
            };
            shown.push_line(&format!(
                "{short} ({author:<author_width$} {date} {number:>number_width$}) {}",
                lines[number - 1]
            ));
        }
        let next = first + shown.shown();
        let (text, truncated) =
            shown.finish_with("lines", &format!("; read on with start_line={next}"));
        Ok(ToolOutput::text(text, truncated))
    }
}

fn origin_of(repo: &Repository, id: Oid) -> Result<Origin, ToolError> {
    let commit = repo
        .find_commit(id)
        .map_err(|e| ToolError::git("read a blamed commit", e))?;
    let author = commit.author();
    let when = author.when();
    Ok(Origin {
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        date: time::iso_date(when.seconds(), when.offset_minutes()),
    })
}

fn committed_content(repo: &Repository, relative: &str) -> Result<Vec<u8>, ToolError> {
    let head = repo.head().map_err(|e| ToolError::git("read HEAD", e))?;
    let tree = head
        .peel_to_tree()
        .map_err(|e| ToolError::git("read HEAD's tree", e))?;
    let entry = tree
        .get_path(Path::new(relative))
        .map_err(|_| ToolError::NotTracked {
            path: relative.to_string(),
        })?;
    let object = entry
        .to_object(repo)
        .map_err(|e| ToolError::git("read a file from HEAD", e))?;
    let blob = object.peel_to_blob().map_err(|_| ToolError::IsDirectory {
        path: relative.to_string(),
    })?;
    Ok(blob.content().to_vec())
}
