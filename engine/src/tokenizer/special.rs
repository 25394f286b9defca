//! Splitting text at special tokens before BPE, the way llama.cpp does.
//!
//! Control tokens (`<|im_start|>`) are matched only when the caller asks for
//! special-token parsing, so that user text containing "<|im_start|>" cannot
//! forge a turn; user-defined tokens (`<tool_call>`) are always matched, like
//! Hugging Face's non-special added tokens. Longer tokens are matched first,
//! over the whole text, then shorter ones in what is left (llama.cpp's
//! `tokenizer_st_partition`).

/// How a vocabulary entry takes part in special-token matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpecialKind {
    /// Matched only with special-token parsing on (GGUF types CONTROL and UNKNOWN).
    Control,
    /// Always matched (GGUF type USER_DEFINED).
    UserDefined,
}

/// One special token to match.
#[derive(Debug, Clone)]
struct SpecialToken {
    text: String,
    id: u32,
    kind: SpecialKind,
}

/// A piece of the input: text still to be tokenized, or a matched token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    /// Plain text for the BPE or SentencePiece model.
    Text(&'a str),
    /// A special token matched in the text.
    Token(u32),
}

/// The special tokens of a vocabulary, longest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpecialTokens {
    tokens: Vec<SpecialToken>,
}

impl SpecialTokens {
    /// Builds the matcher from `(text, id, kind)`; empty texts are ignored.
    pub(crate) fn new(
        tokens: impl IntoIterator<Item = (String, u32, SpecialKind)>,
    ) -> SpecialTokens {
        let mut tokens: Vec<SpecialToken> = tokens
            .into_iter()
            .filter(|(text, _, _)| !text.is_empty())
            .map(|(text, id, kind)| SpecialToken { text, id, kind })
            .collect();
        tokens.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.id.cmp(&b.id)));
        SpecialTokens { tokens }
    }

    /// The ids of the control tokens (never plain text to a grammar).
    pub(crate) fn control_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.tokens
            .iter()
            .filter(|t| t.kind == SpecialKind::Control)
            .map(|t| t.id)
    }

    /// Splits `text` into plain-text fragments and matched special tokens.
    pub(crate) fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let mut fragments = if text.is_empty() {
            Vec::new()
        } else {
            vec![Fragment::Text(text)]
        };
        for token in &self.tokens {
            if token.kind == SpecialKind::Control && !parse_special {
                continue;
            }
            // Cheap rejection: most special tokens occur nowhere in most texts.
            let occurs = fragments
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(token.text.as_str())));
            if !occurs {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for fragment in fragments {
                let Fragment::Text(mut rest) = fragment else {
                    next.push(fragment);
                    continue;
                };
                while let Some(at) = rest.find(token.text.as_str()) {
                    if at > 0 {
                        next.push(Fragment::Text(&rest[..at]));
                    }
                    next.push(Fragment::Token(token.id));
                    rest = &rest[at + token.text.len()..];
                }
                if !rest.is_empty() {
                    next.push(Fragment::Text(rest));
                }
            }
            fragments = next;
        }
        fragments
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Fragment::{Text, Token};

    fn specials() -> SpecialTokens {
        SpecialTokens::new([
            ("<|im_start|>".to_owned(), 1, SpecialKind::Control),
            ("<|im_end|>".to_owned(), 2, SpecialKind::Control),
            ("<tool_call>".to_owned(), 3, SpecialKind::UserDefined),
            ("<|im".to_owned(), 4, SpecialKind::Control),
        ])
    }

    #[test]
    fn control_tokens_only_with_parse_special() {
        let s = specials();
        let text = "<|im_start|>user\nhi<|im_end|><tool_call>x";
        assert_eq!(
            s.partition(text, true),
            vec![Token(1), Text("user\nhi"), Token(2), Token(3), Text("x")]
        );
        assert_eq!(
            s.partition(text, false),
            vec![Text("<|im_start|>user\nhi<|im_end|>"), Token(3), Text("x")]
        );
    }

    #[test]
    fn longer_tokens_win_and_shorter_ones_match_what_is_left() {
        let s = specials();
        assert_eq!(
            s.partition("<|im<|im_end|>", true),
            vec![Token(4), Token(2)]
        );
        assert_eq!(s.partition("", true), Vec::<Fragment>::new());
    }
}
