//! Dequantization of one block of each supported type, in ggml's layouts.
//!
//! Each function writes exactly the values ggml's `dequantize_row_*` writes,
//! with the same float operations in the same order, so results are equal
//! bit for bit (the fixtures from gguf-py check this).

use crate::model::gguf::types::{QK32, QK_K};

/// Reads the little-endian f16 at `at` as an f32 (exact).
#[inline]
pub(crate) fn f16_at(bytes: &[u8], at: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

/// The 6-bit scale and min of sub-block `j` (0..8) from the 12 packed bytes
/// of a `Q4_K`/`Q5_K` block (ggml's `get_scale_min_k4`): sub-blocks 0..4 keep
/// their low 6 bits in bytes 0..8; sub-blocks 4..8 keep their low 4 bits in
/// bytes 8..12 and their top 2 bits in the spare top bits of bytes 0..8.
#[inline]
pub(crate) fn scale_min_k4(j: usize, scales: &[u8]) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        let scale = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4);
        let min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
        (scale, min)
    }
}

/// Little-endian f32 values.
pub(crate) fn f32_values(src: &[u8], dst: &mut [f32]) {
    for (out, bytes) in dst.iter_mut().zip(src.chunks_exact(4)) {
        *out = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
}

/// Little-endian IEEE half values.
pub(crate) fn f16_values(src: &[u8], dst: &mut [f32]) {
    for (i, out) in dst.iter_mut().enumerate() {
        *out = f16_at(src, 2 * i);
    }
}

/// Little-endian bfloat16 values: the upper 16 bits of an f32.
pub(crate) fn bf16_values(src: &[u8], dst: &mut [f32]) {
    for (out, bytes) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *out = f32::from_bits(u32::from(u16::from_le_bytes([bytes[0], bytes[1]])) << 16);
    }
}

/// One `Q4_0` block: element `i` of the first half is the low nibble of
/// `qs[i]`, of the second half the high nibble; value = d * (q - 8).
pub(crate) fn q4_0_block(block: &[u8], out: &mut [f32]) {
    let d = f16_at(block, 0);
    let qs = &block[2..2 + QK32 / 2];
    for (i, &byte) in qs.iter().enumerate() {
        out[i] = (i32::from(byte & 0x0F) - 8) as f32 * d;
        out[i + QK32 / 2] = (i32::from(byte >> 4) - 8) as f32 * d;
    }
}

/// One `Q8_0` block: value = q * d.
pub(crate) fn q8_0_block(block: &[u8], out: &mut [f32]) {
    let d = f16_at(block, 0);
    for (out, &byte) in out.iter_mut().zip(&block[2..2 + QK32]) {
        *out = f32::from(byte as i8) * d;
    }
}

/// One `Q4_K` block: 4 groups of 64, each group 32 low nibbles then 32 high
/// nibbles of the same 32 bytes; value = (d * scale) * q - (dmin * min).
pub(crate) fn q4_k_block(block: &[u8], out: &mut [f32]) {
    k4_block(block, 0, out);
}

/// One `Q5_K` block: as `Q4_K`, plus a fifth bit per element from `qh`,
/// where bit `j` of `qh[l]` belongs to element `l` of sub-block `j`.
pub(crate) fn q5_k_block(block: &[u8], out: &mut [f32]) {
    k4_block(block, QK_K / 8, out);
}

/// One `Q4_K` (`qh_bytes` 0) or `Q5_K` (`qh_bytes` 32) block.
fn k4_block(block: &[u8], qh_bytes: usize, out: &mut [f32]) {
    let d = f16_at(block, 0);
    let dmin = f16_at(block, 2);
    let scales = &block[4..16];
    for group in 0..QK_K / 64 {
        let (scale_lo, min_lo) = scale_min_k4(2 * group, scales);
        let (scale_hi, min_hi) = scale_min_k4(2 * group + 1, scales);
        let (d_lo, m_lo) = (d * f32::from(scale_lo), dmin * f32::from(min_lo));
        let (d_hi, m_hi) = (d * f32::from(scale_hi), dmin * f32::from(min_hi));
        let out = &mut out[64 * group..64 * group + 64];
        for l in 0..32 {
            let (q_lo, q_hi) = k4_quants(block, qh_bytes, group, l);
            out[l] = d_lo * f32::from(q_lo) - m_lo;
            out[l + 32] = d_hi * f32::from(q_hi) - m_hi;
        }
    }
}

/// The unsigned quants of elements `l` and `l + 32` of group `group` (0..4)
/// of a `Q4_K` (`qh_bytes` 0) or `Q5_K` (`qh_bytes` 32) block: the low and
/// high nibble of byte `l` of the group's 32 bytes of `qs`, and for `Q5_K`
/// a fifth bit each from `qh[l]` (bits `2 * group` and `2 * group + 1`).
#[inline]
pub(crate) fn k4_quants(block: &[u8], qh_bytes: usize, group: usize, l: usize) -> (u8, u8) {
    let byte = block[16 + qh_bytes + 32 * group + l];
    let (low, high) = (byte & 0x0F, byte >> 4);
    if qh_bytes == 0 {
        return (low, high);
    }
    let qh = block[16 + l];
    (
        low | (((qh >> (2 * group)) & 1) << 4),
        high | (((qh >> (2 * group + 1)) & 1) << 4),
    )
}

/// The 6-bit value of element `l + 32 * quarter` (quarter 0..4) within one
/// 128-element half of a `Q6_K` block, given that half's `ql` (64 bytes) and
/// `qh` (32 bytes): quarters 0/1 take the low nibbles of `ql[l]`/`ql[l+32]`,
/// quarters 2/3 the high nibbles; the top 2 bits come from `qh[l]`.
#[inline]
pub(crate) fn q6_k_value(ql: &[u8], qh: &[u8], quarter: usize, l: usize) -> i8 {
    let low = match quarter {
        0 => ql[l] & 0x0F,
        1 => ql[l + 32] & 0x0F,
        2 => ql[l] >> 4,
        _ => ql[l + 32] >> 4,
    };
    let high = (qh[l] >> (2 * quarter)) & 3;
    (low | (high << 4)) as i8 - 32
}

/// One `Q6_K` block: two halves of 128; element `l + 32 * quarter` of half
/// `h` has scale `scales[8 * h + 2 * quarter + l / 16]`; value = (d * scale) * q.
pub(crate) fn q6_k_block(block: &[u8], out: &mut [f32]) {
    let ql_all = &block[..QK_K / 2];
    let qh_all = &block[QK_K / 2..QK_K / 2 + QK_K / 4];
    let scales = &block[QK_K / 2 + QK_K / 4..QK_K / 2 + QK_K / 4 + QK_K / 16];
    let d = f16_at(block, QK_K / 2 + QK_K / 4 + QK_K / 16);
    for half in 0..2 {
        let ql = &ql_all[64 * half..64 * half + 64];
        let qh = &qh_all[32 * half..32 * half + 32];
        for quarter in 0..4 {
            for l in 0..32 {
                let scale = scales[8 * half + 2 * quarter + l / 16] as i8;
                let q = q6_k_value(ql, qh, quarter, l);
                out[128 * half + 32 * quarter + l] = d * f32::from(scale) * f32::from(q);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_min_k4_unpacks_all_six_bits() {
        // Sub-block 5: low 4 bits of scale in byte 9 (low nibble), top 2 in
        // byte 1 bits 6..8; min: byte 9 high nibble, top 2 in byte 5 bits 6..8.
        let mut scales = [0u8; 12];
        scales[9] = 0xA5;
        scales[1] = 0b1100_0000;
        scales[5] = 0b0100_0000;
        assert_eq!(scale_min_k4(5, &scales), (0x35, 0x1A));
        scales[0] = 0x3F;
        scales[4] = 0x2A;
        assert_eq!(scale_min_k4(0, &scales), (0x3F, 0x2A));
    }

    #[test]
    fn q4_0_splits_nibbles_into_halves() {
        let mut block = vec![0u8; 18];
        block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_bits().to_le_bytes());
        block[2] = 0xF0; // element 0 = 0 - 8, element 16 = 15 - 8
        block[3] = 0x19; // element 1 = 9 - 8, element 17 = 1 - 8
        let mut out = [0f32; 32];
        q4_0_block(&block, &mut out);
        assert_eq!((out[0], out[16], out[1], out[17]), (-4.0, 3.5, 0.5, -3.5));
    }
}
