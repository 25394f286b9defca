//! One readable text file of the repository, addressed by line: what retrieval and fault
//! localization both cut definitions out of.

/// A file's text with the byte offset of each line's start.
pub(crate) struct Source {
    /// The path relative to the repository root, `/`-separated.
    pub(crate) path: String,
    /// The whole text.
    pub(crate) text: String,
    /// Byte offset of each line's start (a final line end starts no line).
    line_starts: Vec<usize>,
}

impl Source {
    /// The file at `path` holding `text`.
    pub(crate) fn new(path: String, text: String) -> Source {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        if line_starts.last() == Some(&text.len()) && !text.is_empty() {
            line_starts.pop();
        }
        Source {
            path,
            text,
            line_starts,
        }
    }

    /// How many lines it has.
    pub(crate) fn lines(&self) -> usize {
        self.line_starts.len()
    }

    /// The text of lines `start..=end` (1-based), line ends included; lines past the end
    /// are empty.
    pub(crate) fn span(&self, start: usize, end: usize) -> &str {
        let from = start
            .checked_sub(1)
            .and_then(|i| self.line_starts.get(i))
            .copied()
            .unwrap_or(self.text.len());
        let to = self
            .line_starts
            .get(end)
            .copied()
            .unwrap_or(self.text.len())
            .max(from);
        &self.text[from..to]
    }
}
