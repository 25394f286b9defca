//! Products of a (possibly quantized) weight matrix with a batch of f32
//! activation rows: the one interface every linear layer goes through, so
//! faster kernels change nothing for callers.
//!
//! Activations are quantized to 8 bits per block (Q8_K for the K-quants,
//! Q8_0 for the 32-element legacy types) before the dot products, as llama.cpp
//! does: the integer dot products are both faster and what the reference
//! computes, which keeps our logits close to it.

use std::sync::Arc;

use rayon::prelude::*;

use crate::cpu::quant::{
    self, PackedMatrix, Q8KBlock, Q8KDot, Q8_0Block, Q8_0Dot, PACKED_COLS, PACK_ROWS, Q8K_COLS,
};
use crate::cpu::tiles::{OutputTiles, TileOut, ROW_TILE};
use crate::model::gguf::types::{GgmlType, QK32, QK_K};

/// An open model file whose tensors matrices read in place. The model's
/// file format implements it, so the kernels depend on no reader.
pub trait TensorSource: Send + Sync {
    /// The bytes of tensor `index`, as stored.
    fn tensor_data(&self, index: usize) -> &[u8];

    /// Tensor `index` has a copy elsewhere and is read here only rarely: its memory may
    /// be given back until then (a mapped file's pages), as long as reads still work.
    fn release_pages(&self, _index: usize) {}
}

/// Where a weight matrix's bytes live.
#[derive(Clone)]
pub enum WeightData {
    /// A tensor of a memory-mapped model file (zero-copy).
    Mapped {
        /// The open file that owns the mapping.
        file: Arc<dyn TensorSource>,
        /// The tensor's index in `file`.
        tensor: usize,
    },
    /// Bytes owned by the engine (e.g. repacked at load).
    Owned(Arc<[u8]>),
}

impl WeightData {
    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            WeightData::Mapped { file, tensor } => file.tensor_data(*tensor),
            WeightData::Owned(bytes) => bytes,
        }
    }
}

/// A row-major weight matrix: `rows` outputs, each a dot product over `cols`
/// inputs, stored in one of the ggml tensor types.
#[derive(Clone)]
pub struct QMatrix {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    data: WeightData,
    kernel: DotKernel,
    /// The rows repacked for the VNNI kernels, where this CPU has them: the
    /// products then read these, and `data` only serves row lookups.
    packed: Option<PackedMatrix>,
}

/// The dot product kernel for a matrix's type, chosen once for this CPU.
#[derive(Clone, Copy)]
enum DotKernel {
    Q8K(Q8KDot),
    Q8_0(Q8_0Dot),
    F32,
}

/// A weight matrix whose size or type does not fit its declared shape.
#[derive(Debug, thiserror::Error)]
#[error("weight matrix {rows}x{cols} of type {ty}: {problem}")]
pub struct ShapeError {
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// The tensor type's name.
    pub ty: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl QMatrix {
    /// Wraps `data` as a `rows` x `cols` matrix of type `ty`, repacked for the fastest
    /// kernels this CPU has.
    pub fn new(
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: WeightData,
    ) -> Result<QMatrix, ShapeError> {
        QMatrix::build(ty, rows, cols, data, true)
    }

    /// Like [`QMatrix::new`] for a matrix that is only read a row at a time (the token
    /// embeddings when the output head is a tensor of its own): no repacked copy, which
    /// would only take memory (132 MB for the default model's embeddings).
    pub fn for_row_lookups(
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: WeightData,
    ) -> Result<QMatrix, ShapeError> {
        QMatrix::build(ty, rows, cols, data, false)
    }

    fn build(
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: WeightData,
        pack: bool,
    ) -> Result<QMatrix, ShapeError> {
        let err = |problem: String| ShapeError {
            rows,
            cols,
            ty: ty.name(),
            problem,
        };
        let row_bytes = ty.row_bytes(cols).ok_or_else(|| {
            err(format!(
                "a row of {cols} is not a whole number of {}-element blocks",
                ty.block_len()
            ))
        })?;
        let have = data.bytes().len();
        if have != row_bytes * rows {
            return Err(err(format!(
                "{have} bytes of data, expected {}",
                row_bytes * rows
            )));
        }
        let kernel = if let Some(k) = quant::q8k_dot_kernel(ty) {
            DotKernel::Q8K(k)
        } else if let Some(k) = quant::q8_0_dot_kernel(ty) {
            DotKernel::Q8_0(k)
        } else {
            DotKernel::F32
        };
        let packed = if pack {
            PackedMatrix::new(ty, rows, cols, data.bytes())
        } else {
            None
        };
        if let (Some(_), WeightData::Mapped { file, tensor }) = (&packed, &data) {
            // Products read the packed copy; the mapped bytes serve only row lookups, so
            // holding both would make the model's resident size nearly twice the file's.
            file.release_pages(*tensor);
        }
        Ok(QMatrix {
            ty,
            rows,
            cols,
            row_bytes,
            data,
            kernel,
            packed,
        })
    }

    /// The storage type.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// Number of output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of the whole matrix: what one pass over it reads.
    pub fn byte_len(&self) -> usize {
        self.rows * self.row_bytes
    }

    /// The bytes of one row.
    pub fn row(&self, r: usize) -> &[u8] {
        &self.data.bytes()[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// Dequantizes row `r` into `out` (`cols` values): embedding lookups.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        // The row length was validated against the type in `new`.
        if quant::dequantize(self.ty, self.row(r), out).is_err() {
            unreachable!("row length validated at construction");
        }
    }

    /// `out[t][r] = sum_c self[r][c] * x[t][c]` for `n` activation rows.
    ///
    /// `x` holds `n * cols` values and `out` `n * rows`, both row-major.
    pub fn matmul(&self, x: &[f32], n: usize, out: &mut [f32]) {
        assert_eq!(x.len(), n * self.cols, "activation size");
        assert_eq!(out.len(), n * self.rows, "output size");
        if self.packed.is_some() {
            QMatrix::matmul_many(&mut [(self, out)], x, n);
            return;
        }
        let acts = Activations::quantize(self.kernel, self.ty, x, n, self.cols);
        if n == 1 {
            self.rows_into(&acts, 0, out);
            return;
        }
        self.by_row_tiles(n, out, |tile, out| {
            let done = self.tile_cols(&acts, n, out);
            for t in done..n {
                let row = out.row(t);
                for (i, o) in row.iter_mut().enumerate() {
                    *o = self.dot_row(tile * ROW_TILE + i, &acts, t);
                }
            }
        });
    }

    /// Runs `tile_fn(tile, out)` in parallel over tiles of [`ROW_TILE`]
    /// rows, where `out` gives the tile's columns of every activation row's
    /// output (`out[t * rows + r]` for the tile's `r`). Row tiles keep a
    /// tile's weights in cache across the whole batch, and each task writes
    /// its results in place: no transposed copy, whose serial scatter cost
    /// as much as a fifth of a prefill.
    fn by_row_tiles(
        &self,
        n: usize,
        out: &mut [f32],
        tile_fn: impl Fn(usize, &mut TileOut) + Sync,
    ) {
        let tiles = OutputTiles::new(out, n, self.rows);
        (0..tiles.tiles()).into_par_iter().for_each(|tile| {
            // SAFETY: each index of the loop comes once, so one view a tile.
            tile_fn(tile, &mut unsafe { tiles.tile(tile) })
        });
    }

    /// [`QMatrix::matmul`] of several matrices with the same input `x` (`n`
    /// rows), `products[i].1` receiving matrix `i`'s output. Where they
    /// allow it (packed weights of one width), `x` is quantized once and all
    /// the products run in one parallel pass, which saves a quantization and
    /// a fork and join per matrix (decode runs a few hundred a token);
    /// otherwise they run one after another. The results are identical
    /// either way.
    pub fn matmul_many(products: &mut [(&QMatrix, &mut [f32])], x: &[f32], n: usize) {
        let Some(cols) = products.first().map(|(m, _)| m.cols) else {
            return;
        };
        let fused = products
            .iter()
            .all(|(m, _)| m.packed.is_some() && m.cols == cols);
        if !fused {
            for (m, out) in products.iter_mut() {
                m.matmul(x, n, out);
            }
            return;
        }
        assert_eq!(x.len(), n * cols, "activation size");
        let (blocks, per_row) = quantize_rows(x, n, cols, QK_K, quant::quantize_row_q8_k_fast);
        let outs: Vec<(&PackedMatrix, OutputTiles)> = products
            .iter_mut()
            .filter_map(|(m, out)| {
                let rows = m.rows;
                m.packed
                    .as_ref()
                    .map(|packed| (packed, OutputTiles::new(out, n, rows)))
            })
            .collect();
        packed_products(&outs, &blocks, per_row, n);
    }

    /// Fills the tile's outputs for the leading whole groups of
    /// [`Q8K_COLS`] activation rows with the multi-row kernel, which reads
    /// each weight row once per group; returns how many activation rows it
    /// did (0 where the kernel has no such path).
    fn tile_cols(&self, acts: &Activations, n: usize, out: &mut TileOut) -> usize {
        let (Activations::Q8K { blocks, per_row }, DotKernel::Q8K(k)) = (acts, self.kernel) else {
            return 0;
        };
        let per_row = *per_row;
        let groups = n / Q8K_COLS;
        for g in 0..groups {
            let t0 = g * Q8K_COLS;
            let ys: [&[Q8KBlock]; Q8K_COLS] =
                std::array::from_fn(|j| &blocks[(t0 + j) * per_row..(t0 + j + 1) * per_row]);
            for i in 0..out.len() {
                let dots = k.dot_cols(self.row(out.first() + i), &ys);
                for (j, dot) in dots.into_iter().enumerate() {
                    out.row(t0 + j)[i] = dot;
                }
            }
        }
        groups * Q8K_COLS
    }

    fn rows_into(&self, acts: &Activations, t: usize, out: &mut [f32]) {
        out.par_chunks_mut(ROW_TILE)
            .enumerate()
            .for_each(|(tile, chunk)| {
                for (i, o) in chunk.iter_mut().enumerate() {
                    *o = self.dot_row(tile * ROW_TILE + i, acts, t);
                }
            });
    }

    fn dot_row(&self, r: usize, acts: &Activations, t: usize) -> f32 {
        let row = self.row(r);
        match (acts, self.kernel) {
            (Activations::Q8K { blocks, per_row }, DotKernel::Q8K(k)) => {
                k.dot(row, &blocks[t * per_row..(t + 1) * per_row])
            }
            (Activations::Q8_0 { blocks, per_row }, DotKernel::Q8_0(k)) => {
                k.dot(row, &blocks[t * per_row..(t + 1) * per_row])
            }
            (Activations::F32 { x, cols }, _) => {
                quant::dot_f32(self.ty, row, &x[t * cols..(t + 1) * cols])
            }
            (Activations::Rounded { x, cols }, _) => {
                quant::dot_f32(self.ty, row, &x[t * cols..(t + 1) * cols])
            }
            _ => unreachable!("activations are quantized for this matrix's kernel"),
        }
    }
}

/// The packed products `outs` (each a matrix and its output) of the `n`
/// activation rows quantized in `blocks` (`per_row` blocks a row), in one
/// parallel pass over tasks of one [`ROW_TILE`] of one matrix each.
fn packed_products(
    outs: &[(&PackedMatrix, OutputTiles)],
    blocks: &[Q8KBlock],
    per_row: usize,
    n: usize,
) {
    // Task `i` is tile `i - starts[p]` of the product `p` whose range holds it.
    let mut starts = Vec::with_capacity(outs.len());
    let mut total = 0;
    for (_, out) in outs {
        starts.push(total);
        total += out.tiles();
    }
    let run = |i: usize| {
        let p = starts.partition_point(|&s| s <= i) - 1;
        let (packed, out) = &outs[p];
        let tile = i - starts[p];
        // SAFETY: each task index comes once and maps to one (product, tile),
        // so one view a tile.
        packed_tile(packed, tile, blocks, per_row, n, &mut unsafe {
            out.tile(tile)
        });
    };
    if total == 1 {
        run(0);
    } else {
        (0..total).into_par_iter().for_each(run);
    }
}

/// Tile `tile` of a packed matrix times the `n` activation rows in
/// `blocks`, taken [`PACKED_COLS`] at a time (then the tail), so every
/// weight vector is unpacked once per group of activation rows.
fn packed_tile(
    packed: &PackedMatrix,
    tile: usize,
    blocks: &[Q8KBlock],
    per_row: usize,
    n: usize,
    out: &mut TileOut,
) {
    let act = |t: usize| &blocks[t * per_row..(t + 1) * per_row];
    for i in 0..out.len() / PACK_ROWS {
        let group = tile * ROW_TILE / PACK_ROWS + i;
        let mut put = |t0: usize, dots: &[[f32; PACK_ROWS]]| {
            for (j, lanes) in dots.iter().enumerate() {
                out.row(t0 + j)[i * PACK_ROWS..(i + 1) * PACK_ROWS].copy_from_slice(lanes);
            }
        };
        let mut t0 = 0;
        while t0 + PACKED_COLS <= n {
            let ys: [&[Q8KBlock]; PACKED_COLS] = std::array::from_fn(|j| act(t0 + j));
            put(t0, &packed.dot_group(group, &ys));
            t0 += PACKED_COLS;
        }
        match n - t0 {
            1 => put(t0, &packed.dot_group(group, &[act(t0)])),
            2 => put(t0, &packed.dot_group(group, &[act(t0), act(t0 + 1)])),
            3 => put(
                t0,
                &packed.dot_group(group, &[act(t0), act(t0 + 1), act(t0 + 2)]),
            ),
            _ => {}
        }
    }
}

/// Activations in the form the weight type's dot product wants.
enum Activations<'a> {
    Q8K {
        blocks: Vec<Q8KBlock>,
        per_row: usize,
    },
    Q8_0 {
        blocks: Vec<Q8_0Block>,
        per_row: usize,
    },
    F32 {
        x: &'a [f32],
        cols: usize,
    },
    /// Activations rounded through the weights' 16-bit type, as ggml does
    /// before an F16 or BF16 dot product.
    Rounded {
        x: Vec<f32>,
        cols: usize,
    },
}

impl<'a> Activations<'a> {
    fn quantize(
        kernel: DotKernel,
        ty: GgmlType,
        x: &'a [f32],
        n: usize,
        cols: usize,
    ) -> Activations<'a> {
        match kernel {
            DotKernel::Q8K(_) => {
                let (blocks, per_row) =
                    quantize_rows(x, n, cols, QK_K, quant::quantize_row_q8_k_fast);
                Activations::Q8K { blocks, per_row }
            }
            DotKernel::Q8_0(_) => {
                let (blocks, per_row) = quantize_rows(x, n, cols, QK32, quant::quantize_row_q8_0);
                Activations::Q8_0 { blocks, per_row }
            }
            DotKernel::F32 => match ty {
                GgmlType::F16 => Activations::Rounded {
                    x: x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
                    cols,
                },
                GgmlType::BF16 => Activations::Rounded {
                    x: x.iter()
                        .map(|&v| half::bf16::from_f32(v).to_f32())
                        .collect(),
                    cols,
                },
                _ => Activations::F32 { x, cols },
            },
        }
    }
}

/// The `n` rows of `cols` values of `x`, each quantized in parallel into
/// blocks of `block_len` values, and the number of blocks a row.
fn quantize_rows<B: Default + Clone + Send>(
    x: &[f32],
    n: usize,
    cols: usize,
    block_len: usize,
    quantize_row: impl Fn(&[f32], &mut [B]) + Sync,
) -> (Vec<B>, usize) {
    let per_row = cols / block_len;
    let mut blocks = vec![B::default(); n * per_row];
    if n == 1 {
        // A decode step's one row: less work than a fork and join.
        quantize_row(x, &mut blocks);
        return (blocks, per_row);
    }
    blocks
        .par_chunks_mut(per_row)
        .zip(x.par_chunks(cols))
        .for_each(|(out, row)| quantize_row(row, out));
    (blocks, per_row)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn random_matrix(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> QMatrix {
        let bytes = quant::random_k_quant_rows(ty, rows, cols, seed);
        QMatrix::new(ty, rows, cols, WeightData::Owned(bytes.into())).unwrap()
    }

    #[test]
    fn products_sharing_an_input_equal_separate_products_bit_for_bit() {
        let cols = 512;
        let a = random_matrix(GgmlType::Q4_K, 48, cols, 5);
        let b = random_matrix(GgmlType::Q6_K, 32, cols, 6);
        let c = random_matrix(GgmlType::Q4_K, 37, cols, 7);
        for n in [1, 3] {
            let x: Vec<f32> = (0..n * cols).map(|i| (i % 13) as f32 - 6.0).collect();
            for matrices in [vec![&a, &b], vec![&a, &b, &c]] {
                let mut outs: Vec<Vec<f32>> =
                    matrices.iter().map(|m| vec![0.0; n * m.rows()]).collect();
                let mut products: Vec<(&QMatrix, &mut [f32])> = matrices
                    .iter()
                    .zip(outs.iter_mut())
                    .map(|(m, o)| (*m, o.as_mut_slice()))
                    .collect();
                QMatrix::matmul_many(&mut products, &x, n);
                for (m, got) in matrices.iter().zip(&outs) {
                    let mut want = vec![0.0; n * m.rows()];
                    m.matmul(&x, n, &mut want);
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(g, w)| g.to_bits() == w.to_bits());
                    assert!(same, "n={n}, {} rows", m.rows());
                }
            }
        }
    }

    #[test]
    fn batched_products_equal_one_row_products_bit_for_bit_at_every_tail() {
        // 37 rows take the row-wise kernels, 48 the packed ones (where this
        // CPU has them).
        for (ty, rows) in [
            (GgmlType::Q4_K, 37),
            (GgmlType::Q6_K, 37),
            (GgmlType::Q4_K, 48),
            (GgmlType::Q6_K, 48),
        ] {
            let cols = 512;
            let m = random_matrix(ty, rows, cols, 3);
            assert_eq!(m.packed.is_some(), rows == 48 && quant::has_avx512_vnni());
            for n in 1..=9 {
                let x: Vec<f32> = (0..n * cols)
                    .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 3.0)
                    .collect();
                let mut batched = vec![0.0; n * rows];
                m.matmul(&x, n, &mut batched);
                for t in 0..n {
                    let mut single = vec![0.0; rows];
                    m.matmul(&x[t * cols..(t + 1) * cols], 1, &mut single);
                    for r in 0..rows {
                        assert_eq!(
                            batched[t * rows + r].to_bits(),
                            single[r].to_bits(),
                            "{ty} n={n} t={t} r={r}"
                        );
                        let reference = quant::dot_f32(ty, m.row(r), &x[t * cols..(t + 1) * cols]);
                        // 8-bit activations err by at most 1/254 of each
                        // block's largest value: bound by the sum of |w·x|.
                        let mut w = vec![0.0; cols];
                        m.dequantize_row(r, &mut w);
                        let magnitude: f32 = w
                            .iter()
                            .zip(&x[t * cols..(t + 1) * cols])
                            .map(|(a, b)| (a * b).abs())
                            .sum();
                        let tolerance = 0.01 * magnitude;
                        assert!(
                            (single[r] - reference).abs() < tolerance,
                            "{ty} n={n} t={t} r={r}: {} vs f32 reference {reference}",
                            single[r]
                        );
                    }
                }
            }
        }
    }
}
