//! K-quant weights repacked at load into groups of 16 interleaved rows, the
//! layout of the VNNI kernels in `vnni`.
//!
//! One 512-bit `vpdpbusd` multiplies 64 unsigned bytes by 64 signed bytes
//! and adds each run of 4 products into one of 16 i32 lanes. With 16 rows
//! interleaved 4 bytes at a time, lane `r` of one such instruction is 4
//! consecutive weights of row `r` times the same 4 activations (broadcast
//! from memory): 16 rows advance together for one load of activations and no horizontal sums are needed until a row's end,
//! where each lane already holds its row's result. The row-wise `vec_dot`
//! kernels instead pay two multiply-adds and an add per 32 weights and sum
//! lanes at the end.
//!
//! The quants keep their bit widths (nibbles stay nibbles), so a packed
//! matrix reads about as many bytes as the original; only the per-block
//! scales are unpacked to a byte each, so a kernel can widen them with one
//! instruction.

use rayon::prelude::*;

use super::dequant::scale_min_k4;
use crate::cpu::huge::HugePageBuffer;
use crate::model::gguf::types::{GgmlType, Q4_K_BLOCK_BYTES, Q6_K_BLOCK_BYTES, QK_K};

/// Rows interleaved in one packed group.
pub const PACK_ROWS: usize = 16;

/// Bytes of one chunk: 4 bytes of every row of a group.
const CHUNK: usize = 4 * PACK_ROWS;

/// Bytes of one packed `Q4_K` block of [`PACK_ROWS`] rows:
/// `d` and `dmin` (f16 per row), scales `[sub][row]`, mins
/// `[sub pair][row][2]`, then 32 chunks of quants.
pub const Q4_K_PACKED_BYTES: usize = q4_k_packed::QS + PACK_ROWS * QK_K / 2;

/// Offsets inside a packed `Q4_K` block.
pub(crate) mod q4_k_packed {
    use super::PACK_ROWS;
    /// The rows' `d`, as f16 bits.
    pub const D: usize = 0;
    /// The rows' `dmin`, as f16 bits.
    pub const DMIN: usize = D + 2 * PACK_ROWS;
    /// Six-bit scales, `[sub-block][row]`.
    pub const SCALES: usize = DMIN + 2 * PACK_ROWS;
    /// Six-bit mins, `[sub-block pair][row][2]`: the pairs `vpdpwssd` wants.
    pub const MINS: usize = SCALES + 8 * PACK_ROWS;
    /// Quant chunk `c` (original bytes `4c..4c+4`) of row `r` at
    /// `QS + 4 * PACK_ROWS * c + 4r`.
    pub const QS: usize = MINS + 8 * PACK_ROWS;
}

/// Bytes of one packed `Q6_K` block of [`PACK_ROWS`] rows: 16 steps of
/// quants, the scales `[sub][row]` and `d` (f16 per row).
pub const Q6_K_PACKED_BYTES: usize = q6_k_packed::D + 2 * PACK_ROWS;

/// Offsets inside a packed `Q6_K` block.
///
/// The quants come in the order the kernel reads them, so a block streams
/// front to back: decode is bound by memory, and scattered reads within a
/// block slow it (bench/RESULTS.md). Step `s = 8 * half + k` (k in 0..8)
/// is 3 chunks: chunk `16 * half + k` of the low bits (original
/// `ql[4c..4c+4]`, 4 bytes of every row), chunk `16 * half + 8 + k` of the
/// low bits, and chunk `8 * half + k` of the high bits.
pub(crate) mod q6_k_packed {
    use super::PACK_ROWS;
    /// Step `s` of the quants at `QS + STEP * s`.
    pub const QS: usize = 0;
    /// Bytes of one step.
    pub const STEP: usize = 3 * 4 * PACK_ROWS;
    /// Signed 8-bit scales, `[sub-block][row]`.
    pub const SCALES: usize = QS + 16 * STEP;
    /// The rows' `d`, as f16 bits.
    pub const D: usize = SCALES + 16 * PACK_ROWS;
}

/// The packed block size of `ty`, or `None` if it has no packed layout.
pub fn packed_block_bytes(ty: GgmlType) -> Option<usize> {
    match ty {
        GgmlType::Q4_K => Some(Q4_K_PACKED_BYTES),
        GgmlType::Q6_K => Some(Q6_K_PACKED_BYTES),
        _ => None,
    }
}

/// Repacks a whole `rows` x `cols` matrix of `ty` (row-major ggml blocks in
/// `src`) into groups of [`PACK_ROWS`] rows: group `g`'s blocks are
/// contiguous, block `b` of the group at `(g * blocks_per_row + b) *
/// packed_block_bytes`. Returns `None` when `ty` has no packed layout, the
/// rows are not a whole number of groups, `src` is not the matrix's size, or
/// the OS cannot map the buffer.
pub fn repack(ty: GgmlType, rows: usize, cols: usize, src: &[u8]) -> Option<HugePageBuffer> {
    let packed_bytes = packed_block_bytes(ty)?;
    let row_bytes = ty.row_bytes(cols)?;
    if !rows.is_multiple_of(PACK_ROWS)
        || src.len() != rows * row_bytes
        || !cols.is_multiple_of(QK_K)
    {
        return None;
    }
    let blocks_per_row = cols / QK_K;
    let block_bytes = ty.block_bytes();
    // Huge pages: decode streams the packed weights once per token.
    let mut out = HugePageBuffer::zeroed(rows / PACK_ROWS * blocks_per_row * packed_bytes).ok()?;
    // In parallel: repacking the default model's 1 GB is on every start's path.
    out.par_chunks_exact_mut(blocks_per_row * packed_bytes)
        .enumerate()
        .for_each(|(g, group_out)| {
            for (b, packed) in group_out.chunks_exact_mut(packed_bytes).enumerate() {
                let block = |r: usize| {
                    let at = (g * PACK_ROWS + r) * row_bytes + b * block_bytes;
                    &src[at..at + block_bytes]
                };
                let blocks: [&[u8]; PACK_ROWS] = std::array::from_fn(block);
                match ty {
                    GgmlType::Q4_K => pack_q4_k(&blocks, packed),
                    _ => pack_q6_k(&blocks, packed),
                }
            }
        });
    Some(out)
}

/// Copies 4-byte chunks `0..len/4` of `field(r)` of every row to `out`, chunk
/// `c` of row `r` at `out[CHUNK * c + 4r..]`.
fn interleave_chunks(blocks: &[&[u8]; PACK_ROWS], field: std::ops::Range<usize>, out: &mut [u8]) {
    for (r, block) in blocks.iter().enumerate() {
        for (c, chunk) in block[field.clone()].chunks_exact(4).enumerate() {
            let at = CHUNK * c + 4 * r;
            out[at..at + 4].copy_from_slice(chunk);
        }
    }
}

fn pack_q4_k(blocks: &[&[u8]; PACK_ROWS], out: &mut [u8]) {
    debug_assert!(blocks.iter().all(|b| b.len() == Q4_K_BLOCK_BYTES));
    for (r, block) in blocks.iter().enumerate() {
        out[q4_k_packed::D + 2 * r..q4_k_packed::D + 2 * r + 2].copy_from_slice(&block[0..2]);
        out[q4_k_packed::DMIN + 2 * r..q4_k_packed::DMIN + 2 * r + 2].copy_from_slice(&block[2..4]);
        for sub in 0..QK_K / 32 {
            let (scale, min) = scale_min_k4(sub, &block[4..16]);
            out[q4_k_packed::SCALES + PACK_ROWS * sub + r] = scale;
            out[q4_k_packed::MINS + 2 * PACK_ROWS * (sub / 2) + 2 * r + sub % 2] = min;
        }
    }
    interleave_chunks(blocks, 16..16 + QK_K / 2, &mut out[q4_k_packed::QS..]);
}

fn pack_q6_k(blocks: &[&[u8]; PACK_ROWS], out: &mut [u8]) {
    debug_assert!(blocks.iter().all(|b| b.len() == Q6_K_BLOCK_BYTES));
    let scales = QK_K * 3 / 4;
    let mut ql = [0u8; PACK_ROWS * QK_K / 2];
    let mut qh = [0u8; PACK_ROWS * QK_K / 4];
    interleave_chunks(blocks, 0..QK_K / 2, &mut ql);
    interleave_chunks(blocks, QK_K / 2..QK_K * 3 / 4, &mut qh);
    for half in 0..2 {
        for k in 0..8 {
            let step = q6_k_packed::QS + q6_k_packed::STEP * (8 * half + k);
            let chunk = |c: usize| CHUNK * c..CHUNK * (c + 1);
            out[step..step + CHUNK].copy_from_slice(&ql[chunk(16 * half + k)]);
            out[step + CHUNK..step + 2 * CHUNK].copy_from_slice(&ql[chunk(16 * half + 8 + k)]);
            out[step + 2 * CHUNK..step + 3 * CHUNK].copy_from_slice(&qh[chunk(8 * half + k)]);
        }
    }
    for (r, block) in blocks.iter().enumerate() {
        for sub in 0..QK_K / 16 {
            out[q6_k_packed::SCALES + PACK_ROWS * sub + r] = block[scales + sub];
        }
        let d = scales + QK_K / 16;
        out[q6_k_packed::D + 2 * r..q6_k_packed::D + 2 * r + 2].copy_from_slice(&block[d..d + 2]);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cpu::quant::{dequantize, random_k_quant_rows};

    /// Element `e` of row `r` of block `b`, read back from the packed layout by
    /// the formulas the kernels use; the packing is right if every element
    /// dequantizes as in the original.
    fn packed_element(ty: GgmlType, p: &[u8], r: usize, e: usize) -> f32 {
        let f16 = |at: usize| half::f16::from_bits(u16::from_le_bytes([p[at], p[at + 1]])).to_f32();
        match ty {
            GgmlType::Q4_K => {
                let (sub, l) = (e / 32, e % 32);
                let byte = p[q4_k_packed::QS + CHUNK * (8 * (sub / 2) + l / 4) + 4 * r + l % 4];
                let q = if sub % 2 == 0 { byte & 0x0F } else { byte >> 4 };
                let scale = p[q4_k_packed::SCALES + PACK_ROWS * sub + r];
                let min = p[q4_k_packed::MINS + 2 * PACK_ROWS * (sub / 2) + 2 * r + sub % 2];
                f16(q4_k_packed::D + 2 * r) * f32::from(scale) * f32::from(q)
                    - f16(q4_k_packed::DMIN + 2 * r) * f32::from(min)
            }
            _ => {
                let (half, quarter, l) = (e / 128, e % 128 / 32, e % 32);
                let step = q6_k_packed::QS + q6_k_packed::STEP * (8 * half + l / 4);
                let ql = p[step + CHUNK * (quarter % 2) + 4 * r + l % 4];
                let qh = p[step + 2 * CHUNK + 4 * r + l % 4];
                let low = if quarter < 2 { ql & 0x0F } else { ql >> 4 };
                let q = low | (((qh >> (2 * quarter)) & 3) << 4);
                let scale = p[q6_k_packed::SCALES + PACK_ROWS * (e / 16) + r] as i8;
                f16(q6_k_packed::D + 2 * r) * f32::from(scale) * f32::from(i16::from(q) - 32)
            }
        }
    }

    #[test]
    fn packed_blocks_hold_every_element_of_the_original() {
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K] {
            let (rows, cols) = (2 * PACK_ROWS, 512);
            let src = random_k_quant_rows(ty, rows, cols, 7);
            let packed = repack(ty, rows, cols, &src).unwrap();
            let packed_bytes = packed_block_bytes(ty).unwrap();
            let row_bytes = ty.row_bytes(cols).unwrap();
            for row in 0..rows {
                let mut expected = vec![0.0; cols];
                dequantize(
                    ty,
                    &src[row * row_bytes..(row + 1) * row_bytes],
                    &mut expected,
                )
                .unwrap();
                for b in 0..cols / QK_K {
                    let at = ((row / PACK_ROWS) * (cols / QK_K) + b) * packed_bytes;
                    let p = &packed[at..at + packed_bytes];
                    for e in 0..QK_K {
                        let got = packed_element(ty, p, row % PACK_ROWS, e);
                        let want = expected[b * QK_K + e];
                        assert!(
                            (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                            "{ty} row {row} block {b} element {e}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn only_whole_groups_of_k_quant_rows_are_packed() {
        let cols = 256;
        let (whole, part) = (PACK_ROWS, PACK_ROWS + 4);
        let q4 = vec![0u8; GgmlType::Q4_K.row_bytes(cols).unwrap() * part];
        assert!(repack(GgmlType::Q4_K, part, cols, &q4).is_none());
        assert!(repack(GgmlType::Q4_K, whole, cols, &q4[..whole * 144]).is_some());
        assert!(repack(GgmlType::Q4_K, whole, cols, &q4[..whole * 144 - 1]).is_none());
        assert!(repack(GgmlType::Q8_0, whole, cols, &vec![0u8; whole * 272]).is_none());
    }
}
