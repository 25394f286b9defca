//! Teacher-forced evaluation: perplexity over a token stream, scored as
//! llama.cpp's perplexity tool scores it.

use crate::kv::KvCache;
use crate::model::load::Model;
use crate::model::transformer::{ForwardError, LogitsFor};

/// The result of a perplexity run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Perplexity {
    /// exp(mean negative log-likelihood) over the scored tokens.
    pub perplexity: f64,
    /// Tokens scored.
    pub tokens: usize,
    /// Windows evaluated.
    pub chunks: usize,
    /// Window length in tokens.
    pub ctx: usize,
}

/// Perplexity could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum PerplexityError {
    /// The text is shorter than one window.
    #[error("the text has {tokens} tokens; at least one window of {ctx} (2 x --ctx) is needed")]
    TooShort {
        /// Tokens in the text.
        tokens: usize,
        /// The window length.
        ctx: usize,
    },
    /// The window is too small to score anything.
    #[error("a window of {0} tokens is too small: at least 4 are needed")]
    WindowTooSmall(usize),
    /// The forward pass failed.
    #[error(transparent)]
    Forward(#[from] ForwardError),
}

/// Splits `tokens` into consecutive windows of `ctx` tokens (the remainder is
/// dropped), evaluates each from an empty cache, and scores the prediction of
/// every token in the second half of each window. When the model adds a BOS
/// token, each window starts with it, as in llama.cpp.
///
/// `on_chunk(done, total, running_ppl)` reports progress after each window.
pub fn perplexity(
    model: &Model,
    tokens: &[u32],
    ctx: usize,
    on_chunk: &mut dyn FnMut(usize, usize, f64),
) -> Result<Perplexity, PerplexityError> {
    if ctx < 4 {
        return Err(PerplexityError::WindowTooSmall(ctx));
    }
    let n_chunks = tokens.len() / ctx;
    if n_chunks == 0 {
        return Err(PerplexityError::TooShort {
            tokens: tokens.len(),
            ctx,
        });
    }
    let vocab = model.config().vocab_size;
    let bos = model
        .tokenizer()
        .add_bos()
        .then(|| model.tokenizer().bos())
        .flatten();
    let first = ctx / 2;
    let mut nll = 0.0f64;
    let mut count = 0usize;
    for chunk in 0..n_chunks {
        let mut window = tokens[chunk * ctx..(chunk + 1) * ctx].to_vec();
        if let Some(b) = bos {
            window[0] = b;
        }
        let mut kv = KvCache::new(model.transformer().kv_shape(), ctx);
        let logits = model
            .transformer()
            .forward(&window, &mut kv, LogitsFor::From(first))?;
        for j in first..ctx - 1 {
            let row = &logits[(j - first) * vocab..(j - first + 1) * vocab];
            nll -= log_softmax_at(row, window[j + 1] as usize);
            count += 1;
        }
        on_chunk(chunk + 1, n_chunks, (nll / count as f64).exp());
    }
    Ok(Perplexity {
        perplexity: (nll / count as f64).exp(),
        tokens: count,
        chunks: n_chunks,
        ctx,
    })
}

/// `log(softmax(logits)[index])`, computed in f64.
pub fn log_softmax_at(logits: &[f32], index: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits
        .iter()
        .map(|&l| (f64::from(l) - f64::from(max)).exp())
        .sum();
    f64::from(logits[index]) - f64::from(max) - sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_of_uniform_is_log_n() {
        let l = vec![0.5f32; 8];
        assert!((log_softmax_at(&l, 3) + (8f64).ln()).abs() < 1e-12);
    }
}
