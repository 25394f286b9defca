//! `edit_file`: replace one unique snippet of a file, and show the diff.

mod closest;
mod loose;

use schemars::JsonSchema;
use serde::Deserialize;

use std::path::Path;

use crate::fs::{read_source, read_utf8_file, Planned};
use crate::output::BoundedText;
use crate::paths::{display_path, resolve_path, Access};
use crate::walk::walk_files_with;
use crate::{FileChange, ToolContext, ToolError, ToolOutput, TypedTool};

use loose::Loose;

/// Replaces a snippet that occurs exactly once in a file, exactly or but for whitespace.
#[derive(Debug, Default, Clone, Copy)]
pub struct EditFileTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// File path relative to the repository root
    path: String,
    /// The text to replace (must occur exactly once)
    old: String,
    /// The text to put in its place
    new: String,
}

const NAME: &str = "edit_file";

/// How many occurrence lines a "not unique" error lists.
const LISTED_OCCURRENCES: usize = 10;

/// Snippets shorter than this are not looked for in other files: too common to point
/// anywhere.
const MIN_ELSEWHERE_CHARS: usize = 8;

/// Past this many files, other files are not searched for a snippet that was not found.
const MAX_ELSEWHERE_FILES: usize = 2_000;

/// How many other files holding a snippet the error names.
const LISTED_ELSEWHERE: usize = 3;

impl TypedTool for EditFileTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "Edit a file by replacing the text `old` with `new`. `old` must occur exactly once \
         in the file; add surrounding lines to make it unique. Copy `old` from the file: if its lines differ \
         only in indentation or trailing spaces and match one place, `new` is re-indented to fit there.";
    const MUTATES: bool = true;

    fn plan(&self, ctx: &ToolContext, args: Args) -> Result<Vec<FileChange>, ToolError> {
        Ok(vec![plan_edit(ctx, args)?.0.change])
    }

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let (planned, line, loosely) = plan_edit(ctx, args)?;
        let change = planned.apply()?;
        let mut shown = BoundedText::new(ctx.limits);
        let how = if loosely {
            " (`old` matched there but for whitespace; `new` was re-indented to fit)"
        } else {
            ""
        };
        shown.push_line(&format!("Edited {} at line {line}{how}:", change.path));
        for line in change.diff.lines() {
            shown.push_line(line);
        }
        let (text, truncated) = shown.finish();
        Ok(ToolOutput {
            text,
            truncated,
            changes: vec![change],
        })
    }
}

/// The edit a call makes, the line where it starts, and whether `old` matched only but for
/// whitespace, computed without writing: the dry run and the call share it, so what a user
/// approves is what is written.
fn plan_edit(ctx: &ToolContext, args: Args) -> Result<(Planned, usize, bool), ToolError> {
    if args.old.is_empty() {
        return Err(ToolError::bad_arguments(
            NAME,
            "`old` is empty; to create a file use write_file",
        ));
    }
    if args.old == args.new {
        return Err(ToolError::NoChange {
            tool: NAME,
            message: "`old` and `new` are the same; `new` must be the text that replaces `old`"
                .to_string(),
        });
    }
    let path = resolve_path(&ctx.root, &args.path, Access::Write)?;
    // The edit's diff and undo record would carry the file's text.
    ctx.secret_files.check(&ctx.root, &path, &args.path)?;
    let before = read_utf8_file(&path, &args.path, ctx.limits.max_file_bytes)?;

    let (old, new) = match_line_endings(&before, &args.old, &args.new);
    // An exact match wins; only when there is none is whitespace forgiven.
    let starts = occurrences(&before, &old);
    let (at, end, new, loosely) = match starts.as_slice() {
        [at] => (*at, at + old.len(), new, false),
        [] => match loose::find(&before, &args.old, &args.new) {
            Loose::One {
                start,
                end,
                replacement,
            } => (start, end, replacement, true),
            Loose::Many(lines) => return Err(not_unique(&args.path, &lines)),
            Loose::None => {
                let hint = match found_elsewhere(ctx, &path, &old) {
                    Some(elsewhere) => elsewhere,
                    None => closest::hint(&before, &args.old),
                };
                return Err(ToolError::NotFoundInFile {
                    path: args.path.clone(),
                    hint,
                });
            }
        },
        _ => {
            let lines: Vec<usize> = starts
                .iter()
                .map(|&at| line_of_offset(&before, at))
                .collect();
            return Err(not_unique(&args.path, &lines));
        }
    };
    let after = format!("{}{}{}", &before[..at], new, &before[end..]);
    let line = line_of_offset(&before, at);
    Ok((
        Planned::new(ctx, NAME, path, &args.path, Some(before), after),
        line,
        loosely,
    ))
}

/// The hint for an `old` snippet that is not in the file named but is, word for word, in
/// other files of the repository: which, and on what line. A small model that edits the
/// file that imports a function instead of the one that defines it otherwise reads the
/// wrong file again and repeats the same edit until its turn ends.
fn found_elsewhere(ctx: &ToolContext, named: &Path, old: &str) -> Option<String> {
    if old.trim().len() < MIN_ELSEWHERE_CHARS {
        return None;
    }
    let files = walk_files_with(&ctx.root, &ctx.root, &ctx.secret_files);
    if files.len() > MAX_ELSEWHERE_FILES {
        return None;
    }
    let places: Vec<String> = files
        .iter()
        .filter(|file| file.as_path() != named)
        .filter_map(|file| {
            let text = read_source(file, ctx.limits.max_file_bytes)?;
            let at = text.find(old)?;
            let path = display_path(&ctx.root, file);
            Some(format!("`{path}` (line {})", line_of_offset(&text, at)))
        })
        .take(LISTED_ELSEWHERE + 1)
        .collect();
    match places.as_slice() {
        [] => None,
        [one] => Some(format!("; it is in {one}: edit that file instead")),
        many => {
            let more = if many.len() > LISTED_ELSEWHERE {
                ", …"
            } else {
                ""
            };
            let listed: Vec<&str> = many
                .iter()
                .take(LISTED_ELSEWHERE)
                .map(String::as_str)
                .collect();
            Some(format!(
                "; it is in {}{more}: edit the file that holds the code to change",
                listed.join(", ")
            ))
        }
    }
}

/// The error for a snippet that matches at more than one place, starting on `lines`.
fn not_unique(path: &str, lines: &[usize]) -> ToolError {
    let listed: Vec<String> = lines
        .iter()
        .take(LISTED_OCCURRENCES)
        .map(usize::to_string)
        .collect();
    let more = if lines.len() > LISTED_OCCURRENCES {
        ", …"
    } else {
        ""
    };
    ToolError::NotUnique {
        count: lines.len(),
        path: path.to_string(),
        lines: format!("{}{more}", listed.join(", ")),
    }
}

/// Where `needle` starts in `haystack`, counting overlapping occurrences: `"ab ab"` occurs
/// twice in `"ab ab ab"`, and replacing one of two overlapping matches would be a guess.
fn occurrences(haystack: &str, needle: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut from = 0;
    while let Some(found) = haystack[from..].find(needle) {
        let at = from + found;
        starts.push(at);
        // The next search starts one character on, inside this match.
        from = at + haystack[at..].chars().next().map_or(1, char::len_utf8);
    }
    starts
}

/// Models write `\n`; when the file uses `\r\n` and the snippet has no `\r`, the snippet
/// (and its replacement) are matched in the file's own line endings.
fn match_line_endings(content: &str, old: &str, new: &str) -> (String, String) {
    let crlf = content.contains("\r\n") && !old.contains('\r') && old.contains('\n');
    if crlf && !content.contains(old) {
        (old.replace('\n', "\r\n"), new.replace('\n', "\r\n"))
    } else {
        (old.to_string(), new.to_string())
    }
}

/// The 1-based line on which byte `offset` of `text` lies.
fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines() {
        let text = "a\nb\nc\n";
        assert_eq!(line_of_offset(text, 0), 1);
        assert_eq!(line_of_offset(text, 2), 2);
        assert_eq!(line_of_offset(text, 4), 3);
    }

    #[test]
    fn overlapping_occurrences_are_counted() {
        assert_eq!(occurrences("ab ab ab", "ab ab"), [0, 3]);
        assert_eq!(occurrences("aaa", "aa"), [0, 1]);
        assert_eq!(occurrences("é é é", "é é"), [0, 3]);
        assert_eq!(occurrences("abc", "x"), Vec::<usize>::new());
    }

    #[test]
    fn crlf_files_accept_lf_snippets() {
        let (old, new) = match_line_endings("a\r\nb\r\n", "a\nb", "x\ny");
        assert_eq!((old.as_str(), new.as_str()), ("a\r\nb", "x\r\ny"));
        let (old, _) = match_line_endings("a\nb\n", "a\nb", "x");
        assert_eq!(old, "a\nb");
    }
}
