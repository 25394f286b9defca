//! The weights of a transformer, bound to the tensors of a GGUF file.
//!
//! Quantized matrices stay in the memory map (zero-copy); the small f32
//! vectors (norms, biases) are copied out once.

use std::sync::Arc;

use crate::cpu::matmul::{QMatrix, ShapeError, TensorSource, WeightData};
use crate::cpu::quant;
use crate::model::config::ModelConfig;
use crate::model::gguf::types::GgmlType;
use crate::model::gguf::{Gguf, GgufError, TensorInfo};
use crate::model::linear::Linear;

/// The weights of one transformer block.
pub struct LayerWeights {
    /// RMSNorm before attention.
    pub attn_norm: Vec<f32>,
    /// Query projection.
    pub wq: Linear,
    /// Key projection.
    pub wk: Linear,
    /// Value projection.
    pub wv: Linear,
    /// Attention output projection.
    pub wo: Linear,
    /// Per-head RMSNorm of queries (qwen3).
    pub q_norm: Option<Vec<f32>>,
    /// Per-head RMSNorm of keys (qwen3).
    pub k_norm: Option<Vec<f32>>,
    /// RMSNorm before the feed-forward network.
    pub ffn_norm: Vec<f32>,
    /// SwiGLU gate projection.
    pub w_gate: Linear,
    /// SwiGLU up projection.
    pub w_up: Linear,
    /// Feed-forward down projection.
    pub w_down: Linear,
}

/// Every weight of a decoder-only transformer.
pub struct Weights {
    /// Token embeddings, one row per vocabulary entry.
    pub token_embd: QMatrix,
    /// The blocks, in order.
    pub layers: Vec<LayerWeights>,
    /// Final RMSNorm.
    pub output_norm: Vec<f32>,
    /// The output head (the embeddings again when tied).
    pub output: QMatrix,
    /// llama 3's RoPE frequency factors, when present.
    pub rope_freqs: Option<Vec<f32>>,
}

/// A tensor is missing or has the wrong shape.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file lacks a tensor or metadata.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A tensor's shape is not what the configuration implies.
    #[error("{path}: tensor {name} has shape {dims:?}, expected {expected:?}")]
    Shape {
        /// The model file.
        path: String,
        /// The tensor.
        name: String,
        /// Its shape in the file (ggml order).
        dims: Vec<u64>,
        /// The shape the configuration implies.
        expected: Vec<u64>,
    },
    /// The tensor's data does not fit its type.
    #[error("{path}: tensor {name}: {source}")]
    Data {
        /// The model file.
        path: String,
        /// The tensor.
        name: String,
        /// What is wrong.
        source: ShapeError,
    },
}

/// The reader's tensors are what mapped weight matrices read.
impl TensorSource for Gguf {
    fn tensor_data(&self, index: usize) -> &[u8] {
        self.tensor_bytes(&self.tensors()[index])
    }

    fn release_pages(&self, index: usize) {
        self.release_tensor_pages(&self.tensors()[index]);
    }
}

struct Loader<'a> {
    file: &'a Arc<Gguf>,
    path: String,
}

impl Loader<'_> {
    /// The tensor named `name`, with its index in the file, shaped `expected`.
    fn shaped(&self, name: &str, expected: &[u64]) -> Result<(usize, &TensorInfo), WeightsError> {
        let tensors = self.file.tensors();
        let index = tensors.iter().position(|t| t.name == name).ok_or_else(|| {
            WeightsError::Gguf(GgufError::MissingTensor {
                path: self.file.path().to_path_buf(),
                name: name.to_string(),
            })
        })?;
        let info = &tensors[index];
        if info.dims != expected {
            return Err(WeightsError::Shape {
                path: self.path.clone(),
                name: name.to_string(),
                dims: info.dims.clone(),
                expected: expected.to_vec(),
            });
        }
        Ok((index, info))
    }

    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<QMatrix, WeightsError> {
        self.matrix_for(name, rows, cols, QMatrix::new)
    }

    /// A matrix built by `build` ([`QMatrix::new`] or [`QMatrix::for_row_lookups`]).
    fn matrix_for(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
        build: fn(GgmlType, usize, usize, WeightData) -> Result<QMatrix, ShapeError>,
    ) -> Result<QMatrix, WeightsError> {
        let (tensor, info) = self.shaped(name, &[cols as u64, rows as u64])?;
        let data = WeightData::Mapped {
            file: Arc::clone(self.file) as Arc<dyn TensorSource>,
            tensor,
        };
        build(info.ty, rows, cols, data).map_err(|source| WeightsError::Data {
            path: self.path.clone(),
            name: name.to_string(),
            source,
        })
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, WeightsError> {
        let (_, info) = self.shaped(name, &[len as u64])?;
        let mut out = vec![0.0; len];
        quant::dequantize(info.ty, self.file.tensor_bytes(info), &mut out).map_err(|e| {
            WeightsError::Data {
                path: self.path.clone(),
                name: name.to_string(),
                source: ShapeError {
                    rows: 1,
                    cols: len,
                    ty: info.ty.name(),
                    problem: e.to_string(),
                },
            }
        })?;
        Ok(out)
    }

    fn optional_vector(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>, WeightsError> {
        if self.file.tensor(name).is_err() {
            return Ok(None);
        }
        self.vector(name, len).map(Some)
    }

    fn linear(
        &self,
        prefix: &str,
        rows: usize,
        cols: usize,
        bias: bool,
    ) -> Result<Linear, WeightsError> {
        Ok(Linear {
            weight: self.matrix(&format!("{prefix}.weight"), rows, cols)?,
            bias: if bias {
                Some(self.vector(&format!("{prefix}.bias"), rows)?)
            } else {
                None
            },
        })
    }
}

impl Weights {
    /// Binds the tensors of `file` to the roles `config` implies, checking
    /// every shape.
    pub fn load(file: &Arc<Gguf>, config: &ModelConfig) -> Result<Weights, WeightsError> {
        let l = Loader {
            file,
            path: file.path().display().to_string(),
        };
        let (d, ff) = (config.n_embd, config.n_ff);
        let (qd, kvd) = (config.q_dim(), config.kv_dim());
        let mut layers = Vec::with_capacity(config.n_layers);
        for i in 0..config.n_layers {
            let p = |s: &str| format!("blk.{i}.{s}");
            layers.push(LayerWeights {
                attn_norm: l.vector(&p("attn_norm.weight"), d)?,
                wq: l.linear(&p("attn_q"), qd, d, config.qkv_bias)?,
                wk: l.linear(&p("attn_k"), kvd, d, config.qkv_bias)?,
                wv: l.linear(&p("attn_v"), kvd, d, config.qkv_bias)?,
                wo: l.linear(&p("attn_output"), d, qd, false)?,
                q_norm: l.optional_vector(&p("attn_q_norm.weight"), config.head_dim)?,
                k_norm: l.optional_vector(&p("attn_k_norm.weight"), config.head_dim)?,
                ffn_norm: l.vector(&p("ffn_norm.weight"), d)?,
                w_gate: l.linear(&p("ffn_gate"), ff, d, false)?,
                w_up: l.linear(&p("ffn_up"), ff, d, false)?,
                w_down: l.linear(&p("ffn_down"), d, ff, false)?,
            });
        }
        // Tied, the embeddings are also the output head's products; otherwise they are only
        // looked up a row per token.
        let (token_embd, output) = if config.tied_embeddings {
            let both = l.matrix("token_embd.weight", config.vocab_size, d)?;
            (both.clone(), both)
        } else {
            (
                l.matrix_for(
                    "token_embd.weight",
                    config.vocab_size,
                    d,
                    QMatrix::for_row_lookups,
                )?,
                l.matrix("output.weight", config.vocab_size, d)?,
            )
        };
        Ok(Weights {
            token_embd,
            layers,
            output_norm: l.vector("output_norm.weight", d)?,
            output,
            rope_freqs: l.optional_vector("rope_freqs.weight", config.head_dim / 2)?,
        })
    }
}
