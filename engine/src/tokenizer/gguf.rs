//! Reading a [`TokenizerSpec`] from GGUF metadata (`tokenizer.ggml.*`).

use super::{TokenizerError, TokenizerSpec};
use crate::model::gguf::{Gguf, MetaValue};

/// The GGUF tokenizer keys (llama.cpp's `LLM_KV_TOKENIZER_*`).
mod key {
    pub const MODEL: &str = "tokenizer.ggml.model";
    pub const PRE: &str = "tokenizer.ggml.pre";
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    pub const MERGES: &str = "tokenizer.ggml.merges";
    pub const SCORES: &str = "tokenizer.ggml.scores";
    pub const BOS: &str = "tokenizer.ggml.bos_token_id";
    pub const EOS: &str = "tokenizer.ggml.eos_token_id";
    pub const EOT: &str = "tokenizer.ggml.eot_token_id";
    pub const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
}

/// Reads the tokenizer description. Where a flag is absent, llama.cpp's
/// default for the vocabulary kind applies: SentencePiece adds BOS and a space
/// prefix; byte-level BPE adds BOS only for the Llama 3 and Tekken families.
pub(crate) fn spec_from_gguf(g: &Gguf) -> Result<TokenizerSpec, TokenizerError> {
    let model = g.get_str(key::MODEL)?.to_owned();
    let pre = match g.get(key::PRE) {
        Some(value) => Some(expect_str(key::PRE, value)?.to_owned()),
        None => None,
    };
    let tokens = array(g, key::TOKENS, "a string", string)?
        .ok_or_else(|| TokenizerError::Metadata(format!("key {} is missing", key::TOKENS)))?;
    let token_types = array(g, key::TOKEN_TYPE, "an i32", |v| {
        v.as_i64().and_then(|t| i32::try_from(t).ok())
    })?
    .unwrap_or_default();
    let merges = array(g, key::MERGES, "a string", string)?.unwrap_or_default();
    let scores = array(g, key::SCORES, "a number", MetaValue::as_f32)?.unwrap_or_default();
    let sentencepiece = model == "llama";
    let bos_by_default = sentencepiece
        || matches!(
            pre.as_deref(),
            Some(
                "llama3"
                    | "llama-v3"
                    | "llama-bpe"
                    | "falcon3"
                    | "falcon-h1"
                    | "pixtral"
                    | "midm-2.0"
                    | "lfm2"
                    | "tekken"
            )
        );
    Ok(TokenizerSpec {
        model,
        pre,
        tokens,
        token_types,
        merges,
        scores,
        bos: token_id(g, key::BOS)?,
        eos: token_id(g, key::EOS)?,
        eot: token_id(g, key::EOT)?,
        add_bos: flag(g, key::ADD_BOS)?.unwrap_or(bos_by_default),
        add_space_prefix: flag(g, key::ADD_SPACE_PREFIX)?.unwrap_or(sentencepiece),
    })
}

fn expect_str<'a>(key: &str, value: &'a MetaValue) -> Result<&'a str, TokenizerError> {
    value.as_str().ok_or_else(|| {
        TokenizerError::Metadata(format!(
            "key {key} holds a {}, expected a string",
            value.type_name()
        ))
    })
}

fn elements<'a>(key: &str, value: &'a MetaValue) -> Result<&'a [MetaValue], TokenizerError> {
    value.as_array().ok_or_else(|| {
        TokenizerError::Metadata(format!(
            "key {key} holds a {}, expected an array",
            value.type_name()
        ))
    })
}

fn element_error(key: &str, index: usize, value: &MetaValue, expected: &str) -> TokenizerError {
    TokenizerError::Metadata(format!(
        "key {key}: element {index} is a {} ({value}), expected {expected}",
        value.type_name()
    ))
}

/// The elements of the array at `key`, each converted by `convert` (which
/// fails on what is not `expected`), or `None` if the key is absent.
fn array<T>(
    g: &Gguf,
    key: &str,
    expected: &str,
    convert: impl Fn(&MetaValue) -> Option<T>,
) -> Result<Option<Vec<T>>, TokenizerError> {
    let Some(value) = g.get(key) else {
        return Ok(None);
    };
    elements(key, value)?
        .iter()
        .enumerate()
        .map(|(i, v)| convert(v).ok_or_else(|| element_error(key, i, v, expected)))
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

fn string(value: &MetaValue) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn token_id(g: &Gguf, key: &str) -> Result<Option<u32>, TokenizerError> {
    let Some(value) = g.get(key) else {
        return Ok(None);
    };
    value
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .map(Some)
        .ok_or_else(|| {
            TokenizerError::Metadata(format!(
                "key {key} holds {value}, expected a token id (u32)"
            ))
        })
}

fn flag(g: &Gguf, key: &str) -> Result<Option<bool>, TokenizerError> {
    match g.get(key) {
        Some(value) => value.as_bool().map(Some).ok_or_else(|| {
            TokenizerError::Metadata(format!(
                "key {key} holds a {}, expected a bool",
                value.type_name()
            ))
        }),
        None => Ok(None),
    }
}
