//! The tokenizer: text to token ids and back, built from a GGUF file's
//! metadata (or a Hugging Face `tokenizer.json`).
//!
//! Token ids must be exactly the ones llama.cpp produces for the same model
//! file: the model was trained on them, and prefix caches shared with other
//! engines key on them. `tests/tokenizer_reference.rs` checks this against
//! llama.cpp itself. The pieces:
//!
//! * special tokens are split off first, llama.cpp's way ([`special`]);
//! * byte-level BPE (`gpt2`) runs on the `tokenizers` crate: the
//!   pre-tokenizer regexes llama.cpp uses for the file's `pre` name
//!   ([`pretokenize`]), GPT-2's byte-to-character mapping, and BPE over the
//!   file's merges, all built in memory;
//! * SentencePiece (`llama`) merges by score ([`spm`]);
//! * decoding concatenates each token's bytes ([`bytes`]); streaming output
//!   goes through [`StreamDecoder`].

mod bytes;
mod error;
mod gguf;
mod json;
mod pretokenize;
mod special;
mod spm;
mod stream;

pub use error::TokenizerError;
pub use pretokenize::UnsupportedPreTokenizer;
pub use stream::StreamDecoder;

use bytes::{ByteLevelAlphabet, TokenBytes, SENTENCEPIECE_SPACE};
use special::{Fragment, SpecialKind, SpecialTokens};
use spm::SentencePieceModel;
use std::path::Path;
use std::sync::Arc;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

/// GGUF token types (`tokenizer.ggml.token_type`), as llama.cpp numbers them.
pub mod token_type {
    /// No type given; llama.cpp decodes such tokens to nothing.
    pub const UNDEFINED: i32 = 0;
    /// An ordinary piece of text.
    pub const NORMAL: i32 = 1;
    /// The unknown-token placeholder.
    pub const UNKNOWN: i32 = 2;
    /// A control token (`<|im_start|>`): matched in text only when parsing special tokens.
    pub const CONTROL: i32 = 3;
    /// An added token (`<tool_call>`): always matched as a whole.
    pub const USER_DEFINED: i32 = 4;
    /// A reserved slot that never appears in text.
    pub const UNUSED: i32 = 5;
    /// A SentencePiece byte-fallback token (`<0x0A>`).
    pub const BYTE: i32 = 6;
}

/// Texts of tokens that end a turn in the chat formats hearth knows, whatever
/// the file says its EOS is: llama.cpp's end-of-generation list, plus `</s>`.
const END_OF_GENERATION_TEXTS: [&str; 14] = [
    "<|eot_id|>",
    "<|eom_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
    "<|return|>",
    "<|call|>",
    "</s>",
];

/// A tokenizer described by plain data, as stored in a GGUF file.
#[derive(Debug, Clone, Default)]
pub struct TokenizerSpec {
    /// `"gpt2"` (byte-level BPE) or `"llama"` (SentencePiece BPE).
    pub model: String,
    /// The pre-tokenizer name (`"qwen2"`, `"llama-bpe"`, ...); BPE only.
    pub pre: Option<String>,
    /// Token texts by id (byte-level BPE tokens in GPT-2's alphabet: "Ġthe").
    pub tokens: Vec<String>,
    /// [`token_type`] per token; empty means all normal.
    pub token_types: Vec<i32>,
    /// BPE merge rules, `"left right"`, highest priority first.
    pub merges: Vec<String>,
    /// SentencePiece scores per token; empty means all zero.
    pub scores: Vec<f32>,
    /// Beginning-of-sequence token.
    pub bos: Option<u32>,
    /// End-of-sequence token.
    pub eos: Option<u32>,
    /// End-of-turn token, where the format has one apart from EOS.
    pub eot: Option<u32>,
    /// Put BOS in front of every encoded text.
    pub add_bos: bool,
    /// SentencePiece only: prefix text with a space ("▁") first.
    pub add_space_prefix: bool,
}

/// What turns plain text (special tokens already split off) into ids.
enum Encoder {
    /// The `tokenizers` pipeline, holding no added tokens of its own.
    Pipeline(Box<tokenizers::Tokenizer>),
    /// SentencePiece merging by score.
    SentencePiece(Box<SentencePieceModel>),
}

struct Inner {
    encoder: Encoder,
    specials: SpecialTokens,
    token_bytes: TokenBytes,
    vocab_size: usize,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    /// SentencePiece's space prefix is not part of the text: drop it again
    /// from the first decoded token.
    strip_first_space: bool,
    /// Sorted ids that end generation.
    end_of_generation: Vec<u32>,
}

/// A tokenizer. Cloning is cheap (the vocabulary is shared).
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tokenizer {
    // The vocabulary would print 150k entries; show what identifies it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner.encoder {
            Encoder::Pipeline(_) => "bpe",
            Encoder::SentencePiece(_) => "sentencepiece",
        };
        f.debug_struct("Tokenizer")
            .field("kind", &kind)
            .field("vocab_size", &self.inner.vocab_size)
            .field("bos", &self.inner.bos)
            .field("eos", &self.inner.eos)
            .field("add_bos", &self.inner.add_bos)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Builds a tokenizer from GGUF-style data.
    pub fn from_spec(spec: TokenizerSpec) -> Result<Tokenizer, TokenizerError> {
        let n = spec.tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocabulary);
        }
        let types = if spec.token_types.is_empty() {
            vec![token_type::NORMAL; n]
        } else if spec.token_types.len() == n {
            spec.token_types.clone()
        } else {
            return Err(TokenizerError::LengthMismatch {
                what: "token types",
                found: spec.token_types.len(),
                tokens: n,
            });
        };
        for (name, id) in [("bos", spec.bos), ("eos", spec.eos), ("eot", spec.eot)] {
            if let Some(id) = id.filter(|&id| id as usize >= n) {
                return Err(TokenizerError::SpecialTokenOutOfRange {
                    name,
                    id,
                    vocab_size: n,
                });
            }
        }
        let specials = SpecialTokens::new(spec.tokens.iter().zip(&types).enumerate().filter_map(
            |(id, (text, &ty))| {
                let kind = match ty {
                    token_type::CONTROL | token_type::UNKNOWN => SpecialKind::Control,
                    token_type::USER_DEFINED => SpecialKind::UserDefined,
                    _ => return None,
                };
                Some((text.clone(), id as u32, kind))
            },
        ));
        let (encoder, token_bytes, strip_first_space) = match spec.model.as_str() {
            "gpt2" => {
                let alphabet = ByteLevelAlphabet::new();
                let token_bytes =
                    build_token_bytes(&spec.tokens, &types, |text, out| alphabet.decode(text, out));
                (
                    Encoder::Pipeline(Box::new(byte_level_bpe(&spec)?)),
                    token_bytes,
                    false,
                )
            }
            "llama" => {
                if !spec.scores.is_empty() && spec.scores.len() != n {
                    return Err(TokenizerError::LengthMismatch {
                        what: "scores",
                        found: spec.scores.len(),
                        tokens: n,
                    });
                }
                let scores = if spec.scores.is_empty() {
                    vec![0.0; n]
                } else {
                    spec.scores.clone()
                };
                let unknown = types
                    .iter()
                    .position(|&t| t == token_type::UNKNOWN)
                    .map(|i| i as u32);
                let model =
                    SentencePieceModel::new(&spec.tokens, &scores, spec.add_space_prefix, unknown);
                let token_bytes = build_token_bytes(&spec.tokens, &types, push_sentencepiece_text);
                (
                    Encoder::SentencePiece(Box::new(model)),
                    token_bytes,
                    spec.add_space_prefix,
                )
            }
            other => return Err(TokenizerError::UnsupportedModel(other.to_owned())),
        };
        let end_of_generation = end_of_generation_ids(&spec.tokens, [spec.eos, spec.eot]);
        Ok(Tokenizer {
            inner: Arc::new(Inner {
                encoder,
                specials,
                token_bytes,
                vocab_size: n,
                bos: spec.bos,
                eos: spec.eos,
                add_bos: spec.add_bos,
                strip_first_space,
                end_of_generation,
            }),
        })
    }

    /// Builds the tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata.
    pub fn from_gguf(g: &crate::model::gguf::Gguf) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_spec(gguf::spec_from_gguf(g)?)
    }

    /// Loads a Hugging Face `tokenizer.json`.
    pub fn from_json_file(path: &Path) -> Result<Tokenizer, TokenizerError> {
        json::from_json_file(path)
    }

    /// Encodes `text`, with BOS in front if the model asks for it. With
    /// `parse_special`, control tokens written in the text (`<|im_start|>`)
    /// become their ids; without it they are tokenized as the plain text they
    /// are, which is what user-supplied text needs.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let inner = &*self.inner;
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        if inner.add_bos {
            ids.extend(inner.bos);
        }
        let mut after_special = true;
        for fragment in inner.specials.partition(text, parse_special) {
            match fragment {
                Fragment::Token(id) => {
                    ids.push(id);
                    after_special = true;
                }
                Fragment::Text(piece) => {
                    match &inner.encoder {
                        Encoder::Pipeline(pipeline) => {
                            let encoding = pipeline.encode_fast(piece, false).map_err(|e| {
                                TokenizerError::Encode {
                                    len: text.len(),
                                    message: e.to_string(),
                                }
                            })?;
                            ids.extend_from_slice(encoding.get_ids());
                        }
                        Encoder::SentencePiece(model) => {
                            model.encode(piece, after_special, &mut ids)
                        }
                    }
                    after_special = false;
                }
            }
        }
        Ok(ids)
    }

    /// The text of `ids`, special tokens included as their text. Bytes that
    /// do not form valid UTF-8 (a character cut off at the end) become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for (i, &id) in ids.iter().enumerate() {
            self.append_token_bytes(id, i == 0, &mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A [`StreamDecoder`] for this tokenizer.
    pub fn stream_decoder(&self) -> StreamDecoder {
        StreamDecoder::new(self)
    }

    /// The raw bytes of one token (possibly part of a UTF-8 character);
    /// empty for ids outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.inner.token_bytes.get(id)
    }

    pub(crate) fn append_token_bytes(&self, id: u32, first: bool, out: &mut Vec<u8>) {
        let bytes = self.inner.token_bytes.get(id);
        let skip =
            usize::from(first && self.inner.strip_first_space && bytes.first() == Some(&b' '));
        out.extend_from_slice(&bytes[skip..]);
    }

    /// The number of token ids, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.vocab_size
    }

    /// The beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.inner.bos
    }

    /// Whether [`encode`](Tokenizer::encode) puts BOS in front of the text.
    pub fn add_bos(&self) -> bool {
        self.inner.add_bos
    }

    /// The end-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.inner.eos
    }

    /// Whether the model's turn is over when it samples `id`: EOS, the
    /// end-of-turn token, and the end tokens of known chat formats
    /// (`<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, ...).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.inner.end_of_generation.binary_search(&id).is_ok()
    }

    /// The ids of the control tokens (`<|im_start|>`, `<|im_end|>`): markup of the chat
    /// format, which generated text can only contain as the token itself. User-defined
    /// tokens (`<tool_call>`) are not among them: they stand for their text.
    pub fn control_tokens(&self) -> Vec<u32> {
        self.inner.specials.control_ids().collect()
    }

    /// The id of a token by its vocabulary text (`"<|im_end|>"`, `"Ġthe"`).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        match &self.inner.encoder {
            Encoder::Pipeline(pipeline) => pipeline.token_to_id(text),
            Encoder::SentencePiece(model) => model.token_id(text),
        }
    }

    /// A token's bytes as text (lossy where they are part of a character):
    /// for special tokens, the text templates print (`bos_token`, `eos_token`).
    pub fn token_text(&self, id: u32) -> String {
        String::from_utf8_lossy(self.token_bytes(id)).into_owned()
    }
}

/// Each token's bytes: normal tokens through `decode_normal`, special and
/// added tokens as their literal text, unused and untyped slots as nothing
/// (llama.cpp's `token_to_piece` with special tokens rendered).
fn build_token_bytes(
    tokens: &[String],
    types: &[i32],
    decode_normal: impl Fn(&str, &mut Vec<u8>),
) -> TokenBytes {
    let mut table = TokenBytes::with_capacity(tokens.len());
    for (text, &ty) in tokens.iter().zip(types) {
        table.push_with(|out| match ty {
            token_type::NORMAL => decode_normal(text, out),
            token_type::CONTROL | token_type::USER_DEFINED | token_type::UNKNOWN => {
                out.extend_from_slice(text.as_bytes())
            }
            token_type::BYTE => match bytes::sentencepiece_byte(text) {
                Some(byte) => out.push(byte),
                None => decode_normal(text, out),
            },
            _ => {}
        });
    }
    table
}

/// A SentencePiece piece's bytes: "▁" is a space.
fn push_sentencepiece_text(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        let c = if c == SENTENCEPIECE_SPACE { ' ' } else { c };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

fn end_of_generation_ids(tokens: &[String], explicit: [Option<u32>; 2]) -> Vec<u32> {
    let mut ids: Vec<u32> = explicit.into_iter().flatten().collect();
    ids.extend(
        tokens
            .iter()
            .enumerate()
            .filter(|(_, text)| END_OF_GENERATION_TEXTS.contains(&text.as_str()))
            .map(|(id, _)| id as u32),
    );
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Splits a merge rule at the first space after its first byte, as llama.cpp
/// does (so a left side that is itself a space still works).
fn split_merge(rule: &str) -> Option<(String, String)> {
    let at = 1 + rule.as_bytes().get(1..)?.iter().position(|&b| b == b' ')?;
    // `at` indexes an ASCII space, so both sides are on character boundaries.
    Some((rule[..at].to_owned(), rule[at + 1..].to_owned()))
}

fn build_error(what: &'static str) -> impl Fn(tokenizers::Error) -> TokenizerError {
    move |e| TokenizerError::Build {
        what,
        message: e.to_string(),
    }
}

/// The byte-level BPE pipeline: llama.cpp's pre-tokenizer regexes, GPT-2's
/// byte mapping (no prefix space, no regex of its own), then BPE.
fn byte_level_bpe(spec: &TokenizerSpec) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let pre = pretokenize::pre_tokenizer_for(spec.pre.as_deref())?;
    let vocab: Vocab = spec
        .tokens
        .iter()
        .enumerate()
        .map(|(id, text)| (text.clone(), id as u32))
        .collect();
    let merges = spec
        .merges
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            split_merge(rule).ok_or_else(|| TokenizerError::MalformedMerge {
                index,
                merge: rule.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(pre.ignore_merges)
        .build()
        .map_err(build_error("BPE model from the vocabulary and merges"))?;
    let mut steps = Vec::with_capacity(pre.regexes.len() + 1);
    for regex in pre.regexes {
        let split = Split::new(
            SplitPattern::Regex(regex.to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(build_error("pre-tokenizer regex"))?;
        steps.push(PreTokenizerWrapper::from(split));
    }
    steps.push(PreTokenizerWrapper::from(ByteLevel::new(
        false, false, false,
    )));
    let mut pipeline = tokenizers::Tokenizer::new(bpe);
    pipeline.with_pre_tokenizer(Some(Sequence::new(steps)));
    pipeline.with_decoder(Some(ByteLevel::new(false, false, false)));
    Ok(pipeline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_rules_split_like_llama_cpp() {
        assert_eq!(split_merge("Ġ Ġ"), Some(("Ġ".into(), "Ġ".into())));
        assert_eq!(split_merge("ĠĠ ĠĠĠ"), Some(("ĠĠ".into(), "ĠĠĠ".into())));
        assert_eq!(split_merge("  x"), Some((" ".into(), "x".into())));
        assert_eq!(split_merge("ab"), None);
        assert_eq!(split_merge(""), None);
    }

    #[test]
    fn end_of_generation_includes_known_turn_ends() {
        let tokens: Vec<String> = ["a", "<|im_end|>", "b", "<|endoftext|>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            end_of_generation_ids(&tokens, [Some(2), None]),
            vec![1, 2, 3]
        );
    }
}
