//! `outline`: the definitions in one file, with their line ranges.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::args::{parse_args, schema_for};
use crate::code::language::Language;
use crate::code::outline::{outline_source, Definition};
use crate::fs::read_text_file;
use crate::output::BoundedText;
use crate::paths::{resolve_path, Access};
use crate::{Tool, ToolContext, ToolError, ToolOutput};

/// Lists the functions, types, methods and constants defined in a source file.
#[derive(Debug, Default, Clone, Copy)]
pub struct OutlineTool;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
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

impl Tool for OutlineTool {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "List the definitions in a source file (functions, methods with their type, classes, \
         structs, enums, traits, interfaces, constants) with their line ranges, to read only what you need."
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
