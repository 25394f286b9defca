//! Pre-tokenizer regexes by GGUF `tokenizer.ggml.pre` name.
//!
//! A GGUF file names its pre-tokenizer instead of storing it; the regexes are
//! the ones llama.cpp (src/llama-vocab.cpp) runs for each name. Several names
//! have more than one regex: each splits the pieces the previous one left,
//! keeping matches and the text between them as separate pieces. llama.cpp
//! rewrites `(?i:'s|...)` as explicit case classes; we use its rewritten form,
//! since llama.cpp is the reference these tokenizers are checked against.

/// How a BPE vocabulary splits text before merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreTokenizerConfig {
    /// Regexes applied one after another (Oniguruma syntax).
    pub regexes: Vec<&'static str>,
    /// Use a whole pre-token as-is when it is in the vocabulary, without merging.
    pub ignore_merges: bool,
}

/// Why a pre-tokenizer name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tokenizer.ggml.pre = {0:?} needs a hand-written splitter that hearth does not implement \
     (supported: qwen2, llama-bpe, gpt-2, deepseek, starcoder, tekken, gpt-4o and their aliases)"
)]
pub struct UnsupportedPreTokenizer(pub String);

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const SEED_CODER: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+";
const BAILINGMOE: &str = r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const PORO: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";
const DEEPSEEK_CJK: &str = "[一-龥ࠀ-一가-퟿]+";
const DEEPSEEK3_MAIN: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;

/// The pre-tokenizer llama.cpp uses for a GGUF `tokenizer.ggml.pre` name.
/// Unknown names get llama.cpp's "default" splitter, as llama.cpp does.
pub(crate) fn pre_tokenizer_for(
    pre: Option<&str>,
) -> Result<PreTokenizerConfig, UnsupportedPreTokenizer> {
    let name = pre.unwrap_or("default");
    let (regexes, ignore_merges): (Vec<&'static str>, bool) = match name {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" => (vec![LLAMA3], true),
        "dbrx" | "smaug-bpe" | "glm4" | "chatglm-bpe" => (vec![LLAMA3], false),
        "deepseek-coder" => (
            vec!["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", DEEPSEEK_CJK, r"\p{N}"],
            false,
        ),
        "deepseek-v3" | "hunyuan-dense" => (
            vec![r"\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", DEEPSEEK3_MAIN],
            false,
        ),
        "falcon" => (
            vec![r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"],
            false,
        ),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b" => {
            (vec![r"\p{N}", GPT2], false)
        }
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
        | "a.x-4.0" | "mellum" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe" | "exaone4"
        | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" => (vec![GPT2], false),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "megrez" | "stablelm2" | "hunyuan" | "grok-2" => {
            (vec![QWEN2], false)
        }
        "qwen35" => (vec![QWEN35], false),
        "poro-chat" | "bloom" | "gpt3-finnish" => (vec![PORO], false),
        "viking" => (vec![PORO, r"\p{N}"], false),
        "tekken" => (vec![TEKKEN], true),
        "gpt-4o" | "llama4" | "minimax-m2" => (vec![GPT4O], false),
        "seed-coder" => (vec![SEED_CODER], false),
        "bailingmoe" | "bailingmoe2" | "llada-moe" => (vec![BAILINGMOE], false),
        // deepseek-llm's letter class lists Greek code points that Unicode
        // normalization silently changes, so it cannot be copied faithfully;
        // the others need llama.cpp's hand-written splitters.
        "deepseek-llm" | "kimi-k2" | "afmoe" | "superbpe" | "chameleon" => {
            return Err(UnsupportedPreTokenizer(name.to_owned()))
        }
        _ => (
            vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
            false,
        ),
    };
    Ok(PreTokenizerConfig {
        regexes,
        ignore_merges,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
    use tokenizers::SplitDelimiterBehavior;

    #[test]
    fn every_supported_regex_compiles_in_oniguruma() {
        let names = [
            "default",
            "llama-bpe",
            "dbrx",
            "deepseek-coder",
            "deepseek-v3",
            "falcon",
            "starcoder",
            "gpt-2",
            "qwen2",
            "qwen35",
            "poro-chat",
            "viking",
            "tekken",
            "gpt-4o",
            "seed-coder",
            "bailingmoe",
        ];
        for name in names {
            for regex in pre_tokenizer_for(Some(name)).unwrap().regexes {
                let pattern = SplitPattern::Regex(regex.to_owned());
                Split::new(pattern, SplitDelimiterBehavior::Isolated, false)
                    .unwrap_or_else(|e| panic!("{name}: {regex}: {e}"));
            }
        }
    }

    #[test]
    fn names_map_like_llama_cpp() {
        assert_eq!(
            pre_tokenizer_for(Some("qwen2")).unwrap().regexes,
            vec![QWEN2]
        );
        assert!(pre_tokenizer_for(Some("llama-bpe")).unwrap().ignore_merges);
        assert_eq!(pre_tokenizer_for(None).unwrap().regexes.len(), 4);
        assert!(pre_tokenizer_for(Some("kimi-k2")).is_err());
        assert!(pre_tokenizer_for(Some("deepseek-llm")).is_err());
    }
}
