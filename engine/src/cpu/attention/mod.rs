//! The inner loops of attention over the KV cache: query-key scores for one
//! block of keys, a softmax over a row of scores, and the weighted sum of one
//! block of values. At depth these dominate decode (a 2048-token context
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

    /// `rows` (the first `len` values) in the form these kernels read
    /// fastest: the AVX2 kernels widen f16 as they load it, the scalar ones
    /// read f32, widened here (exactly) into `buf` once per block rather
    /// than once per query head. `buf` grows only when it is used.
    pub fn prepare<'a>(self, rows: KvRows<'a>, len: usize, buf: &'a mut Vec<f32>) -> KvRows<'a> {
        match (self, rows) {
            (AttentionKernels::Scalar, KvRows::F16(v)) => {
                buf.clear();
                buf.extend(v[..len].iter().map(|x| x.to_f32()));
                KvRows::F32(buf)
            }
            (_, KvRows::F16(v)) => KvRows::F16(&v[..len]),
            (_, KvRows::F32(v)) => KvRows::F32(&v[..len]),
        }
    }

    /// Asks the CPU to start loading `rows` into cache. A sequence's blocks
    /// lie far apart, so each block's run of one head's keys would otherwise
    /// begin with misses the hardware prefetcher has not yet seen coming.
    pub fn prefetch(self, rows: KvRows<'_>) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let (ptr, bytes) = match rows {
                KvRows::F16(v) => (v.as_ptr().cast::<i8>(), std::mem::size_of_val(v)),
                KvRows::F32(v) => (v.as_ptr().cast::<i8>(), std::mem::size_of_val(v)),
            };
            for offset in (0..bytes).step_by(64) {
                // SAFETY: SSE is part of x86-64; a prefetch never faults, and
                // the address stays inside `rows`.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(ptr.wrapping_add(offset)) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = rows;
    }

    /// `out[s] = dot(q, keys[s]) * scale` for each of the `out.len()` keys
    /// stored back to back in `keys`, each `q.len()` values long.
    pub fn scores(self, q: &[f32], keys: KvRows<'_>, scale: f32, out: &mut [f32]) {
        let hd = q.len();
        assert!(keys.len() >= out.len() * hd, "fewer keys than scores");
        match (self, keys) {
            (AttentionKernels::Scalar, KvRows::F32(keys)) => {
                for (s, o) in out.iter_mut().enumerate() {
                    *o = ops::dot(q, &keys[s * hd..(s + 1) * hd]) * scale;
                }
            }
            (AttentionKernels::Scalar, KvRows::F16(_)) => {
                let mut wide = Vec::new();
                let keys = self.prepare(keys, out.len() * hd, &mut wide);
                self.scores(q, keys, scale, out);
            }
            // SAFETY (both): `Avx2` is only built once AVX2, FMA and F16C
            // were detected, the kernels' only precondition.
            #[cfg(target_arch = "x86_64")]
            (AttentionKernels::Avx2, KvRows::F32(keys)) => unsafe {
                avx2::scores(q, keys, scale, out)
            },
            #[cfg(target_arch = "x86_64")]
            (AttentionKernels::Avx2, KvRows::F16(keys)) => unsafe {
                avx2::scores_half(q, keys, scale, out)
            },
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
    pub fn accumulate(self, out: &mut [f32], weights: &[f32], values: KvRows<'_>) {
        let hd = out.len();
        assert!(
            values.len() >= weights.len() * hd,
            "fewer values than weights"
        );
        match (self, values) {
            (AttentionKernels::Scalar, KvRows::F32(values)) => {
                for (s, &w) in weights.iter().enumerate() {
                    ops::axpy(out, w, &values[s * hd..(s + 1) * hd]);
                }
            }
            (AttentionKernels::Scalar, KvRows::F16(_)) => {
                let mut wide = Vec::new();
                let values = self.prepare(values, weights.len() * hd, &mut wide);
                self.accumulate(out, weights, values);
            }
            // SAFETY (both): as in `scores`.
            #[cfg(target_arch = "x86_64")]
            (AttentionKernels::Avx2, KvRows::F32(values)) => unsafe {
                avx2::accumulate(out, weights, values)
            },
            #[cfg(target_arch = "x86_64")]
            (AttentionKernels::Avx2, KvRows::F16(values)) => unsafe {
                avx2::accumulate_half(out, weights, values)
            },
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;

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

    /// The scores and weighted sums of `rows` by the best kernels and by
    /// the scalar reference, which must agree bit for bit.
    fn assert_bit_identical(hd: usize, held: usize, half: bool) {
        let best = AttentionKernels::best();
        let q = noise(hd, hd as u64);
        let raw = noise(hd * held, 7 + hd as u64);
        let halves: Vec<half::f16> = raw.iter().map(|&v| half::f16::from_f32(v)).collect();
        let rows = if half {
            KvRows::F16(&halves)
        } else {
            KvRows::F32(&raw)
        };
        let (mut want, mut got) = (vec![0.0; held], vec![0.0; held]);
        AttentionKernels::Scalar.scores(&q, rows, 0.125, &mut want);
        best.scores(&q, rows, 0.125, &mut got);
        assert_eq!(want, got, "scores, head size {hd}, {held} keys, f16 {half}");
        let weights = noise(held, 3);
        let mut want = noise(hd, 5);
        let mut got = want.clone();
        AttentionKernels::Scalar.accumulate(&mut want, &weights, rows);
        best.accumulate(&mut got, &weights, rows);
        assert_eq!(
            want, got,
            "accumulate, head size {hd}, {held} values, f16 {half}"
        );
        // Widening for the scalar kernels changes nothing either.
        let mut buf = Vec::new();
        let prepared = AttentionKernels::Scalar.prepare(rows, hd * held, &mut buf);
        let mut again = vec![0.0; held];
        AttentionKernels::Scalar.scores(&q, prepared, 0.125, &mut again);
        let mut reference = vec![0.0; held];
        AttentionKernels::Scalar.scores(&q, rows, 0.125, &mut reference);
        assert_eq!(again, reference);
    }

    #[test]
    fn scores_and_sums_equal_the_scalar_reference_bit_for_bit_at_every_tail() {
        for hd in 1..=136 {
            for held in [1, 3, 4, 8, 17, 32] {
                assert_bit_identical(hd, held, false);
                assert_bit_identical(hd, held, true);
            }
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
