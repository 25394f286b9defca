//! The inner loops of attention over the KV cache: the query-key scores of a
//! KV head's query heads for one block of keys, a softmax over a row of
//! scores, and those heads' weighted sums of one block of values. At depth these dominate decode (a 2048-token context
//! costs the default model ~350 MFLOP and ~690k `exp` per token), so each has
//! an AVX2+FMA version chosen once at run time, with the scalar one kept as
//! the reference the tests hold it to. AVX-512 and NEON versions would be
//! further variants of [`AttentionKernels`].

use super::ops;
use crate::kv::KvRows;

/// A run of stored keys (or values) for the kernels to read, and the run
/// attention reads after it, which the vector kernels start loading while
/// they work. They spread that run's prefetches over their inner loop: a
/// sequence's blocks lie far apart, so each run would otherwise begin with
/// misses, and a burst of prefetches stalls the core about as long as the
/// loads themselves take.
#[derive(Clone, Copy, Debug)]
pub struct KvRun<'a> {
    /// The rows read now.
    pub rows: KvRows<'a>,
    /// The rows read next, if any.
    pub next: Option<KvRows<'a>>,
}

impl<'a> From<KvRows<'a>> for KvRun<'a> {
    fn from(rows: KvRows<'a>) -> KvRun<'a> {
        KvRun { rows, next: None }
    }
}

/// The attention kernels this CPU runs, chosen once per call site.
///
/// Only [`AttentionKernels::best`] and [`AttentionKernels::scalar`] make
/// one, so safe code cannot choose vector kernels the CPU lacks:
///
/// ```compile_fail
/// let forged = hearth_engine::cpu::attention::AttentionKernels::Avx2;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionKernels(Kind);

/// Which kernels; private, so that building one goes through detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Portable Rust, the reference.
    Scalar,
    /// AVX2 with FMA and F16C. Invariant: only built after
    /// [`super::quant::has_avx2`] returned true.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl AttentionKernels {
    /// The fastest kernels this CPU supports.
    pub fn best() -> AttentionKernels {
        #[cfg(target_arch = "x86_64")]
        if super::quant::has_avx2() {
            return AttentionKernels(Kind::Avx2);
        }
        AttentionKernels::scalar()
    }

    /// The portable kernels, the reference the vector ones are held to.
    pub fn scalar() -> AttentionKernels {
        AttentionKernels(Kind::Scalar)
    }

    /// A short name for logs and `hearth bench`.
    pub fn name(self) -> &'static str {
        match self.0 {
            Kind::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => "avx2",
        }
    }

    /// `rows` in the form these kernels read fastest: the AVX2 kernels
    /// widen f16 as they load it, the scalar ones read f32, widened here
    /// (exactly) into `buf` once per block rather than once per query head.
    /// `buf` grows only when it is used.
    pub fn prepare<'a>(self, rows: KvRows<'a>, buf: &'a mut Vec<f32>) -> KvRows<'a> {
        match (self.0, rows) {
            (Kind::Scalar, KvRows::F16(v)) => {
                buf.clear();
                buf.extend(v.iter().map(|x| x.to_f32()));
                KvRows::F32(buf)
            }
            _ => rows,
        }
    }

    /// Scores of a group of query heads against one run of keys: for head
    /// `g` (row `g` of `qs`, each `hd` values) and key `s` (row `s` of
    /// `keys`), `out[g * stride + s] = dot(q_g, key_s) * scale`. The heads
    /// of a grouped-query layer share their KV head's keys, so the vector
    /// kernels load (and widen) each key once for all of them.
    ///
    /// # Panics
    /// If `qs` or `keys` is not whole rows of `hd`, or `out` cannot hold
    /// the last head's scores.
    pub fn scores(
        self,
        qs: &[f32],
        hd: usize,
        keys: KvRun<'_>,
        scale: f32,
        out: &mut [f32],
        stride: usize,
    ) {
        let next = keys.next;
        match (self.0, keys.rows) {
            (Kind::Scalar, KvRows::F32(keys)) => {
                let n = keys.len() / hd;
                assert_eq!(keys.len(), n * hd, "keys are not whole rows");
                let heads = qs.len() / hd;
                check_rows_fit(heads, n, stride, out.len(), "scores");
                for (g, q) in qs.chunks_exact(hd).enumerate() {
                    let row = &mut out[g * stride..g * stride + n];
                    for (s, o) in row.iter_mut().enumerate() {
                        *o = ops::dot(q, &keys[s * hd..(s + 1) * hd]) * scale;
                    }
                }
            }
            (Kind::Scalar, rows @ KvRows::F16(_)) => {
                let mut wide = Vec::new();
                let keys = self.prepare(rows, &mut wide);
                self.scores(qs, hd, keys.into(), scale, out, stride);
            }
            // SAFETY (both): `Avx2` is only built once AVX2, FMA and F16C
            // were detected, the kernels' only precondition.
            #[cfg(target_arch = "x86_64")]
            (Kind::Avx2, KvRows::F32(keys)) => unsafe {
                avx2::scores(qs, hd, keys, next, scale, out, stride)
            },
            #[cfg(target_arch = "x86_64")]
            (Kind::Avx2, KvRows::F16(keys)) => unsafe {
                avx2::scores(qs, hd, keys, next, scale, out, stride)
            },
        }
    }

    /// Softmax of `x` in place, stable against large values; the sum is
    /// accumulated in f64 by both versions.
    pub fn softmax(self, x: &mut [f32]) {
        match self.0 {
            Kind::Scalar => ops::softmax(x),
            // SAFETY: as in `scores`.
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => unsafe { avx2::softmax(x) },
        }
    }

    /// Weighted sums of one run of values for a group of query heads: for
    /// head `g` (row `g` of `out`, each `hd` values), `out_g += Σ_s
    /// weights[g * stride + s] * value_s` over the rows of `values`, each
    /// element's terms added in row order. As in [`Self::scores`], the
    /// vector kernels load each value once for all the heads.
    ///
    /// # Panics
    /// If `out` or `values` is not whole rows of `hd`, or `weights` does
    /// not reach the last head's weights.
    pub fn accumulate(
        self,
        out: &mut [f32],
        hd: usize,
        weights: &[f32],
        stride: usize,
        values: KvRun<'_>,
    ) {
        let next = values.next;
        match (self.0, values.rows) {
            (Kind::Scalar, KvRows::F32(values)) => {
                let n = values.len() / hd;
                assert_eq!(values.len(), n * hd, "values are not whole rows");
                let heads = out.len() / hd;
                check_rows_fit(heads, n, stride, weights.len(), "weights");
                for (g, o) in out.chunks_exact_mut(hd).enumerate() {
                    for (s, &w) in weights[g * stride..g * stride + n].iter().enumerate() {
                        ops::axpy(o, w, &values[s * hd..(s + 1) * hd]);
                    }
                }
            }
            (Kind::Scalar, rows @ KvRows::F16(_)) => {
                let mut wide = Vec::new();
                let values = self.prepare(rows, &mut wide);
                self.accumulate(out, hd, weights, stride, values.into());
            }
            // SAFETY (both): as in `scores`.
            #[cfg(target_arch = "x86_64")]
            (Kind::Avx2, KvRows::F32(values)) => unsafe {
                avx2::accumulate(out, hd, weights, stride, values, next)
            },
            #[cfg(target_arch = "x86_64")]
            (Kind::Avx2, KvRows::F16(values)) => unsafe {
                avx2::accumulate(out, hd, weights, stride, values, next)
            },
        }
    }
}

/// Checks that `heads` rows of `n` values, each starting `stride` after the
/// last, fit in `len` values. Computed with checked arithmetic: the engine
/// is built without overflow checks, and a wrapped end would pass a bounds
/// check that the vector kernels' raw pointer reads rely on.
///
/// # Panics
/// If they do not, naming them `what`.
fn check_rows_fit(heads: usize, n: usize, stride: usize, len: usize, what: &str) {
    let fit = heads == 0
        || n == 0
        || (heads - 1)
            .checked_mul(stride)
            .and_then(|start| start.checked_add(n))
            .is_some_and(|end| end <= len);
    assert!(
        fit,
        "{heads} rows of {n} {what} at stride {stride} do not fit {len} values"
    );
}

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        (0..n).map(|_| rng.next_signed_f32()).collect()
    }

    /// The scores and weighted sums of `heads` query heads over `held`
    /// rows by the best kernels and by the scalar reference, which must
    /// agree bit for bit.
    fn assert_bit_identical(hd: usize, held: usize, heads: usize, half: bool) {
        let best = AttentionKernels::best();
        let qs = noise(heads * hd, hd as u64);
        let raw = noise(hd * held, 7 + hd as u64);
        let halves: Vec<half::f16> = raw.iter().map(|&v| half::f16::from_f32(v)).collect();
        let rows = if half {
            KvRows::F16(&halves)
        } else {
            KvRows::F32(&raw)
        };
        // Rows of scores at a stride wider than a block, as attention lays
        // them out; the gaps must stay untouched.
        let stride = held + 3;
        let (mut want, mut got) = (vec![0.5; heads * stride], vec![0.5; heads * stride]);
        AttentionKernels::scalar().scores(&qs, hd, rows.into(), 0.125, &mut want, stride);
        best.scores(&qs, hd, rows.into(), 0.125, &mut got, stride);
        let what = format!("head size {hd}, {held} rows, {heads} heads, f16 {half}");
        assert_eq!(want, got, "scores, {what}");
        let want_scores = want;
        let weights = noise(heads * stride, 3);
        let mut want = noise(heads * hd, 5);
        let mut got = want.clone();
        AttentionKernels::scalar().accumulate(&mut want, hd, &weights, stride, rows.into());
        best.accumulate(&mut got, hd, &weights, stride, rows.into());
        assert_eq!(want, got, "accumulate, {what}");
        // Prefetching the next run (here the same rows) changes nothing.
        let ahead = KvRun {
            rows,
            next: Some(rows),
        };
        let mut again = vec![0.5; heads * stride];
        best.scores(&qs, hd, ahead, 0.125, &mut again, stride);
        assert_eq!(again, want_scores, "scores with prefetching, {what}");
        let mut again = noise(heads * hd, 5);
        best.accumulate(&mut again, hd, &weights, stride, ahead);
        assert_eq!(again, got, "accumulate with prefetching, {what}");
        // Each head's result is its own: a head alone gets the same.
        if heads > 1 {
            let mut alone = vec![0.0; held];
            best.scores(&qs[hd..2 * hd], hd, rows.into(), 0.125, &mut alone, held);
            let mut together = vec![0.0; heads * stride];
            best.scores(&qs, hd, rows.into(), 0.125, &mut together, stride);
            assert_eq!(alone, together[stride..stride + held], "{what}");
        }
        // Widening for the scalar kernels changes nothing either.
        let mut buf = Vec::new();
        let prepared = AttentionKernels::scalar().prepare(rows, &mut buf);
        let mut again = vec![0.0; heads * stride];
        AttentionKernels::scalar().scores(&qs, hd, prepared.into(), 0.125, &mut again, stride);
        let mut reference = vec![0.0; heads * stride];
        AttentionKernels::scalar().scores(&qs, hd, rows.into(), 0.125, &mut reference, stride);
        assert_eq!(again, reference);
    }

    #[test]
    fn scores_and_sums_equal_the_scalar_reference_bit_for_bit_at_every_tail() {
        for hd in 1..=136 {
            for held in [1, 3, 4, 8, 17, 32] {
                for heads in [1, 2, 6] {
                    assert_bit_identical(hd, held, heads, false);
                    assert_bit_identical(hd, held, heads, true);
                }
            }
        }
        // Every head count, across the kernels' groups of up to eight.
        for heads in 1..=17 {
            for hd in [7, 64, 128] {
                assert_bit_identical(hd, 5, heads, false);
                assert_bit_identical(hd, 5, heads, true);
            }
        }
    }

    #[test]
    #[should_panic(expected = "do not fit")]
    fn scores_reject_rows_whose_end_overflows() {
        // Two heads of one score at stride usize::MAX: the second head's
        // row ends at usize::MAX + 1, which wraps to 0 unless checked. The
        // output is a slice inside a larger buffer, so an unchecked kernel
        // writes in bounds of the allocation (before it) and the test fails
        // rather than crashing.
        let (qs, keys) = ([1.0; 2 * 8], [1.0; 8]);
        let mut buf = [0.0; 4];
        let best = AttentionKernels::best();
        best.scores(
            &qs,
            8,
            KvRows::F32(&keys).into(),
            1.0,
            &mut buf[1..],
            usize::MAX,
        );
    }

    #[test]
    #[should_panic(expected = "do not fit")]
    fn sums_reject_weight_rows_whose_end_overflows() {
        // As above, for the weights the weighted sums read.
        let (weights, values) = ([1.0; 4], [1.0; 8]);
        let mut out = [0.0; 2 * 8];
        let best = AttentionKernels::best();
        best.accumulate(
            &mut out,
            8,
            &weights[1..],
            usize::MAX,
            KvRows::F32(&values).into(),
        );
    }

    #[test]
    fn softmax_matches_the_scalar_reference_at_every_length() {
        let best = AttentionKernels::best();
        for n in 1..=80 {
            let mut want: Vec<f32> = noise(n, n as u64).iter().map(|v| v * 40.0).collect();
            let mut got = want.clone();
            AttentionKernels::scalar().softmax(&mut want);
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
}
