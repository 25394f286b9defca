//! Scalar reference dot products of quantized weight rows with 8-bit
//! quantized activations, computed as ggml's generic (non-SIMD) paths do:
//! exact integer sums per sub-block, one float multiply per block. These are
//! the reference the SIMD kernels are tested against.

use super::dequant::{f16_at, k4_quants, q6_k_value, scale_min_k4};
use super::q8::{Q8KBlock, Q8_0Block};
use crate::model::gguf::types::{
    Q4_0_BLOCK_BYTES, Q4_K_BLOCK_BYTES, Q5_K_BLOCK_BYTES, Q6_K_BLOCK_BYTES, Q8_0_BLOCK_BYTES, QK32,
    QK_K,
};

/// Checks that `row` holds exactly one block of `block_bytes` per activation block.
pub(super) fn check_lengths(kernel: &str, row: &[u8], block_bytes: usize, n_blocks: usize) {
    assert_eq!(
        row.len(),
        block_bytes * n_blocks,
        "{kernel}: the row must hold one {block_bytes}-byte block per activation block ({n_blocks})"
    );
}

/// Unpacks the 8 scales and 8 mins of a `Q4_K`/`Q5_K` block.
fn k4_scales_and_mins(scales: &[u8]) -> ([i32; 8], [i32; 8]) {
    let mut sc = [0i32; 8];
    let mut mins = [0i32; 8];
    for j in 0..8 {
        let (s, m) = scale_min_k4(j, scales);
        sc[j] = i32::from(s);
        mins[j] = i32::from(m);
    }
    (sc, mins)
}

/// The K-quant dot of one block, given its 256 unsigned quants: returns
/// `(Σ_j scale_j * Σ_{i in j} q_i * y_i, Σ_j min_j * bsum_j)` for the 8 sub-blocks of 32.
fn k4_block_sums(q: &[i32; QK_K], scales: &[i32; 8], mins: &[i32; 8], y: &Q8KBlock) -> (i32, i32) {
    let mut dot = 0i32;
    for (j, &scale) in scales.iter().enumerate() {
        let sub: i32 = (32 * j..32 * j + 32)
            .map(|i| q[i] * i32::from(y.qs[i]))
            .sum();
        dot += scale * sub;
    }
    // Each sub-block of 32 covers two runs of 16 in bsums.
    let min_dot = (0..QK_K / 16)
        .map(|k| mins[k / 2] * i32::from(y.bsums[k]))
        .sum();
    (dot, min_dot)
}

/// Dot product of a `Q4_K` row with `Q8_K` activations:
/// Σ_blocks d·d_y·Σ scale·(q·y) − dmin·d_y·Σ min·bsum.
///
/// # Panics
/// If `row` is not `144 * y.len()` bytes.
pub fn vec_dot_q4_k_q8_k(row: &[u8], y: &[Q8KBlock]) -> f32 {
    check_lengths("vec_dot_q4_k_q8_k", row, Q4_K_BLOCK_BYTES, y.len());
    vec_dot_k4(row, Q4_K_BLOCK_BYTES, 0, y)
}

/// Dot product of a `Q5_K` row with `Q8_K` activations (as `Q4_K`, with
/// the fifth bit of each quant from `qh`).
///
/// # Panics
/// If `row` is not `176 * y.len()` bytes.
pub fn vec_dot_q5_k_q8_k(row: &[u8], y: &[Q8KBlock]) -> f32 {
    check_lengths("vec_dot_q5_k_q8_k", row, Q5_K_BLOCK_BYTES, y.len());
    vec_dot_k4(row, Q5_K_BLOCK_BYTES, QK_K / 8, y)
}

/// The dot of a `Q4_K` (`qh_bytes` 0) or `Q5_K` (`qh_bytes` 32) row, whose
/// length is checked, with `Q8_K` activations.
fn vec_dot_k4(row: &[u8], block_bytes: usize, qh_bytes: usize, y: &[Q8KBlock]) -> f32 {
    let mut sum = 0.0f32;
    for (block, y) in row.chunks_exact(block_bytes).zip(y) {
        let (scales, mins) = k4_scales_and_mins(&block[4..16]);
        let mut q = [0i32; QK_K];
        for group in 0..QK_K / 64 {
            for l in 0..32 {
                let (low, high) = k4_quants(block, qh_bytes, group, l);
                q[64 * group + l] = i32::from(low);
                q[64 * group + 32 + l] = i32::from(high);
            }
        }
        let (dot, min_dot) = k4_block_sums(&q, &scales, &mins, y);
        let d = f16_at(block, 0) * y.d;
        let dmin = f16_at(block, 2) * y.d;
        sum += d * dot as f32 - dmin * min_dot as f32;
    }
    sum
}

/// Dot product of a `Q6_K` row with `Q8_K` activations:
/// Σ_blocks d·d_y·Σ_{16 sub-blocks} scale·Σ (q − 32)·y.
///
/// # Panics
/// If `row` is not `210 * y.len()` bytes.
pub fn vec_dot_q6_k_q8_k(row: &[u8], y: &[Q8KBlock]) -> f32 {
    check_lengths("vec_dot_q6_k_q8_k", row, Q6_K_BLOCK_BYTES, y.len());
    let mut sum = 0.0f32;
    for (block, y) in row.chunks_exact(Q6_K_BLOCK_BYTES).zip(y) {
        let ql_all = &block[..QK_K / 2];
        let qh_all = &block[QK_K / 2..QK_K / 2 + QK_K / 4];
        let scales = &block[QK_K / 2 + QK_K / 4..QK_K / 2 + QK_K / 4 + QK_K / 16];
        let mut q = [0i32; QK_K];
        for half in 0..2 {
            let ql = &ql_all[64 * half..64 * half + 64];
            let qh = &qh_all[32 * half..32 * half + 32];
            for quarter in 0..4 {
                for l in 0..32 {
                    q[128 * half + 32 * quarter + l] = i32::from(q6_k_value(ql, qh, quarter, l));
                }
            }
        }
        let mut dot = 0i32;
        for (j, &scale) in scales.iter().enumerate() {
            let sub: i32 = (16 * j..16 * j + 16)
                .map(|i| q[i] * i32::from(y.qs[i]))
                .sum();
            dot += i32::from(scale as i8) * sub;
        }
        let d = f16_at(block, QK_K / 2 + QK_K / 4 + QK_K / 16) * y.d;
        sum += d * dot as f32;
    }
    sum
}

/// Dot product of a `Q8_0` row with `Q8_0` activations.
///
/// # Panics
/// If `row` is not `34 * y.len()` bytes.
pub fn vec_dot_q8_0_q8_0(row: &[u8], y: &[Q8_0Block]) -> f32 {
    check_lengths("vec_dot_q8_0_q8_0", row, Q8_0_BLOCK_BYTES, y.len());
    let mut sum = 0.0f32;
    for (block, y) in row.chunks_exact(Q8_0_BLOCK_BYTES).zip(y) {
        let dot: i32 = block[2..2 + QK32]
            .iter()
            .zip(&y.qs)
            .map(|(&q, &v)| i32::from(q as i8) * i32::from(v))
            .sum();
        sum += dot as f32 * (f16_at(block, 0) * y.d.to_f32());
    }
    sum
}

/// Dot product of a `Q4_0` row with `Q8_0` activations.
///
/// # Panics
/// If `row` is not `18 * y.len()` bytes.
pub fn vec_dot_q4_0_q8_0(row: &[u8], y: &[Q8_0Block]) -> f32 {
    check_lengths("vec_dot_q4_0_q8_0", row, Q4_0_BLOCK_BYTES, y.len());
    let mut sum = 0.0f32;
    for (block, y) in row.chunks_exact(Q4_0_BLOCK_BYTES).zip(y) {
        let mut dot = 0i32;
        for (j, &byte) in block[2..2 + QK32 / 2].iter().enumerate() {
            dot += (i32::from(byte & 0x0F) - 8) * i32::from(y.qs[j]);
            dot += (i32::from(byte >> 4) - 8) * i32::from(y.qs[j + QK32 / 2]);
        }
        sum += dot as f32 * (f16_at(block, 0) * y.d.to_f32());
    }
    sum
}
