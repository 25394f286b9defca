//! A transformer's shape and conventions, read from GGUF metadata.
//!
//! Architectures differ by configuration, not by copies of the forward pass:
//! qwen2 has Q/K/V biases, qwen3 normalizes Q and K per head, llama rotates
//! adjacent pairs instead of halves. Everything a forward pass needs to know
//! about those differences lives in [`ModelConfig`].

use crate::cpu::ops::RopeStyle;
use crate::model::gguf::{Gguf, GgufError};

/// The model families this engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// Qwen2 and Qwen2.5 (biases on Q/K/V).
    Qwen2,
    /// Qwen3 dense models (RMSNorm on Q and K per head, no biases).
    Qwen3,
    /// Llama 2/3 and the many models that share its layout.
    Llama,
}

impl Architecture {
    /// Every architecture name hearth accepts in `general.architecture`.
    pub const SUPPORTED: &'static [&'static str] = &["qwen2", "qwen3", "llama"];

    /// Maps a GGUF `general.architecture` value to an architecture.
    pub fn from_gguf_name(name: &str) -> Option<Architecture> {
        match name {
            "qwen2" => Some(Architecture::Qwen2),
            "qwen3" => Some(Architecture::Qwen3),
            "llama" => Some(Architecture::Llama),
            _ => None,
        }
    }
}

/// The shape and conventions of a decoder-only transformer.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// The family, which decides the conventions below.
    pub arch: Architecture,
    /// `general.name`, if the file has one.
    pub name: Option<String>,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Width of the residual stream.
    pub n_embd: usize,
    /// Hidden width of the feed-forward network.
    pub n_ff: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (fewer than query heads under grouped-query attention).
    pub n_kv_heads: usize,
    /// Width of one attention head.
    pub head_dim: usize,
    /// The context length the model was trained for.
    pub context_length: usize,
    /// Vocabulary size (rows of the embedding matrix).
    pub vocab_size: usize,
    /// RoPE frequency base.
    pub rope_base: f32,
    /// How RoPE pairs dimensions.
    pub rope_style: RopeStyle,
    /// Epsilon of every RMSNorm.
    pub rms_eps: f32,
    /// Q, K and V projections carry biases.
    pub qkv_bias: bool,
    /// Q and K are RMS-normalized per head before RoPE.
    pub qk_norm: bool,
    /// The output head reuses the token embedding matrix.
    pub tied_embeddings: bool,
}

/// Why a GGUF file cannot be run as a transformer.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Metadata is missing or has the wrong type.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// `general.architecture` names a family this engine does not run.
    #[error("{path}: architecture '{arch}' is not supported (supported: {supported})")]
    UnsupportedArchitecture {
        /// The model file.
        path: String,
        /// The architecture the file declares.
        arch: String,
        /// The supported names, comma separated.
        supported: String,
    },
    /// Shapes in the metadata contradict each other or the tensors.
    #[error("{path}: {problem}")]
    Inconsistent {
        /// The model file.
        path: String,
        /// What does not fit.
        problem: String,
    },
}

impl ModelConfig {
    /// Reads the configuration of the model in `g`, checking that the
    /// metadata and the tensor shapes agree.
    pub fn from_gguf(g: &Gguf) -> Result<ModelConfig, ConfigError> {
        let path = g.path().display().to_string();
        let arch_name = g.get_str("general.architecture")?;
        let arch = Architecture::from_gguf_name(arch_name).ok_or_else(|| {
            ConfigError::UnsupportedArchitecture {
                path: path.clone(),
                arch: arch_name.to_string(),
                supported: Architecture::SUPPORTED.join(", "),
            }
        })?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let usize_of = |k: &str| -> Result<usize, ConfigError> {
            let v = g.get_u64(&key(k))?;
            usize::try_from(v).map_err(|_| ConfigError::Inconsistent {
                path: path.clone(),
                problem: format!("{} = {v} does not fit in memory", key(k)),
            })
        };
        let n_layers = usize_of("block_count")?;
        let n_embd = usize_of("embedding_length")?;
        let n_ff = usize_of("feed_forward_length")?;
        let n_heads = usize_of("attention.head_count")?;
        let n_kv_heads = if g.get(&key("attention.head_count_kv")).is_some() {
            usize_of("attention.head_count_kv")?
        } else {
            n_heads
        };
        let context_length = usize_of("context_length")?;
        let rms_eps = g.get_f32(&key("attention.layer_norm_rms_epsilon"))?;
        let rope_base = if g.get(&key("rope.freq_base")).is_some() {
            g.get_f32(&key("rope.freq_base"))?
        } else {
            10_000.0
        };
        let inconsistent = |problem: String| ConfigError::Inconsistent {
            path: path.clone(),
            problem,
        };
        if n_heads == 0 || n_kv_heads == 0 || n_heads % n_kv_heads != 0 {
            return Err(inconsistent(format!(
                "{n_heads} query heads cannot be grouped over {n_kv_heads} key/value heads"
            )));
        }
        let head_dim = if g.get(&key("attention.key_length")).is_some() {
            usize_of("attention.key_length")?
        } else {
            n_embd / n_heads
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(inconsistent(format!(
                "head width {head_dim} must be even and non-zero"
            )));
        }

        let embd = g.tensor("token_embd.weight")?;
        if embd.dims.len() != 2 || embd.dims[0] as usize != n_embd {
            return Err(inconsistent(format!(
                "token_embd.weight has shape {:?}, expected [{n_embd}, vocab]",
                embd.dims
            )));
        }
        let vocab_size = embd.dims[1] as usize;
        let has = |name: &str| g.tensor(name).is_ok();
        let config = ModelConfig {
            arch,
            name: g.get_str("general.name").ok().map(str::to_string),
            n_layers,
            n_embd,
            n_ff,
            n_heads,
            n_kv_heads,
            head_dim,
            context_length,
            vocab_size,
            rope_base,
            rope_style: match arch {
                Architecture::Qwen2 | Architecture::Qwen3 => RopeStyle::Neox,
                Architecture::Llama => RopeStyle::Adjacent,
            },
            rms_eps,
            qkv_bias: has("blk.0.attn_q.bias"),
            qk_norm: has("blk.0.attn_q_norm.weight"),
            tied_embeddings: !has("output.weight"),
        };
        Ok(config)
    }

    /// Width of all query heads together.
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    /// Width of all key (or value) heads together.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}
