//! `write_file`: create a file (and its directories); overwrite only when asked.

use std::io::ErrorKind;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::args::lenient_bool;
use crate::fs::{check_regular, read_utf8_file, Planned};
use crate::output::{group_thousands, BoundedText};
use crate::paths::{resolve_path, Access};
use crate::{FileChange, ToolContext, ToolError, ToolOutput, TypedTool};

/// Creates a new file with the given content, creating parent directories as needed.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteFileTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// File path relative to the repository root
    path: String,
    /// The whole content of the file
    content: String,
    /// Replace the file if it exists (default false)
    #[serde(default, deserialize_with = "lenient_bool")]
    overwrite: Option<bool>,
}

const NAME: &str = "write_file";

impl TypedTool for WriteFileTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "Create a new file with the given content (parent directories are created). Refuses to \
         replace an existing file unless overwrite is true; to change part of a file use edit_file.";
    const MUTATES: bool = true;

    fn plan(&self, ctx: &ToolContext, args: Args) -> Result<Vec<FileChange>, ToolError> {
        Ok(vec![plan_write(ctx, args)?.change])
    }

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let change = plan_write(ctx, args)?.apply()?;
        let relative = &change.path;
        let (text, truncated) = match &change.before {
            None => (
                format!(
                    "Created {relative} ({} lines, {} bytes)\n",
                    group_thousands(change.after.lines().count()),
                    group_thousands(change.after.len())
                ),
                false,
            ),
            Some(_) => {
                let mut shown = BoundedText::new(ctx.limits);
                shown.push_line(&format!("Overwrote {relative}:"));
                for line in change.diff.lines() {
                    shown.push_line(line);
                }
                shown.finish()
            }
        };
        Ok(ToolOutput {
            text,
            truncated,
            changes: vec![change],
        })
    }
}

/// The file a call writes, computed without writing: the dry run and the call share it, so
/// what a user approves is what is written.
fn plan_write(ctx: &ToolContext, args: Args) -> Result<Planned, ToolError> {
    let path = resolve_path(&ctx.root, &args.path, Access::Write)?;
    // Overwriting would show the old text in the diff; a new secret file is refused too, so
    // that the rule reads the same both ways.
    ctx.secret_files.check(&ctx.root, &path, &args.path)?;
    let before = match std::fs::metadata(&path) {
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => None,
        Err(e) => return Err(ToolError::io(&path, e)),
        Ok(meta) => {
            // What is there is refused for what it is before overwrite is considered: a
            // FIFO or a directory cannot be replaced by a file.
            check_regular(&meta, &args.path)?;
            if !args.overwrite.unwrap_or(false) {
                return Err(ToolError::AlreadyExists {
                    path: args.path.clone(),
                });
            }
            // The old content is kept for undo, so it must survive the round trip intact.
            Some(read_utf8_file(
                &path,
                &args.path,
                ctx.limits.max_file_bytes,
            )?)
        }
    };
    let planned = Planned::new(ctx, NAME, path, &args.path, before, args.content);
    planned.check_parents()?;
    Ok(planned)
}
