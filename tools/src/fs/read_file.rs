//! `read_file`: a file's lines, numbered, within a range.

use crate::args::FileLines;
use crate::fs::read_text_file;
use crate::output::BoundedText;
use crate::paths::{resolve_path, Access};
use crate::{ToolContext, ToolError, ToolOutput, TypedTool};

/// Reads a text file with line numbers, optionally a range of lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadFileTool;

const NAME: &str = "read_file";

impl TypedTool for ReadFileTool {
    type Args = FileLines;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "Read a text file of the repository, each line prefixed with its line number. \
         Use start_line and end_line (1-based, inclusive) to read part of a long file.";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, args: FileLines) -> Result<ToolOutput, ToolError> {
        let path = resolve_path(&ctx.root, &args.path, Access::Read)?;
        ctx.secret_files.check(&ctx.root, &path, &args.path)?;
        let bytes = read_text_file(&path, &args.path, ctx.limits.max_file_bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        let Some((first, last)) = args.range(NAME, lines.len())? else {
            return Ok(args.empty());
        };
        let width = last.to_string().len();
        let mut shown = BoundedText::new(ctx.limits);
        for (index, line) in lines[first - 1..last].iter().enumerate() {
            shown.push_line(&format!("{:>width$}\t{line}", first + index));
        }
        let next = first + shown.shown();
        let hint = format!("; read on with start_line={next}");
        let (text, truncated) = shown.finish_with("lines", &hint);
        Ok(ToolOutput::text(text, truncated))
    }
}
