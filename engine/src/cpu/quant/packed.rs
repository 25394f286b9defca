//! A K-quant matrix repacked for the VNNI kernels, and the run-time check
//! that decides whether a matrix is packed at all.

use std::sync::Arc;

use super::q8::Q8KBlock;
use super::repack::{self, PACK_ROWS};
use crate::cpu::huge::HugePageBuffer;
use crate::model::gguf::types::{GgmlType, QK_K};

/// True when this CPU has what the packed (VNNI) kernels need: AVX2, FMA,
/// F16C, AVX-512F/BW/VL and AVX-512 VNNI (Intel since Ice Lake, AMD since
/// Zen 4). Other x86 CPUs use the row-wise AVX2 kernels; an Arm port would
/// add its own packed kernels (`sdot`/`i8mm`) behind the same type.
pub fn has_avx512_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::has_avx2()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Activation rows a packed kernel takes at once in a batch: each unpacked
/// weight vector is reused this many times, and the accumulators of 4 rows
/// fit the 32 vector registers AVX-512 gives.
pub const PACKED_COLS: usize = 4;

/// A matrix of `Q4_K` or `Q6_K` rows repacked into groups of [`PACK_ROWS`]
/// interleaved rows (see `repack`).
///
/// Invariant: only built after [`has_avx512_vnni`] returned true, which is
/// the kernels' only precondition.
#[derive(Clone)]
pub struct PackedMatrix {
    ty: GgmlType,
    group_bytes: usize,
    data: Arc<HugePageBuffer>,
}

impl PackedMatrix {
    /// Repacks the `rows` x `cols` matrix of `ty` in `src` when this CPU has
    /// the packed kernels, `ty` has a packed layout and the rows are whole
    /// groups; otherwise `None` (the caller keeps the row-wise kernels).
    pub fn new(ty: GgmlType, rows: usize, cols: usize, src: &[u8]) -> Option<PackedMatrix> {
        if !has_avx512_vnni() {
            return None;
        }
        let data = repack::repack(ty, rows, cols, src)?;
        let group_bytes = cols / QK_K * repack::packed_block_bytes(ty)?;
        Some(PackedMatrix {
            ty,
            group_bytes,
            data: Arc::new(data),
        })
    }

    /// Bytes of the packed matrix.
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// Row `PACK_ROWS * group + r` times `ys[j]`, as `out[j][r]`; each result
    /// is bit-identical for every `N` (see `vnni`).
    ///
    /// # Panics
    /// If `group` is out of range or a `ys[j]` does not hold one block per
    /// 256 columns.
    #[inline]
    pub fn dot_group<const N: usize>(
        &self,
        group: usize,
        ys: &[&[Q8KBlock]; N],
    ) -> [[f32; PACK_ROWS]; N] {
        let bytes = &self.data[group * self.group_bytes..(group + 1) * self.group_bytes];
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: a `PackedMatrix` exists only after `has_avx512_vnni`
            // returned true (see `new`), the kernels' only precondition.
            unsafe {
                match self.ty {
                    GgmlType::Q4_K => super::vnni::q4_k_packed::<N>(bytes, ys),
                    _ => super::vnni::q6_k_packed::<N>(bytes, ys),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (bytes, ys);
            unreachable!("packed matrices are only built on x86_64");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cpu::quant::{
        quantize_row_q8_k, random_k_quant_rows, vec_dot_q4_k_q8_k, vec_dot_q6_k_q8_k,
    };
    use crate::rng::SplitMix64;

    fn random_activations(n: usize, cols: usize, seed: u64) -> Vec<Vec<Q8KBlock>> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                let x: Vec<f32> = (0..cols)
                    .map(|_| rng.below(20_001) as f32 / 1000.0 - 10.0)
                    .collect();
                let mut blocks = vec![Q8KBlock::default(); cols / QK_K];
                quantize_row_q8_k(&x, &mut blocks);
                blocks
            })
            .collect()
    }

    fn products<const N: usize>(
        m: &PackedMatrix,
        group: usize,
        acts: &[Vec<Q8KBlock>],
    ) -> [[f32; PACK_ROWS]; N] {
        let ys: [&[Q8KBlock]; N] = std::array::from_fn(|j| acts[j].as_slice());
        m.dot_group::<N>(group, &ys)
    }

    #[test]
    #[cfg_attr(not(hearth_host_avx512vnni), ignore = "this CPU lacks AVX-512 VNNI")]
    fn packed_kernels_match_the_scalar_reference_and_each_other_at_every_width() {
        assert!(
            has_avx512_vnni(),
            "this CPU lacks AVX-512 VNNI: the test cannot run here"
        );
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K] {
            for blocks in [1, 2, 5] {
                let (rows, cols) = (3 * PACK_ROWS, blocks * QK_K);
                let src = random_k_quant_rows(ty, rows, cols, 11 + blocks as u64);
                let m = PackedMatrix::new(ty, rows, cols, &src).unwrap();
                let acts = random_activations(PACKED_COLS, cols, 5);
                let row_bytes = ty.row_bytes(cols).unwrap();
                for group in 0..rows / PACK_ROWS {
                    let wide = products::<4>(&m, group, &acts);
                    for (n, narrow) in [
                        products::<1>(&m, group, &acts).to_vec(),
                        products::<2>(&m, group, &acts).to_vec(),
                        products::<3>(&m, group, &acts).to_vec(),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        for (j, lanes) in narrow.iter().enumerate() {
                            for r in 0..PACK_ROWS {
                                assert_eq!(
                                    lanes[r].to_bits(),
                                    wide[j][r].to_bits(),
                                    "{ty} N={} group {group} act {j} row {r}",
                                    n + 1
                                );
                            }
                        }
                    }
                    for (j, act) in acts.iter().enumerate() {
                        for (r, &got) in wide[j].iter().enumerate() {
                            let row = group * PACK_ROWS + r;
                            let row = &src[row * row_bytes..(row + 1) * row_bytes];
                            let reference = match ty {
                                GgmlType::Q4_K => vec_dot_q4_k_q8_k(row, act),
                                _ => vec_dot_q6_k_q8_k(row, act),
                            };
                            // Same integer sums; only the order of the float
                            // steps differs: a few ulps of the terms' magnitude.
                            let mut w = vec![0.0; cols];
                            crate::cpu::quant::dequantize(ty, row, &mut w).unwrap();
                            let mut x = vec![0.0; cols];
                            crate::cpu::quant::dequantize_q8_k(act, &mut x);
                            let magnitude: f32 = w.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
                            assert!(
                                (got - reference).abs() <= 1e-5 * magnitude.max(1e-3),
                                "{ty} blocks={blocks} group {group} act {j} row {r}: \
                                 {got} vs scalar {reference}"
                            );
                        }
                    }
                }
            }
        }
    }
}
