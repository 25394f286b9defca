//! `write_file`: create a file (and its directories); overwrite only when asked.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::args::{lenient_bool, parse_args};
use crate::fs::{read_text_file, unified_diff};
use crate::output::{group_thousands, BoundedText};
use crate::paths::{display_path, resolve_path, Access};
use crate::{FileChange, Tool, ToolContext, ToolError, ToolOutput};

/// Creates a new file with the given content, creating parent directories as needed.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteFileTool;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    content: String,
    #[serde(default, deserialize_with = "lenient_bool")]
    overwrite: Option<bool>,
}

const NAME: &str = "write_file";

impl Tool for WriteFileTool {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "Create a new file with the given content (parent directories are created). Refuses to \
         replace an existing file unless overwrite is true; to change part of a file use edit_file."
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path relative to the repository root"},
                "content": {"type": "string", "description": "The whole content of the file"},
                "overwrite": {"type": "boolean", "description": "Replace the file if it exists (default false)"}
            },
            "required": ["path", "content"],
            "additionalProperties": false
        })
    }

    fn mutates(&self) -> bool {
        true
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        let args: Args = parse_args(NAME, args)?;
        let path = resolve_path(&ctx.root, &args.path, Access::Write)?;
        if path == ctx.root || path.is_dir() {
            return Err(ToolError::IsDirectory {
                path: args.path.clone(),
            });
        }
        let before = if path.exists() {
            if !args.overwrite.unwrap_or(false) {
                return Err(ToolError::AlreadyExists {
                    path: args.path.clone(),
                });
            }
            let bytes = read_text_file(&path, &args.path, ctx.limits.max_file_bytes)?;
            // The old content is kept for undo, so it must survive the round trip intact.
            Some(String::from_utf8(bytes).map_err(|_| ToolError::NotUtf8 {
                path: args.path.clone(),
            })?)
        } else {
            None
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => {
                    ToolError::bad_arguments(
                        NAME,
                        format!("a parent of `{}` is a file, not a directory", args.path),
                    )
                }
                _ => ToolError::io(parent, e),
            })?;
        }
        std::fs::write(&path, &args.content).map_err(|e| ToolError::io(&path, e))?;

        let relative = display_path(&ctx.root, &path);
        let diff = unified_diff(&relative, before.as_deref(), &args.content);
        let (text, truncated) = match &before {
            None => (
                format!(
                    "Created {relative} ({} lines, {} bytes)\n",
                    group_thousands(args.content.lines().count()),
                    group_thousands(args.content.len())
                ),
                false,
            ),
            Some(_) => {
                let mut shown = BoundedText::new(ctx.limits);
                shown.push_line(&format!("Overwrote {relative}:"));
                for line in diff.lines() {
                    shown.push_line(line);
                }
                shown.finish()
            }
        };
        let change = FileChange {
            path: relative,
            before,
            after: args.content,
            diff,
        };
        Ok(ToolOutput {
            text,
            truncated,
            change: Some(change),
        })
    }
}
