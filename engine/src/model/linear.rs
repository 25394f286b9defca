//! A linear layer: a weight matrix in any supported tensor type, and an
//! optional bias.

use crate::cpu::matmul::QMatrix;

/// `y = W x + b` over a batch of rows.
#[derive(Clone)]
pub struct Linear {
    /// The weights, `out_features` rows of `in_features` columns.
    pub weight: QMatrix,
    /// The bias, `out_features` values, if the layer has one.
    pub bias: Option<Vec<f32>>,
}

impl Linear {
    /// Output width.
    pub fn out_features(&self) -> usize {
        self.weight.rows()
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.weight.cols()
    }

    /// Applies the layer to `n` rows of `x`, writing `n` rows into `out`.
    pub fn forward(&self, x: &[f32], n: usize, out: &mut [f32]) {
        self.weight.matmul(x, n, out);
        self.add_bias(out);
    }

    /// Applies each of `layers` to the same `n` rows of `x`, writing into
    /// its output: as [`Linear::forward`] one by one, with the products run
    /// together ([`QMatrix::matmul_many`]).
    pub fn forward_many(layers: &mut [(&Linear, &mut [f32])], x: &[f32], n: usize) {
        {
            let mut products: Vec<(&QMatrix, &mut [f32])> = layers
                .iter_mut()
                .map(|(layer, out)| (&layer.weight, &mut **out))
                .collect();
            QMatrix::matmul_many(&mut products, x, n);
        }
        for (layer, out) in layers.iter_mut() {
            layer.add_bias(out);
        }
    }

    fn add_bias(&self, out: &mut [f32]) {
        if let Some(bias) = &self.bias {
            for row in out.chunks_exact_mut(bias.len()) {
                crate::cpu::ops::add_assign(row, bias);
            }
        }
    }
}
