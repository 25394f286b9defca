//! The AVX2 versions of the attention kernels (with FMA and F16C, which
//! every AVX2 CPU has). Each is an `unsafe fn` whose only precondition is
//! that the CPU has those features. The score and weighted-sum kernels check
//! their slices' lengths once per call and then read through raw pointers
//! (per-load bounds checks and the register spills they caused bound their
//! inner loops); the softmax loads through bounds-checked slices. Memory
//! safety never depends on the caller. Scores and weighted sums are
//! bit-identical to the scalar references: a multiply then an add (never
//! fused), in the references' order. f16 keys and values are widened in
//! registers as they are loaded, which is exact.

use std::arch::x86_64::*;

use half::f16;

use crate::cpu::vector_math::exp;
use crate::kv::KvRows;

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load(x: &[f32], at: usize) -> __m256 {
    let lanes = &x[at..at + 8];
    // SAFETY: `lanes` holds the 8 values read.
    unsafe { _mm256_loadu_ps(lanes.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store(x: &mut [f32], at: usize, v: __m256) {
    let lanes = &mut x[at..at + 8];
    // SAFETY: `lanes` holds the 8 values written.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) }
}

/// Eight values from `p` (f32 or f16, widened exactly).
pub(super) trait Lanes: Copy {
    /// # Safety
    /// `p..p + 8` must be readable and the CPU must have AVX2 and F16C.
    unsafe fn load8(p: *const Self) -> __m256;
    fn widen(self) -> f32;
}

impl Lanes for f32 {
    #[inline(always)]
    unsafe fn load8(p: *const f32) -> __m256 {
        // SAFETY: the caller's contract.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}

impl Lanes for f16 {
    #[inline(always)]
    unsafe fn load8(p: *const f16) -> __m256 {
        // SAFETY: the caller's contract; f16 has no padding, so 8 halves
        // are 16 bytes.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

/// Prefetches a run of rows a cache line at a time, one line every `every`
/// ticks of a kernel's inner loop, so the loads overlap the arithmetic
/// instead of stalling it in a burst.
struct Trickle {
    at: *const i8,
    end: *const i8,
    every: usize,
    countdown: usize,
}

impl Trickle {
    /// Spreads `rows`'s lines over `ticks` ticks.
    fn new(rows: Option<KvRows<'_>>, ticks: usize) -> Trickle {
        let (at, bytes) = match rows {
            Some(KvRows::F16(v)) => (v.as_ptr().cast::<i8>(), std::mem::size_of_val(v)),
            Some(KvRows::F32(v)) => (v.as_ptr().cast::<i8>(), std::mem::size_of_val(v)),
            None => (std::ptr::null(), 0),
        };
        let every = (ticks / bytes.div_ceil(64).max(1)).max(1);
        Trickle {
            at,
            end: at.wrapping_add(bytes),
            every,
            countdown: every,
        }
    }

    #[inline(always)]
    fn tick(&mut self) {
        self.countdown -= 1;
        if self.countdown == 0 {
            self.countdown = self.every;
            if self.at < self.end {
                // SAFETY: SSE is part of x86-64, and a prefetch never faults;
                // the address stays inside the run.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(self.at) };
                self.at = self.at.wrapping_add(64);
            }
        }
    }
}

/// The most query heads one pass serves: their accumulators, the shared
/// key (value) register and a temporary fit AVX2's 16 registers.
const MAX_HEADS: usize = 8;

/// The lanes of four accumulators each summed as `ops::dot`'s tree (pairs,
/// then pairs of pairs, then the halves), by three horizontal adds.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn tree4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    let pairs = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_add_ps(
        _mm256_castps256_ps128(pairs),
        _mm256_extractf128_ps::<1>(pairs),
    )
}

/// `G` heads' scores against `n` keys; see [`scores`].
///
/// # Safety
/// AVX2, FMA and F16C; `q` holds `G * hd` values, `keys` `n * hd`, and
/// `out + g * stride + s` is writable for `g < G`, `s < n`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scores_of<T: Lanes, const G: usize>(
    q: *const f32,
    hd: usize,
    (keys, n): (*const T, usize),
    scale: f32,
    out: *mut f32,
    stride: usize,
    next: &mut Trickle,
) {
    let whole = hd - hd % 8;
    let zero = _mm256_setzero_ps();
    for s in 0..n {
        // SAFETY (the whole body): every offset stays inside the regions
        // the caller vouched for.
        unsafe {
            let key = keys.add(s * hd);
            let mut acc = [zero; G];
            let mut i = 0;
            while i < whole {
                next.tick();
                let k = T::load8(key.add(i));
                for (g, a) in acc.iter_mut().enumerate() {
                    let qv = _mm256_loadu_ps(q.add(g * hd + i));
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(qv, k));
                }
                i += 8;
            }
            let mut sums = [0.0f32; MAX_HEADS];
            let mut g = 0;
            while g < G {
                let pick = |j: usize| if g + j < G { acc[g + j] } else { zero };
                let four = tree4(pick(0), pick(1), pick(2), pick(3));
                _mm_storeu_ps(sums.as_mut_ptr().add(g), four);
                g += 4;
            }
            for (g, &lanes) in sums.iter().enumerate().take(G) {
                let mut sum = lanes;
                for j in whole..hd {
                    sum += *q.add(g * hd + j) * (*key.add(j)).widen();
                }
                *out.add(g * stride + s) = sum * scale;
            }
        }
    }
}

/// `G` heads' weighted sums of `n` value rows; see [`accumulate`].
///
/// # Safety
/// AVX2, FMA and F16C; `out` holds `G * hd` values, `values` `n * hd`, and
/// `weights + g * stride + s` is readable for `g < G`, `s < n`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn accumulate_of<T: Lanes, const G: usize>(
    out: *mut f32,
    hd: usize,
    weights: *const f32,
    stride: usize,
    (values, n): (*const T, usize),
    next: &mut Trickle,
) {
    let whole = hd - hd % 8;
    // SAFETY (the whole body): every offset stays inside the regions the
    // caller vouched for.
    unsafe {
        let mut c = 0;
        while c < whole {
            let mut acc = [_mm256_setzero_ps(); G];
            for (g, a) in acc.iter_mut().enumerate() {
                *a = _mm256_loadu_ps(out.add(g * hd + c));
            }
            for s in 0..n {
                next.tick();
                let v = T::load8(values.add(s * hd + c));
                for (g, a) in acc.iter_mut().enumerate() {
                    let w = _mm256_set1_ps(*weights.add(g * stride + s));
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(w, v));
                }
            }
            for (g, a) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.add(g * hd + c), *a);
            }
            c += 8;
        }
        for j in whole..hd {
            for g in 0..G {
                let o = out.add(g * hd + j);
                for s in 0..n {
                    *o += *weights.add(g * stride + s) * (*values.add(s * hd + j)).widen();
                }
            }
        }
    }
}

/// The groups of at most [`MAX_HEADS`] heads one call's `heads` split into,
/// as (first head, heads in the group).
fn head_groups(heads: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..heads)
        .step_by(MAX_HEADS)
        .map(move |g| (g, (heads - g).min(MAX_HEADS)))
}

/// Calls `$f::<T, G>` with `G` the const equal to `$heads` (1..=8).
macro_rules! by_heads {
    ($heads:expr, $f:ident::<$t:ty>($($arg:expr),*)) => {
        match $heads {
            1 => $f::<$t, 1>($($arg),*),
            2 => $f::<$t, 2>($($arg),*),
            3 => $f::<$t, 3>($($arg),*),
            4 => $f::<$t, 4>($($arg),*),
            5 => $f::<$t, 5>($($arg),*),
            6 => $f::<$t, 6>($($arg),*),
            7 => $f::<$t, 7>($($arg),*),
            _ => $f::<$t, 8>($($arg),*),
        }
    };
}

/// For each query head `g` (row `g` of `qs`, `hd` values) and key `s` (row
/// `s` of `keys`): `out[g * stride + s] = dot(q_g, key_s) * scale`, each dot
/// in `ops::dot`'s order: eight lanes of products (a multiply, then an add)
/// added a chunk at a time, the lanes summed as a tree, then the tail. Up to
/// eight heads share each key's loads (and widening), so a grouped-query
/// layer reads and widens its keys once rather than once per query head.
///
/// # Panics
/// If `qs` is not whole rows of `hd`, `keys` not whole rows, or `out` too
/// short for the last head's row.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn scores<T: Lanes>(
    qs: &[f32],
    hd: usize,
    keys: &[T],
    next: Option<KvRows<'_>>,
    scale: f32,
    out: &mut [f32],
    stride: usize,
) {
    let (heads, n) = (qs.len() / hd.max(1), keys.len() / hd.max(1));
    assert!(
        hd > 0 && qs.len() == heads * hd && keys.len() == n * hd,
        "queries and keys must be whole rows of the head size {hd}"
    );
    super::check_rows_fit(heads, n, stride, out.len(), "scores");
    assert!(heads <= 1 || stride >= n, "score rows overlap");
    // The first group of heads does the prefetching: it alone reads every
    // row of `keys`, in order.
    let mut next = Trickle::new(next, n * (hd / 8));
    for (g, chunk) in head_groups(heads) {
        // SAFETY: the checks above bound every access; the features are
        // this function's own.
        unsafe {
            let (q, o) = (qs.as_ptr().add(g * hd), out.as_mut_ptr().add(g * stride));
            let keys = (keys.as_ptr(), n);
            by_heads!(
                chunk,
                scores_of::<T>(q, hd, keys, scale, o, stride, &mut next)
            );
        }
    }
}

/// For each query head `g` (row `g` of `out`, `hd` values) and value row
/// `s`: `out_g += weights[g * stride + s] * value_s`, each element's terms
/// added in row order (a multiply, then an add) as `ops::axpy` adds them.
/// Up to eight heads share each value's loads, as in [`scores`].
///
/// # Panics
/// If `out` is not whole rows of `hd`, `values` not whole rows, or
/// `weights` too short for the last head's row.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn accumulate<T: Lanes>(
    out: &mut [f32],
    hd: usize,
    weights: &[f32],
    stride: usize,
    values: &[T],
    next: Option<KvRows<'_>>,
) {
    let (heads, n) = (out.len() / hd.max(1), values.len() / hd.max(1));
    assert!(
        hd > 0 && out.len() == heads * hd && values.len() == n * hd,
        "outputs and values must be whole rows of the head size {hd}"
    );
    super::check_rows_fit(heads, n, stride, weights.len(), "weights");
    let mut next = Trickle::new(next, n * (hd / 8));
    for (g, chunk) in head_groups(heads) {
        // SAFETY: as in `scores`.
        unsafe {
            let (o, w) = (
                out.as_mut_ptr().add(g * hd),
                weights.as_ptr().add(g * stride),
            );
            let values = (values.as_ptr(), n);
            by_heads!(
                chunk,
                accumulate_of::<T>(o, hd, w, stride, values, &mut next)
            );
        }
    }
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
