//! The thinking-budget state machine: a token-level controller that sits between the
//! sampler and the model while a thinking segment is open.
//!
//! It counts the tokens generated inside the segment. When the count is one short of the
//! budget it forces the transition (a newline, which counts as the last thinking token),
//! then the end delimiter (which does not count), so the count never exceeds the budget
//! and an answer always follows. Near the budget it masks tokens that would leave a
//! multi-byte character unfinished when the transition comes, so forcing never splits one.
//! If the model closes the segment itself, that is its choice, unless `min_tokens` asks
//! for more: then the close is replaced by "Wait" (the s1 paper's budget forcing).
//!
//! The delimiter is found in the decoded text, not by token id, so the same machine
//! serves models whose `</think>` is one special token (Qwen3, DeepSeek-R1 distills) and
//! models that write it as plain text in the prompted mode.

use std::collections::VecDeque;

use crate::tokenizer::{Tokenizer, TokenizerError};

/// How a model thinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThinkingMode {
    /// The model was trained to think between `<think>` and `</think>`; its chat template's
    /// `enable_thinking` switch turns it on.
    Native,
    /// The model was not trained to think: the engine opens a `<think>` segment after the
    /// generation prompt with a short instruction, and treats it the same way from there.
    Prompted,
}

/// The text that opens a thinking segment.
pub const OPEN_DELIMITER: &str = "<think>";
/// The text that ends a thinking segment.
pub const END_DELIMITER: &str = "</think>";
/// What the prompted mode appends after the generation prompt: an instruction in the
/// assistant's voice, then the opened segment.
pub const PROMPTED_OPENING: &str =
    "Let me reason step by step inside <think></think> before I reply.\n<think>\n";
/// What follows the forced end delimiter, so the answer starts on a fresh paragraph.
const FORCED_END: &str = "</think>\n\n";
/// The transition forced as the last thinking token.
const TRANSITION: &str = "\n";
/// What replaces an early close when `min_tokens` is not reached.
const WAIT: &str = "\nWait";
/// A UTF-8 character has at most 4 bytes: at most 3 can still be missing.
const MAX_MISSING_BYTES: usize = 3;

impl ThinkingMode {
    /// The mode a model gets from its metadata: native when its chat template or its
    /// vocabulary knows `<think>`, prompted otherwise.
    pub fn detect(template_source: Option<&str>, tokenizer: &Tokenizer) -> ThinkingMode {
        let template_knows = template_source.is_some_and(|s| s.contains(END_DELIMITER));
        if template_knows || tokenizer.token_id(END_DELIMITER).is_some() {
            ThinkingMode::Native
        } else {
            ThinkingMode::Prompted
        }
    }
}

/// What a thinking segment may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThinkingLimits {
    /// The most tokens inside the segment (at least 1).
    pub budget: u32,
    /// Below this count an early close is replaced by "Wait"; 0: the model may stop any time.
    pub min_tokens: u32,
}

/// Where a generated token's text belongs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Thinking text (possibly empty while a possible delimiter is held back).
    Thinking(String),
    /// The segment ended with this token: the thinking text before the delimiter, and
    /// the answer text after it.
    Closed {
        /// The last thinking text.
        thinking: String,
        /// The first answer text.
        answer: String,
    },
}

/// The state of one thinking segment.
#[derive(Clone, Debug)]
pub struct ThinkingBudget {
    limits: ThinkingLimits,
    /// Tokens generated inside the segment so far (delimiter tokens included until the
    /// delimiter is recognised; see [`ThinkingBudget::thinking_tokens`]).
    tokens: u32,
    /// The byte length of the segment's text after each token, to count the tokens that
    /// come before the delimiter once it is found.
    text_ends: Vec<usize>,
    /// All the segment's text so far, and how much of it was released.
    text: String,
    released: usize,
    /// Tokens to force next, in order.
    forced: VecDeque<u32>,
    transition: Vec<u32>,
    end: Vec<u32>,
    wait: Vec<u32>,
    /// Set once the transition was forced: what follows is the delimiter.
    closing: bool,
    /// The thinking tokens once the segment closed.
    closed_at: Option<u32>,
}

impl ThinkingBudget {
    /// A segment opened for `tokenizer`'s model under `limits` (a budget of 0 is read as 1).
    pub fn new(
        tokenizer: &Tokenizer,
        limits: ThinkingLimits,
    ) -> Result<ThinkingBudget, TokenizerError> {
        Ok(ThinkingBudget {
            limits: ThinkingLimits {
                budget: limits.budget.max(1),
                min_tokens: limits.min_tokens.min(limits.budget.max(1)),
            },
            tokens: 0,
            text_ends: Vec::new(),
            text: String::new(),
            released: 0,
            forced: VecDeque::new(),
            transition: tokenizer.encode(TRANSITION, false)?,
            end: tokenizer.encode(FORCED_END, true)?,
            wait: tokenizer.encode(WAIT, false)?,
            closing: false,
            closed_at: None,
        })
    }

    /// Whether the segment is over.
    pub fn is_closed(&self) -> bool {
        self.closed_at.is_some()
    }

    /// Thinking tokens spent: those before the end delimiter once it is found, all the
    /// segment's tokens before that. Never more than the budget.
    pub fn thinking_tokens(&self) -> u32 {
        self.closed_at.unwrap_or(self.tokens)
    }

    /// Tokens the model may still choose freely before the budget forces the segment
    /// closed; `None` once it is closed or closing.
    pub fn tokens_left(&self) -> Option<u32> {
        if self.is_closed() || self.closing {
            return None;
        }
        Some(self.limits.budget.saturating_sub(self.tokens + 1))
    }

    /// The token the machine forces next, if any. Call before sampling; when it returns a
    /// token, feed that token instead of sampling one.
    /// After a forced close, the delimiter's last tokens (the paragraph break) come from
    /// here too, though the segment is already closed.
    pub fn forced_token(&mut self) -> Option<u32> {
        if !self.is_closed()
            && self.forced.is_empty()
            && !self.closing
            && self.tokens + 1 >= self.limits.budget
        {
            // The next token is the budget's last: the transition, then the delimiter.
            self.closing = true;
            self.forced.extend(self.transition.iter().copied());
            self.forced.extend(self.end.iter().copied());
        }
        self.forced.pop_front()
    }

    /// Masks the tokens the model may not sample now: near the budget, those that would
    /// leave more bytes of a character missing than free tokens remain before the
    /// transition. `pending` holds the bytes of the unfinished character the text ends in.
    pub fn mask(&self, logits: &mut [f32], pending: &[u8], tokenizer: &Tokenizer) {
        if self.is_closed() || self.closing {
            return;
        }
        // Free tokens left, this one included; the transition takes the budget's last slot.
        let free = self.limits.budget.saturating_sub(self.tokens + 1) as usize;
        if free == 0 || free > MAX_MISSING_BYTES {
            return;
        }
        let allowed = free - 1;
        let mut bytes = Vec::with_capacity(pending.len() + 16);
        let mut any = false;
        let before: Vec<f32> = logits.to_vec();
        for (id, logit) in logits.iter_mut().enumerate() {
            bytes.clear();
            bytes.extend_from_slice(pending);
            bytes.extend_from_slice(tokenizer.token_bytes(id as u32));
            if missing_bytes(&bytes) > allowed {
                *logit = f32::NEG_INFINITY;
            } else if logit.is_finite() {
                any = true;
            }
        }
        if !any {
            // Nothing can finish the character in time (a vocabulary without single-byte
            // tokens): sampling as usual beats sampling from nothing.
            logits.copy_from_slice(&before);
        }
    }

    /// Records a token generated inside the segment (sampled or forced) by the text it
    /// decoded to, and says where that text belongs. An end-of-generation token inside the
    /// segment is not recorded: call [`ThinkingBudget::end_of_generation`] instead.
    pub fn push(&mut self, piece: &str) -> Routed {
        self.tokens += 1;
        self.text.push_str(piece);
        self.text_ends.push(self.text.len());
        if let Some(at) = self.text[self.released..]
            .find(END_DELIMITER)
            .map(|p| p + self.released)
        {
            let thinking = self.text[self.released..at].to_string();
            let answer = self.text[at + END_DELIMITER.len()..].to_string();
            // The tokens whose text starts before the delimiter are thinking; those that
            // only spell the delimiter are not.
            let count = (0..self.text_ends.len())
                .filter(|&i| if i == 0 { 0 } else { self.text_ends[i - 1] } < at)
                .count();
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            self.closed_at = Some(count.min(self.limits.budget));
            if !self.closing {
                // The model closed it: nothing of ours is pending.
                self.forced.clear();
            }
            self.released = self.text.len();
            return Routed::Closed { thinking, answer };
        }
        // Hold back a tail that may be the start of the delimiter.
        let held = held_suffix(&self.text[self.released..]);
        let until = self.text.len() - held;
        let out = self.text[self.released..until].to_string();
        self.released = until;
        Routed::Thinking(out)
    }

    /// Takes the text held back as a possible delimiter start, when generation ends inside
    /// the segment.
    pub fn take_held(&mut self) -> String {
        let held = self.text[self.released..].to_string();
        self.released = self.text.len();
        held
    }

    /// Whether the model's own token closes the segment before `min_tokens`: then the
    /// caller drops it and calls [`ThinkingBudget::wait`]. `piece` is the token's text.
    pub fn closes_too_early(&self, piece: &str) -> bool {
        if self.is_closed() || self.closing || self.tokens >= self.limits.min_tokens {
            return false;
        }
        let mut text = self.text[self.released..].to_string();
        text.push_str(piece);
        // "</" is where a close starts; a lone "<" may be a comparison.
        text.contains(END_DELIMITER) || held_suffix(&text) >= 2
    }

    /// Replaces an early close (or an end of generation) by "Wait", within the budget: the
    /// next forced tokens continue the reasoning.
    pub fn wait(&mut self) {
        let room = self.limits.budget.saturating_sub(self.tokens + 1) as usize;
        self.forced.extend(self.wait.iter().copied().take(room));
    }

    /// The model ended its turn inside the segment: the segment is closed by force so that
    /// an answer follows, or continued with "Wait" below `min_tokens`.
    pub fn end_of_generation(&mut self) {
        if self.tokens < self.limits.min_tokens {
            self.wait();
            if !self.forced.is_empty() {
                return;
            }
        }
        if !self.closing {
            self.closing = true;
            self.forced.extend(self.end.iter().copied());
        }
    }
}

/// How many bytes the last character of `bytes` still misses (0 when it is complete or
/// can never be completed).
fn missing_bytes(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => 0,
        Err(e) if e.error_len().is_some() => {
            // An invalid sequence somewhere; what matters is the tail.
            let tail_start = bytes.len().saturating_sub(MAX_MISSING_BYTES);
            (tail_start..bytes.len())
                .find_map(|i| {
                    let need = utf8_len(bytes[i])?;
                    (need > bytes.len() - i && std::str::from_utf8(&bytes[i..]).is_err())
                        .then(|| need - (bytes.len() - i))
                })
                .unwrap_or(0)
        }
        Err(e) => {
            let tail = &bytes[e.valid_up_to()..];
            utf8_len(tail[0]).map_or(0, |need| need.saturating_sub(tail.len()))
        }
    }
}

/// The length of the character a UTF-8 lead byte starts; `None` for other bytes.
fn utf8_len(lead: u8) -> Option<usize> {
    match lead {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

/// The length of the longest suffix of `text` that is a proper prefix of the delimiter.
fn held_suffix(text: &str) -> usize {
    (1..END_DELIMITER.len())
        .rev()
        .find(|&n| {
            n <= text.len()
                && text.is_char_boundary(text.len() - n)
                && text.ends_with(&END_DELIMITER[..n])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_bytes_of_unfinished_characters() {
        assert_eq!(missing_bytes(b"abc"), 0);
        assert_eq!(missing_bytes("é".as_bytes()), 0);
        assert_eq!(missing_bytes(&"é".as_bytes()[..1]), 1);
        assert_eq!(missing_bytes(&"€".as_bytes()[..1]), 2);
        assert_eq!(missing_bytes(&"😀".as_bytes()[..2]), 2);
        assert_eq!(missing_bytes(b"a\xff"), 0);
    }

    #[test]
    fn a_tail_that_may_start_the_delimiter_is_held() {
        assert_eq!(held_suffix("so 4 <"), 1);
        assert_eq!(held_suffix("so 4 </thi"), 5);
        assert_eq!(held_suffix("so 4"), 0);
        assert_eq!(held_suffix("a < b"), 0);
    }
}
