//! Activations quantized to 8 bits, in llama.cpp's `Q8_K` and `Q8_0` layouts:
//! the right-hand side of the integer dot products against quantized weights.

use crate::model::gguf::types::{QK32, QK_K};

/// 256 activations quantized to 8 bits (ggml's `block_q8_K`): value = `d * qs[i]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Q8KBlock {
    /// The scale.
    pub d: f32,
    /// The quantized values.
    pub qs: [i8; QK_K],
    /// Sums of each run of 16 consecutive `qs`, which the K-quant dot
    /// products use to apply per-sub-block mins and offsets in one multiply.
    pub bsums: [i16; QK_K / 16],
}

impl Default for Q8KBlock {
    fn default() -> Self {
        Q8KBlock {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16],
        }
    }
}

/// 32 activations quantized to 8 bits (ggml's `block_q8_0`): value = `d * qs[i]`.
#[allow(non_camel_case_types)] // Named after the ggml layout it mirrors.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Q8_0Block {
    /// The scale, as f16 like the weights' scale.
    pub d: half::f16,
    /// The quantized values.
    pub qs: [i8; QK32],
}

/// Rounds to the nearest integer, ties to even, as ggml's `nearest_int`
/// does (adding 1.5 * 2^23 puts the integer in the low mantissa bits).
/// Valid for |x| < 2^22, which holds for scaled activations (|x| <= 127.5).
#[inline]
pub(crate) fn nearest_int(x: f32) -> i32 {
    let shifted = (x + 12_582_912.0).to_bits() as i32;
    (shifted & 0x007F_FFFF) - 0x0040_0000
}

/// Quantizes `x` into `out`, exactly as ggml's `quantize_row_q8_K_ref`:
/// the scale maps the element of largest magnitude (the first one, on ties)
/// to -127, and values are rounded to nearest, ties to even.
///
/// # Panics
/// If `x.len()` is not `256 * out.len()`.
pub fn quantize_row_q8_k(x: &[f32], out: &mut [Q8KBlock]) {
    check_values("quantize_row_q8_k", x.len(), QK_K, out.len());
    for (block, x) in out.iter_mut().zip(x.chunks_exact(QK_K)) {
        let mut max = 0.0f32;
        let mut amax = 0.0f32;
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            *block = Q8KBlock::default();
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in block.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        fill_bsums(block);
        block.d = 1.0 / iscale;
    }
}

/// Checks that `values` is `per_block` values for each of `blocks` blocks.
///
/// # Panics
/// If it is not, naming `what`.
pub(crate) fn check_values(what: &str, values: usize, per_block: usize, blocks: usize) {
    assert_eq!(
        values,
        per_block * blocks,
        "{what}: expected {per_block} values per block for {blocks} blocks"
    );
}

/// Sets `bsums` from `qs`.
pub(crate) fn fill_bsums(block: &mut Q8KBlock) {
    for (sum, run) in block.bsums.iter_mut().zip(block.qs.chunks_exact(16)) {
        // 16 values of at most 128 in magnitude: the sum fits in i16.
        *sum = run.iter().map(|&q| i16::from(q)).sum();
    }
}

/// Quantizes `x` into `out`, exactly as ggml's `quantize_row_q8_0_ref`:
/// d = max|x| / 127 (stored as f16), q = round(x / d), ties away from zero.
///
/// # Panics
/// If `x.len()` is not `32 * out.len()`.
pub fn quantize_row_q8_0(x: &[f32], out: &mut [Q8_0Block]) {
    check_values("quantize_row_q8_0", x.len(), QK32, out.len());
    for (block, x) in out.iter_mut().zip(x.chunks_exact(QK32)) {
        let amax = x.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = half::f16::from_f32(d);
        for (q, &v) in block.qs.iter_mut().zip(x) {
            *q = (v * id).round() as i8;
        }
    }
}

/// Dequantizes `Q8_K` blocks (for tests and for checking kernels).
///
/// # Panics
/// If `out.len()` is not `256 * blocks.len()`.
pub fn dequantize_q8_k(blocks: &[Q8KBlock], out: &mut [f32]) {
    check_values("dequantize_q8_k", out.len(), QK_K, blocks.len());
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
        for (o, &q) in out.iter_mut().zip(&block.qs) {
            *o = block.d * f32::from(q);
        }
    }
}

/// Dequantizes `Q8_0` blocks (for tests and for checking kernels).
///
/// # Panics
/// If `out.len()` is not `32 * blocks.len()`.
pub fn dequantize_q8_0(blocks: &[Q8_0Block], out: &mut [f32]) {
    check_values("dequantize_q8_0", out.len(), QK32, blocks.len());
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(QK32)) {
        let d = block.d.to_f32();
        for (o, &q) in out.iter_mut().zip(&block.qs) {
            *o = f32::from(q) * d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_ties_to_even() {
        let cases = [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (126.6, 127),
            (-127.0, -127),
        ];
        for (x, expected) in cases {
            assert_eq!(nearest_int(x), expected, "{x}");
        }
    }

    #[test]
    fn q8_k_maps_the_first_largest_magnitude_to_minus_127() {
        let mut x = vec![0.0f32; QK_K];
        x[3] = 2.0;
        x[7] = -2.0;
        x[8] = 1.0;
        x[20] = -0.5;
        let mut out = [Q8KBlock::default()];
        quantize_row_q8_k(&x, &mut out);
        let block = &out[0];
        assert_eq!(
            (block.qs[3], block.qs[7], block.qs[8], block.qs[20]),
            (-127, 127, -64, 32)
        );
        assert_eq!(block.d, -2.0 / 127.0);
        assert_eq!(block.bsums[0], -127 + 127 - 64);
        assert_eq!(block.bsums[1], 32);
    }

    #[test]
    fn q8_k_of_zeros_is_zero() {
        let mut out = [Q8KBlock {
            d: 1.0,
            qs: [5; QK_K],
            bsums: [1; 16],
        }];
        quantize_row_q8_k(&[0.0; QK_K], &mut out);
        assert_eq!(out[0], Q8KBlock::default());
    }

    #[test]
    fn q8_0_rounds_ties_away_from_zero() {
        let mut x = [0.0f32; QK32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        let mut out = [Q8_0Block::default()];
        quantize_row_q8_0(&x, &mut out);
        assert_eq!(out[0].d.to_f32(), 1.0);
        assert_eq!(&out[0].qs[..3], &[127, 3, -3]);
    }
}
