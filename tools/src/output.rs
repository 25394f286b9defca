//! Bounding tool output: whole lines up to the limits, then a note saying how much was cut.

use std::borrow::Cow;

use crate::OutputLimits;

/// Room kept under `max_bytes` for the note that says what was cut.
const NOTE_RESERVE: usize = 120;

/// `1234567` as `1,234,567`: counts in notes are read by people too.
pub(crate) fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// One line, cut after `max_chars` characters with a note of how many more there were.
pub(crate) fn cut_line(line: &str, max_chars: usize) -> Cow<'_, str> {
    match line.char_indices().nth(max_chars) {
        None => Cow::Borrowed(line),
        Some((cut_at, _)) => {
            let rest = line[cut_at..].chars().count();
            Cow::Owned(format!(
                "{}[… {} more characters cut]",
                &line[..cut_at],
                group_thousands(rest)
            ))
        }
    }
}

/// Text built line by line that stops growing at the limits and counts what it drops.
pub(crate) struct BoundedText {
    text: String,
    lines: usize,
    cut: usize,
    limits: OutputLimits,
}

impl BoundedText {
    pub(crate) fn new(limits: OutputLimits) -> Self {
        BoundedText {
            text: String::new(),
            lines: 0,
            cut: 0,
            limits,
        }
    }

    /// Appends one line (cut to `max_line_chars`), or counts it as cut once the text is full.
    pub(crate) fn push_line(&mut self, line: &str) {
        if self.cut > 0 {
            self.cut += 1;
            return;
        }
        let line = cut_line(line, self.limits.max_line_chars);
        let budget = self.limits.max_bytes.saturating_sub(NOTE_RESERVE).max(1);
        if self.lines >= self.limits.max_lines || self.text.len() + line.len() + 1 > budget {
            self.cut = 1;
            return;
        }
        self.text.push_str(&line);
        self.text.push('\n');
        self.lines += 1;
    }

    /// How many lines have been shown so far.
    pub(crate) fn shown(&self) -> usize {
        self.lines
    }

    /// Whether any line was dropped.
    pub(crate) fn is_truncated(&self) -> bool {
        self.cut > 0
    }

    /// The text, with `[… N more <unit> cut<hint>]` at the end when something was dropped.
    pub(crate) fn finish_with(mut self, unit: &str, hint: &str) -> (String, bool) {
        let truncated = self.is_truncated();
        if truncated {
            self.text.push_str(&format!(
                "[… {} more {unit} cut{hint}]\n",
                group_thousands(self.cut)
            ));
        }
        (self.text, truncated)
    }

    /// [`BoundedText::finish_with`] counting lines, with no hint.
    pub(crate) fn finish(self) -> (String, bool) {
        self.finish_with("lines", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_234), "1,234");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        assert_eq!(cut_line("short", 10), "short");
        assert_eq!(cut_line("ééééé", 2), "éé[… 3 more characters cut]");
    }

    #[test]
    fn text_stops_at_the_line_limit_and_says_how_much_was_cut() {
        let limits = OutputLimits {
            max_lines: 3,
            ..OutputLimits::default()
        };
        let mut text = BoundedText::new(limits);
        for i in 0..1_237 {
            text.push_line(&format!("line {i}"));
        }
        assert_eq!(text.shown(), 3);
        let (text, truncated) = text.finish();
        assert!(truncated);
        assert_eq!(text, "line 0\nline 1\nline 2\n[… 1,234 more lines cut]\n");
    }

    #[test]
    fn text_stops_at_the_byte_limit() {
        let limits = OutputLimits {
            max_bytes: 200,
            ..OutputLimits::default()
        };
        let mut text = BoundedText::new(limits);
        for _ in 0..100 {
            text.push_line("0123456789");
        }
        let (text, truncated) = text.finish();
        assert!(truncated);
        assert!(text.len() <= 200, "{} bytes", text.len());
        assert!(text.ends_with("more lines cut]\n"));
    }

    #[test]
    fn short_text_is_untouched() {
        let mut text = BoundedText::new(OutputLimits::default());
        text.push_line("a");
        assert_eq!(text.finish(), ("a\n".to_string(), false));
    }
}
