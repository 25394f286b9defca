//! SentencePiece BPE (GGUF `tokenizer.ggml.model = "llama"`), merging by score.
//!
//! SentencePiece vocabularies in GGUF carry a score per piece and no merge
//! list. llama.cpp merges the adjacent pair whose concatenation is the
//! highest-scoring piece (leftmost on ties) until no pair is in the
//! vocabulary, and spells characters that never became a piece as byte tokens
//! (`<0x0A>`). This is that algorithm; the `tokenizers` crate's BPE ranks
//! merges by list position, which orders ties differently.

use super::bytes::SENTENCEPIECE_SPACE;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// A SentencePiece vocabulary ready to encode.
#[derive(Debug, Clone)]
pub(crate) struct SentencePieceModel {
    ids: HashMap<String, u32>,
    scores: Vec<f32>,
    /// Token ids of the 256 byte-fallback pieces, where the vocabulary has them.
    byte_tokens: [Option<u32>; 256],
    /// Prefix the first piece of text (and text after a special token) with a space.
    pub(crate) add_space_prefix: bool,
    unknown: Option<u32>,
}

/// A candidate merge of two adjacent symbols.
#[derive(Debug, PartialEq)]
struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    /// Byte length of the merged text, to recognise stale candidates.
    size: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        // Highest score first; on equal scores the leftmost pair first.
        self.score
            .total_cmp(&other.score)
            .then(other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A run of the input: a byte range, linked to its neighbours.
#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl SentencePieceModel {
    /// `tokens[i]` is the piece of id `i` (later duplicates win, as in llama.cpp).
    pub(crate) fn new(
        tokens: &[String],
        scores: &[f32],
        add_space_prefix: bool,
        unknown: Option<u32>,
    ) -> Self {
        let mut ids = HashMap::with_capacity(tokens.len());
        let mut byte_tokens = [None; 256];
        for (id, text) in tokens.iter().enumerate() {
            ids.insert(text.clone(), id as u32);
            if let Some(byte) = super::bytes::sentencepiece_byte(text) {
                byte_tokens[byte as usize] = Some(id as u32);
            }
        }
        SentencePieceModel {
            ids,
            scores: scores.to_vec(),
            byte_tokens,
            add_space_prefix,
            unknown,
        }
    }

    /// The id of a piece.
    pub(crate) fn token_id(&self, piece: &str) -> Option<u32> {
        self.ids.get(piece).copied()
    }

    /// Encodes one fragment of plain text; `after_special` says whether it
    /// starts the input or follows a special token (where the space prefix goes).
    pub(crate) fn encode(&self, text: &str, after_special: bool, out: &mut Vec<u32>) {
        let mut escaped = String::with_capacity(text.len() + 3);
        if self.add_space_prefix && after_special {
            escaped.push(SENTENCEPIECE_SPACE);
        }
        escaped.extend(
            text.chars()
                .map(|c| if c == ' ' { SENTENCEPIECE_SPACE } else { c }),
        );
        self.encode_escaped(&escaped, out);
    }

    fn encode_escaped(&self, text: &str, out: &mut Vec<u32>) {
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (start, c) in text.char_indices() {
            let index = symbols.len();
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: index.checked_sub(1),
                next: None,
            });
            if index > 0 {
                symbols[index - 1].next = Some(index);
            }
        }
        let mut queue = BinaryHeap::new();
        for right in 1..symbols.len() {
            self.push_bigram(text, &symbols, right - 1, right, &mut queue);
        }
        while let Some(bigram) = queue.pop() {
            let (left, right) = (symbols[bigram.left], symbols[bigram.right]);
            // A side was merged into something else since this candidate was queued.
            if left.len == 0 || right.len == 0 || left.len + right.len != bigram.size {
                continue;
            }
            symbols[bigram.left].len += right.len;
            symbols[bigram.left].next = right.next;
            symbols[bigram.right].len = 0;
            if let Some(next) = right.next {
                symbols[next].prev = Some(bigram.left);
            }
            if let Some(prev) = left.prev {
                self.push_bigram(text, &symbols, prev, bigram.left, &mut queue);
            }
            if let Some(next) = right.next {
                self.push_bigram(text, &symbols, bigram.left, next, &mut queue);
            }
        }
        let mut current = if symbols.is_empty() { None } else { Some(0) };
        while let Some(index) = current {
            let symbol = symbols[index];
            let piece = &text[symbol.start..symbol.start + symbol.len];
            // Merged symbols are always pieces (a pair is only queued when its
            // text is one), so what is not a piece is a single character.
            match self.ids.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for byte in piece.bytes() {
                        if let Some(id) = self.byte_tokens[byte as usize].or(self.unknown) {
                            out.push(id);
                        }
                    }
                }
            }
            current = symbol.next;
        }
    }

    fn push_bigram(
        &self,
        text: &str,
        symbols: &[Symbol],
        left: usize,
        right: usize,
        queue: &mut BinaryHeap<Bigram>,
    ) {
        let start = symbols[left].start;
        let size = symbols[left].len + symbols[right].len;
        let Some(&id) = self.ids.get(&text[start..start + size]) else {
            return;
        };
        let score = self.scores.get(id as usize).copied().unwrap_or(0.0);
        queue.push(Bigram {
            left,
            right,
            score,
            size,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> SentencePieceModel {
        let pieces = [
            "<unk>", "<0x0A>", "<0xE4>", "<0xB8>", "<0x80>", "▁", "a", "b", "c", "ab", "bc", "▁a",
            "▁ab", "abc",
        ];
        let scores = [
            0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -2.0, -2.0, -3.0, -1.5, -4.0, -5.0, -6.0,
        ];
        let tokens: Vec<String> = pieces.iter().map(|s| s.to_string()).collect();
        SentencePieceModel::new(&tokens, &scores, true, Some(0))
    }

    #[test]
    fn merges_highest_score_first() {
        let m = model();
        let mut out = Vec::new();
        // "bc" (-1.5) beats "ab" (-3.0); then "a"+"bc" = "abc" is a piece.
        m.encode("abc", false, &mut out);
        assert_eq!(out, vec![13]);
        out.clear();
        // With the space prefix: ▁a (-4) vs bc (-1.5): bc first, then ▁+a → ▁a, and ▁a+bc is no piece.
        m.encode("abc", true, &mut out);
        assert_eq!(out, vec![11, 10]);
    }

    #[test]
    fn unknown_characters_fall_back_to_bytes() {
        let m = model();
        let mut out = Vec::new();
        m.encode("一\n", false, &mut out);
        assert_eq!(out, vec![2, 3, 4, 1]);
        out.clear();
        // A byte with no byte piece becomes <unk>.
        m.encode("é", false, &mut out);
        assert_eq!(out, vec![0, 0]);
    }
}
