//! The one forward pass: a pure function of (weights, tokens, positions, KV).
//!
//! Every supported architecture runs through [`Transformer::forward`]; the
//! differences between them are flags of [`ModelConfig`].

use std::ops::Range;

use rayon::prelude::*;

use crate::cpu::attention::{AttentionKernels, KvRun};
use crate::cpu::ops::{self, RopeAngles};
use crate::kv::{ContextFull, KvCache, KvShape, KvType, BLOCK_TOKENS};
use crate::model::config::ModelConfig;
use crate::model::linear::Linear;
use crate::model::weights::Weights;

/// Tokens run through the layers together; bounds the activation buffers
/// (the feed-forward ones are `UBATCH * n_ff` floats) during long prefills.
const UBATCH: usize = 256;

/// Which positions of a forward pass need logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitsFor {
    /// Only the last token (generation).
    Last,
    /// Every token from this index of the batch on (scoring).
    From(usize),
}

/// A forward pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A token id outside the vocabulary.
    #[error("token id {token} is outside the vocabulary of {vocab} tokens")]
    TokenOutOfRange {
        /// The bad id.
        token: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// The sequence would outgrow its KV cache.
    #[error(transparent)]
    ContextFull(#[from] ContextFull),
    /// The batch scheduler could not run the pass (it stopped, or the pass panicked).
    #[error("the batch scheduler could not run this pass: {0}")]
    Scheduler(String),
    /// The KV cache was made for another model.
    #[error("the KV cache was made for another model shape ({cache:?}, model {model:?})")]
    WrongCache {
        /// The cache's shape.
        cache: KvShape,
        /// The model's shape.
        model: KvShape,
    },
}

/// One sequence's share of a batched forward pass ([`Transformer::forward_batch`]).
pub struct SequenceRows<'a> {
    /// Tokens to run, at the positions following those `kv` holds.
    pub tokens: &'a [u32],
    /// The sequence's cache, which the pass extends by `tokens.len()` positions.
    pub kv: &'a mut KvCache,
    /// Which of `tokens` need logits.
    pub logits: LogitsFor,
}

/// One token of a batched pass: which sequence it belongs to and where.
struct Row {
    token: u32,
    seq: usize,
    pos: usize,
    /// Whether its logits are wanted.
    scored: bool,
}

/// A decoder-only transformer ready to run.
pub struct Transformer {
    config: ModelConfig,
    weights: Weights,
}

/// Activation buffers of one micro-batch.
struct Buffers {
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    proj: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
}

impl Buffers {
    fn new(c: &ModelConfig, n: usize) -> Buffers {
        Buffers {
            x: vec![0.0; n * c.n_embd],
            h: vec![0.0; n * c.n_embd],
            q: vec![0.0; n * c.q_dim()],
            k: vec![0.0; n * c.kv_dim()],
            v: vec![0.0; n * c.kv_dim()],
            attn: vec![0.0; n * c.q_dim()],
            proj: vec![0.0; n * c.n_embd],
            gate: vec![0.0; n * c.n_ff],
            up: vec![0.0; n * c.n_ff],
        }
    }
}

impl Transformer {
    /// Pairs a configuration with weights loaded for it.
    pub fn new(config: ModelConfig, weights: Weights) -> Transformer {
        Transformer { config, weights }
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The weights.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// The shape of KV cache this model needs, stored as f16 (llama.cpp's
    /// default); [`KvShape::with_dtype`] picks another storage type.
    pub fn kv_shape(&self) -> KvShape {
        KvShape {
            n_layers: self.config.n_layers,
            n_kv_heads: self.config.n_kv_heads,
            head_dim: self.config.head_dim,
            dtype: KvType::default(),
        }
    }

    /// Runs `tokens` at the positions following those already in `kv`,
    /// appending their keys and values, and returns the logits of the
    /// positions `logits` selects, one row of `vocab_size` per position.
    pub fn forward(
        &self,
        tokens: &[u32],
        kv: &mut KvCache,
        logits: LogitsFor,
    ) -> Result<Vec<f32>, ForwardError> {
        let mut seqs = [SequenceRows { tokens, kv, logits }];
        let mut out = self.forward_batch(&mut seqs)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Checks that `tokens` can run after what `kv` holds: the cache fits the model, the
    /// ids are in the vocabulary and the positions fit the cache's limit.
    pub fn admit(&self, tokens: &[u32], kv: &KvCache) -> Result<(), ForwardError> {
        if !kv.shape().same_dims(&self.kv_shape()) {
            return Err(ForwardError::WrongCache {
                cache: kv.shape(),
                model: self.kv_shape(),
            });
        }
        let vocab = self.config.vocab_size;
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(ForwardError::TokenOutOfRange { token, vocab });
        }
        let needed = kv.len() + tokens.len();
        if needed > kv.limit() {
            return Err(ContextFull {
                needed,
                limit: kv.limit(),
            }
            .into());
        }
        Ok(())
    }

    /// Runs the rows of several sequences through the weights together, as
    /// [`Transformer::forward`] runs one: each weight is read once for all of
    /// them. Each sequence's keys and values go into its own cache, its rows
    /// attend only to its own positions, and its logits (the rows its
    /// `logits` selects) come back in the order of `seqs`. A row's
    /// arithmetic does not depend on the other rows of the pass, so every
    /// sequence's logits are bit for bit those of running it alone.
    pub fn forward_batch(
        &self,
        seqs: &mut [SequenceRows<'_>],
    ) -> Result<Vec<Vec<f32>>, ForwardError> {
        for seq in seqs.iter() {
            self.admit(seq.tokens, seq.kv)?;
        }
        let vocab = self.config.vocab_size;
        let mut rows = Vec::with_capacity(seqs.iter().map(|s| s.tokens.len()).sum());
        let mut outs = Vec::with_capacity(seqs.len());
        for (i, seq) in seqs.iter_mut().enumerate() {
            let start = seq.kv.len();
            seq.kv.grow(start + seq.tokens.len())?;
            let first_scored = match seq.logits {
                LogitsFor::Last => seq.tokens.len().saturating_sub(1),
                LogitsFor::From(from) => from.min(seq.tokens.len()),
            };
            rows.extend(seq.tokens.iter().enumerate().map(|(t, &token)| Row {
                token,
                seq: i,
                pos: start + t,
                scored: t >= first_scored,
            }));
            outs.push(Vec::with_capacity(
                (seq.tokens.len() - first_scored) * vocab,
            ));
        }
        let mut kvs: Vec<&mut KvCache> = seqs.iter_mut().map(|s| &mut *s.kv).collect();
        let mut bufs = Buffers::new(&self.config, rows.len().min(UBATCH));
        // The layers run on one of the pool's workers, which then does its
        // share of every parallel product itself. Called from outside the
        // pool, each of a token's ~200 parallel regions would otherwise hand
        // its work to the workers and put this thread to sleep until they
        // finish: a wake-up per region, and one thread more than cores
        // contending while it runs the serial steps in between.
        rayon::scope(|_| {
            for chunk in rows.chunks(UBATCH) {
                self.run_layers(chunk, &mut kvs, &mut bufs);
                self.head(
                    chunk,
                    &bufs.x[..chunk.len() * self.config.n_embd],
                    &mut outs,
                );
            }
        });
        Ok(outs)
    }

    fn run_layers(&self, rows: &[Row], kvs: &mut [&mut KvCache], b: &mut Buffers) {
        let c = &self.config;
        let n = rows.len();
        let (d, qd, kvd, ff) = (c.n_embd, c.q_dim(), c.kv_dim(), c.n_ff);
        let x = &mut b.x[..n * d];
        for (out, row) in x.chunks_exact_mut(d).zip(rows) {
            self.weights
                .token_embd
                .dequantize_row(row.token as usize, out);
        }
        let angles: Vec<RopeAngles> = rows
            .iter()
            .map(|row| {
                RopeAngles::new(
                    row.pos,
                    c.head_dim,
                    c.rope_base,
                    self.weights.rope_freqs.as_deref(),
                )
            })
            .collect();
        let (h, q, k, v) = (
            &mut b.h[..n * d],
            &mut b.q[..n * qd],
            &mut b.k[..n * kvd],
            &mut b.v[..n * kvd],
        );
        let (attn, proj) = (&mut b.attn[..n * qd], &mut b.proj[..n * d]);
        let (gate, up) = (&mut b.gate[..n * ff], &mut b.up[..n * ff]);
        for (li, layer) in self.weights.layers.iter().enumerate() {
            ops::rms_norm_into(x, &layer.attn_norm, c.rms_eps, h);
            Linear::forward_many(
                &mut [
                    (&layer.wq, &mut *q),
                    (&layer.wk, &mut *k),
                    (&layer.wv, &mut *v),
                ],
                h,
                n,
            );
            if let Some(w) = &layer.q_norm {
                ops::rms_norm(q, w, c.rms_eps);
            }
            if let Some(w) = &layer.k_norm {
                ops::rms_norm(k, w, c.rms_eps);
            }
            for (t, row) in rows.iter().enumerate() {
                angles[t].apply(&mut q[t * qd..(t + 1) * qd], c.rope_style);
                angles[t].apply(&mut k[t * kvd..(t + 1) * kvd], c.rope_style);
                kvs[row.seq].write(
                    li,
                    row.pos,
                    &k[t * kvd..(t + 1) * kvd],
                    &v[t * kvd..(t + 1) * kvd],
                );
            }
            let views: Vec<&KvCache> = kvs.iter().map(|kv| &**kv).collect();
            self.attention(li, q, rows, &views, attn);
            layer.wo.forward(attn, n, proj);
            ops::add_assign(x, proj);

            ops::rms_norm_into(x, &layer.ffn_norm, c.rms_eps, h);
            Linear::forward_many(
                &mut [(&layer.w_gate, &mut *gate), (&layer.w_up, &mut *up)],
                h,
                n,
            );
            ops::swiglu(gate, up);
            layer.w_down.forward(gate, n, proj);
            ops::add_assign(x, proj);
        }
    }

    /// Causal grouped-query attention of each row's query over its own
    /// sequence's cache up to its position, writing `rows.len() * q_dim`
    /// values into `out`.
    fn attention(&self, layer: usize, q: &[f32], rows: &[Row], kvs: &[&KvCache], out: &mut [f32]) {
        let c = &self.config;
        let hd = c.head_dim;
        let group = c.n_heads / c.n_kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let kernels = AttentionKernels::best();
        // One task per (token, KV head): the query heads sharing a KV head are
        // adjacent in `q` and `out`, and each block of keys and values is read
        // once for all of them instead of once per query head. Per head, the
        // arithmetic and its order are those of a head on its own, and do not
        // depend on how a prompt was split into calls (the prefix cache's
        // bit-exactness rests on that).
        out[..rows.len() * c.q_dim()]
            .par_chunks_mut(group * hd)
            .enumerate()
            .for_each(|(idx, o)| {
                let row = &rows[idx / c.n_kv_heads];
                let kv = kvs[row.seq];
                let kv_head = idx % c.n_kv_heads;
                let qs = &q[idx * group * hd..(idx + 1) * group * hd];
                let n_ctx = row.pos + 1;
                let n_blocks = n_ctx.div_ceil(BLOCK_TOKENS);
                let mut scores = vec![0.0f32; group * n_ctx];
                let blocks = HeadBlocks {
                    kv,
                    kernels,
                    layer,
                    kv_head,
                    n_ctx,
                };
                // Where the scalar kernels get f16 widened; left empty by
                // the others.
                let mut wide = Vec::new();
                for blk in 0..n_blocks {
                    let (at, keys) = blocks.run(blk, false, &mut wide);
                    kernels.scores(qs, hd, keys, scale, &mut scores[at.start..], n_ctx);
                }
                for head_scores in scores.chunks_exact_mut(n_ctx) {
                    kernels.softmax(head_scores);
                }
                o.fill(0.0);
                for blk in 0..n_blocks {
                    let (at, values) = blocks.run(blk, true, &mut wide);
                    kernels.accumulate(o, hd, &scores[at.start..], n_ctx, values);
                }
            });
    }

    /// Final norm and output head for the scored `rows` (whose hidden states
    /// are `x`), each row's logits appended to its sequence's `outs`.
    fn head(&self, rows: &[Row], x: &[f32], outs: &mut [Vec<f32>]) {
        let c = &self.config;
        let (d, vocab) = (c.n_embd, c.vocab_size);
        let scored: Vec<usize> = (0..rows.len()).filter(|&t| rows[t].scored).collect();
        if scored.is_empty() {
            return;
        }
        let mut picked = Vec::with_capacity(scored.len() * d);
        for &t in &scored {
            picked.extend_from_slice(&x[t * d..(t + 1) * d]);
        }
        let mut normed = vec![0.0; picked.len()];
        ops::rms_norm_into(&picked, &self.weights.output_norm, c.rms_eps, &mut normed);
        let mut logits = vec![0.0; scored.len() * vocab];
        self.weights
            .output
            .matmul(&normed, scored.len(), &mut logits);
        for (i, &t) in scored.iter().enumerate() {
            outs[rows[t].seq].extend_from_slice(&logits[i * vocab..(i + 1) * vocab]);
        }
    }
}

/// The blocks of one KV head in one layer, as attention over the first
/// `n_ctx` positions reads them.
struct HeadBlocks<'a> {
    kv: &'a KvCache,
    kernels: AttentionKernels,
    layer: usize,
    kv_head: usize,
    n_ctx: usize,
}

impl HeadBlocks<'_> {
    /// The positions block `blk` holds, and its keys (or values) in the form
    /// the kernels read, widened into `buf` where they need it, with the
    /// next run attention reads: the next block's, or after the last keys
    /// the first values. The kernels start loading that run while they
    /// work, since a sequence's blocks lie far apart and each run of this
    /// head's rows would otherwise begin cold.
    fn run<'b>(
        &'b self,
        blk: usize,
        value: bool,
        buf: &'b mut Vec<f32>,
    ) -> (Range<usize>, KvRun<'b>) {
        let held = |blk: usize| BLOCK_TOKENS.min(self.n_ctx - blk * BLOCK_TOKENS);
        let block = |blk: usize, value: bool| {
            let rows = self.kv.block_slice(blk, self.layer, value, self.kv_head);
            rows.prefix(held(blk) * self.kv.shape().head_dim)
        };
        let from = blk * BLOCK_TOKENS;
        let next = if from + held(blk) < self.n_ctx {
            Some(block(blk + 1, value))
        } else if !value {
            Some(block(0, true))
        } else {
            None
        };
        let stored = block(blk, value);
        let rows = self.kernels.prepare(stored, buf);
        (from..from + held(blk), KvRun { rows, next })
    }
}
