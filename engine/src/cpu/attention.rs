//! The inner loops of attention over the f32 KV cache: query-key scores for
//! one block of keys, a softmax over a row of scores, and the weighted sum of
//! one block of values. At depth these dominate decode (a 2048-token context
//! costs the default model ~350 MFLOP and ~690k `exp` per token), so each has
//! an AVX2+FMA version chosen once at run time, with the scalar one kept as
//! the reference the tests hold it to. AVX-512 and NEON versions would be
//! further variants of [`AttentionKernels`].

use super::ops;
use crate::kv::KvRows;

/// The attention kernels this CPU runs, chosen once per call site.
///
/// Invariant: the `Avx2` variant is only built after
/// [`super::quant::has_avx2`] returned true.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttentionKernels {
    /// Portable Rust, the reference.
    Scalar,
    /// AVX2 with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl AttentionKernels {
    /// The fastest kernels this CPU supports.
    pub fn best() -> AttentionKernels {
        #[cfg(target_arch = "x86_64")]
        if super::quant::has_avx2() {
            return AttentionKernels::Avx2;
        }
        AttentionKernels::Scalar
    }

    /// A short name for logs and `hearth bench`.
    pub fn name(self) -> &'static str {
        match self {
            AttentionKernels::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            AttentionKernels::Avx2 => "avx2",
        }
    }

    /// The first `len` values of `rows` as f32: the rows themselves when
    /// stored as f32, else widened (exactly) into `buf`.
    pub fn widen<'a>(self, rows: KvRows<'a>, len: usize, buf: &'a mut [f32]) -> &'a [f32] {
        match rows {
            KvRows::F32(v) => &v[..len],
            KvRows::F16(v) => {
                let (src, dst) = (&v[..len], &mut buf[..len]);
                match self {
                    AttentionKernels::Scalar => {
                        for (d, x) in dst.iter_mut().zip(src) {
                            *d = x.to_f32();
                        }
                    }
                    // SAFETY: as in `scores`; F16C comes with AVX2 in
                    // `has_avx2`.
                    #[cfg(target_arch = "x86_64")]
                    AttentionKernels::Avx2 => unsafe { avx2::widen(src, dst) },
                }
                dst
            }
        }
    }

    /// `out[s] = dot(q, keys[s]) * scale` for each of the `out.len()` keys
    /// stored back to back in `keys`, each `q.len()` values long.
    pub fn scores(self, q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
        let hd = q.len();
        assert!(keys.len() >= out.len() * hd, "fewer keys than scores");
        match self {
            AttentionKernels::Scalar => {
                for (s, o) in out.iter_mut().enumerate() {
                    *o = ops::dot(q, &keys[s * hd..(s + 1) * hd]) * scale;
                }
            }
            // SAFETY: `Avx2` is only built once AVX2 and FMA were detected.
            #[cfg(target_arch = "x86_64")]
            AttentionKernels::Avx2 => unsafe { avx2::scores(q, keys, scale, out) },
        }
    }

    /// Softmax of `x` in place, stable against large values; the sum is
    /// accumulated in f64 by both versions.
    pub fn softmax(self, x: &mut [f32]) {
        match self {
            AttentionKernels::Scalar => ops::softmax(x),
            // SAFETY: as in `scores`.
            #[cfg(target_arch = "x86_64")]
            AttentionKernels::Avx2 => unsafe { avx2::softmax(x) },
        }
    }

    /// `out += Σ_s weights[s] * values[s]` over the `weights.len()` value
    /// rows stored back to back in `values`, each `out.len()` values long.
    pub fn accumulate(self, out: &mut [f32], weights: &[f32], values: &[f32]) {
        let hd = out.len();
        assert!(
            values.len() >= weights.len() * hd,
            "fewer values than weights"
        );
        match self {
            AttentionKernels::Scalar => {
                for (s, &w) in weights.iter().enumerate() {
                    ops::axpy(out, w, &values[s * hd..(s + 1) * hd]);
                }
            }
            // SAFETY: as in `scores`.
            #[cfg(target_arch = "x86_64")]
            AttentionKernels::Avx2 => unsafe { avx2::accumulate(out, weights, values) },
        }
    }
}

/// The AVX2+FMA versions. Each is an `unsafe fn` whose only precondition is
/// that the CPU has AVX2 and FMA; every load and store goes through a
/// bounds-checked slice.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn load(x: &[f32], at: usize) -> __m256 {
        let lanes = &x[at..at + 8];
        // SAFETY: `lanes` holds the 8 values read.
        unsafe { _mm256_loadu_ps(lanes.as_ptr()) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn store(x: &mut [f32], at: usize, v: __m256) {
        let lanes = &mut x[at..at + 8];
        // SAFETY: `lanes` holds the 8 values written.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) }
    }

    /// Up to four dot products of `q` with consecutive key rows, each in
    /// the scalar reference's order: eight lanes of products added one
    /// chunk at a time (a multiply, then an add: no fused rounding), the
    /// lanes summed left to right, then the tail. Bit-identical to
    /// `ops::dot`; the four independent chains hide the add latency.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn dots<const K: usize>(q: &[f32], keys: &[f32], out: &mut [f32]) {
        let hd = q.len();
        let whole = hd - hd % 8;
        let mut acc = [_mm256_setzero_ps(); K];
        let mut i = 0;
        while i < whole {
            let qv = load(q, i);
            for (k, a) in acc.iter_mut().enumerate() {
                *a = _mm256_add_ps(*a, _mm256_mul_ps(qv, load(keys, k * hd + i)));
            }
            i += 8;
        }
        for (k, a) in acc.iter().enumerate() {
            let mut lanes = [0.0f32; 8];
            store(&mut lanes, 0, *a);
            let mut sum: f32 = lanes.iter().sum();
            let key = &keys[k * hd..(k + 1) * hd];
            for j in whole..hd {
                sum += q[j] * key[j];
            }
            out[k] = sum;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn scores(q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
        let hd = q.len();
        let mut s = 0;
        while s + 4 <= out.len() {
            dots::<4>(q, &keys[s * hd..], &mut out[s..s + 4]);
            s += 4;
        }
        while s < out.len() {
            dots::<1>(q, &keys[s * hd..], &mut out[s..s + 1]);
            s += 1;
        }
        for o in out.iter_mut() {
            *o *= scale;
        }
    }

    /// `out += w * v` row by row, a multiply then an add per element, as in
    /// `ops::axpy` (bit-identical to it).
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn accumulate(out: &mut [f32], weights: &[f32], values: &[f32]) {
        let hd = out.len();
        let whole = hd - hd % 8;
        for (s, &w) in weights.iter().enumerate() {
            let v = &values[s * hd..(s + 1) * hd];
            let wv = _mm256_set1_ps(w);
            let mut i = 0;
            while i < whole {
                store(
                    out,
                    i,
                    _mm256_add_ps(load(out, i), _mm256_mul_ps(wv, load(v, i))),
                );
                i += 8;
            }
            for j in whole..hd {
                out[j] += w * v[j];
            }
        }
    }

    /// f16 to f32 in hardware, eight at a time.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn widen(src: &[half::f16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let whole = n - n % 8;
        let mut i = 0;
        while i < whole {
            let lanes = &src[i..i + 8];
            // SAFETY: `lanes` holds the 8 halves (16 bytes) read; f16 is
            // two bytes with no padding.
            let halves = unsafe { _mm_loadu_si128(lanes.as_ptr().cast()) };
            store(dst, i, _mm256_cvtph_ps(halves));
            i += 8;
        }
        for j in whole..n {
            dst[j] = src[j].to_f32();
        }
    }

    /// `e^x` in each lane, to within 2 ulp of `f32::exp` for the arguments a
    /// softmax gives it (`x <= 0`): Cody-Waite reduction by ln 2 and Cephes'
    /// degree-6 polynomial, with results below `f32`'s normal range flushed
    /// to zero.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn exp(x: __m256) -> __m256 {
        let lo = _mm256_set1_ps(-87.336_55);
        let hi = _mm256_set1_ps(88.376_26);
        let underflow = _mm256_cmp_ps::<_CMP_LT_OQ>(x, lo);
        let x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        );
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

    #[target_feature(enable = "avx2,fma")]
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn scores_and_sums_equal_the_scalar_reference_bit_for_bit_at_every_tail() {
        let best = AttentionKernels::best();
        for hd in 1..=72 {
            for held in [1, 3, 8, 17] {
                let q = noise(hd, hd as u64);
                let keys = noise(hd * held, 7 + hd as u64);
                let (mut want, mut got) = (vec![0.0; held], vec![0.0; held]);
                AttentionKernels::Scalar.scores(&q, &keys, 0.125, &mut want);
                best.scores(&q, &keys, 0.125, &mut got);
                assert_eq!(want, got, "scores, head size {hd}, {held} keys");
                let weights = noise(held, 3);
                let mut want = noise(hd, 5);
                let mut got = want.clone();
                AttentionKernels::Scalar.accumulate(&mut want, &weights, &keys);
                best.accumulate(&mut got, &weights, &keys);
                assert_eq!(want, got, "accumulate, head size {hd}, {held} values");
            }
        }
    }

    #[test]
    fn widening_f16_is_exact_at_every_length() {
        let best = AttentionKernels::best();
        for n in 0..=40 {
            let halves: Vec<half::f16> = noise(n, n as u64 + 11)
                .iter()
                .map(|&v| half::f16::from_f32(v * 1000.0))
                .collect();
            let want: Vec<f32> = halves.iter().map(|h| h.to_f32()).collect();
            let mut buf = vec![0.0; n + 3];
            assert_eq!(best.widen(KvRows::F16(&halves), n, &mut buf), &want[..]);
            let mut buf = vec![0.0; n];
            let scalar = AttentionKernels::Scalar.widen(KvRows::F16(&halves), n, &mut buf);
            assert_eq!(scalar, &want[..]);
        }
    }

    #[test]
    fn softmax_matches_the_scalar_reference_at_every_length() {
        let best = AttentionKernels::best();
        for n in 1..=80 {
            let mut want: Vec<f32> = noise(n, n as u64).iter().map(|v| v * 40.0).collect();
            let mut got = want.clone();
            AttentionKernels::Scalar.softmax(&mut want);
            best.softmax(&mut got);
            for (w, g) in want.iter().zip(&got) {
                assert!(
                    (w - g).abs() <= 2e-6 * w.max(1e-30) + 1e-37,
                    "n {n}: {w} vs {g}"
                );
            }
            let total: f32 = got.iter().sum();
            assert!((total - 1.0).abs() < 1e-5, "n {n}: sums to {total}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_exp_is_within_two_ulp_of_libm() {
        use std::arch::x86_64::*;
        if !crate::cpu::quant::has_avx2() {
            return;
        }
        let mut x = -87.0f32;
        while x <= 88.0 {
            let xs: Vec<f32> = (0..8).map(|i| x + i as f32 * 0.001_3).collect();
            let mut got = [0.0f32; 8];
            // SAFETY: AVX2 and FMA were detected above; both buffers hold 8 values.
            unsafe { _mm256_storeu_ps(got.as_mut_ptr(), avx2::exp(_mm256_loadu_ps(xs.as_ptr()))) };
            for (&xi, &g) in xs.iter().zip(&got) {
                let want = xi.exp();
                let ulps = (want.to_bits() as i64 - g.to_bits() as i64).abs();
                assert!(ulps <= 2, "exp({xi}): {g} vs {want} ({ulps} ulp)");
            }
            x += 0.37;
        }
        let mut got = [1.0f32; 8];
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(got.as_mut_ptr(), avx2::exp(_mm256_set1_ps(-1000.0))) };
        assert_eq!(got, [0.0; 8]);
        // SAFETY: as above.
        unsafe {
            _mm256_storeu_ps(
                got.as_mut_ptr(),
                avx2::exp(_mm256_set1_ps(f32::NEG_INFINITY)),
            )
        };
        assert_eq!(got, [0.0; 8]);
    }
}
