//! Matching an `old` snippet that differs from the file only in leading and trailing
//! whitespace per line, and re-indenting `new` to fit where it matched.
//!
//! Small models copy code with the wrong indentation (flattened, shifted by a level, or
//! with a stray space); refusing those edits ends the attempt. A loose match is made only
//! when it is the one place in the file that matches, so it never guesses between places.

use std::collections::HashMap;

/// One line of the file, by byte offsets.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    /// Where the line starts.
    start: usize,
    /// Where its content ends: before `\n` or `\r\n`.
    end: usize,
    /// Where the next line starts (`end` for a last line without a terminator).
    next: usize,
    /// Its content, without the terminator.
    text: &'a str,
}

/// The lines of `text` with their offsets; a trailing terminator starts no extra line.
fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        let next = start + piece.len();
        let content = piece.strip_suffix('\n').unwrap_or(piece);
        let content = content.strip_suffix('\r').unwrap_or(content);
        lines.push(Line {
            start,
            end: start + content.len(),
            next,
            text: content,
        });
        start = next;
    }
    lines
}

/// The lines of a snippet the model wrote, and whether it ended with a line terminator.
fn snippet_lines(snippet: &str) -> (Vec<&str>, bool) {
    let (body, ends_with_newline) = match snippet.strip_suffix('\n') {
        Some(body) => (body, true),
        None => (snippet, false),
    };
    if body.is_empty() && ends_with_newline {
        return (vec![""], true);
    }
    let lines = body
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    (lines, ends_with_newline)
}

/// What a loose search found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Loose {
    /// No place matches, even ignoring leading and trailing whitespace.
    None,
    /// Exactly one place: replace `start..end` of the file with `replacement`.
    One {
        /// Byte offset where the replaced text starts (the start of a line).
        start: usize,
        /// Byte offset where it ends.
        end: usize,
        /// `new`, re-indented and in the file's line endings.
        replacement: String,
    },
    /// Several places match: the 1-based lines where they start.
    Many(Vec<usize>),
}

/// Finds the one run of whole lines of `content` that equals `old` line by line when leading
/// and trailing whitespace is ignored, and makes `new` fit there. Overlapping runs count.
pub(super) fn find(content: &str, old: &str, new: &str) -> Loose {
    let (wanted, old_ends_with_newline) = snippet_lines(old);
    if wanted.iter().all(|line| line.trim().is_empty()) {
        return Loose::None;
    }
    let lines = split_lines(content);
    if wanted.len() > lines.len() {
        return Loose::None;
    }
    let starts: Vec<usize> = (0..=lines.len() - wanted.len())
        .filter(|&start| {
            wanted
                .iter()
                .zip(&lines[start..])
                .all(|(want, line)| want.trim() == line.text.trim())
        })
        .collect();
    let start = match starts.as_slice() {
        [] => return Loose::None,
        [start] => *start,
        _ => return Loose::Many(starts.iter().map(|start| start + 1).collect()),
    };
    let matched = &lines[start..start + wanted.len()];
    let (first, last) = (matched[0], matched[matched.len() - 1]);
    // A snippet that ended with a newline replaces its last line's terminator too; at the
    // end of a file without one, `new`'s final newline has nothing to replace.
    let takes_terminator = old_ends_with_newline && last.next > last.end;
    let end = if takes_terminator {
        last.next
    } else {
        last.end
    };
    // The replacement takes the line ending of the block it replaces (CRLF files stay CRLF).
    let crlf = if first.next > first.end {
        content[first.end..first.next].starts_with('\r')
    } else {
        content.contains("\r\n")
    };
    let eol = if crlf { "\r\n" } else { "\n" };
    let (new_lines, new_ends_with_newline) = if new.is_empty() {
        (Vec::new(), false)
    } else {
        snippet_lines(new)
    };
    let pairs: Vec<Pair<'_>> = wanted
        .iter()
        .zip(matched)
        .filter(|(want, _)| !want.trim().is_empty())
        .map(|(want, line)| (indent(want), indent(line.text), want.trim()))
        .collect();
    let mut replacement = reindent(&pairs, &new_lines).join(eol);
    if new_ends_with_newline && (takes_terminator || !old_ends_with_newline) {
        replacement.push_str(eol);
    }
    Loose::One {
        start: first.start,
        end,
        replacement,
    }
}

/// A line's leading whitespace.
fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// A non-blank snippet line matched to a file line: the snippet's indentation, the
/// file's, and the text both share.
type Pair<'a> = (&'a str, &'a str, &'a str);

/// `new`'s lines, indented as the file's matched lines are relative to the snippet's.
///
/// When each snippet indentation maps to one file indentation (the snippet was shifted, by
/// a level or to none), the map is applied to `new` as Aider does: a line takes the file
/// indentation of the deepest snippet indentation it extends. When the snippet flattened
/// lines that the file indents differently, no such map exists: a line of `new` that
/// repeats a snippet line takes that file line's indentation, and any other line keeps its
/// indentation relative to the line before it.
fn reindent(pairs: &[Pair<'_>], new_lines: &[&str]) -> Vec<String> {
    let mut map: HashMap<&str, &str> = HashMap::new();
    let consistent = pairs
        .iter()
        .all(|&(snippet, file, _)| *map.entry(snippet).or_insert(file) == file);
    let mut previous = (
        String::new(),
        pairs.first().map_or("", |pair| pair.1).to_string(),
    );
    new_lines
        .iter()
        .map(|line| {
            // The model's own trailing whitespace stays; only the indentation is placed.
            let body = line.trim_start();
            if body.is_empty() {
                return String::new();
            }
            let own = indent(line);
            let placed = if consistent {
                let deepest = map
                    .iter()
                    .filter(|(snippet, _)| own.starts_with(**snippet))
                    .max_by_key(|(snippet, _)| snippet.len());
                match deepest {
                    Some((snippet, file)) => format!("{file}{}", &own[snippet.len()..]),
                    // Shallower than every snippet line: dedented from the shallowest.
                    None => map
                        .iter()
                        .min_by_key(|(snippet, _)| snippet.len())
                        .map_or_else(
                            || own.to_string(),
                            |(snippet, file)| follow((snippet, file), own),
                        ),
                }
            } else if let Some(&(_, file, _)) = pairs.iter().find(|pair| pair.2 == body.trim_end())
            {
                file.to_string()
            } else {
                follow((&previous.0, &previous.1), own)
            };
            let text = format!("{placed}{body}");
            previous = (own.to_string(), placed);
            text
        })
        .collect()
}

/// The indentation for a line indented `own` in `new`, given a line indented `before` there
/// that was placed at `placed` in the file.
fn follow((before, placed): (&str, &str), own: &str) -> String {
    if let Some(deeper) = own.strip_prefix(before) {
        return format!("{placed}{deeper}");
    }
    if before.starts_with(own) {
        // A dedent by some characters of whitespace takes as many off the placed indent.
        let fewer = before.chars().count() - own.chars().count();
        let keep = placed.chars().count().saturating_sub(fewer);
        return placed.chars().take(keep).collect();
    }
    placed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edited(content: &str, old: &str, new: &str) -> String {
        match find(content, old, new) {
            Loose::One {
                start,
                end,
                replacement,
            } => format!("{}{replacement}{}", &content[..start], &content[end..]),
            other => panic!("expected one loose match, got {other:?}"),
        }
    }

    #[test]
    fn a_shifted_snippet_shifts_new_by_the_same_amount() {
        let file = "class A:\n    def f(self):\n        return 1\n";
        assert_eq!(
            edited(
                file,
                "def f(self):\n    return 1\n",
                "def f(self):\n    if x:\n        return 2\n"
            ),
            "class A:\n    def f(self):\n        if x:\n            return 2\n"
        );
        // Over-indented by a level: `new` loses it, even where it dedents further.
        assert_eq!(
            edited(file, "            return 1", "            return 3"),
            "class A:\n    def f(self):\n        return 3\n"
        );
        assert_eq!(
            edited(
                file,
                "        def f(self):\n            return 1\n",
                "        def f(self):\n            return 1\n    X = 2\n"
            ),
            "class A:\n    def f(self):\n        return 1\nX = 2\n"
        );
    }

    #[test]
    fn a_flattened_snippet_places_new_after_the_lines_it_repeats() {
        let file = "fn f() {\n    if a {\n        b();\n    }\n}\n";
        assert_eq!(
            edited(file, "if a {\nb();\n}", "if a {\nb();\n  c();\n}"),
            "fn f() {\n    if a {\n        b();\n          c();\n    }\n}\n"
        );
    }

    #[test]
    fn blank_snippets_and_mismatches_match_nothing() {
        assert_eq!(find("a\n\nb\n", "\n", "x"), Loose::None);
        assert_eq!(find("a\nb\n", "a\nc", "x"), Loose::None);
        assert_eq!(find("a\n", "a\nb", "x"), Loose::None);
        assert_eq!(find(" a\nb\n a\n", "a", "x"), Loose::Many(vec![1, 3]));
    }

    #[test]
    fn new_without_a_final_newline_at_the_end_of_a_file() {
        assert_eq!(edited("x\n  a", "a\n", "b\n"), "x\n  b");
        assert_eq!(edited("  a\nz\n", " a\n", ""), "z\n");
    }
}
