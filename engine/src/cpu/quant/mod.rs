//! Tensor element types: ggml's quantized block layouts, their
//! dequantization, and the dot products the linear layers are built on.
//!
//! Three paths compute a quantized row times activations:
//! - [`dot_f32`]: the row against f32 activations, one block dequantized at a
//!   time. Simple and obviously correct; the reference for everything else.
//! - `vec_dot_*`: the row against activations quantized to 8 bits
//!   ([`quantize_row_q8_k`], [`quantize_row_q8_0`]), summed in integers as
//!   llama.cpp does. [`q8k_dot_kernel`] and [`q8_0_dot_kernel`] pick the
//!   fastest row-wise implementation this CPU has (AVX2 or the scalar
//!   reference).
//! - [`PackedMatrix`]: `Q4_K`/`Q6_K` rows repacked at load into interleaved
//!   groups for the AVX-512 VNNI kernels, used in place of the row-wise
//!   kernels where the CPU has them (tested against the scalar references).

#[cfg(target_arch = "x86_64")]
mod avx2;
mod dequant;
mod dispatch;
mod packed;
mod peak;
mod q8;
mod repack;
mod vec_dot;
#[cfg(target_arch = "x86_64")]
mod vnni;

use crate::model::gguf::types::{GgmlType, QK_K};
pub use dispatch::{
    has_avx2, q8_0_dot_kernel, q8k_dot_kernel, quantize_row_q8_k_fast, Q8KDot, Q8_0Dot, Q8K_COLS,
};
pub use packed::{has_avx512_vnni, PackedMatrix, PACKED_COLS};
#[cfg(target_arch = "x86_64")]
pub use peak::measure_int8_peak;
pub use peak::Int8Peak;
pub use q8::{
    dequantize_q8_0, dequantize_q8_k, quantize_row_q8_0, quantize_row_q8_k, Q8KBlock, Q8_0Block,
};
pub use repack::PACK_ROWS;
pub use vec_dot::{
    vec_dot_q4_0_q8_0, vec_dot_q4_k_q8_k, vec_dot_q5_k_q8_k, vec_dot_q6_k_q8_k, vec_dot_q8_0_q8_0,
};

/// A request to convert tensor data whose sizes do not fit its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    /// The element count is not a whole number of blocks.
    #[error("{n_elements} elements are not a whole number of {ty} blocks of {block_len}")]
    PartialBlock {
        /// The element type.
        ty: GgmlType,
        /// The requested element count.
        n_elements: usize,
        /// Elements per block of `ty`.
        block_len: usize,
    },
    /// The source bytes do not hold exactly the requested elements.
    #[error("{n_elements} {ty} elements take {expected} bytes, but {got} bytes were given")]
    WrongByteLength {
        /// The element type.
        ty: GgmlType,
        /// The requested element count.
        n_elements: usize,
        /// Bytes that `n_elements` of `ty` take.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Checks that `src` holds exactly `n_elements` elements of `ty`.
fn check_source(ty: GgmlType, src: &[u8], n_elements: usize) -> Result<(), QuantError> {
    let expected = ty.row_bytes(n_elements).ok_or(QuantError::PartialBlock {
        ty,
        n_elements,
        block_len: ty.block_len(),
    })?;
    if src.len() != expected {
        return Err(QuantError::WrongByteLength {
            ty,
            n_elements,
            expected,
            got: src.len(),
        });
    }
    Ok(())
}

/// Dequantizes `dst.len()` elements of type `ty` from `src`, which must be
/// exactly `ty.row_bytes(dst.len())` bytes. Results equal ggml's
/// `dequantize_row_*` bit for bit.
pub fn dequantize(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), QuantError> {
    check_source(ty, src, dst.len())?;
    match ty {
        // The float types have no blocks: convert the whole slice at once.
        GgmlType::F32 => dequant::f32_values(src, dst),
        GgmlType::F16 => dequant::f16_values(src, dst),
        GgmlType::BF16 => dequant::bf16_values(src, dst),
        GgmlType::Q4_0 => each_block(ty, src, dst, dequant::q4_0_block),
        GgmlType::Q8_0 => each_block(ty, src, dst, dequant::q8_0_block),
        GgmlType::Q4_K => each_block(ty, src, dst, dequant::q4_k_block),
        GgmlType::Q5_K => each_block(ty, src, dst, dequant::q5_k_block),
        GgmlType::Q6_K => each_block(ty, src, dst, dequant::q6_k_block),
    }
    Ok(())
}

/// Applies `block_fn` to each block of `src` and its elements in `dst`.
fn each_block(ty: GgmlType, src: &[u8], dst: &mut [f32], block_fn: fn(&[u8], &mut [f32])) {
    for (block, out) in src
        .chunks_exact(ty.block_bytes())
        .zip(dst.chunks_exact_mut(ty.block_len()))
    {
        block_fn(block, out);
    }
}

/// Reference dot product of one row of type `ty` (holding `x.len()`
/// elements) with f32 activations: each block is dequantized and multiplied
/// in order. Scalar and unoptimized on purpose; fast kernels are tested
/// against it.
///
/// # Panics
/// If `row` does not hold exactly `x.len()` elements of `ty`.
pub fn dot_f32(ty: GgmlType, row: &[u8], x: &[f32]) -> f32 {
    if let Err(err) = check_source(ty, row, x.len()) {
        panic!("dot_f32: {err}");
    }
    // Dequantize in chunks of whole blocks that fit one small stack buffer.
    const CHUNK: usize = QK_K;
    let elements_per_chunk = CHUNK / ty.block_len() * ty.block_len();
    let bytes_per_chunk = elements_per_chunk / ty.block_len() * ty.block_bytes();
    let mut buffer = [0.0f32; CHUNK];
    let mut sum = 0.0f32;
    for (bytes, x) in row
        .chunks(bytes_per_chunk)
        .zip(x.chunks(elements_per_chunk))
    {
        let values = &mut buffer[..x.len()];
        // Lengths were checked above and chunks hold whole blocks, so this cannot fail.
        if let Err(err) = dequantize(ty, bytes, values) {
            panic!("dot_f32: {err}");
        }
        sum += values.iter().zip(x).map(|(a, b)| a * b).sum::<f32>();
    }
    sum
}

/// Random rows of a K-quant type `ty` for kernel tests and timings: random
/// quants and packed scales, with each block's f16 scales (`d`, and `dmin`
/// where the type has one) replaced by finite, modest values, since random
/// bits can be NaN or huge. `None` if `ty` is not `Q4_K` or `Q6_K`, or
/// `cols` is not a whole number of blocks.
// Outside tests only the x86 peak measurement uses it.
#[cfg_attr(not(any(test, target_arch = "x86_64")), allow(dead_code))]
pub(crate) fn random_k_quant_rows_of(
    ty: GgmlType,
    rows: usize,
    cols: usize,
    seed: u64,
) -> Option<Vec<u8>> {
    let mut rng = crate::rng::SplitMix64::new(seed);
    let mut next = move || (rng.next_u64() >> 56) as u8;
    let row_bytes = ty.row_bytes(cols)?;
    let scales_at: &[usize] = match ty {
        GgmlType::Q4_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        _ => return None,
    };
    let mut bytes: Vec<u8> = (0..row_bytes * rows).map(|_| next()).collect();
    for block in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &at in scales_at {
            let v = half::f16::from_f32(0.01 + f32::from(next()) / 5000.0);
            block[at..at + 2].copy_from_slice(&v.to_bits().to_le_bytes());
        }
    }
    Some(bytes)
}

/// [`random_k_quant_rows_of`] for tests.
///
/// # Panics
/// If `ty` is not `Q4_K` or `Q6_K`, or `cols` is not a whole number of blocks.
#[cfg(test)]
pub(crate) fn random_k_quant_rows(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    random_k_quant_rows_of(ty, rows, cols, seed)
        .unwrap_or_else(|| panic!("random_k_quant_rows: {ty} x {cols} columns"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantize_rejects_wrong_lengths() {
        let mut dst = [0.0f32; 32];
        assert_eq!(
            dequantize(GgmlType::Q8_0, &[0u8; 33], &mut dst),
            Err(QuantError::WrongByteLength {
                ty: GgmlType::Q8_0,
                n_elements: 32,
                expected: 34,
                got: 33
            })
        );
        let mut dst = [0.0f32; 31];
        assert!(matches!(
            dequantize(GgmlType::Q8_0, &[0u8; 34], &mut dst),
            Err(QuantError::PartialBlock { block_len: 32, .. })
        ));
    }

    #[test]
    fn dot_f32_of_f32_rows_is_the_plain_dot() {
        let row: Vec<u8> = [1.0f32, 2.0, -3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(dot_f32(GgmlType::F32, &row, &[4.0, 0.5, 1.0]), 2.0);
    }
}
