//! `find_symbol`: where a name is defined, across the repository.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::code::language::Language;
use crate::code::outline::{outline_source, SymbolKind};
use crate::fs::read_source;
use crate::output::BoundedText;
use crate::paths::display_path;
use crate::walk::walk_files;
use crate::{ToolContext, ToolError, ToolOutput, TypedTool};

/// Finds the definitions of a name in every supported source file of the repository.
#[derive(Debug, Default, Clone, Copy)]
pub struct FindSymbolTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// The exact name to find, optionally qualified by its type
    name: String,
    /// Only definitions of this kind
    #[serde(default)]
    #[schemars(extend("enum" = ["function", "method", "class", "struct", "enum", "union", "trait", "interface", "type", "const", "module", "macro"]))]
    kind: Option<String>,
}

const NAME: &str = "find_symbol";

impl TypedTool for FindSymbolTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "Find where a function, method, type or constant is defined across the repository, by \
         exact name (\"parse\") or qualified name (\"Parser::parse\", \"Parser.parse\"): `file:line kind name`.";
    const MUTATES: bool = false;

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let wanted = args.name.trim();
        if wanted.is_empty() {
            return Err(ToolError::bad_arguments(NAME, "`name` is empty"));
        }
        let kind = match args.kind.as_deref() {
            None => None,
            Some(word) => Some(SymbolKind::parse(word).ok_or_else(|| {
                ToolError::bad_arguments(
                    NAME,
                    format!("unknown kind `{word}`; use one of the schema's kinds"),
                )
            })?),
        };
        // The last segment of a qualified name is the name as written in the file: files
        // without it cannot hold the definition and are not parsed.
        let last_segment = wanted.rsplit([':', '.']).next().unwrap_or(wanted);
        let mut results = BoundedText::new(ctx.limits);
        let mut found = 0usize;
        for file in walk_files(&ctx.root, &ctx.root) {
            let Some(language) = Language::from_path(&file) else {
                continue;
            };
            let Some(source) = read_source(&file, ctx.limits.max_file_bytes) else {
                continue;
            };
            if !source.contains(last_segment) {
                continue;
            }
            let relative = display_path(&ctx.root, &file);
            for definition in outline_source(language, &source)? {
                let name_matches =
                    definition.name == wanted || same_qualified(&definition.qualified_name, wanted);
                if name_matches && kind.is_none_or(|k| k == definition.kind) {
                    found += 1;
                    results.push_line(&format!(
                        "{relative}:{} {} {}",
                        definition.line,
                        definition.kind.as_str(),
                        definition.qualified_name
                    ));
                }
            }
        }
        if found == 0 {
            let of_kind = kind
                .map(|k| format!(" as a {}", k.as_str()))
                .unwrap_or_default();
            return Ok(ToolOutput::text(
                format!(
                    "(no definition of `{wanted}`{of_kind} found; grep finds other mentions)\n"
                ),
                false,
            ));
        }
        let (text, truncated) = results.finish_with("definitions", "");
        Ok(ToolOutput::text(text, truncated))
    }
}

/// Qualified names compare with either separator, so `Parser.parse` finds `Parser::parse`.
fn same_qualified(qualified: &str, wanted: &str) -> bool {
    qualified == wanted || qualified.replace("::", ".") == wanted.replace("::", ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_match_with_either_separator() {
        assert!(same_qualified("Parser::parse", "Parser.parse"));
        assert!(same_qualified("Parser.parse", "Parser::parse"));
        assert!(!same_qualified("Parser::parse", "Lexer::parse"));
    }
}
