//! The bytes each token stands for.
//!
//! Decoding is a concatenation of token bytes, and a token may hold part of a
//! UTF-8 character (emoji and CJK are often split over two or three tokens),
//! so the table holds bytes, not strings. This is also what lets
//! [`super::StreamDecoder`] wait for a character to complete.

/// GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves,
/// the other 68 bytes are moved to U+0100..U+0143 so that every byte is a
/// visible character in the vocabulary ("Ġ" is the space, "Ċ" the newline).
fn byte_level_char(byte: u8) -> char {
    let printable = matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable {
        return char::from(byte);
    }
    // The non-printable bytes are numbered in byte order from U+0100.
    let rank = (0..byte)
        .filter(|b| !matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF))
        .count() as u32;
    char::from_u32(0x100 + rank).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Maps a character of GPT-2's byte-level alphabet back to its byte.
#[derive(Debug, Clone)]
pub(crate) struct ByteLevelAlphabet {
    /// Indexed by code point; 0x144 entries cover the whole alphabet.
    byte_of_char: Vec<Option<u8>>,
}

impl ByteLevelAlphabet {
    pub(crate) fn new() -> ByteLevelAlphabet {
        let mut byte_of_char = vec![None; 0x144];
        for byte in 0..=255u8 {
            let c = byte_level_char(byte) as usize;
            if let Some(slot) = byte_of_char.get_mut(c) {
                *slot = Some(byte);
            }
        }
        ByteLevelAlphabet { byte_of_char }
    }

    /// The raw bytes of a token written in the byte-level alphabet. Characters
    /// outside the alphabet (which a well-formed vocabulary does not have) are
    /// kept as their UTF-8, as llama.cpp does with such tokens.
    pub(crate) fn decode(&self, text: &str, out: &mut Vec<u8>) {
        for c in text.chars() {
            match self.byte_of_char.get(c as usize).copied().flatten() {
                Some(byte) => out.push(byte),
                None => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }
}

/// SentencePiece's visible space, "▁" (U+2581).
pub(crate) const SENTENCEPIECE_SPACE: char = '\u{2581}';

/// The byte of a SentencePiece byte-fallback token such as `<0x0A>`.
pub(crate) fn sentencepiece_byte(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// All tokens' bytes in one buffer: 150k small allocations would cost more
/// to build and to keep than the bytes themselves.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenBytes {
    bytes: Vec<u8>,
    /// `ends[i]` is where token `i` ends in `bytes`; it starts where `i - 1` ends.
    ends: Vec<usize>,
}

impl TokenBytes {
    pub(crate) fn with_capacity(tokens: usize) -> TokenBytes {
        TokenBytes {
            bytes: Vec::with_capacity(tokens * 8),
            ends: Vec::with_capacity(tokens),
        }
    }

    /// Appends the next token; `write` puts its bytes into the buffer.
    pub(crate) fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    /// The bytes of token `id`, empty for an id outside the vocabulary.
    pub(crate) fn get(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let Some(&end) = self.ends.get(i) else {
            return &[];
        };
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_round_trips_every_byte() {
        let alphabet = ByteLevelAlphabet::new();
        assert_eq!(byte_level_char(b' '), 'Ġ');
        assert_eq!(byte_level_char(b'\n'), 'Ċ');
        assert_eq!(byte_level_char(b'a'), 'a');
        for byte in 0..=255u8 {
            let mut out = Vec::new();
            alphabet.decode(&byte_level_char(byte).to_string(), &mut out);
            assert_eq!(out, vec![byte]);
        }
    }

    #[test]
    fn sentencepiece_byte_tokens() {
        assert_eq!(sentencepiece_byte("<0x0A>"), Some(b'\n'));
        assert_eq!(sentencepiece_byte("<0xFF>"), Some(0xFF));
        assert_eq!(sentencepiece_byte("<0x0A"), None);
        assert_eq!(sentencepiece_byte("<0x0AB>"), None);
    }

    #[test]
    fn token_bytes_indexes_by_id() {
        let mut table = TokenBytes::with_capacity(3);
        table.push_with(|b| b.extend_from_slice(b"ab"));
        table.push_with(|_| {});
        table.push_with(|b| b.push(0xE4));
        assert_eq!(table.get(0), b"ab");
        assert_eq!(table.get(1), b"");
        assert_eq!(table.get(2), &[0xE4]);
        assert_eq!(table.get(3), b"");
    }
}
