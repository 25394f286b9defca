//! Loading a Hugging Face `tokenizer.json` (for safetensors checkpoints).
//!
//! The file's own pipeline (normalizer, pre-tokenizer, model) encodes plain
//! text; special tokens are split off by the same code as for GGUF, so that
//! `parse_special` means the same thing for both. What the JSON does not say
//! (which token ends a turn) is filled in from well-known token texts.

use super::bytes::{sentencepiece_byte, ByteLevelAlphabet};
use super::special::{SpecialKind, SpecialTokens};
use super::{
    build_token_bytes, end_of_generation_ids, push_sentencepiece_text, token_type, Encoder, Inner,
    Tokenizer, TokenizerError,
};
use std::path::Path;
use std::sync::Arc;
use tokenizers::{DecoderWrapper, PreTokenizerWrapper};

/// End-of-sequence token texts, most specific first: chat formats' turn
/// ends before the base models' document end.
const EOS_TEXTS: [&str; 7] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<end_of_turn>",
    "<|end|>",
    "</s>",
    "<|endoftext|>",
    "<|end_of_text|>",
];

/// Loads `path`; see the module documentation.
pub(crate) fn from_json_file(path: &Path) -> Result<Tokenizer, TokenizerError> {
    let file_error = |message: String| TokenizerError::File {
        path: path.to_owned(),
        message,
    };
    let mut pipeline =
        tokenizers::Tokenizer::from_file(path).map_err(|e| file_error(e.to_string()))?;
    // Special tokens are matched by our own splitter; the pipeline must treat
    // their text as text.
    pipeline.set_encode_special_tokens(true);

    let vocab_size = pipeline.get_vocab_size(true);
    if vocab_size == 0 {
        return Err(TokenizerError::EmptyVocabulary);
    }
    let added = pipeline.get_added_tokens_decoder();
    let byte_level = uses_byte_level(&pipeline);
    let mut tokens = Vec::with_capacity(vocab_size);
    let mut types = Vec::with_capacity(vocab_size);
    for id in 0..vocab_size as u32 {
        let (text, ty) = match added.get(&id) {
            Some(token) if token.special => (token.content.clone(), token_type::CONTROL),
            Some(token) => (token.content.clone(), token_type::USER_DEFINED),
            None => {
                let text = pipeline.id_to_token(id).unwrap_or_default();
                let ty = if !byte_level && sentencepiece_byte(&text).is_some() {
                    token_type::BYTE
                } else if text.is_empty() {
                    token_type::UNUSED
                } else {
                    token_type::NORMAL
                };
                (text, ty)
            }
        };
        tokens.push(text);
        types.push(ty);
    }

    let token_bytes = if byte_level {
        let alphabet = ByteLevelAlphabet::new();
        build_token_bytes(&tokens, &types, |text, out| alphabet.decode(text, out))
    } else {
        build_token_bytes(&tokens, &types, push_sentencepiece_text)
    };
    let specials = SpecialTokens::new(added.iter().map(|(&id, token)| {
        let kind = if token.special {
            SpecialKind::Control
        } else {
            SpecialKind::UserDefined
        };
        (token.content.clone(), id, kind)
    }));

    // A post-processor that puts a special token in front of an empty text
    // is a BOS rule ("<s> $A").
    let with_specials = pipeline
        .encode_fast("", true)
        .map_err(|e| file_error(format!("encoding an empty text failed: {e}")))?;
    let leading = with_specials
        .get_ids()
        .first()
        .copied()
        .filter(|id| added.get(id).is_some_and(|t| t.special));
    let bos = leading.or_else(|| {
        ["<s>", "<|begin_of_text|>", "<bos>"]
            .iter()
            .find_map(|t| pipeline.token_to_id(t))
    });
    let eos = EOS_TEXTS.iter().find_map(|t| pipeline.token_to_id(t));
    let end_of_generation = end_of_generation_ids(&tokens, [eos, None]);
    let strip_first_space = !byte_level && strips_leading_space(pipeline.get_decoder());

    Ok(Tokenizer {
        inner: Arc::new(Inner {
            encoder: Encoder::Pipeline(Box::new(pipeline)),
            specials,
            token_bytes,
            vocab_size,
            bos,
            eos,
            add_bos: leading.is_some(),
            strip_first_space,
            end_of_generation,
        }),
    })
}

/// Whether tokens are written in GPT-2's byte-level alphabet.
fn uses_byte_level(pipeline: &tokenizers::Tokenizer) -> bool {
    let decoder = match pipeline.get_decoder() {
        Some(DecoderWrapper::ByteLevel(_)) => true,
        Some(DecoderWrapper::Sequence(seq)) => seq
            .get_decoders()
            .iter()
            .any(|d| matches!(d, DecoderWrapper::ByteLevel(_))),
        _ => false,
    };
    decoder
        || matches!(
            pipeline.get_pre_tokenizer(),
            Some(PreTokenizerWrapper::ByteLevel(_))
        )
}

/// SentencePiece-style decoders strip the space prefix the normalizer added.
fn strips_leading_space(decoder: Option<&DecoderWrapper>) -> bool {
    match decoder {
        Some(DecoderWrapper::Strip(strip)) => strip.content == ' ' && strip.start > 0,
        Some(DecoderWrapper::Metaspace(_)) => true,
        Some(DecoderWrapper::Sequence(seq)) => seq
            .get_decoders()
            .iter()
            .any(|d| strips_leading_space(Some(d))),
        _ => false,
    }
}
