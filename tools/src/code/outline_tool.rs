//! `outline`: the definitions in one file, with their line ranges.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::code::language::Language;
use crate::code::outline::{outline_source, Definition};
use crate::fs::read_text_file;
use crate::output::BoundedText;
use crate::paths::{resolve_path, Access};
use crate::{ToolContext, ToolError, ToolOutput, TypedTool};

/// Lists the functions, types, methods and constants defined in a source file.
#[derive(Debug, Default, Clone, Copy)]
pub struct OutlineTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// Source file path relative to the repository root
    path: String,
}

const NAME: &str = "outline";

/// One outline line: `12-40 method Parser::parse` (a one-line definition shows one number).
pub(crate) fn outline_line(definition: &Definition) -> String {
    let lines = if definition.end_line > definition.line {
        format!("{}-{}", definition.line, definition.end_line)
    } else {
        definition.line.to_string()
    };
    format!(
        "{lines} {} {}",
        definition.kind.as_str(),
        definition.qualified_name
    )
}

impl TypedTool for OutlineTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "List the definitions in a source file (functions, methods with their type, classes, \
         structs, enums, traits, interfaces, constants) with their line ranges, to read only what you need.";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let path = resolve_path(&ctx.root, &args.path, Access::Read)?;
        let bytes = read_text_file(&path, &args.path, ctx.limits.max_file_bytes)?;
        let Some(language) = Language::from_path(&path) else {
            return Err(ToolError::UnsupportedLanguage {
                path: args.path.clone(),
                supported: Language::supported_list().to_string(),
            });
        };
        let definitions = outline_source(language, &String::from_utf8_lossy(&bytes))?;
        if definitions.is_empty() {
            return Ok(ToolOutput::text(
                format!("(no definitions found in {})\n", args.path),
                false,
            ));
        }
        let mut shown = BoundedText::new(ctx.limits);
        for definition in &definitions {
            shown.push_line(&outline_line(definition));
        }
        let (text, truncated) = shown.finish_with("definitions", "");
        Ok(ToolOutput::text(text, truncated))
    }
}
