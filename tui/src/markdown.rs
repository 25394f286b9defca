//! Assistant text as terminal lines: headings, lists, quotes, inline code, bold and italic,
//! and fenced code blocks with keyword highlighting.
//!
//! Hand-written rather than a markdown crate plus syntect: a model's answers use a small
//! subset of markdown, the renderer must cope with text that is still streaming (an open
//! fence, a half-written `**`), and syntect's grammars would add megabytes to the binary
//! for colouring a few keywords.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::theme::Theme;

/// Renders markdown `text` to unwrapped lines.
pub fn render(text: &str, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut fence: Option<String> = None;
    for raw in text.lines() {
        let trimmed = raw.trim_start();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match fence {
                Some(_) => {
                    fence = None;
                    lines.push(Line::styled("```", theme.dim()));
                }
                None => {
                    let language = rest.trim().to_string();
                    lines.push(Line::styled(format!("```{language}"), theme.dim()));
                    fence = Some(language);
                }
            }
            continue;
        }
        if let Some(language) = &fence {
            lines.push(highlight(raw, language, theme));
            continue;
        }
        lines.push(block_line(raw, theme));
    }
    lines
}

fn block_line(raw: &str, theme: &Theme) -> Line<'static> {
    let trimmed = raw.trim_start();
    let indent = &raw[..raw.len() - trimmed.len()];
    let hashes = trimmed.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        let mut spans = vec![Span::styled(
            trimmed[hashes + 1..].to_string(),
            theme.heading(),
        )];
        if hashes == 1 {
            spans[0].style = spans[0].style.add_modifier(Modifier::UNDERLINED);
        }
        return Line::from(spans);
    }
    if let Some(rest) = trimmed.strip_prefix("> ") {
        let mut spans = vec![Span::styled("│ ", theme.dim())];
        spans.extend(inline(rest, theme.dim(), theme));
        return Line::from(spans);
    }
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = trimmed.strip_prefix(bullet) {
            let mut spans = vec![Span::raw(format!("{indent}• "))];
            spans.extend(inline(rest, Style::default(), theme));
            return Line::from(spans);
        }
    }
    Line::from(inline(raw, Style::default(), theme))
}

/// Inline markup: `code`, **bold**, *italic* / _italic_. Unclosed markers stay literal.
fn inline(text: &str, base: Style, theme: &Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let marker = if rest.starts_with("**") {
            Some(("**", base.add_modifier(Modifier::BOLD)))
        } else if c == '`' {
            Some(("`", theme.code()))
        } else if c == '*'
            || (c == '_' && plain.chars().last().is_none_or(|p| !p.is_alphanumeric()))
        {
            Some((&rest[..1], base.add_modifier(Modifier::ITALIC)))
        } else {
            None
        };
        if let Some((marker, style)) = marker {
            let body = &rest[marker.len()..];
            if let Some(end) = body.find(marker).filter(|&end| end > 0) {
                if !plain.is_empty() {
                    spans.push(Span::styled(std::mem::take(&mut plain), base));
                }
                spans.push(Span::styled(body[..end].to_string(), style));
                rest = &body[end + marker.len()..];
                continue;
            }
        }
        plain.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !plain.is_empty() || spans.is_empty() {
        spans.push(Span::styled(plain, base));
    }
    spans
}

const KEYWORDS: &[&str] = &[
    // Rust
    "fn",
    "let",
    "mut",
    "pub",
    "struct",
    "enum",
    "impl",
    "trait",
    "use",
    "mod",
    "match",
    "if",
    "else",
    "for",
    "while",
    "loop",
    "return",
    "self",
    "Self",
    "crate",
    "const",
    "static",
    "where",
    "async",
    "await",
    "move",
    "ref",
    "type",
    "unsafe",
    "dyn",
    "in",
    "as",
    "break",
    "continue",
    "true",
    "false",
    // Python, JavaScript/TypeScript, Go, C, shell
    "def",
    "class",
    "import",
    "from",
    "elif",
    "pass",
    "None",
    "True",
    "False",
    "lambda",
    "with",
    "yield",
    "try",
    "except",
    "finally",
    "raise",
    "not",
    "and",
    "or",
    "is",
    "function",
    "var",
    "export",
    "default",
    "new",
    "this",
    "null",
    "undefined",
    "interface",
    "extends",
    "func",
    "package",
    "go",
    "defer",
    "range",
    "chan",
    "select",
    "int",
    "char",
    "void",
    "unsigned",
    "switch",
    "case",
    "do",
    "then",
    "fi",
    "done",
    "esac",
    "echo",
];

/// Colours one line of code: comments, strings, numbers and keywords. Languages differ in
/// their comment markers only as far as this needs (`#` for Python and shell).
fn highlight(line: &str, language: &str, theme: &Theme) -> Line<'static> {
    let hash_comments = matches!(
        language,
        "python" | "py" | "sh" | "bash" | "shell" | "toml" | "yaml" | "yml" | "ruby" | "rb"
    );
    let mut spans = Vec::new();
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("//") || (hash_comments && c == '#') {
            spans.push(Span::styled(rest.to_string(), theme.comment()));
            break;
        }
        let len = if c == '"' || c == '\'' {
            let end = rest[1..].find(c).map_or(rest.len(), |i| i + 2);
            spans.push(Span::styled(rest[..end].to_string(), theme.string()));
            end
        } else if c.is_ascii_digit() {
            let end = rest
                .find(|ch: char| !ch.is_ascii_alphanumeric() && ch != '_' && ch != '.')
                .unwrap_or(rest.len());
            spans.push(Span::styled(rest[..end].to_string(), theme.number()));
            end
        } else if c.is_alphabetic() || c == '_' {
            let end = rest
                .find(|ch: char| !ch.is_alphanumeric() && ch != '_')
                .unwrap_or(rest.len());
            let word = &rest[..end];
            let style = if KEYWORDS.contains(&word) {
                theme.keyword()
            } else {
                Style::default()
            };
            spans.push(Span::styled(word.to_string(), style));
            end
        } else {
            spans.push(Span::raw(c.to_string()));
            c.len_utf8()
        };
        rest = &rest[len..];
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn markup_is_removed_and_unclosed_markers_stay() {
        let theme = Theme::new(true);
        let lines = render("# Title\n- **bold** and `code`\nhalf **open", &theme);
        let text: Vec<String> = lines.iter().map(plain).collect();
        assert_eq!(text, ["Title", "• bold and code", "half **open"]);
    }

    #[test]
    fn code_blocks_colour_keywords_and_strings() {
        let theme = Theme::new(true);
        let lines = render("```rust\nfn main() { let s = \"x\"; } // end\n```", &theme);
        let code = &lines[1];
        let keyword = code
            .spans
            .iter()
            .find(|s| s.content == "fn")
            .map(|s| s.style);
        assert_eq!(keyword, Some(theme.keyword()));
        let string = code
            .spans
            .iter()
            .find(|s| s.content == "\"x\"")
            .map(|s| s.style);
        assert_eq!(string, Some(theme.string()));
        assert_eq!(code.spans.last().map(|s| s.style), Some(theme.comment()));
    }
}
