//! Tensor descriptions from a GGUF header.

use super::types::GgmlType;

/// One tensor of a GGUF file: where its data lies and how to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name ("blk.0.attn_q.weight").
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` is the row length (the
    /// contiguous one), then rows, and so on.
    pub dims: Vec<u64>,
    /// The element type.
    pub ty: GgmlType,
    /// Absolute offset of the data in the file.
    pub offset: u64,
    /// Length of the data in bytes.
    pub n_bytes: usize,
}

impl TensorInfo {
    /// Total element count (checked against overflow when the file was opened).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Elements per row (`dims[0]`; 1 for a tensor with no dimensions).
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Number of rows: the product of every dimension after the first.
    pub fn rows(&self) -> u64 {
        self.dims.iter().skip(1).product()
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        if self.rows() == 0 {
            return 0;
        }
        // rows > 0 here, and n_bytes is rows whole rows (checked at open).
        self.n_bytes / self.rows() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_helpers_follow_ggml_order() {
        let t = TensorInfo {
            name: "w".into(),
            dims: vec![512, 3, 2],
            ty: GgmlType::Q4_K,
            offset: 0,
            n_bytes: 2 * 144 * 6,
        };
        assert_eq!(
            (t.n_elements(), t.row_len(), t.rows(), t.row_bytes()),
            (3072, 512, 6, 288)
        );
        let scalar = TensorInfo {
            dims: vec![],
            n_bytes: 4,
            ty: GgmlType::F32,
            ..t
        };
        assert_eq!(
            (scalar.n_elements(), scalar.row_len(), scalar.rows()),
            (1, 1, 1)
        );
    }
}
