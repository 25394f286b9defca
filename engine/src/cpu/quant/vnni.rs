//! AVX-512 VNNI kernels for K-quant weights repacked by `repack` into groups
//! of [`PACK_ROWS`] interleaved rows, against `Q8_K` activations.
//!
//! A kernel takes one packed group and `N` activation rows and returns the
//! 16 x `N` dot products, one row per 512-bit lane. Every product is
//! computed by the same operations in the same order whatever `N` is (the
//! integer sums are exact, and the float steps per block are one multiply
//! and one or two fused multiply-adds per lane), so decode (`N = 1`) and
//! prefill (`N = 4` plus tails) give bit-identical results for the same row
//! and activations: how a prompt is split into batches never changes a logit.
//!
//! Every function here requires AVX2, FMA, F16C, AVX-512F/BW/VL and
//! AVX-512 VNNI: they are `unsafe fn`s whose only precondition is that the
//! CPU has them, which `packed` checks before packing a matrix. Memory
//! safety does not depend on the caller: lengths are asserted and every
//! load goes through a bounds-checked slice.

use std::arch::x86_64::*;

use super::avx2::{load_u8x16, load_u8x32};
use super::q8::Q8KBlock;
use super::repack::{q4_k_packed, q6_k_packed, PACK_ROWS, Q4_K_PACKED_BYTES, Q6_K_PACKED_BYTES};

/// How far ahead of the block it reads the `Q6_K` kernel prefetches: the
/// hardware prefetcher falls behind on `Q6_K`'s three loads a step, and
/// 8 KiB ahead keeps the stream at memory speed. `Q4_K` keeps up without
/// one (a prefetch only cost it time in decode), so it has none. The
/// measurements are in bench/RESULTS.md.
const Q6_K_PREFETCH_AHEAD: usize = 8192;

/// Asks the CPU to start loading the cache line at `p`. Never faults, so
/// `p` may lie past the end of the weights.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn prefetch(p: *const u8) {
    // A hint, safe to give: it reads nothing and never faults.
    _mm_prefetch::<_MM_HINT_T0>(p.cast())
}

/// Bytes of one chunk of quants: 4 of every row.
const CHUNK: usize = 4 * PACK_ROWS;

// Not with the AVX2 loads in `avx2`: a 512-bit load needs this module's AVX-512 features.
/// Loads 64 bytes from the start of `bytes` (panics if it is shorter).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load_64(bytes: &[u8]) -> __m512i {
    let bytes = &bytes[..64];
    // SAFETY: `bytes` is exactly 64 readable bytes; loadu has no alignment requirement.
    unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
}

/// The 4 activations at `at` repeated in all 16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn broadcast_4(qs: &[i8; 256], at: usize) -> __m512i {
    let four = &qs[at..at + 4];
    // SAFETY: `four` is exactly 4 readable bytes; read_unaligned has no
    // alignment requirement. (Assembling the i32 from 4 indexed bytes
    // compiles to 4 byte loads and shifts, which dominated the kernel.)
    _mm512_set1_epi32(unsafe { four.as_ptr().cast::<i32>().read_unaligned() })
}

/// The little-endian f16 of each row at the start of `bytes`, as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn f16_lanes(bytes: &[u8]) -> __m512 {
    _mm512_cvtph_ps(load_u8x32(bytes))
}

/// Checks that `group` holds one packed block of `block_bytes` per activation block.
fn check_lengths<const N: usize>(group: &[u8], ys: &[&[Q8KBlock]; N], block_bytes: usize) {
    for y in ys {
        super::vec_dot::check_lengths("packed K-quant kernel", group, block_bytes, y.len());
    }
}

/// The dot products of the rows of a packed `Q4_K` group with each of
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
pub(super) unsafe fn q4_k_packed<const N: usize>(
    group: &[u8],
    ys: &[&[Q8KBlock]; N],
) -> [[f32; PACK_ROWS]; N] {
    check_lengths(group, ys, Q4_K_PACKED_BYTES);
    let nibble = _mm512_set1_epi8(0x0F);
    let mut acc = [_mm512_setzero_ps(); N];
    for (b, block) in group.chunks_exact(Q4_K_PACKED_BYTES).enumerate() {
        let qs = &block[q4_k_packed::QS..];
        let mut isum = [_mm512_setzero_si512(); N];
        for pair in 0..4 {
            let mut low = [_mm512_setzero_si512(); N];
            let mut high = [_mm512_setzero_si512(); N];
            for k in 0..8 {
                let w = load_64(&qs[CHUNK * (8 * pair + k)..]);
                let w_low = _mm512_and_si512(w, nibble);
                let w_high = _mm512_and_si512(_mm512_srli_epi16(w, 4), nibble);
                for j in 0..N {
                    let y = &ys[j][b].qs;
                    let at = 64 * pair + 4 * k;
                    low[j] = _mm512_dpbusd_epi32(low[j], w_low, broadcast_4(y, at));
                    high[j] = _mm512_dpbusd_epi32(high[j], w_high, broadcast_4(y, at + 32));
                }
            }
            let scales = &block[q4_k_packed::SCALES + 2 * PACK_ROWS * pair..];
            let scale_low = _mm512_cvtepu8_epi32(load_u8x16(scales));
            let scale_high = _mm512_cvtepu8_epi32(load_u8x16(&scales[PACK_ROWS..]));
            for j in 0..N {
                let scaled = _mm512_add_epi32(
                    _mm512_mullo_epi32(low[j], scale_low),
                    _mm512_mullo_epi32(high[j], scale_high),
                );
                isum[j] = _mm512_add_epi32(isum[j], scaled);
            }
        }
        let d = f16_lanes(&block[q4_k_packed::D..]);
        let dmin = f16_lanes(&block[q4_k_packed::DMIN..]);
        for j in 0..N {
            let y = &ys[j][b];
            // Σ_sub min_sub · (sum of the sub-block's 32 activations), as i16
            // pairs: mins ≤ 63 and sums of 32 activations ≤ 4096 in magnitude.
            let mut min_dot = _mm512_setzero_si512();
            for pair in 0..4 {
                let sums = [2 * pair, 2 * pair + 1].map(|sub| {
                    (i32::from(y.bsums[2 * sub]) + i32::from(y.bsums[2 * sub + 1])) as u16
                });
                let sums = (u32::from(sums[0]) | (u32::from(sums[1]) << 16)) as i32;
                let mins = &block[q4_k_packed::MINS + 2 * PACK_ROWS * pair..];
                let mins = _mm512_cvtepu8_epi16(load_u8x32(mins));
                min_dot = _mm512_dpwssd_epi32(min_dot, mins, _mm512_set1_epi32(sums));
            }
            let y_d = _mm512_set1_ps(y.d);
            let isum = _mm512_cvtepi32_ps(isum[j]);
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, y_d), isum, acc[j]);
            let min_dot = _mm512_cvtepi32_ps(min_dot);
            acc[j] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, y_d), min_dot, acc[j]);
        }
    }
    store_lanes(acc)
}

/// The dot products of the rows of a packed `Q6_K` group with each of
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
pub(super) unsafe fn q6_k_packed<const N: usize>(
    group: &[u8],
    ys: &[&[Q8KBlock]; N],
) -> [[f32; PACK_ROWS]; N] {
    check_lengths(group, ys, Q6_K_PACKED_BYTES);
    let nibble = _mm512_set1_epi8(0x0F);
    let bits_01 = _mm512_set1_epi8(0x03);
    let bits_23 = _mm512_set1_epi8(0x0C);
    let bits_45 = _mm512_set1_epi8(0x30);
    let mut acc = [_mm512_setzero_ps(); N];
    for (b, block) in group.chunks_exact(Q6_K_PACKED_BYTES).enumerate() {
        // The block as far ahead as the kernel prefetches: the rest of this
        // group, then the next group (which the same task usually takes).
        let ahead = block.as_ptr().wrapping_add(Q6_K_PREFETCH_AHEAD);
        let quants = &block[q6_k_packed::QS..q6_k_packed::SCALES];
        let scales = &block[q6_k_packed::SCALES..];
        let mut isum = [_mm512_setzero_si512(); N];
        // Elements 16·run..16·run+16 of each quarter of each half: 4
        // sub-blocks (one per quarter), 4 groups of 4 elements each.
        for (i, (half, run)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
            // One of the four lines of scales and, first, the line of `d`.
            prefetch(ahead.wrapping_add(q6_k_packed::SCALES + 64 * i));
            if i == 0 {
                prefetch(ahead.wrapping_add(q6_k_packed::D));
            }
            let sub = |quarter: usize| 8 * half + 2 * quarter + run;
            let mut quarters = [[_mm512_setzero_si512(); N]; 4];
            for (quarter, acc_q) in quarters.iter_mut().enumerate() {
                for j in 0..N {
                    let offset = -32 * i32::from(ys[j][b].bsums[sub(quarter)]);
                    acc_q[j] = _mm512_set1_epi32(offset);
                }
            }
            for k in 4 * run..4 * run + 4 {
                // Low bits: the step's first chunk holds quarters 0 (low
                // nibbles) and 2 (high), the second quarters 1 and 3.
                let at = q6_k_packed::STEP * (8 * half + k);
                for line in 0..3 {
                    prefetch(ahead.wrapping_add(q6_k_packed::QS + at + 64 * line));
                }
                let step = &quants[at..];
                let first = load_64(step);
                let second = load_64(&step[CHUNK..]);
                let h = load_64(&step[2 * CHUNK..]);
                let q = [
                    _mm512_or_si512(
                        _mm512_and_si512(first, nibble),
                        _mm512_slli_epi16(_mm512_and_si512(h, bits_01), 4),
                    ),
                    _mm512_or_si512(
                        _mm512_and_si512(second, nibble),
                        _mm512_slli_epi16(_mm512_and_si512(h, bits_23), 2),
                    ),
                    _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16(first, 4), nibble),
                        _mm512_and_si512(h, bits_45),
                    ),
                    _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16(second, 4), nibble),
                        _mm512_and_si512(_mm512_srli_epi16(h, 2), bits_45),
                    ),
                ];
                for (quarter, acc_q) in quarters.iter_mut().enumerate() {
                    for j in 0..N {
                        let at = 128 * half + 32 * quarter + 4 * k;
                        let y = broadcast_4(&ys[j][b].qs, at);
                        acc_q[j] = _mm512_dpbusd_epi32(acc_q[j], q[quarter], y);
                    }
                }
            }
            for (quarter, acc_q) in quarters.iter().enumerate() {
                let scale = _mm512_cvtepi8_epi32(load_u8x16(&scales[PACK_ROWS * sub(quarter)..]));
                for j in 0..N {
                    isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(acc_q[j], scale));
                }
            }
        }
        let d = f16_lanes(&block[q6_k_packed::D..]);
        for j in 0..N {
            let y_d = _mm512_set1_ps(ys[j][b].d);
            let isum = _mm512_cvtepi32_ps(isum[j]);
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, y_d), isum, acc[j]);
        }
    }
    store_lanes(acc)
}

/// The lanes of each accumulator.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn store_lanes<const N: usize>(acc: [__m512; N]) -> [[f32; PACK_ROWS]; N] {
    let mut out = [[0.0f32; PACK_ROWS]; N];
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` is exactly 16 writable floats; storeu has no alignment requirement.
        unsafe { _mm512_storeu_ps(o.as_mut_ptr(), a) };
    }
    out
}

/// Independent accumulator chains of [`vpdpbusd_loop`]: enough to cover the
/// instruction's latency at its throughput, few enough to stay in registers.
const PEAK_CHAINS: usize = 12;

/// Runs `rounds` x [`PEAK_CHAINS`] `vpdpbusd` instructions on registers
/// alone: the int8 multiply-accumulate ceiling the packed kernels work
/// against (each instruction is 64 multiply-adds). Returns a value that
/// depends on every instruction, so none can be optimized away.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-512F/BW/VL and AVX-512 VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn vpdpbusd_loop(rounds: usize) -> i32 {
    let mut acc: [__m512i; PEAK_CHAINS] = std::array::from_fn(|i| _mm512_set1_epi32(i as i32));
    let mut w = _mm512_set1_epi8(3);
    let y = _mm512_set1_epi8(1);
    for _ in 0..rounds {
        for a in acc.iter_mut() {
            *a = _mm512_dpbusd_epi32(*a, w, y);
        }
        // Opaque to the optimizer, so the chains are not folded into a multiply.
        w = std::hint::black_box(w);
    }
    let sum = acc
        .iter()
        .fold(_mm512_setzero_si512(), |s, &a| _mm512_add_epi32(s, a));
    _mm512_reduce_add_epi32(sum)
}

/// Multiply-adds one [`vpdpbusd_loop`] round does.
pub(super) const PEAK_ROUND_MACS: usize = PEAK_CHAINS * 64;
