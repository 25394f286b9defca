//! One block of KV storage and the shape that sizes it.

/// Positions per KV block: the unit of allocation, of sharing between
/// sequences, and of the prefix cache's hashes.
pub const BLOCK_TOKENS: usize = 32;

/// The dimensions of a model's KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KvShape {
    /// Transformer blocks.
    pub n_layers: usize,
    /// Key/value heads per layer.
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl KvShape {
    /// f32 values in one block: every layer's keys and values for
    /// [`BLOCK_TOKENS`] positions.
    pub fn block_len(&self) -> usize {
        self.n_layers * 2 * self.n_kv_heads * BLOCK_TOKENS * self.head_dim
    }

    /// Bytes of one block.
    pub fn block_bytes(&self) -> usize {
        self.block_len() * std::mem::size_of::<f32>()
    }

    /// Bytes of cache per position.
    pub fn bytes_per_token(&self) -> usize {
        self.n_layers * 2 * self.n_kv_heads * self.head_dim * std::mem::size_of::<f32>()
    }

    /// Where the `dim` values of `head`'s key (or value) at `slot` start in
    /// a block: the layout is `[layer][key|value][head][slot][dim]`, so one
    /// head's keys for a block are contiguous and attention reads them in
    /// order.
    pub(crate) fn offset(&self, layer: usize, value: bool, head: usize, slot: usize) -> usize {
        (((layer * 2 + usize::from(value)) * self.n_kv_heads + head) * BLOCK_TOKENS + slot)
            * self.head_dim
    }
}

/// The keys and values of [`BLOCK_TOKENS`] positions of every layer.
///
/// Blocks are shared between sequences behind `Arc`s; a sequence writes only
/// into a block it holds alone (see [`crate::kv::KvCache`]), so a shared
/// block never changes.
#[derive(Clone, PartialEq)]
pub struct KvBlock {
    data: Box<[f32]>,
}

impl std::fmt::Debug for KvBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KvBlock({} values)", self.data.len())
    }
}

impl KvBlock {
    /// A zeroed block for `shape`.
    pub fn zeroed(shape: &KvShape) -> KvBlock {
        KvBlock {
            data: vec![0.0; shape.block_len()].into_boxed_slice(),
        }
    }

    /// A block holding `data`, which must be `shape.block_len()` values.
    pub fn from_values(data: Box<[f32]>) -> KvBlock {
        KvBlock { data }
    }

    /// The values, in the layout [`KvShape`] describes.
    pub fn values(&self) -> &[f32] {
        &self.data
    }

    /// The values, writable.
    pub fn values_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Bytes of storage.
    pub fn bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<f32>()
    }
}
