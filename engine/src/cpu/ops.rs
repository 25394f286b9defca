//! The element-wise and per-row operations of a transformer layer.
//!
//! Each follows ggml's arithmetic where the order of operations changes the
//! result (RMSNorm sums in f64; RoPE angles advance by repeated multiplication
//! in f32), so that our logits stay within rounding of llama.cpp's.

use rayon::prelude::*;

/// How rotary position embeddings pair up the dimensions of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Dimension `i` pairs with `i + head_dim/2` (GPT-NeoX; Qwen).
    Neox,
    /// Dimension `2i` pairs with `2i + 1` (the original; llama.cpp's llama
    /// conversion permutes Q/K so this applies).
    Adjacent,
}

/// Elements below which an element-wise operation stays on one thread: a
/// decode step's vectors take microseconds, less than a fork and join,
/// while a prefill chunk's (256 tokens x 8960) left the other core idle.
const PARALLEL_MIN: usize = 1 << 15;

/// Elements per parallel task of an element-wise operation.
const PARALLEL_CHUNK: usize = 1 << 13;

/// `x = x / rms(x) * weight` over each row of `width` values; rows in
/// parallel when there are many (each row's arithmetic is the same either way).
pub fn rms_norm(x: &mut [f32], weight: &[f32], eps: f32) {
    let width = weight.len();
    if x.len() >= PARALLEL_MIN {
        x.par_chunks_exact_mut(width)
            .for_each(|row| rms_norm_row(row, weight, eps));
        return;
    }
    for row in x.chunks_exact_mut(width) {
        rms_norm_row(row, weight, eps);
    }
}

/// RMSNorm of one row, in place.
pub fn rms_norm_row(row: &mut [f32], weight: &[f32], eps: f32) {
    let sum: f64 = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let mean = (sum / row.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for (v, w) in row.iter_mut().zip(weight) {
        *v = *v * scale * w;
    }
}

/// `out = rms_norm(x) * weight`, leaving `x` untouched.
pub fn rms_norm_into(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    out.copy_from_slice(x);
    rms_norm(out, weight, eps);
}

/// Cosines and sines of the rotary angles for one position.
#[derive(Clone, Debug)]
pub struct RopeAngles {
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeAngles {
    /// The angles at `pos` for a head of `head_dim` with frequency `base`;
    /// `freq_factors` (llama 3's long-context scaling) divide each frequency.
    pub fn new(pos: usize, head_dim: usize, base: f32, freq_factors: Option<&[f32]>) -> RopeAngles {
        let half = head_dim / 2;
        let theta_scale = base.powf(-2.0 / head_dim as f32);
        let mut theta = pos as f32;
        let mut cos = Vec::with_capacity(half);
        let mut sin = Vec::with_capacity(half);
        for i in 0..half {
            let factor = freq_factors.map_or(1.0, |f| f[i]);
            let t = theta / factor;
            cos.push(t.cos());
            sin.push(t.sin());
            theta *= theta_scale;
        }
        RopeAngles { cos, sin }
    }

    /// Rotates every head of `x` (heads of `cos.len() * 2` values) in place.
    pub fn apply(&self, x: &mut [f32], style: RopeStyle) {
        let half = self.cos.len();
        for head in x.chunks_exact_mut(half * 2) {
            for i in 0..half {
                let (a, b) = match style {
                    RopeStyle::Neox => (i, i + half),
                    RopeStyle::Adjacent => (2 * i, 2 * i + 1),
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * self.cos[i] - x1 * self.sin[i];
                head[b] = x0 * self.sin[i] + x1 * self.cos[i];
            }
        }
    }
}

/// `gate = silu(gate) * up`, element-wise (SwiGLU); in parallel pieces
/// when long. An element's result does not depend on the pieces.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    in_pieces(gate, up, "swiglu", swiglu_piece);
}

fn swiglu_piece(gate: &mut [f32], up: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::quant::has_avx2() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above), the
        // kernel's only precondition.
        unsafe { super::vector_math::swiglu(gate, up) };
        return;
    }
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// `x += y`, element-wise; in parallel pieces when long.
pub fn add_assign(x: &mut [f32], y: &[f32]) {
    in_pieces(x, y, "add_assign", |x, y| {
        for (a, b) in x.iter_mut().zip(y) {
            *a += b;
        }
    });
}

/// `op(x, y)` over matching pieces of two equally long slices, in parallel
/// when they are long (`what` names the operation in the length check).
fn in_pieces(x: &mut [f32], y: &[f32], what: &str, op: impl Fn(&mut [f32], &[f32]) + Sync) {
    assert_eq!(x.len(), y.len(), "{what}: the two inputs' lengths");
    if x.len() >= PARALLEL_MIN {
        x.par_chunks_mut(PARALLEL_CHUNK)
            .zip(y.par_chunks(PARALLEL_CHUNK))
            .for_each(|(a, b)| op(a, b));
    } else {
        op(x, y);
    }
}

/// Softmax of `x` in place, stable against large values.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Dot product of two f32 slices.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators let the compiler vectorize the loop.
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    // A tree over the lanes, which SIMD versions compute with horizontal
    // adds in the same order.
    let mut sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for i in chunks * 8..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

/// `acc += w * v`, element-wise.
pub fn axpy(acc: &mut [f32], w: f32, v: &[f32]) {
    for (a, x) in acc.iter_mut().zip(v) {
        *a += w * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_of_constant_row_is_weight() {
        let mut x = vec![3.0f32; 8];
        let w: Vec<f32> = (0..8).map(|i| i as f32).collect();
        rms_norm(&mut x, &w, 0.0);
        for (a, b) in x.iter().zip(&w) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn rope_at_position_zero_is_identity_and_preserves_norm_elsewhere() {
        let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
        for style in [RopeStyle::Neox, RopeStyle::Adjacent] {
            let mut y = x.clone();
            RopeAngles::new(0, 8, 10000.0, None).apply(&mut y, style);
            assert_eq!(x, y);
            RopeAngles::new(123, 8, 10000.0, None).apply(&mut y, style);
            let n0: f32 = x.iter().map(|v| v * v).sum();
            let n1: f32 = y.iter().map(|v| v * v).sum();
            assert!((n0 - n1).abs() < 1e-4);
            assert_ne!(x, y);
        }
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x = vec![1000.0, 1001.0, 999.0];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[1] > x[0] && x[0] > x[2]);
    }

    #[test]
    fn dot_matches_naive_at_every_tail() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.25).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-3);
        }
    }
}
