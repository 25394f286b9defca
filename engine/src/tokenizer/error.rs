//! Errors from building a tokenizer or encoding with it.

use super::UnsupportedPreTokenizer;
use std::path::PathBuf;

/// Why a tokenizer could not be built or could not encode.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// The vocabulary kind is not one hearth implements.
    #[error("tokenizer model {0:?} is not supported: expected \"gpt2\" (byte-level BPE) or \"llama\" (SentencePiece)")]
    UnsupportedModel(String),
    /// The pre-tokenizer needs code hearth does not have.
    #[error(transparent)]
    UnsupportedPreTokenizer(#[from] UnsupportedPreTokenizer),
    /// The vocabulary is empty.
    #[error("the tokenizer vocabulary is empty")]
    EmptyVocabulary,
    /// A per-token array does not have one entry per token.
    #[error("tokenizer {what} has {found} entries, expected one per token ({tokens})")]
    LengthMismatch {
        /// Which array ("token types", "scores").
        what: &'static str,
        /// Its length.
        found: usize,
        /// The number of tokens.
        tokens: usize,
    },
    /// A merge rule is not two tokens separated by a space.
    #[error("tokenizer merge #{index} {merge:?} is not two tokens separated by a space")]
    MalformedMerge {
        /// Position in the merge list.
        index: usize,
        /// The rule.
        merge: String,
    },
    /// A special token id points past the vocabulary.
    #[error("the {name} token id {id} is outside the vocabulary of {vocab_size} tokens")]
    SpecialTokenOutOfRange {
        /// Which special token ("bos", "eos", "eot").
        name: &'static str,
        /// Its id.
        id: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// The `tokenizers` crate rejected the vocabulary, merges or a regex.
    #[error("cannot build the {what}: {message}")]
    Build {
        /// What was being built.
        what: &'static str,
        /// The crate's message.
        message: String,
    },
    /// A `tokenizer.json` could not be read or parsed.
    #[error("cannot load tokenizer file {}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Tokenizer metadata in a GGUF file is missing or malformed.
    #[error("GGUF tokenizer metadata: {0}")]
    Metadata(String),
    /// The GGUF file itself could not be read.
    #[error(transparent)]
    Gguf(#[from] crate::model::gguf::GgufError),
    /// The `tokenizers` crate failed while encoding.
    #[error("tokenizing {len} bytes of text failed: {message}")]
    Encode {
        /// Length of the text.
        len: usize,
        /// The crate's message.
        message: String,
    },
}
