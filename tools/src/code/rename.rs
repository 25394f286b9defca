//! `rename_symbol`: rename an identifier in every source file of the repository, as an
//! editor's "rename symbol" does, by the syntax tree: the definition, its calls, imports and
//! exports change; strings, comments and longer names that contain it do not.
//!
//! It has no path argument: a rename in some files only breaks the imports of the others.
//! A rename is many small edits in many files, which a small model makes one `edit_file` at
//! a time and seldom finishes (it renames the definition and stops). One call here is the
//! whole change, planned before anything is written, so a user who approves it approves
//! every file's diff.

use std::ops::Range;

use schemars::JsonSchema;
use serde::Deserialize;
use tree_sitter::{Node, Parser};

use crate::code::language::Language;
use crate::fs::{read_source, Planned};
use crate::output::BoundedText;
use crate::paths::{display_path, resolve_path, Access};
use crate::walk::walk_files;
use crate::{FileChange, ToolContext, ToolError, ToolOutput, TypedTool};

/// Renames an identifier across the repository's source files.
#[derive(Debug, Default, Clone, Copy)]
pub struct RenameSymbolTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// The identifier to rename, as written in the code
    old: String,
    /// Its new name
    new: String,
}

const NAME: &str = "rename_symbol";

impl TypedTool for RenameSymbolTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "Rename a function, method, class, variable or constant everywhere in the repository's \
         source files in one call: its definition and every call, import and export. Strings, comments and \
         longer names containing it are left alone. Use it for any rename instead of editing each file.";
    const MUTATES: bool = true;

    fn plan(&self, ctx: &ToolContext, args: Args) -> Result<Vec<FileChange>, ToolError> {
        Ok(plan_rename(ctx, &args)?
            .into_iter()
            .map(|(planned, _)| planned.change)
            .collect())
    }

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let planned = plan_rename(ctx, &args)?;
        let mut shown = BoundedText::new(ctx.limits);
        if planned.is_empty() {
            shown.push_line(&format!(
                "(`{}` is not an identifier in any source file; nothing was changed)",
                args.old
            ));
            let (text, truncated) = shown.finish();
            return Ok(ToolOutput::text(text, truncated));
        }
        let total: usize = planned.iter().map(|(_, count)| count).sum();
        shown.push_line(&format!(
            "Renamed `{}` to `{}`: {total} occurrence(s) in {} file(s).",
            args.old,
            args.new,
            planned.len()
        ));
        let mut changes = Vec::with_capacity(planned.len());
        for (plan, _) in planned {
            // A write that fails leaves the files already written renamed: they are
            // reported (and checkpointed, so they can be undone), and the rest named.
            match plan.apply() {
                Ok(change) => {
                    shown.push_line(&format!("{}: {}", change.path, changed_lines(&change)));
                    changes.push(change);
                }
                Err(error) => {
                    shown.push_line(&format!("Stopped: {error}; the files above were renamed."));
                    break;
                }
            }
        }
        let (text, truncated) = shown.finish();
        Ok(ToolOutput {
            text,
            truncated,
            changes,
        })
    }
}

/// Where a rename changed a file, as `line 3` or `lines 1, 4`: the model is told where, not
/// shown the diff (the user sees that in the call's preview), since each file's diff costs
/// a small model hundreds of prompt tokens it only copies the summary from. A rename keeps
/// every line where it was, so the changed lines are those that differ.
fn changed_lines(change: &FileChange) -> String {
    let before = change.before.as_deref().unwrap_or_default();
    let lines: Vec<String> = before
        .lines()
        .zip(change.after.lines())
        .enumerate()
        .filter(|(_, (was, is))| was != is)
        .map(|(at, _)| (at + 1).to_string())
        .collect();
    match lines.as_slice() {
        [one] => format!("line {one}"),
        _ => format!("lines {}", lines.join(", ")),
    }
}

/// The files a rename changes, each with its number of occurrences, in path order; checked
/// arguments first.
fn plan_rename(ctx: &ToolContext, args: &Args) -> Result<Vec<(Planned, usize)>, ToolError> {
    for (field, name) in [("old", &args.old), ("new", &args.new)] {
        if !is_identifier(name) {
            return Err(ToolError::bad_arguments(
                NAME,
                format!(
                    "`{field}` is `{name}`, expected one identifier (letters, digits, `_`, `$`; \
                     not a qualified name or a path)"
                ),
            ));
        }
    }
    if args.old == args.new {
        return Err(ToolError::NoChange {
            tool: NAME,
            message: "`old` and `new` are the same name; `new` must be the name to rename to"
                .to_string(),
        });
    }
    let mut planned = Vec::new();
    for file in walk_files(&ctx.root, &ctx.root) {
        // Every path is checked as the file tools check a write (inside the root, not in
        // `.git`), though the walk only lists such files.
        let shown = display_path(&ctx.root, &file);
        let file = resolve_path(&ctx.root, &shown, Access::Write)?;
        let Some(language) = Language::from_path(&file) else {
            continue;
        };
        let Some(source) = read_source(&file, ctx.limits.max_file_bytes) else {
            continue;
        };
        if !source.contains(&args.old) {
            continue;
        }
        let spans = identifier_spans(language, &source, &args.old)?;
        if spans.is_empty() {
            continue;
        }
        let mut after = String::with_capacity(source.len());
        let mut at = 0;
        for span in &spans {
            after.push_str(&source[at..span.start]);
            after.push_str(&args.new);
            at = span.end;
        }
        after.push_str(&source[at..]);
        let plan = Planned::new(ctx, NAME, file, &shown, Some(source), after);
        planned.push((plan, spans.len()));
    }
    Ok(planned)
}

/// Whether `name` is one identifier in the languages hearth parses.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

/// The byte ranges of `source` where a name node of its syntax tree reads `name`, in order.
fn identifier_spans(
    language: Language,
    source: &str,
    name: &str,
) -> Result<Vec<Range<usize>>, ToolError> {
    let mut parser = Parser::new();
    parser
        .set_language(&language.grammar())
        .map_err(|e| ToolError::Query {
            language: language.name(),
            message: e.to_string(),
        })?;
    // Parsing only fails when cancelled or timed out, and neither is set here.
    let Some(tree) = parser.parse(source, None) else {
        return Ok(Vec::new());
    };
    let mut spans = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.child_count() == 0 {
            if is_name_node(language, node) && source.get(node.byte_range()) == Some(name) {
                spans.push(node.byte_range());
            }
            continue;
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    spans.sort_by_key(|span| span.start);
    Ok(spans)
}

/// Whether a leaf of the tree names something: an identifier of any kind (`identifier`,
/// `property_identifier`, `type_identifier`, `shorthand_property_identifier` …, and
/// JavaScript's `shorthand_property_identifier_pattern`, the `camelize` of
/// `const { camelize } = require(…)`), and in shell, where a function's name and a command
/// are `word`s, a word outside any string.
fn is_name_node(language: Language, node: Node<'_>) -> bool {
    let kind = node.kind();
    if kind.ends_with("identifier") || kind.ends_with("identifier_pattern") {
        return true;
    }
    language == Language::Bash
        && kind == "word"
        && node
            .parent()
            .is_none_or(|parent| !matches!(parent.kind(), "string" | "raw_string" | "heredoc_body"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_told_from_paths_and_qualified_names() {
        assert!(is_identifier("fmt_money"));
        assert!(is_identifier("$el"));
        assert!(is_identifier("toCamelCase"));
        assert!(!is_identifier("a.b"));
        assert!(!is_identifier("lib/log.sh"));
        assert!(!is_identifier("9lives"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn strings_comments_and_longer_names_are_left_alone() {
        let source = "def fmt_money(x):\n    # fmt_money formats\n    return \"fmt_money\" + fmt_money_long(x)\n\nprint(fmt_money(2))\n";
        let spans = identifier_spans(Language::Python, source, "fmt_money").unwrap();
        let words: Vec<usize> = spans.iter().map(|s| s.start).collect();
        assert_eq!(words, [4, source.rfind("fmt_money(2)").unwrap()]);
    }

    #[test]
    fn javascript_destructured_imports_and_shorthand_exports_are_names() {
        let source = "const { slugify, camelize } = require(\"./case\");\n\
                      module.exports = { slugify, camelize };\n\
                      kit.camelize(\"camelize\");\n";
        let spans = identifier_spans(Language::JavaScript, source, "camelize").unwrap();
        assert_eq!(spans.len(), 3, "{spans:?}");
        assert!(spans.iter().all(|s| &source[s.clone()] == "camelize"));
        assert!(spans[2].start < source.rfind("(\"camelize").unwrap());
    }

    #[test]
    fn shell_functions_are_renamed_where_defined_and_called() {
        let source = "die() {\n  echo \"die: $*\" >&2\n}\n[ -d x ] || die \"no x\"\n";
        let spans = identifier_spans(Language::Bash, source, "die").unwrap();
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert_eq!(spans[0].start, 0);
        assert_eq!(&source[spans[1].clone()], "die");
        assert!(spans[1].start > source.find("||").unwrap());
    }
}
