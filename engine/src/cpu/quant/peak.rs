//! How close the packed kernels come to the CPU's int8 ceiling: the
//! `vpdpbusd` throughput of all the engine's threads on registers alone, and
//! each packed kernel's speed on one group of weights and 4 activation rows
//! that stay in the L1 cache (the inner loop of a prefill, without the
//! memory traffic). `hearth bench` prints both beside a prefill's speed.

#[cfg(target_arch = "x86_64")]
use {
    super::repack::PACK_ROWS,
    super::{quantize_row_q8_k, random_k_quant_rows_of, PackedMatrix, Q8KBlock, PACKED_COLS},
    crate::model::gguf::types::{GgmlType, QK_K},
    rayon::prelude::*,
    std::time::Instant,
};

/// Multiply-accumulate rates in GMAC/s (10^9 int8 products a second), all
/// of the engine's threads together.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Int8Peak {
    /// `vpdpbusd` on registers alone: the ceiling.
    pub vpdpbusd: f64,
    /// The packed `Q4_K` kernel, 4 activation rows, data in L1.
    pub q4_k_kernel: f64,
    /// The packed `Q6_K` kernel, 4 activation rows, data in L1.
    pub q6_k_kernel: f64,
}

#[cfg(target_arch = "x86_64")]
/// Columns of the matrix the kernels are timed on: the default model's width.
const COLS: usize = 1536;

#[cfg(target_arch = "x86_64")]
/// Measures [`Int8Peak`], each figure the best of `trials` of about
/// `seconds_each`; `None` where the CPU has no packed kernels.
pub fn measure_int8_peak(seconds_each: f64, trials: usize) -> Option<Int8Peak> {
    if !super::has_avx512_vnni() {
        return None;
    }
    let threads = rayon::current_num_threads();
    let vpdpbusd = best_rate(seconds_each, trials, threads, |rounds| {
        // SAFETY: `has_avx512_vnni` returned true above, the loop's only precondition.
        let v = unsafe { super::vnni::vpdpbusd_loop(rounds) };
        std::hint::black_box(v);
        rounds * super::vnni::PEAK_ROUND_MACS
    });
    let kernel = |ty| -> Option<f64> {
        let weights = random_k_quant_rows_of(ty, PACK_ROWS, COLS, 3)?;
        let matrix = PackedMatrix::new(ty, PACK_ROWS, COLS, &weights)?;
        let acts: Vec<Vec<Q8KBlock>> = (0..PACKED_COLS)
            .map(|j| {
                let x: Vec<f32> = (0..COLS)
                    .map(|c| ((c * 7 + j * 13) % 29) as f32 - 14.0)
                    .collect();
                let mut blocks = vec![Q8KBlock::default(); COLS / QK_K];
                quantize_row_q8_k(&x, &mut blocks);
                blocks
            })
            .collect();
        let ys: [&[Q8KBlock]; PACKED_COLS] = std::array::from_fn(|j| acts[j].as_slice());
        Some(best_rate(seconds_each, trials, threads, |rounds| {
            for _ in 0..rounds {
                std::hint::black_box(matrix.dot_group(0, std::hint::black_box(&ys)));
            }
            rounds * PACK_ROWS * COLS * PACKED_COLS
        }))
    };
    Some(Int8Peak {
        vpdpbusd,
        q4_k_kernel: kernel(GgmlType::Q4_K)?,
        q6_k_kernel: kernel(GgmlType::Q6_K)?,
    })
}

#[cfg(target_arch = "x86_64")]
/// The best GMAC/s over `trials` of `work` run on `threads` tasks at once,
/// where `work(rounds)` does `rounds` units and returns the MACs done. The
/// round count is calibrated so a trial lasts about `seconds`.
fn best_rate(
    seconds: f64,
    trials: usize,
    threads: usize,
    work: impl Fn(usize) -> usize + Sync,
) -> f64 {
    let mut rounds = 1usize;
    loop {
        let start = Instant::now();
        work(rounds);
        let took = start.elapsed().as_secs_f64();
        if took >= seconds / 20.0 || rounds >= 1 << 40 {
            rounds = ((rounds as f64) * seconds / took.max(1e-9)).ceil().max(1.0) as usize;
            break;
        }
        rounds *= 4;
    }
    (0..trials.max(1))
        .map(|_| {
            let start = Instant::now();
            let macs: usize = (0..threads).into_par_iter().map(|_| work(rounds)).sum();
            macs as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    #[cfg_attr(not(hearth_host_avx512vnni), ignore = "this CPU lacks AVX-512 VNNI")]
    fn the_kernels_run_below_the_ceiling_they_are_measured_against() {
        let peak = measure_int8_peak(0.02, 2).expect("this CPU has AVX-512 VNNI");
        assert!(peak.vpdpbusd > 0.0 && peak.q4_k_kernel > 0.0 && peak.q6_k_kernel > 0.0);
        // Loose: a busy machine can slow any one trial, but a kernel doing 64
        // products per instruction and more besides cannot beat the bare loop
        // by a wide margin unless the measurement is wrong.
        assert!(peak.q4_k_kernel < 1.5 * peak.vpdpbusd, "{peak:?}");
        assert!(peak.q6_k_kernel < 1.5 * peak.vpdpbusd, "{peak:?}");
    }
}
