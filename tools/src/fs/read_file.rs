//! `read_file`: a file's lines, numbered, within a range.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::args::{lenient_usize, line_range, parse_args, schema_for};
use crate::fs::read_text_file;
use crate::output::BoundedText;
use crate::paths::{resolve_path, Access};
use crate::{Tool, ToolContext, ToolError, ToolOutput};

/// Reads a text file with line numbers, optionally a range of lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadFileTool;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// File path relative to the repository root
    path: String,
    /// First line to show (default 1)
    #[serde(default, deserialize_with = "lenient_usize")]
    #[schemars(range(min = 1))]
    start_line: Option<usize>,
    /// Last line to show (default: the end)
    #[serde(default, deserialize_with = "lenient_usize")]
    #[schemars(range(min = 1))]
    end_line: Option<usize>,
}

const NAME: &str = "read_file";

impl Tool for ReadFileTool {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "Read a text file of the repository, each line prefixed with its line number. \
         Use start_line and end_line (1-based, inclusive) to read part of a long file."
    }

    fn schema(&self) -> Value {
        schema_for::<Args>()
    }

    fn mutates(&self) -> bool {
        false
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        let args: Args = parse_args(NAME, args)?;
        let path = resolve_path(&ctx.root, &args.path, Access::Read)?;
        let bytes = read_text_file(&path, &args.path, ctx.limits.max_file_bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return Ok(ToolOutput::text(
                format!("({} is empty)\n", args.path),
                false,
            ));
        }
        let (first, last) = line_range(NAME, args.start_line, args.end_line, lines.len())?;
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
