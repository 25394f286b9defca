//! `edit_file`: replace one exact, unique snippet of a file, and show the diff.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::fs::{read_utf8_file, Planned};
use crate::output::{cut_line, BoundedText};
use crate::paths::{resolve_path, Access};
use crate::{FileChange, ToolContext, ToolError, ToolOutput, TypedTool};

/// Replaces an exact snippet that occurs exactly once in a file.
#[derive(Debug, Default, Clone, Copy)]
pub struct EditFileTool;

/// The arguments, as the model gives them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Args {
    /// File path relative to the repository root
    path: String,
    /// The exact text to replace (must occur exactly once)
    old: String,
    /// The text to put in its place
    new: String,
}

const NAME: &str = "edit_file";

/// How many occurrence lines a "not unique" error lists.
const LISTED_OCCURRENCES: usize = 10;

/// How similar (0 to 1, difflib's ratio) a line must be to be offered as "the closest line".
const CLOSEST_LINE_CUTOFF: f32 = 0.6;

impl TypedTool for EditFileTool {
    type Args = Args;
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "Edit a file by replacing the exact text `old` with `new`. `old` must occur exactly once \
         in the file, including its whitespace and indentation; add surrounding lines to make it unique.";
    const MUTATES: bool = true;

    fn plan(&self, ctx: &ToolContext, args: Args) -> Result<Option<FileChange>, ToolError> {
        Ok(Some(plan_edit(ctx, args)?.0.change))
    }

    fn run(&self, ctx: &ToolContext, args: Args) -> Result<ToolOutput, ToolError> {
        let (planned, line) = plan_edit(ctx, args)?;
        let change = planned.apply()?;
        let mut shown = BoundedText::new(ctx.limits);
        shown.push_line(&format!("Edited {} at line {line}:", change.path));
        for line in change.diff.lines() {
            shown.push_line(line);
        }
        let (text, truncated) = shown.finish();
        Ok(ToolOutput {
            text,
            truncated,
            change: Some(change),
        })
    }
}

/// The edit a call makes, and the line where it starts, computed without writing: the
/// dry run and the call share it, so what a user approves is what is written.
fn plan_edit(ctx: &ToolContext, args: Args) -> Result<(Planned, usize), ToolError> {
    if args.old.is_empty() {
        return Err(ToolError::bad_arguments(
            NAME,
            "`old` is empty; to create a file use write_file",
        ));
    }
    if args.old == args.new {
        return Err(ToolError::bad_arguments(
            NAME,
            "`old` and `new` are the same, so there is nothing to change",
        ));
    }
    let path = resolve_path(&ctx.root, &args.path, Access::Write)?;
    let before = read_utf8_file(&path, &args.path, ctx.limits.max_file_bytes)?;

    let (old, new) = match_line_endings(&before, &args.old, &args.new);
    let starts = occurrences(&before, &old);
    let at = match starts.as_slice() {
        [] => {
            return Err(ToolError::NotFoundInFile {
                path: args.path.clone(),
                hint: closest_hint(&before, &args.old),
            })
        }
        [at] => *at,
        _ => {
            let lines: Vec<String> = starts
                .iter()
                .take(LISTED_OCCURRENCES)
                .map(|&at| line_of_offset(&before, at).to_string())
                .collect();
            let more = if starts.len() > LISTED_OCCURRENCES {
                ", …"
            } else {
                ""
            };
            return Err(ToolError::NotUnique {
                count: starts.len(),
                path: args.path.clone(),
                lines: format!("{}{more}", lines.join(", ")),
            });
        }
    };
    let after = format!("{}{}{}", &before[..at], new, &before[at + old.len()..]);
    let line = line_of_offset(&before, at);
    Ok((
        Planned::new(ctx, NAME, path, &args.path, Some(before), after),
        line,
    ))
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

/// A hint that points the model at what it probably meant: the place where the snippet
/// matches but for whitespace, or else the line most like the snippet's first line.
fn closest_hint(content: &str, old: &str) -> String {
    let file_lines: Vec<&str> = content.lines().map(str::trim).collect();
    let wanted: Vec<&str> = old.lines().map(str::trim).collect();
    if !wanted.is_empty() && wanted.len() <= file_lines.len() {
        if let Some(start) = file_lines
            .windows(wanted.len())
            .position(|window| window == wanted.as_slice())
        {
            return format!(
                "; it matches at line {} if whitespace is ignored: copy the exact indentation (read_file shows it)",
                start + 1
            );
        }
    }
    let Some(first) = wanted.iter().find(|line| !line.is_empty()) else {
        return String::new();
    };
    let closest = similar::get_close_matches(*first, &file_lines, 1, CLOSEST_LINE_CUTOFF);
    let Some(line) = closest.first() else {
        return "; read the file again and copy the text exactly".to_string();
    };
    let number = file_lines
        .iter()
        .position(|candidate| candidate == line)
        .map_or(0, |i| i + 1);
    let original = content
        .lines()
        .nth(number.saturating_sub(1))
        .unwrap_or(line);
    format!(
        "; the closest line is {number}: `{}`",
        cut_line(original, 200)
    )
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
    fn hints_find_whitespace_mismatches_and_near_misses() {
        let content = "fn main() {\n    let total = 1;\n    println!(\"{total}\");\n}\n";
        let hint = closest_hint(content, "let total = 1;\nprintln!(\"{total}\");");
        assert!(
            hint.contains("matches at line 2 if whitespace is ignored"),
            "{hint}"
        );
        let hint = closest_hint(content, "let totl = 1;");
        assert!(
            hint.contains("closest line is 2: `    let total = 1;`"),
            "{hint}"
        );
        let hint = closest_hint(content, "completely unrelated words here");
        assert!(hint.contains("read the file again"), "{hint}");
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
