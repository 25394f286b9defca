//! Incremental detokenization for streaming.

use super::Tokenizer;

/// Turns a stream of token ids into text without ever splitting a multi-byte
/// UTF-8 character: bytes of an unfinished character are held back until the
/// token that completes it arrives.
///
/// The concatenation of everything [`push`](StreamDecoder::push) returns and
/// [`finish`](StreamDecoder::finish) equals [`Tokenizer::decode`] of all the
/// ids. Bytes that can never become valid UTF-8 come out as U+FFFD, exactly
/// where `decode` puts them.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    tokenizer: Tokenizer,
    pending: Vec<u8>,
    first_token: bool,
}

impl StreamDecoder {
    /// A decoder for a new stream of `tokenizer`'s ids.
    pub fn new(tokenizer: &Tokenizer) -> StreamDecoder {
        StreamDecoder {
            tokenizer: tokenizer.clone(),
            pending: Vec::new(),
            first_token: true,
        }
    }

    /// Adds one token; returns the text it completes, or `None` when it only
    /// adds to an unfinished character (or has no text at all).
    pub fn push(&mut self, id: u32) -> Option<String> {
        self.tokenizer
            .append_token_bytes(id, self.first_token, &mut self.pending);
        self.first_token = false;
        let text = take_complete_text(&mut self.pending);
        (!text.is_empty()).then_some(text)
    }

    /// The bytes of an unfinished character held back so far (empty between characters).
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// Ends the stream: returns what is still held back, an unfinished
    /// character as U+FFFD.
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}

/// Removes and returns the longest prefix of `pending` that is final: valid
/// UTF-8, plus U+FFFD for byte sequences that no later byte can repair. An
/// unfinished character at the end stays in `pending`.
fn take_complete_text(pending: &mut Vec<u8>) -> String {
    let mut text = String::new();
    let mut consumed = 0;
    loop {
        match std::str::from_utf8(&pending[consumed..]) {
            Ok(valid) => {
                text.push_str(valid);
                consumed = pending.len();
                break;
            }
            Err(err) => {
                let valid_end = consumed + err.valid_up_to();
                // The bytes up to valid_end were just checked to be valid UTF-8.
                text.push_str(&String::from_utf8_lossy(&pending[consumed..valid_end]));
                consumed = valid_end;
                match err.error_len() {
                    Some(invalid) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        consumed += invalid;
                    }
                    // A character cut short by the end of the buffer: wait for more.
                    None => break,
                }
            }
        }
    }
    pending.drain(..consumed);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_unfinished_characters() {
        let emoji = "😀".as_bytes();
        let mut pending = emoji[..2].to_vec();
        assert_eq!(take_complete_text(&mut pending), "");
        assert_eq!(pending.len(), 2);
        pending.extend_from_slice(&emoji[2..]);
        pending.push(b'!');
        assert_eq!(take_complete_text(&mut pending), "😀!");
        assert!(pending.is_empty());
    }

    #[test]
    fn replaces_bytes_that_can_never_be_valid_like_lossy_decoding() {
        let bytes = b"a\xFFb\xE4\xB8c\xE4";
        let mut pending = bytes.to_vec();
        let mut streamed = take_complete_text(&mut pending);
        assert_eq!(pending, b"\xE4");
        streamed.push_str(&String::from_utf8_lossy(&pending));
        assert_eq!(streamed, String::from_utf8_lossy(bytes));
    }
}
