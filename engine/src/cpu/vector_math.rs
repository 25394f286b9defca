//! Element-wise math on eight f32 lanes (AVX2 with FMA and F16C): the
//! exponential that softmax and SiLU share, and SwiGLU built on it. As in
//! ggml, SiLU takes a vector exponential rather than libm's scalar one,
//! which cost a prefill as much as a matrix product.

use std::arch::x86_64::*;

/// `e^x` in each lane, to within 2 ulp of `f32::exp` for the arguments a
/// softmax gives it (`x <= 0`): Cody-Waite reduction by ln 2 and Cephes'
/// degree-6 polynomial, with results below `f32`'s normal range flushed
/// to zero. Accurate over the whole range (`x` in -87..88), so SiLU takes
/// it too.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn exp(x: __m256) -> __m256 {
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

/// `gate = silu(gate) * up` (SwiGLU), element-wise. Every element,
/// including a tail shorter than 8, goes through the same vector
/// operations, so an element's result does not depend on where the slice
/// was cut: decode and a batched prefill agree bit for bit.
///
/// # Panics
/// If `up` is shorter than `gate`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn swiglu(gate: &mut [f32], up: &[f32]) {
    let up = &up[..gate.len()];
    let one = _mm256_set1_ps(1.0);
    let silu_mul = |g: __m256, u: __m256| {
        let e = exp(_mm256_sub_ps(_mm256_setzero_ps(), g));
        _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u)
    };
    let mut gates = gate.chunks_exact_mut(8);
    let mut ups = up.chunks_exact(8);
    for (g, u) in (&mut gates).zip(&mut ups) {
        // SAFETY: both chunks hold exactly the 8 values read and written.
        unsafe {
            let r = silu_mul(_mm256_loadu_ps(g.as_ptr()), _mm256_loadu_ps(u.as_ptr()));
            _mm256_storeu_ps(g.as_mut_ptr(), r);
        }
    }
    let (g_tail, u_tail) = (gates.into_remainder(), ups.remainder());
    if g_tail.is_empty() {
        return;
    }
    let (mut g8, mut u8) = ([0.0f32; 8], [0.0f32; 8]);
    g8[..g_tail.len()].copy_from_slice(g_tail);
    u8[..u_tail.len()].copy_from_slice(u_tail);
    // SAFETY: both arrays hold the 8 values read and written.
    unsafe {
        let r = silu_mul(_mm256_loadu_ps(g8.as_ptr()), _mm256_loadu_ps(u8.as_ptr()));
        _mm256_storeu_ps(g8.as_mut_ptr(), r);
    }
    g_tail.copy_from_slice(&g8[..g_tail.len()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(not(hearth_host_avx2), ignore = "this CPU lacks AVX2, FMA or F16C")]
    fn vector_exp_is_within_two_ulp_of_libm() {
        use std::arch::x86_64::*;
        assert!(
            crate::cpu::quant::has_avx2(),
            "this CPU lacks AVX2, FMA or F16C: the test cannot run here"
        );
        let mut x = -87.0f32;
        while x <= 88.0 {
            let xs: Vec<f32> = (0..8).map(|i| x + i as f32 * 0.001_3).collect();
            let mut got = [0.0f32; 8];
            // SAFETY: AVX2 and FMA were detected above; both buffers hold 8 values.
            unsafe { _mm256_storeu_ps(got.as_mut_ptr(), exp(_mm256_loadu_ps(xs.as_ptr()))) };
            for (&xi, &g) in xs.iter().zip(&got) {
                let want = xi.exp();
                let ulps = (want.to_bits() as i64 - g.to_bits() as i64).abs();
                assert!(ulps <= 2, "exp({xi}): {g} vs {want} ({ulps} ulp)");
            }
            x += 0.37;
        }
        let mut got = [1.0f32; 8];
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(got.as_mut_ptr(), exp(_mm256_set1_ps(-1000.0))) };
        assert_eq!(got, [0.0; 8]);
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(got.as_mut_ptr(), exp(_mm256_set1_ps(f32::NEG_INFINITY))) };
        assert_eq!(got, [0.0; 8]);
    }

    #[test]
    #[cfg_attr(not(hearth_host_avx2), ignore = "this CPU lacks AVX2, FMA or F16C")]
    fn vector_swiglu_matches_the_scalar_formula_and_ignores_where_the_slice_is_cut() {
        assert!(
            crate::cpu::quant::has_avx2(),
            "this CPU lacks AVX2, FMA or F16C: the test cannot run here"
        );
        let gate: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.9).collect();
        let up: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.05).collect();
        let mut whole = gate.clone();
        // SAFETY: AVX2 and FMA were detected above.
        unsafe { swiglu(&mut whole, &up) };
        for (i, (&got, (&g, &u))) in whole.iter().zip(gate.iter().zip(&up)).enumerate() {
            let want = g / (1.0 + (-g).exp()) * u;
            assert!(
                (got - want).abs() <= 4.0 * f32::EPSILON * want.abs().max(1e-30),
                "element {i}: {got} vs {want}"
            );
        }
        for cut in [1, 5, 8, 13] {
            let mut parts = gate.clone();
            let (a, b) = parts.split_at_mut(cut);
            // SAFETY: as above.
            unsafe {
                swiglu(a, &up[..cut]);
                swiglu(b, &up[cut..]);
            }
            let same = parts
                .iter()
                .zip(&whole)
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "cut at {cut}");
        }
    }
}
