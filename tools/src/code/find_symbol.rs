//! `find_symbol`: where a name is defined, across the repository.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::code::language::Language;
use crate::code::outline::{outline_source, SymbolKind};
use crate::fs::read_source;
use crate::output::BoundedText;
use crate::paths::{display_path, resolve_path, Access};
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
         exact name (\"parse\") or qualified name (\"Parser::parse\", \"Parser.parse\"): `file:line kind name: its first line`. \
         When none is defined, lists the definitions whose name contains it and the lines that mention it.";
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
        if let Some(listed) = definitions_of_file(ctx, wanted)? {
            return Ok(listed);
        }
        // The last segment of a qualified name (or of a path the model put before it) is the
        // name as written in the file: files without it cannot hold the definition and are
        // not parsed.
        let last_segment = wanted.rsplit([':', '.', '/']).next().unwrap_or(wanted);
        if last_segment.is_empty() {
            return Err(ToolError::bad_arguments(
                NAME,
                format!("`name` `{wanted}` ends in a separator; give the name itself"),
            ));
        }
        // Near names and mentions ignore case: a model that read `LOW_STOCK_THRESHOLD`
        // asks for `low_stock_threshold` as often as not.
        let lower = last_segment.to_lowercase();
        let mut exact = Vec::new();
        let mut alike = Vec::new();
        let mut mentions = Vec::new();
        for file in walk_files(&ctx.root, &ctx.root) {
            let Some(source) = read_source(&file, ctx.limits.max_file_bytes) else {
                continue;
            };
            if !source.contains(last_segment) && !source.to_lowercase().contains(&lower) {
                continue;
            }
            let relative = display_path(&ctx.root, &file);
            mentions.extend(mentioning_lines(&relative, &source, &lower));
            let Some(language) = Language::from_path(&file) else {
                continue;
            };
            let lines: Vec<&str> = source.lines().collect();
            for definition in outline_source(language, &source)? {
                let first_line = lines.get(definition.line.saturating_sub(1)).copied();
                let shown = format!(
                    "{relative}:{} {} {}: {}",
                    definition.line,
                    definition.kind.as_str(),
                    definition.qualified_name,
                    first_line.unwrap_or("").trim()
                );
                let name_matches =
                    definition.name == wanted || same_qualified(&definition.qualified_name, wanted);
                if name_matches && kind.is_none_or(|k| k == definition.kind) {
                    exact.push(shown);
                } else if definition.name.to_lowercase().contains(&lower) {
                    alike.push(shown);
                }
            }
        }
        let mut results = BoundedText::new(ctx.limits);
        if exact.is_empty() {
            let of_kind = kind
                .map(|k| format!(" as a {}", k.as_str()))
                .unwrap_or_default();
            results.push_line(&format!("(no definition of `{wanted}`{of_kind} found)"));
            // A model that guessed the kind or qualified the name wrongly gets what is there,
            // so its next step can use it instead of asking again.
            if !alike.is_empty() {
                results.push_line(&format!(
                    "Definitions whose name contains `{last_segment}`:"
                ));
                for line in alike.iter().take(LISTED) {
                    results.push_line(line);
                }
            }
            if !mentions.is_empty() {
                results.push_line(&format!("Lines that mention `{last_segment}`:"));
                for line in mentions.iter().take(LISTED) {
                    results.push_line(line);
                }
            }
            let (text, truncated) = results.finish();
            return Ok(ToolOutput::text(text, truncated));
        }
        for line in &exact {
            results.push_line(line);
        }
        let (text, truncated) = results.finish_with("definitions", "");
        Ok(ToolOutput::text(text, truncated))
    }
}

/// When `wanted` is the path of a source file (a model that asks for a file by this tool),
/// that file's definitions; `None` when it is no such file.
fn definitions_of_file(ctx: &ToolContext, wanted: &str) -> Result<Option<ToolOutput>, ToolError> {
    let Ok(path) = resolve_path(&ctx.root, wanted, Access::Read) else {
        return Ok(None);
    };
    let Some(language) = Language::from_path(&path).filter(|_| path.is_file()) else {
        return Ok(None);
    };
    let Some(source) = read_source(&path, ctx.limits.max_file_bytes) else {
        return Ok(None);
    };
    let lines: Vec<&str> = source.lines().collect();
    let mut results = BoundedText::new(ctx.limits);
    results.push_line(&format!("(`{wanted}` is a file; the definitions in it:)"));
    for definition in outline_source(language, &source)? {
        let first_line = lines.get(definition.line.saturating_sub(1)).copied();
        results.push_line(&format!(
            "{wanted}:{} {} {}: {}",
            definition.line,
            definition.kind.as_str(),
            definition.qualified_name,
            first_line.unwrap_or("").trim()
        ));
    }
    let (text, truncated) = results.finish();
    Ok(Some(ToolOutput::text(text, truncated)))
}

/// How many near definitions, and how many mentioning lines, a search that found no
/// definition lists.
const LISTED: usize = 10;

/// The lines of `source` (the file `relative`) where `lower` (a lower-case word) occurs as a
/// whole word, case ignored, as `path:line: text`.
fn mentioning_lines<'s>(
    relative: &'s str,
    source: &'s str,
    lower: &'s str,
) -> impl Iterator<Item = String> + 's {
    source
        .lines()
        .enumerate()
        .filter(move |(_, line)| contains_word(&line.to_lowercase(), lower))
        .map(move |(index, line)| format!("{relative}:{}: {}", index + 1, line.trim()))
}

/// Whether `word` occurs in `line` with no identifier character on either side.
fn contains_word(line: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Qualified names compare with either separator, so `Parser.parse` finds `Parser::parse`.
fn same_qualified(qualified: &str, wanted: &str) -> bool {
    qualified == wanted || qualified.replace("::", ".") == wanted.replace("::", ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_whole() {
        assert!(contains_word("LOW = 5", "LOW"));
        assert!(contains_word("if is_low(x):", "is_low"));
        assert!(!contains_word("LOW_STOCK = 5", "LOW"));
        assert!(!contains_word("slow", "low"));
    }

    #[test]
    fn qualified_names_match_with_either_separator() {
        assert!(same_qualified("Parser::parse", "Parser.parse"));
        assert!(same_qualified("Parser.parse", "Parser::parse"));
        assert!(!same_qualified("Parser::parse", "Lexer::parse"));
    }
}
