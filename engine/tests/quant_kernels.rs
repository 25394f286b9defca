//! The dot product kernels, checked on random data: the f32 reference
//! against dequantize-then-dot, the 8-bit-activation references against
//! dequantized weights times dequantized activations, and the SIMD kernels
//! against the scalar references at every block count from 1 to 12.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_engine::cpu::quant::{
    dequantize, dequantize_q8_0, dequantize_q8_k, dot_f32, has_avx2, quantize_row_q8_0,
    quantize_row_q8_k, quantize_row_q8_k_fast, Q8KBlock, Q8KDot, Q8_0Block, Q8_0Dot, Q8K_COLS,
};
use hearth_engine::model::gguf::types::GgmlType;
use hearth_engine::rng::SplitMix64;

/// The engine's seeded generator, so failures reproduce.
struct Rng(SplitMix64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        self.0.next_signed_f32()
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    fn floats(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.unit() * scale).collect()
    }
}

fn f16_bytes(v: f32) -> [u8; 2] {
    half::f16::from_f32(v).to_bits().to_le_bytes()
}

/// `n_blocks` blocks of `ty` with random quants and small finite scales.
fn random_row(rng: &mut Rng, ty: GgmlType, n_blocks: usize) -> Vec<u8> {
    if !ty.is_quantized() {
        let values = rng.floats(n_blocks, 2.0);
        return match ty {
            GgmlType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            GgmlType::F16 => values.iter().flat_map(|&v| f16_bytes(v)).collect(),
            _ => values
                .iter()
                .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
                .collect(),
        };
    }
    let mut row = rng.bytes(ty.block_bytes() * n_blocks);
    for block in row.chunks_exact_mut(ty.block_bytes()) {
        let scale_offsets: &[usize] = match ty {
            GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
            GgmlType::Q6_K => &[208],
            _ => &[0],
        };
        for &at in scale_offsets {
            block[at..at + 2].copy_from_slice(&f16_bytes(rng.unit() * 0.05));
        }
        if ty == GgmlType::Q8_0 {
            // ggml's quantizers write -127..=127; -128 may saturate SIMD kernels.
            for q in &mut block[2..] {
                if *q == 0x80 {
                    *q = 0x81;
                }
            }
        }
    }
    row
}

/// Σ a·b in f64, and Σ |a·b| as the scale of the rounding error.
fn dot_f64(a: &[f32], b: &[f32]) -> (f64, f64) {
    a.iter().zip(b).fold((0.0, 0.0), |(sum, mag), (&x, &y)| {
        let p = f64::from(x) * f64::from(y);
        (sum + p, mag + p.abs())
    })
}

fn assert_close(got: f32, expected: f64, magnitude: f64, rel: f64, what: &str) {
    let tolerance = rel * magnitude + 1e-30;
    assert!(
        (f64::from(got) - expected).abs() <= tolerance,
        "{what}: got {got}, expected {expected} (tolerance {tolerance})"
    );
}

fn dequantized(ty: GgmlType, row: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0.0; n];
    dequantize(ty, row, &mut out).unwrap();
    out
}

#[test]
fn dot_f32_equals_dequantize_then_dot() {
    let mut rng = Rng(SplitMix64::new(1));
    for ty in GgmlType::ALL {
        for n_blocks in [1, 2, 3, 7] {
            let n = n_blocks
                * if ty.is_quantized() {
                    ty.block_len()
                } else {
                    96
                };
            let row = random_row(&mut rng, ty, n / ty.block_len());
            let x = rng.floats(n, 1.0);
            let (expected, magnitude) = dot_f64(&dequantized(ty, &row, n), &x);
            let got = dot_f32(ty, &row, &x);
            assert_close(got, expected, magnitude, 1e-5, &format!("{ty} x{n_blocks}"));
        }
    }
}

#[test]
fn q8_k_quantization_is_accurate() {
    let mut rng = Rng(SplitMix64::new(2));
    let x = rng.floats(4 * 256, 3.0);
    let mut blocks = vec![Q8KBlock::default(); 4];
    quantize_row_q8_k(&x, &mut blocks);
    let mut back = vec![0.0; x.len()];
    dequantize_q8_k(&blocks, &mut back);
    for (b, block) in blocks.iter().enumerate() {
        for i in 0..256 {
            let err = (back[256 * b + i] - x[256 * b + i]).abs();
            assert!(
                err <= block.d.abs() * 0.5001,
                "block {b} element {i}: error {err}"
            );
        }
        for (k, run) in block.qs.chunks(16).enumerate() {
            assert_eq!(
                block.bsums[k],
                run.iter().map(|&q| i16::from(q)).sum::<i16>()
            );
        }
    }
}

#[test]
fn q8_k_dot_references_match_dequantized_products() {
    let mut rng = Rng(SplitMix64::new(3));
    for ty in [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K] {
        let kernel = Q8KDot::scalar(ty).unwrap();
        assert!(!kernel.is_simd());
        for n_blocks in [1, 2, 5] {
            let n = 256 * n_blocks;
            let row = random_row(&mut rng, ty, n_blocks);
            let mut y = vec![Q8KBlock::default(); n_blocks];
            quantize_row_q8_k(&rng.floats(n, 2.0), &mut y);
            let mut y_values = vec![0.0; n];
            dequantize_q8_k(&y, &mut y_values);
            let (expected, magnitude) = dot_f64(&dequantized(ty, &row, n), &y_values);
            let got = kernel.dot(&row, &y);
            assert_close(got, expected, magnitude, 2e-5, &format!("{ty} x{n_blocks}"));
        }
    }
}

#[test]
fn q8_0_dot_references_match_dequantized_products() {
    let mut rng = Rng(SplitMix64::new(4));
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0] {
        let kernel = Q8_0Dot::scalar(ty).unwrap();
        for n_blocks in [1, 3, 16] {
            let n = 32 * n_blocks;
            let row = random_row(&mut rng, ty, n_blocks);
            let mut y = vec![Q8_0Block::default(); n_blocks];
            quantize_row_q8_0(&rng.floats(n, 2.0), &mut y);
            let mut y_values = vec![0.0; n];
            dequantize_q8_0(&y, &mut y_values);
            let (expected, magnitude) = dot_f64(&dequantized(ty, &row, n), &y_values);
            let got = kernel.dot(&row, &y);
            assert_close(got, expected, magnitude, 2e-5, &format!("{ty} x{n_blocks}"));
        }
    }
}

#[test]
fn kernels_without_a_q8_layout_are_refused() {
    assert!(Q8KDot::best(GgmlType::Q8_0).is_none());
    assert!(Q8KDot::scalar(GgmlType::F32).is_none());
    assert!(Q8_0Dot::best(GgmlType::Q4_K).is_none());
    assert!(Q8_0Dot::scalar(GgmlType::BF16).is_none());
}

#[test]
fn simd_q8_k_kernels_match_the_scalar_reference() {
    let mut rng = Rng(SplitMix64::new(5));
    for ty in [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K] {
        let best = Q8KDot::best(ty).unwrap();
        if has_avx2() && ty != GgmlType::Q5_K {
            assert!(
                best.is_simd(),
                "{ty}: AVX2 is available but the scalar kernel was chosen"
            );
        }
        let scalar = Q8KDot::scalar(ty).unwrap();
        for n_blocks in 1..=12 {
            for _ in 0..4 {
                let row = random_row(&mut rng, ty, n_blocks);
                let mut y = vec![Q8KBlock::default(); n_blocks];
                quantize_row_q8_k(&rng.floats(256 * n_blocks, 4.0), &mut y);
                let mut y_values = vec![0.0; 256 * n_blocks];
                dequantize_q8_k(&y, &mut y_values);
                let (_, magnitude) = dot_f64(&dequantized(ty, &row, 256 * n_blocks), &y_values);
                let reference = scalar.dot(&row, &y);
                let got = best.dot(&row, &y);
                assert_close(
                    got,
                    f64::from(reference),
                    magnitude,
                    1e-5,
                    &format!("{ty} x{n_blocks}"),
                );
            }
        }
    }
}

#[test]
fn multi_row_q8_k_kernels_equal_the_one_row_kernel_bit_for_bit() {
    let mut rng = Rng(SplitMix64::new(11));
    for ty in [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K] {
        let best = Q8KDot::best(ty).unwrap();
        let scalar = Q8KDot::scalar(ty).unwrap();
        for n_blocks in 1..=12 {
            let row = random_row(&mut rng, ty, n_blocks);
            let ys: Vec<Vec<Q8KBlock>> = (0..Q8K_COLS)
                .map(|_| {
                    let mut y = vec![Q8KBlock::default(); n_blocks];
                    quantize_row_q8_k(&rng.floats(256 * n_blocks, 4.0), &mut y);
                    y
                })
                .collect();
            let refs: [&[Q8KBlock]; Q8K_COLS] = std::array::from_fn(|j| ys[j].as_slice());
            let got = best.dot_cols(&row, &refs);
            for j in 0..Q8K_COLS {
                // Bit-exact: a prompt split into other batches must give the same logits.
                assert_eq!(
                    got[j].to_bits(),
                    best.dot(&row, &ys[j]).to_bits(),
                    "{ty} x{n_blocks} column {j}"
                );
                let (_, magnitude) = {
                    let mut y_values = vec![0.0; 256 * n_blocks];
                    dequantize_q8_k(&ys[j], &mut y_values);
                    dot_f64(&dequantized(ty, &row, 256 * n_blocks), &y_values)
                };
                assert_close(
                    got[j],
                    f64::from(scalar.dot(&row, &ys[j])),
                    magnitude,
                    1e-5,
                    &format!("{ty} x{n_blocks} column {j} vs scalar"),
                );
            }
        }
    }
}

#[test]
fn simd_q8_0_kernels_match_the_scalar_reference() {
    let mut rng = Rng(SplitMix64::new(6));
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0] {
        let best = Q8_0Dot::best(ty).unwrap();
        assert_eq!(best.is_simd(), has_avx2(), "{ty}");
        let scalar = Q8_0Dot::scalar(ty).unwrap();
        for n_blocks in 1..=12 {
            for _ in 0..4 {
                let row = random_row(&mut rng, ty, n_blocks);
                let mut y = vec![Q8_0Block::default(); n_blocks];
                quantize_row_q8_0(&rng.floats(32 * n_blocks, 4.0), &mut y);
                let mut y_values = vec![0.0; 32 * n_blocks];
                dequantize_q8_0(&y, &mut y_values);
                let (_, magnitude) = dot_f64(&dequantized(ty, &row, 32 * n_blocks), &y_values);
                let reference = scalar.dot(&row, &y);
                let got = best.dot(&row, &y);
                assert_close(
                    got,
                    f64::from(reference),
                    magnitude,
                    1e-5,
                    &format!("{ty} x{n_blocks}"),
                );
            }
        }
    }
}

#[test]
fn fast_q8_k_quantization_equals_the_reference_bit_for_bit() {
    let mut rng = Rng(SplitMix64::new(7));
    for n_blocks in 1..=12 {
        let mut x = rng.floats(256 * n_blocks, 10.0);
        let block = n_blocks - 1;
        match n_blocks % 4 {
            // Exact ties: the scale is -1 and every value is a half-integer.
            0 => {
                for (i, v) in x[256 * block..256 * (block + 1)].iter_mut().enumerate() {
                    *v = (i % 200) as f32 - 99.5;
                }
                x[256 * block + 3] = -127.0;
            }
            // Equal magnitudes of both signs: the first one sets the sign.
            1 => {
                x[256 * block + 10] = 20.0;
                x[256 * block + 11] = -20.0;
            }
            // An all-zero block.
            2 => x[256 * block..256 * (block + 1)].fill(0.0),
            _ => {}
        }
        let mut reference = vec![Q8KBlock::default(); n_blocks];
        quantize_row_q8_k(&x, &mut reference);
        let mut fast = vec![
            Q8KBlock {
                d: 9.0,
                qs: [3; 256],
                bsums: [7; 16]
            };
            n_blocks
        ];
        quantize_row_q8_k_fast(&x, &mut fast);
        for (b, (r, f)) in reference.iter().zip(&fast).enumerate() {
            assert_eq!(r.d.to_bits(), f.d.to_bits(), "x{n_blocks} block {b}: scale");
            assert_eq!(r.qs, f.qs, "x{n_blocks} block {b}: quants");
            assert_eq!(r.bsums, f.bsums, "x{n_blocks} block {b}: sums");
        }
    }
}
