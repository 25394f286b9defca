//! Dequantization checked bit for bit against gguf-py (the fixtures are made
//! by scripts/fixtures/quant_fixtures.py from `gguf.quants`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hearth_engine::cpu::quant::{dequantize, quantize_row_q8_0, Q8_0Block};
use hearth_engine::model::gguf::types::GgmlType;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/quant")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn check_type(ty: GgmlType) {
    let stem = ty.name().to_lowercase();
    let blocks = fixture(&format!("{stem}.blocks.bin"));
    let expected = f32s(&fixture(&format!("{stem}.f32.bin")));
    assert_eq!(
        ty.row_bytes(expected.len()),
        Some(blocks.len()),
        "{ty}: fixture sizes disagree"
    );
    let mut got = vec![f32::NAN; expected.len()];
    dequantize(ty, &blocks, &mut got).unwrap();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(
            g.to_bits(),
            e.to_bits(),
            "{ty}: element {i} (block {}): got {g:e}, gguf-py says {e:e}",
            i / ty.block_len()
        );
    }

    // Dequantizing block by block must give the same values as the whole buffer.
    let mut one = vec![0.0f32; ty.block_len()];
    for (b, block) in blocks.chunks_exact(ty.block_bytes()).enumerate() {
        dequantize(ty, block, &mut one).unwrap();
        let start = b * ty.block_len();
        let whole = &got[start..start + ty.block_len()];
        assert!(
            one.iter()
                .zip(whole)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{ty}: block {b} differs when dequantized alone"
        );
    }
}

#[test]
fn f16_matches_gguf_py() {
    check_type(GgmlType::F16);
}

#[test]
fn bf16_matches_gguf_py() {
    check_type(GgmlType::BF16);
}

#[test]
fn q4_0_matches_gguf_py() {
    check_type(GgmlType::Q4_0);
}

#[test]
fn q8_0_matches_gguf_py() {
    check_type(GgmlType::Q8_0);
}

#[test]
fn q4_k_matches_gguf_py() {
    check_type(GgmlType::Q4_K);
}

#[test]
fn q5_k_matches_gguf_py() {
    check_type(GgmlType::Q5_K);
}

#[test]
fn q6_k_matches_gguf_py() {
    check_type(GgmlType::Q6_K);
}

#[test]
fn f32_is_read_as_little_endian_floats() {
    let values = [1.5f32, -0.0, f32::INFINITY, 1e-40];
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut got = [0.0f32; 4];
    dequantize(GgmlType::F32, &bytes, &mut got).unwrap();
    assert_eq!(got.map(f32::to_bits), values.map(f32::to_bits));
}

#[test]
fn quantize_row_q8_0_matches_gguf_py() {
    let x = f32s(&fixture("q8_0_quantize.input.f32.bin"));
    let expected = fixture("q8_0_quantize.blocks.bin");
    let mut blocks = vec![Q8_0Block::default(); x.len() / 32];
    quantize_row_q8_0(&x, &mut blocks);
    let got: Vec<u8> = blocks
        .iter()
        .flat_map(|b| {
            let mut bytes = b.d.to_bits().to_le_bytes().to_vec();
            bytes.extend(b.qs.iter().map(|&q| q as u8));
            bytes
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    for (b, (g, e)) in got.chunks(34).zip(expected.chunks(34)).enumerate() {
        assert_eq!(g, e, "block {b}");
    }
}
