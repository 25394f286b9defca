//! Wrapping styled lines to the screen's width, by display width (wide characters count
//! two columns), at spaces where a line has them.

use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Wraps each line to `width` columns, keeping the spans' styles.
pub fn wrap_lines(lines: Vec<Line<'static>>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        wrap_line(line, width, &mut out);
    }
    out
}

fn wrap_line(line: Line<'static>, width: usize, out: &mut Vec<Line<'static>>) {
    // Characters with their styles: simple, and transcripts are small enough per frame.
    let chars: Vec<(char, ratatui::style::Style)> = line
        .spans
        .iter()
        .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
        .collect();
    // Continuation lines hang under the text: past the line's indent, and past a leading
    // mark (bullet, prompt, tool call) and its space.
    let leading = chars.iter().take_while(|(c, _)| *c == ' ').count();
    let marked = chars
        .get(leading)
        .is_some_and(|(c, _)| matches!(c, '•' | '›' | '✓' | '✗' | '⏺'))
        && chars.get(leading + 1).is_some_and(|(c, _)| *c == ' ');
    let hang = (leading + if marked { 2 } else { 0 }).min(width / 2);
    let mut start = 0;
    loop {
        let indent = if start == 0 { 0 } else { hang };
        let mut columns = indent;
        let mut end = start;
        let mut last_space = None;
        while end < chars.len() {
            let w = chars[end].0.width().unwrap_or(0);
            if columns + w > width {
                break;
            }
            if chars[end].0 == ' ' {
                last_space = Some(end);
            }
            columns += w;
            end += 1;
        }
        if end < chars.len() {
            if let Some(space) = last_space.filter(|&s| s > start) {
                end = space + 1;
            }
            if end == start {
                end = start + 1;
            }
        }
        let mut spans = spans_of(&chars[start..end]);
        if indent > 0 {
            spans.insert(0, Span::raw(" ".repeat(indent)));
        }
        out.push(Line {
            spans,
            style: line.style,
            alignment: line.alignment,
        });
        start = end;
        if start >= chars.len() {
            break;
        }
    }
}

fn spans_of(chars: &[(char, ratatui::style::Style)]) -> Vec<Span<'static>> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    for &(c, style) in chars {
        match spans.last_mut() {
            Some(span) if span.style == style => span.content.to_mut().push(c),
            _ => spans.push(Span::styled(c.to_string(), style)),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn wraps_at_spaces_and_splits_long_words() {
        let lines = wrap_lines(vec![Line::raw("one two three"), Line::raw("abcdefgh")], 7);
        assert_eq!(text(&lines), ["one ", "two ", "three", "abcdefg", "h"]);
    }

    #[test]
    fn continuation_lines_hang_under_the_text() {
        let lines = wrap_lines(vec![Line::raw("  • alpha beta gamma")], 12);
        assert_eq!(text(&lines), ["  • alpha ", "    beta ", "    gamma"]);
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let lines = wrap_lines(vec![Line::raw("日本語")], 4);
        assert_eq!(text(&lines), ["日本", "語"]);
    }
}
