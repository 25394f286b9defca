//! AVX-512 VNNI kernels (on 256-bit vectors) for K-quant weights repacked by
//! `repack` into groups of 8 interleaved rows, against `Q8_K` activations.
//!
//! A kernel takes one packed group and `N` activation rows and returns the
//! 8 x `N` dot products. Every product is computed by the same operations
//! in the same order whatever `N` is (the integer sums are exact, and the
//! float steps per block are one multiply and one or two fused
//! multiply-adds per lane), so decode (`N = 1`) and prefill (`N = 4` plus
//! tails) give bit-identical results for the same row and activations: how
//! a prompt is split into batches never changes a logit.
//!
//! Every function here requires AVX2, FMA, F16C, AVX-512F/BW/VL and
//! AVX-512 VNNI: they are `unsafe fn`s whose only precondition is that the
//! CPU has them, which `dispatch` checks before packing a matrix. Memory
//! safety does not depend on the caller: lengths are asserted and every
//! load goes through a bounds-checked slice.

use std::arch::x86_64::*;

use super::q8::Q8KBlock;
use super::repack::{q4_k_x8, q6_k_x8, Q4_K_X8_BYTES, Q6_K_X8_BYTES};

/// Loads 32 bytes from the start of `bytes` (panics if it is shorter).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load_32(bytes: &[u8]) -> __m256i {
    let bytes = &bytes[..32];
    // SAFETY: `bytes` is exactly 32 readable bytes; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// The 4 activations at `at` repeated in all 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn broadcast_4(qs: &[i8; 256], at: usize) -> __m256i {
    let four = &qs[at..at + 4];
    // SAFETY: `four` is exactly 4 readable bytes; read_unaligned has no
    // alignment requirement. (Assembling the i32 from 4 indexed bytes
    // compiles to 4 byte loads and shifts, which dominated the kernel.)
    _mm256_set1_epi32(unsafe { four.as_ptr().cast::<i32>().read_unaligned() })
}

/// Eight unsigned bytes at the start of `bytes`, widened to i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn widen_u8x8(bytes: &[u8]) -> __m256i {
    let eight: [u8; 8] = std::array::from_fn(|i| bytes[i]);
    _mm256_cvtepu8_epi32(_mm_set1_epi64x(i64::from_le_bytes(eight)))
}

/// Eight signed bytes at the start of `bytes`, widened to i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn widen_i8x8(bytes: &[u8]) -> __m256i {
    let eight: [u8; 8] = std::array::from_fn(|i| bytes[i]);
    _mm256_cvtepi8_epi32(_mm_set1_epi64x(i64::from_le_bytes(eight)))
}

/// Eight little-endian f16 at the start of `bytes`, as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn f16x8(bytes: &[u8]) -> __m256 {
    let bytes = &bytes[..16];
    // SAFETY: `bytes` is exactly 16 readable bytes; loadu has no alignment requirement.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) })
}

/// Checks that `group` holds one packed block of `block_bytes` per activation block.
fn check_lengths<const N: usize>(group: &[u8], ys: &[&[Q8KBlock]; N], block_bytes: usize) {
    for y in ys {
        assert_eq!(
            group.len(),
            block_bytes * y.len(),
            "packed K-quant group/activation length mismatch"
        );
    }
}

/// The dot products of the 8 rows of a packed `Q4_K` group with each of
/// `ys`: `out[j][r]` is row `r` times `ys[j]`.
///
/// Per block: Σ_sub scale·(q · y) in i32 (exact), then
/// `acc = fma(d·y.d, isum, acc)` and `acc = fnma(dmin·y.d, Σ min·bsum, acc)`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-512F/BW/VL and AVX-512 VNNI.
///
/// # Panics
/// If `group` is not one packed block per block of each `y`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn q4_k_x8<const N: usize>(group: &[u8], ys: &[&[Q8KBlock]; N]) -> [[f32; 8]; N] {
    check_lengths(group, ys, Q4_K_X8_BYTES);
    let nibble = _mm256_set1_epi8(0x0F);
    let mut acc = [_mm256_setzero_ps(); N];
    for (b, block) in group.chunks_exact(Q4_K_X8_BYTES).enumerate() {
        let qs = &block[q4_k_x8::QS..];
        let mut isum = [_mm256_setzero_si256(); N];
        for pair in 0..4 {
            let mut low = [_mm256_setzero_si256(); N];
            let mut high = [_mm256_setzero_si256(); N];
            for k in 0..8 {
                let w = load_32(&qs[32 * (8 * pair + k)..]);
                let w_low = _mm256_and_si256(w, nibble);
                let w_high = _mm256_and_si256(_mm256_srli_epi16(w, 4), nibble);
                for j in 0..N {
                    let y = &ys[j][b].qs;
                    low[j] = _mm256_dpbusd_epi32(low[j], w_low, broadcast_4(y, 64 * pair + 4 * k));
                    high[j] = _mm256_dpbusd_epi32(
                        high[j],
                        w_high,
                        broadcast_4(y, 64 * pair + 32 + 4 * k),
                    );
                }
            }
            let scales = &block[q4_k_x8::SCALES + 16 * pair..];
            let (scale_low, scale_high) = (widen_u8x8(scales), widen_u8x8(&scales[8..]));
            for j in 0..N {
                let scaled = _mm256_add_epi32(
                    _mm256_mullo_epi32(low[j], scale_low),
                    _mm256_mullo_epi32(high[j], scale_high),
                );
                isum[j] = _mm256_add_epi32(isum[j], scaled);
            }
        }
        let d = f16x8(&block[q4_k_x8::D..]);
        let dmin = f16x8(&block[q4_k_x8::DMIN..]);
        for j in 0..N {
            let y = &ys[j][b];
            // Σ_sub min_sub · (sum of the sub-block's 32 activations), as i16
            // pairs: mins ≤ 63 and sums of 32 activations ≤ 4096 in magnitude.
            let mut min_dot = _mm256_setzero_si256();
            for pair in 0..4 {
                let sums = [2 * pair, 2 * pair + 1].map(|sub| {
                    (i32::from(y.bsums[2 * sub]) + i32::from(y.bsums[2 * sub + 1])) as u16
                });
                let sums = _mm256_set1_epi32(i32::from(sums[0]) | (i32::from(sums[1]) << 16));
                let mins_bytes = &block[q4_k_x8::MINS + 16 * pair..q4_k_x8::MINS + 16 * pair + 16];
                // SAFETY: `mins_bytes` is exactly 16 readable bytes.
                let mins =
                    _mm256_cvtepu8_epi16(unsafe { _mm_loadu_si128(mins_bytes.as_ptr().cast()) });
                min_dot = _mm256_dpwssd_epi32(min_dot, mins, sums);
            }
            let y_d = _mm256_set1_ps(y.d);
            acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, y_d), _mm256_cvtepi32_ps(isum[j]), acc[j]);
            acc[j] = _mm256_fnmadd_ps(
                _mm256_mul_ps(dmin, y_d),
                _mm256_cvtepi32_ps(min_dot),
                acc[j],
            );
        }
    }
    store_lanes(acc)
}

/// The dot products of the 8 rows of a packed `Q6_K` group with each of
/// `ys`: `out[j][r]` is row `r` times `ys[j]`.
///
/// Quants are stored as q + 32 in 0..64; each 16-element sub-block's
/// accumulator starts at -32 · (sum of its activations), so it ends at the
/// exact Σ q·y, which is scaled in i32. Per block: `acc = fma(d·y.d, isum, acc)`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-512F/BW/VL and AVX-512 VNNI.
///
/// # Panics
/// If `group` is not one packed block per block of each `y`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn q6_k_x8<const N: usize>(group: &[u8], ys: &[&[Q8KBlock]; N]) -> [[f32; 8]; N] {
    check_lengths(group, ys, Q6_K_X8_BYTES);
    let nibble = _mm256_set1_epi8(0x0F);
    let bits_01 = _mm256_set1_epi8(0x03);
    let bits_23 = _mm256_set1_epi8(0x0C);
    let bits_45 = _mm256_set1_epi8(0x30);
    let mut acc = [_mm256_setzero_ps(); N];
    for (b, block) in group.chunks_exact(Q6_K_X8_BYTES).enumerate() {
        let quants = &block[q6_k_x8::QS..q6_k_x8::SCALES];
        let scales = &block[q6_k_x8::SCALES..];
        let mut isum = [_mm256_setzero_si256(); N];
        // Elements 16·run..16·run+16 of each quarter of each half: 4
        // sub-blocks (one per quarter), 4 groups of 4 elements each.
        for (half, run) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let sub = |quarter: usize| 8 * half + 2 * quarter + run;
            let mut quarters = [[_mm256_setzero_si256(); N]; 4];
            for (quarter, acc_q) in quarters.iter_mut().enumerate() {
                for j in 0..N {
                    let offset = -32 * i32::from(ys[j][b].bsums[sub(quarter)]);
                    acc_q[j] = _mm256_set1_epi32(offset);
                }
            }
            for k in 4 * run..4 * run + 4 {
                // Low bits: the first 32 bytes of the half hold quarters 0
                // (low nibbles) and 2 (high), the next 32 quarters 1 and 3.
                let step = &quants[q6_k_x8::STEP * (8 * half + k)..];
                let (first, second, h) =
                    (load_32(step), load_32(&step[32..]), load_32(&step[64..]));
                let q = [
                    _mm256_or_si256(
                        _mm256_and_si256(first, nibble),
                        _mm256_slli_epi16(_mm256_and_si256(h, bits_01), 4),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(second, nibble),
                        _mm256_slli_epi16(_mm256_and_si256(h, bits_23), 2),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(first, 4), nibble),
                        _mm256_and_si256(h, bits_45),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(second, 4), nibble),
                        _mm256_and_si256(_mm256_srli_epi16(h, 2), bits_45),
                    ),
                ];
                for (quarter, acc_q) in quarters.iter_mut().enumerate() {
                    for j in 0..N {
                        let at = 128 * half + 32 * quarter + 4 * k;
                        acc_q[j] = _mm256_dpbusd_epi32(
                            acc_q[j],
                            q[quarter],
                            broadcast_4(&ys[j][b].qs, at),
                        );
                    }
                }
            }
            for (quarter, acc_q) in quarters.iter().enumerate() {
                let scale = widen_i8x8(&scales[8 * sub(quarter)..]);
                for j in 0..N {
                    isum[j] = _mm256_add_epi32(isum[j], _mm256_mullo_epi32(acc_q[j], scale));
                }
            }
        }
        let d = f16x8(&block[q6_k_x8::D..]);
        for j in 0..N {
            let y_d = _mm256_set1_ps(ys[j][b].d);
            acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(d, y_d), _mm256_cvtepi32_ps(isum[j]), acc[j]);
        }
    }
    store_lanes(acc)
}

/// The lanes of each accumulator.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn store_lanes<const N: usize>(acc: [__m256; N]) -> [[f32; 8]; N] {
    let mut out = [[0.0f32; 8]; N];
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` is exactly 8 writable floats; storeu has no alignment requirement.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), a) };
    }
    out
}
