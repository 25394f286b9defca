//! AVX2 (with FMA and F16C) versions of the 8-bit-activation dot products and of the `Q8_K`
//! activation quantizer. Each equals its scalar reference in `vec_dot`/`q8`
//! up to float summation order (the integer sums are exact), and the
//! quantizer equals its reference bit for bit.
//!
//! Every function here requires AVX2, FMA and F16C (which every AVX2 CPU
//! has): they are `unsafe fn`s whose only precondition is that the CPU has
//! them, which `dispatch` checks before handing them out. Memory safety does
//! not depend on the caller: lengths are asserted and every load goes
//! through a bounds-checked slice (the checks fold away in release builds).

use std::arch::x86_64::*;

use super::q8::{check_values, fill_bsums, Q8KBlock, Q8_0Block};
use super::vec_dot::check_lengths;
use crate::model::gguf::types::{
    Q4_0_BLOCK_BYTES, Q4_K_BLOCK_BYTES, Q6_K_BLOCK_BYTES, Q8_0_BLOCK_BYTES, QK32, QK_K,
};

/// An f16, given as its bits, as an f32, converted in hardware.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_bits_to_f32(bits: u16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

/// The little-endian f16 at `at` as an f32, converted in hardware.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// Loads 32 bytes from the start of `bytes` (panics if it is shorter).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load_u8x32(bytes: &[u8]) -> __m256i {
    let bytes = &bytes[..32];
    // SAFETY: `bytes` is exactly 32 readable bytes; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

// Beside `load_u8x32` on purpose: `&[i8]` becomes `&[u8]` only through more unsafe code.
/// Loads 32 signed bytes from the start of `values` (panics if it is shorter).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_i8x32(values: &[i8]) -> __m256i {
    let values = &values[..32];
    // SAFETY: `values` is exactly 32 readable bytes; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(values.as_ptr().cast()) }
}

/// Loads 16 bytes from the start of `bytes` (panics if it is shorter).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn load_u8x16(bytes: &[u8]) -> __m128i {
    let bytes = &bytes[..16];
    // SAFETY: `bytes` is exactly 16 readable bytes; loadu has no alignment requirement.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

/// Loads the 16 block sums of a `Q8_K` block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_bsums(bsums: &[i16; QK_K / 16]) -> __m256i {
    // SAFETY: the array is exactly 32 readable bytes; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(bsums.as_ptr().cast()) }
}

/// The sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sum_f32x8(v: __m256) -> f32 {
    sum_f32x4(_mm_add_ps(
        _mm256_castps256_ps128(v),
        _mm256_extractf128_ps(v, 1),
    ))
}

/// A `shuffle_epi8` mask that, applied to 8 i16 values repeated in both
/// 128-bit lanes, fills the low lane with value `low` and the high lane
/// with value `high` (indices 0..8). After `maddubs` over 32 bytes, bytes
/// 0..16 of the input land in the low lane and 16..32 in the high one.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn spread_i16(low: usize, high: usize) -> __m256i {
    // The byte pair (2k, 2k+1) as one little-endian i16 selects value k.
    let pair = |k: usize| ((2 * k) | ((2 * k + 1) << 8)) as i16;
    _mm256_set_m128i(_mm_set1_epi16(pair(high)), _mm_set1_epi16(pair(low)))
}

/// The 8 six-bit scales (bytes 0..8) and 8 mins (bytes 8..16) of a
/// `Q4_K`/`Q5_K` block, unpacked from its 12 packed bytes four at a time
/// (the layout `dequant::scale_min_k4` reads one at a time).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn unpack_k4_scales(packed: &[u8]) -> __m128i {
    let word =
        |i: usize| u32::from_le_bytes([packed[i], packed[i + 1], packed[i + 2], packed[i + 3]]);
    let (a, b, c) = (word(0), word(4), word(8));
    let scales_low = a & 0x3F3F_3F3F;
    let mins_low = b & 0x3F3F_3F3F;
    // Sub-blocks 4..8: low nibbles from c, top two bits from bits 6..8 of a (scales) or b (mins).
    let scales_high = (c & 0x0F0F_0F0F) | ((a >> 2) & 0x3030_3030);
    let mins_high = ((c >> 4) & 0x0F0F_0F0F) | ((b >> 2) & 0x3030_3030);
    _mm_set_epi32(
        mins_high as i32,
        mins_low as i32,
        scales_high as i32,
        scales_low as i32,
    )
}

/// A `Q4_K` block's 8 scales as i16, repeated in both 128-bit lanes (for
/// [`spread_i16`]), and its 8 mins as i16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_k_scales_and_mins(block: &[u8]) -> (__m256i, __m128i) {
    let scales_and_mins = _mm256_cvtepu8_epi16(unpack_k4_scales(&block[4..16]));
    let scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(scales_and_mins));
    (scales, _mm256_extracti128_si256(scales_and_mins, 1))
}

/// The activation sum of each 32-element sub-block (two adjacent 16-runs
/// of `bsums`) as 8 i16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sub_block_sums(bsums: &[i16; QK_K / 16]) -> __m128i {
    let bsums = load_bsums(bsums);
    _mm_hadd_epi16(
        _mm256_castsi256_si128(bsums),
        _mm256_extracti128_si256(bsums, 1),
    )
}

/// Group `group` (64 elements) of a `Q4_K` block's quants `qs`: its 32 low
/// nibbles and 32 high nibbles, with the scale of each one's sub-block
/// spread for a `madd` after `maddubs`: `[q_low, q_high, scale_low, scale_high]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_k_group(qs: &[u8], scales: __m256i, group: usize) -> [__m256i; 4] {
    let low_nibbles = _mm256_set1_epi8(0x0F);
    let bits = load_u8x32(&qs[32 * group..]);
    [
        _mm256_and_si256(bits, low_nibbles),
        _mm256_and_si256(_mm256_srli_epi16(bits, 4), low_nibbles),
        _mm256_shuffle_epi8(scales, spread_i16(2 * group, 2 * group)),
        _mm256_shuffle_epi8(scales, spread_i16(2 * group + 1, 2 * group + 1)),
    ]
}

/// The sum of the 4 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sum_f32x4(v: __m128) -> f32 {
    let pair = _mm_add_ps(v, _mm_movehl_ps(v, v));
    _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)))
}

/// Where a `Q6_K` block's high quant bits, 16 scales and `d` start (the
/// low 4 bits of its quants start at 0).
const Q6_K_QH: usize = QK_K / 2;
const Q6_K_SCALES: usize = Q6_K_QH + QK_K / 4;
const Q6_K_D: usize = Q6_K_SCALES + QK_K / 16;

/// A `Q6_K` block's 16 scales as i16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q6_k_scales(block: &[u8]) -> __m256i {
    _mm256_cvtepi8_epi16(load_u8x16(&block[Q6_K_SCALES..Q6_K_D]))
}

/// Each half's 8 scales of `scales` (from [`q6_k_scales`]) as i16,
/// repeated in both 128-bit lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q6_k_halves_scales(scales: __m256i) -> [__m256i; 2] {
    [
        _mm256_broadcastsi128_si256(_mm256_castsi256_si128(scales)),
        _mm256_broadcastsi128_si256(_mm256_extracti128_si256(scales, 1)),
    ]
}

/// The quants of half `half` of a `Q6_K` block as stored (q + 32, in
/// 0..64), 32 bytes a quarter.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q6_k_half_quants(block: &[u8], half: usize) -> [__m256i; 4] {
    let ql_a = load_u8x32(&block[64 * half..Q6_K_QH]);
    let ql_b = load_u8x32(&block[64 * half + 32..Q6_K_QH]);
    let qh = load_u8x32(&block[Q6_K_QH + 32 * half..Q6_K_SCALES]);
    [
        six_bits(ql_a, qh),
        six_bits(ql_b, _mm256_srli_epi16(qh, 2)),
        six_bits(_mm256_srli_epi16(ql_a, 4), _mm256_srli_epi16(qh, 4)),
        six_bits(_mm256_srli_epi16(ql_b, 4), _mm256_srli_epi16(qh, 6)),
    ]
}

/// The low nibble of each byte of `low` with bits 0..2 of `high` above it.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn six_bits(low: __m256i, high: __m256i) -> __m256i {
    let low_nibbles = _mm256_set1_epi8(0x0F);
    let two_bits = _mm256_set1_epi8(0x03);
    _mm256_or_si256(
        _mm256_and_si256(low, low_nibbles),
        _mm256_slli_epi16(_mm256_and_si256(high, two_bits), 4),
    )
}

/// 32 · Σ_j scale_j · bsum_j: what storing the quants as q + 32 adds to a
/// `Q6_K` block's integer dot (its 16-element sub-blocks line up with the
/// 16-runs of `bsums`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q6_k_offset(scales: __m256i, bsums: &[i16; QK_K / 16]) -> __m256i {
    _mm256_slli_epi32(_mm256_madd_epi16(scales, load_bsums(bsums)), 5)
}

/// AVX2 version of [`super::vec_dot::vec_dot_q4_k_q8_k`]. `y`'s `bsums`
/// must be the run sums of its `qs` (as the quantizer makes them).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If `row` is not `144 * y.len()` bytes.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q4_k_q8_k(row: &[u8], y: &[Q8KBlock]) -> f32 {
    check_lengths("vec_dot_q4_k_q8_k", row, Q4_K_BLOCK_BYTES, y.len());
    let mut acc = _mm256_setzero_ps();
    let mut acc_mins = _mm_setzero_ps();
    for (block, y) in row.chunks_exact(Q4_K_BLOCK_BYTES).zip(y) {
        let (scales, mins) = q4_k_scales_and_mins(block);
        // Σ_j min_j · (sum of the 32 activations of sub-block j), in i16.
        let min_dot = _mm_madd_epi16(mins, sub_block_sums(&y.bsums));
        let dmin = f16_at(block, 2) * y.d;
        acc_mins = _mm_fmadd_ps(_mm_set1_ps(-dmin), _mm_cvtepi32_ps(min_dot), acc_mins);

        let qs = &block[16..16 + QK_K / 2];
        let mut sum = _mm256_setzero_si256();
        for group in 0..QK_K / 64 {
            let [q_low, q_high, scale_low, scale_high] = q4_k_group(qs, scales, group);
            let y_low = load_i8x32(&y.qs[64 * group..]);
            let y_high = load_i8x32(&y.qs[64 * group + 32..]);
            // maddubs: unsigned 4-bit × signed 8-bit pairs, |sum| ≤ 3840: no saturation.
            let p_low = _mm256_madd_epi16(_mm256_maddubs_epi16(q_low, y_low), scale_low);
            let p_high = _mm256_madd_epi16(_mm256_maddubs_epi16(q_high, y_high), scale_high);
            sum = _mm256_add_epi32(sum, _mm256_add_epi32(p_low, p_high));
        }
        let d = f16_at(block, 0) * y.d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
    }
    sum_f32x8(acc) + sum_f32x4(acc_mins)
}

/// AVX2 version of [`super::vec_dot::vec_dot_q6_k_q8_k`]. `y`'s `bsums`
/// must be the run sums of its `qs` (as the quantizer makes them).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If `row` is not `210 * y.len()` bytes.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q6_k_q8_k(row: &[u8], y: &[Q8KBlock]) -> f32 {
    check_lengths("vec_dot_q6_k_q8_k", row, Q6_K_BLOCK_BYTES, y.len());
    let mut acc = _mm256_setzero_ps();
    for (block, y) in row.chunks_exact(Q6_K_BLOCK_BYTES).zip(y) {
        // The quants are stored as q + 32 in 0..64: the dot is computed on
        // the unsigned values, and the offset that adds is subtracted.
        let scales = q6_k_scales(block);
        let offset = q6_k_offset(scales, &y.bsums);
        let mut sum = _mm256_setzero_si256();
        for (half, half_scales) in q6_k_halves_scales(scales).into_iter().enumerate() {
            for (quarter, q) in q6_k_half_quants(block, half).into_iter().enumerate() {
                let activations = load_i8x32(&y.qs[128 * half + 32 * quarter..]);
                // maddubs: unsigned 6-bit × signed 8-bit pairs, |sum| ≤ 16128: no saturation.
                let scale =
                    _mm256_shuffle_epi8(half_scales, spread_i16(2 * quarter, 2 * quarter + 1));
                let products = _mm256_madd_epi16(_mm256_maddubs_epi16(q, activations), scale);
                sum = _mm256_add_epi32(sum, products);
            }
        }
        sum = _mm256_sub_epi32(sum, offset);
        let d = f16_at(block, Q6_K_D) * y.d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
    }
    sum_f32x8(acc)
}

/// Σ x·y over 32 signed bytes as 8 i32 lanes. Exact when no `x` is -128
/// (ggml's quantizers produce -127..=127), since |x|·y pairs then fit in i16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_i8x32(x: __m256i, y: __m256i) -> __m256i {
    let products = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    _mm256_madd_epi16(products, _mm256_set1_epi16(1))
}

/// AVX2 version of [`super::vec_dot::vec_dot_q8_0_q8_0`]; equal to it when
/// the row's quants are in -127..=127, as ggml's quantizers make them.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If `row` is not `34 * y.len()` bytes.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q8_0_q8_0(row: &[u8], y: &[Q8_0Block]) -> f32 {
    check_lengths("vec_dot_q8_0_q8_0", row, Q8_0_BLOCK_BYTES, y.len());
    let mut acc = _mm256_setzero_ps();
    for (block, y) in row.chunks_exact(Q8_0_BLOCK_BYTES).zip(y) {
        let sum = dot_i8x32(load_u8x32(&block[2..]), load_i8x32(&y.qs));
        let d = f16_at(block, 0) * f16_bits_to_f32(y.d.to_bits());
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
    }
    sum_f32x8(acc)
}

/// AVX2 version of [`super::vec_dot::vec_dot_q4_0_q8_0`].
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If `row` is not `18 * y.len()` bytes.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q4_0_q8_0(row: &[u8], y: &[Q8_0Block]) -> f32 {
    check_lengths("vec_dot_q4_0_q8_0", row, Q4_0_BLOCK_BYTES, y.len());
    let low_nibbles = _mm_set1_epi8(0x0F);
    let eight = _mm256_set1_epi8(8);
    let mut acc = _mm256_setzero_ps();
    for (block, y) in row.chunks_exact(Q4_0_BLOCK_BYTES).zip(y) {
        // Elements 0..16 are the low nibbles, 16..32 the high nibbles.
        let bits = load_u8x16(&block[2..2 + QK32 / 2]);
        let low = _mm_and_si128(bits, low_nibbles);
        let high = _mm_and_si128(_mm_srli_epi16(bits, 4), low_nibbles);
        let q = _mm256_sub_epi8(_mm256_set_m128i(high, low), eight);
        let sum = dot_i8x32(q, load_i8x32(&y.qs));
        let d = f16_at(block, 0) * f16_bits_to_f32(y.d.to_bits());
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
    }
    sum_f32x8(acc)
}

/// AVX2 version of [`super::q8::quantize_row_q8_k`], equal to it bit for
/// bit on finite input.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If `x.len()` is not `256 * out.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn quantize_row_q8_k(x: &[f32], out: &mut [Q8KBlock]) {
    check_values("quantize_row_q8_k", x.len(), QK_K, out.len());
    let sign_bit = _mm256_set1_ps(-0.0);
    let max_q = _mm256_set1_epi32(127);
    // packs interleave 128-bit lanes; this puts the 32 bytes back in order.
    let unshuffle = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (block, x) in out.iter_mut().zip(x.chunks_exact(QK_K)) {
        let mut amax_lanes = _mm256_setzero_ps();
        for chunk in x.chunks_exact(8) {
            amax_lanes = _mm256_max_ps(amax_lanes, _mm256_andnot_ps(sign_bit, load_f32x8(chunk)));
        }
        let mut lanes = [0.0f32; 8];
        store_f32x8(&mut lanes, amax_lanes);
        let amax = lanes.iter().fold(0.0f32, |acc, &v| acc.max(v));
        // The reference takes the sign from the first element of largest magnitude.
        let Some(max) = x
            .iter()
            .copied()
            .find(|v| v.abs() == amax)
            .filter(|_| amax != 0.0)
        else {
            *block = Q8KBlock::default();
            continue;
        };
        let iscale = -127.0 / max;
        let scale = _mm256_set1_ps(iscale);
        for (chunk, qs) in x.chunks_exact(32).zip(block.qs.chunks_exact_mut(32)) {
            let words_ab = _mm256_packs_epi32(
                scale_round_x8(&chunk[..8], scale, max_q),
                scale_round_x8(&chunk[8..16], scale, max_q),
            );
            let words_cd = _mm256_packs_epi32(
                scale_round_x8(&chunk[16..24], scale, max_q),
                scale_round_x8(&chunk[24..], scale, max_q),
            );
            let bytes =
                _mm256_permutevar8x32_epi32(_mm256_packs_epi16(words_ab, words_cd), unshuffle);
            store_i8x32(qs, bytes);
        }
        fill_bsums(block);
        block.d = 1.0 / iscale;
    }
}

/// min(round(x · scale), max_q) for 8 floats, rounding ties to even as
/// ggml's `nearest_int` does.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scale_round_x8(x: &[f32], scale: __m256, max_q: __m256i) -> __m256i {
    let scaled = _mm256_mul_ps(load_f32x8(x), scale);
    let rounded = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(scaled);
    _mm256_min_epi32(_mm256_cvtps_epi32(rounded), max_q)
}

/// Loads 8 floats from the start of `values` (panics if it is shorter).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_f32x8(values: &[f32]) -> __m256 {
    let values = &values[..8];
    // SAFETY: `values` is exactly 8 readable floats; loadu has no alignment requirement.
    unsafe { _mm256_loadu_ps(values.as_ptr()) }
}

/// Stores 8 floats to `out`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store_f32x8(out: &mut [f32; 8], v: __m256) {
    // SAFETY: `out` is exactly 8 writable floats; storeu has no alignment requirement.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) }
}

/// Stores 32 signed bytes to the start of `out` (panics if it is shorter).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store_i8x32(out: &mut [i8], v: __m256i) {
    let out = &mut out[..32];
    // SAFETY: `out` is exactly 32 writable bytes; storeu has no alignment requirement.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) }
}

/// [`vec_dot_q4_k_q8_k`] of one row against `N` activation rows at once:
/// each weight block is loaded and unpacked once and used for all `N`, the
/// inner step of a prefill's matrix-matrix product. Each result is computed
/// by exactly the operations of the one-row kernel, in the same order, so it
/// equals that kernel's result bit for bit (a prompt split across batches
/// gives the same logits as one batch).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If `row` is not `144 * y.len()` bytes for every `y` of `ys`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q4_k_q8_k_cols<const N: usize>(
    row: &[u8],
    ys: &[&[Q8KBlock]; N],
) -> [f32; N] {
    for y in ys {
        check_lengths("vec_dot_q4_k_q8_k_cols", row, Q4_K_BLOCK_BYTES, y.len());
    }
    let mut acc = [_mm256_setzero_ps(); N];
    let mut acc_mins = [_mm_setzero_ps(); N];
    for (b, block) in row.chunks_exact(Q4_K_BLOCK_BYTES).enumerate() {
        let (scales, mins) = q4_k_scales_and_mins(block);
        let (d_w, dmin_w) = (f16_at(block, 0), f16_at(block, 2));
        for j in 0..N {
            let y = &ys[j][b];
            let min_dot = _mm_madd_epi16(mins, sub_block_sums(&y.bsums));
            let dmin = dmin_w * y.d;
            acc_mins[j] = _mm_fmadd_ps(_mm_set1_ps(-dmin), _mm_cvtepi32_ps(min_dot), acc_mins[j]);
        }
        let qs = &block[16..16 + QK_K / 2];
        let mut sum = [_mm256_setzero_si256(); N];
        for group in 0..QK_K / 64 {
            let [q_low, q_high, scale_low, scale_high] = q4_k_group(qs, scales, group);
            for j in 0..N {
                let y = &ys[j][b];
                let y_low = load_i8x32(&y.qs[64 * group..]);
                let y_high = load_i8x32(&y.qs[64 * group + 32..]);
                let p_low = _mm256_madd_epi16(_mm256_maddubs_epi16(q_low, y_low), scale_low);
                let p_high = _mm256_madd_epi16(_mm256_maddubs_epi16(q_high, y_high), scale_high);
                sum[j] = _mm256_add_epi32(sum[j], _mm256_add_epi32(p_low, p_high));
            }
        }
        for j in 0..N {
            let d = d_w * ys[j][b].d;
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum[j]), acc[j]);
        }
    }
    let mut out = [0.0f32; N];
    for j in 0..N {
        out[j] = sum_f32x8(acc[j]) + sum_f32x4(acc_mins[j]);
    }
    out
}

/// [`vec_dot_q6_k_q8_k`] of one row against `N` activation rows at once,
/// unpacking each weight block once; bit-identical to the one-row kernel
/// for each column (same operations, same order).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If `row` is not `210 * y.len()` bytes for every `y` of `ys`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q6_k_q8_k_cols<const N: usize>(
    row: &[u8],
    ys: &[&[Q8KBlock]; N],
) -> [f32; N] {
    for y in ys {
        check_lengths("vec_dot_q6_k_q8_k_cols", row, Q6_K_BLOCK_BYTES, y.len());
    }
    let mut acc = [_mm256_setzero_ps(); N];
    for (b, block) in row.chunks_exact(Q6_K_BLOCK_BYTES).enumerate() {
        let scales = q6_k_scales(block);
        let mut sum = [_mm256_setzero_si256(); N];
        for (half, half_scales) in q6_k_halves_scales(scales).into_iter().enumerate() {
            for (quarter, q) in q6_k_half_quants(block, half).into_iter().enumerate() {
                let start = 128 * half + 32 * quarter;
                let scale =
                    _mm256_shuffle_epi8(half_scales, spread_i16(2 * quarter, 2 * quarter + 1));
                for j in 0..N {
                    let activations = load_i8x32(&ys[j][b].qs[start..]);
                    let products = _mm256_madd_epi16(_mm256_maddubs_epi16(q, activations), scale);
                    sum[j] = _mm256_add_epi32(sum[j], products);
                }
            }
        }
        let d_w = f16_at(block, Q6_K_D);
        for j in 0..N {
            let y = &ys[j][b];
            let s = _mm256_sub_epi32(sum[j], q6_k_offset(scales, &y.bsums));
            let d = d_w * y.d;
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc[j]);
        }
    }
    let mut out = [0.0f32; N];
    for j in 0..N {
        out[j] = sum_f32x8(acc[j]);
    }
    out
}
