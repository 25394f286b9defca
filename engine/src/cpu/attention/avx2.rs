//! The AVX2 versions of the attention kernels (with FMA and F16C, which
//! every AVX2 CPU has). Each is an `unsafe fn` whose only precondition is
//! that the CPU has those features; every load and store goes through a
//! bounds-checked slice. Scores and weighted sums are bit-identical to the
//! scalar references: a multiply then an add (never fused), in the
//! references' order. f16 keys and values are widened in registers as they
//! are loaded, which is exact.

use std::arch::x86_64::*;

use half::f16;

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load(x: &[f32], at: usize) -> __m256 {
    let lanes = &x[at..at + 8];
    // SAFETY: `lanes` holds the 8 values read.
    unsafe { _mm256_loadu_ps(lanes.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_half(x: &[f16], at: usize) -> __m256 {
    let lanes = &x[at..at + 8];
    // SAFETY: `lanes` holds the 8 halves (16 bytes, f16 has no padding) read.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(lanes.as_ptr().cast())) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store(x: &mut [f32], at: usize, v: __m256) {
    let lanes = &mut x[at..at + 8];
    // SAFETY: `lanes` holds the 8 values written.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) }
}

#[inline]
fn get(x: &[f32], i: usize) -> f32 {
    x[i]
}

#[inline]
fn get_half(x: &[f16], i: usize) -> f32 {
    x[i].to_f32()
}

/// The score and weighted-sum kernels for keys and values stored as `$t`,
/// read with `$load` (eight lanes) and `$get` (one value).
macro_rules! kv_kernels {
    ($t:ty, $load:ident, $get:ident, $dots:ident, $scores:ident, $accumulate:ident) => {
        /// Up to four dot products of `q` with consecutive key rows, each
        /// in `ops::dot`'s order: eight lanes of products added a chunk at
        /// a time, the lanes summed as a tree (pairs, then pairs of pairs,
        /// then the halves), then the tail. Three horizontal adds sum four
        /// keys' lanes at once in exactly that tree; the four independent
        /// chains hide the add latency.
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        fn $dots<const K: usize>(q: &[f32], keys: &[$t], out: &mut [f32]) {
            let hd = q.len();
            let whole = hd - hd % 8;
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i < whole {
                let qv = load(q, i);
                for (k, a) in acc.iter_mut().enumerate().take(K) {
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(qv, $load(keys, k * hd + i)));
                }
                i += 8;
            }
            let pairs = _mm256_hadd_ps(
                _mm256_hadd_ps(acc[0], acc[1]),
                _mm256_hadd_ps(acc[2], acc[3]),
            );
            let sums = _mm_add_ps(
                _mm256_castps256_ps128(pairs),
                _mm256_extractf128_ps::<1>(pairs),
            );
            let mut lanes = [0.0f32; 4];
            // SAFETY: `lanes` holds the 4 values written.
            unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), sums) };
            for (k, o) in out.iter_mut().enumerate().take(K) {
                let mut sum = lanes[k];
                for j in whole..hd {
                    sum += q[j] * $get(keys, k * hd + j);
                }
                *o = sum;
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) fn $scores(q: &[f32], keys: &[$t], scale: f32, out: &mut [f32]) {
            let hd = q.len();
            let mut s = 0;
            while s + 4 <= out.len() {
                $dots::<4>(q, &keys[s * hd..], &mut out[s..s + 4]);
                s += 4;
            }
            while s < out.len() {
                $dots::<1>(q, &keys[s * hd..], &mut out[s..s + 1]);
                s += 1;
            }
            for o in out.iter_mut() {
                *o *= scale;
            }
        }

        /// `out += w * v` for each weight and value row, each element's
        /// terms added in row order as `ops::axpy` adds them. The output is
        /// held in registers across all rows, 64 values at a time (eight
        /// independent chains), so it is loaded and stored once per call
        /// rather than once per row.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) fn $accumulate(out: &mut [f32], weights: &[f32], values: &[$t]) {
            let hd = out.len();
            let mut c = 0;
            while c + 64 <= hd {
                let mut acc = [_mm256_setzero_ps(); 8];
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = load(out, c + 8 * j);
                }
                for (s, &w) in weights.iter().enumerate() {
                    let wv = _mm256_set1_ps(w);
                    let row = s * hd + c;
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_add_ps(*a, _mm256_mul_ps(wv, $load(values, row + 8 * j)));
                    }
                }
                for (j, a) in acc.iter().enumerate() {
                    store(out, c + 8 * j, *a);
                }
                c += 64;
            }
            while c + 8 <= hd {
                let mut acc = load(out, c);
                for (s, &w) in weights.iter().enumerate() {
                    let v = $load(values, s * hd + c);
                    acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(w), v));
                }
                store(out, c, acc);
                c += 8;
            }
            for j in c..hd {
                let mut o = out[j];
                for (s, &w) in weights.iter().enumerate() {
                    o += w * $get(values, s * hd + j);
                }
                out[j] = o;
            }
        }
    };
}

kv_kernels!(f32, load, get, dots, scores, accumulate);
kv_kernels!(
    f16,
    load_half,
    get_half,
    dots_half,
    scores_half,
    accumulate_half
);

/// `e^x` in each lane, to within 2 ulp of `f32::exp` for the arguments a
/// softmax gives it (`x <= 0`): Cody-Waite reduction by ln 2 and Cephes'
/// degree-6 polynomial, with results below `f32`'s normal range flushed
/// to zero.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn exp(x: __m256) -> __m256 {
    let lo = _mm256_set1_ps(-87.336_55);
    let hi = _mm256_set1_ps(88.376_26);
    let underflow = _mm256_cmp_ps::<_CMP_LT_OQ>(x, lo);
    let x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let r2 = _mm256_mul_ps(r, r);
    let e = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0));
    // 2^n, built in the exponent field; n lies in [-126, 128) here, and
    // n = 128 only at the clamp, where the scaling below keeps it finite.
    let ni = _mm256_cvtps_epi32(n);
    let half = _mm256_srai_epi32::<1>(ni);
    let pow = |k: __m256i| {
        _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            k,
            _mm256_set1_epi32(127),
        )))
    };
    // Two factors 2^(n/2) and 2^(n - n/2) keep each within range.
    let scaled = _mm256_mul_ps(_mm256_mul_ps(e, pow(half)), pow(_mm256_sub_epi32(ni, half)));
    _mm256_andnot_ps(underflow, scaled)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn softmax(x: &mut [f32]) {
    let n = x.len();
    let whole = n - n % 8;
    let mut maxv = _mm256_set1_ps(f32::NEG_INFINITY);
    let mut i = 0;
    while i < whole {
        maxv = _mm256_max_ps(maxv, load(x, i));
        i += 8;
    }
    let mut lanes = [0.0f32; 8];
    store(&mut lanes, 0, maxv);
    let mut max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in &x[whole..] {
        max = max.max(v);
    }
    let maxv = _mm256_set1_ps(max);
    let (mut sum_lo, mut sum_hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut i = 0;
    while i < whole {
        let e = exp(_mm256_sub_ps(load(x, i), maxv));
        store(x, i, e);
        sum_lo = _mm256_add_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum_hi = _mm256_add_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(e)));
        i += 8;
    }
    let mut tail = [f32::NEG_INFINITY; 8];
    tail[..n - whole].copy_from_slice(&x[whole..]);
    let e = exp(_mm256_sub_ps(load(&tail, 0), maxv));
    store(&mut tail, 0, e);
    x[whole..].copy_from_slice(&tail[..n - whole]);
    let mut wide = [0.0f64; 4];
    // SAFETY: `wide` holds the 4 values written.
    unsafe { _mm256_storeu_pd(wide.as_mut_ptr(), _mm256_add_pd(sum_lo, sum_hi)) };
    let sum: f64 =
        wide.iter().sum::<f64>() + tail[..n - whole].iter().map(|&v| f64::from(v)).sum::<f64>();
    let inv = _mm256_set1_ps((1.0 / sum) as f32);
    let mut i = 0;
    while i < whole {
        store(x, i, _mm256_mul_ps(load(x, i), inv));
        i += 8;
    }
    let inv = (1.0 / sum) as f32;
    for v in &mut x[whole..] {
        *v *= inv;
    }
}
