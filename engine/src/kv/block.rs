//! One block of KV storage and the shape that sizes it.

/// Positions per KV block: the unit of allocation, of sharing between
/// sequences, and of the prefix cache's hashes.
pub const BLOCK_TOKENS: usize = 32;

/// How keys and values are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KvType {
    /// IEEE half precision, as llama.cpp stores KV by default: half the
    /// memory and half the bytes attention reads per token at depth.
    #[default]
    F16,
    /// Single precision: what a model computes, kept exactly (for
    /// comparisons with references that keep f32 KV).
    F32,
}

impl KvType {
    /// Bytes of one stored value.
    pub fn bytes(self) -> usize {
        match self {
            KvType::F16 => 2,
            KvType::F32 => 4,
        }
    }

    /// The name used in flags, logs and cache keys.
    pub fn name(self) -> &'static str {
        match self {
            KvType::F16 => "f16",
            KvType::F32 => "f32",
        }
    }
}

impl std::str::FromStr for KvType {
    type Err = String;

    fn from_str(s: &str) -> Result<KvType, String> {
        match s {
            "f16" => Ok(KvType::F16),
            "f32" => Ok(KvType::F32),
            other => Err(format!("unknown KV type {other:?}: expected f16 or f32")),
        }
    }
}

/// The dimensions of a model's KV cache, and how its values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KvShape {
    /// Transformer blocks.
    pub n_layers: usize,
    /// Key/value heads per layer.
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// How values are stored.
    pub dtype: KvType,
}

impl KvShape {
    /// This shape with values stored as `dtype`.
    pub fn with_dtype(self, dtype: KvType) -> KvShape {
        KvShape { dtype, ..self }
    }

    /// Whether a cache of this shape fits `other`'s model: the same
    /// dimensions, whatever the storage type.
    pub fn same_dims(&self, other: &KvShape) -> bool {
        self.with_dtype(other.dtype) == *other
    }

    /// Values in one block: every layer's keys and values for
    /// [`BLOCK_TOKENS`] positions.
    pub fn block_len(&self) -> usize {
        self.n_layers * 2 * self.n_kv_heads * BLOCK_TOKENS * self.head_dim
    }

    /// Bytes of one block.
    pub fn block_bytes(&self) -> usize {
        self.block_len() * self.dtype.bytes()
    }

    /// Bytes of cache per position.
    pub fn bytes_per_token(&self) -> usize {
        self.n_layers * 2 * self.n_kv_heads * self.head_dim * self.dtype.bytes()
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

/// A run of stored keys or values, in the cache's storage type.
#[derive(Clone, Copy, Debug)]
pub enum KvRows<'a> {
    /// Half-precision values.
    F16(&'a [half::f16]),
    /// Single-precision values.
    F32(&'a [f32]),
}

impl<'a> KvRows<'a> {
    /// Values held.
    pub fn len(&self) -> usize {
        match self {
            KvRows::F16(v) => v.len(),
            KvRows::F32(v) => v.len(),
        }
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `len` values.
    ///
    /// # Panics
    /// If fewer than `len` values are held.
    pub fn prefix(self, len: usize) -> KvRows<'a> {
        match self {
            KvRows::F16(v) => KvRows::F16(&v[..len]),
            KvRows::F32(v) => KvRows::F32(&v[..len]),
        }
    }

    /// The value at `i`, widened to f32 (exactly).
    pub fn get(&self, i: usize) -> f32 {
        match self {
            KvRows::F16(v) => v[i].to_f32(),
            KvRows::F32(v) => v[i],
        }
    }
}

#[derive(Clone, PartialEq)]
enum Storage {
    F16(Box<[half::f16]>),
    F32(Box<[f32]>),
}

/// The keys and values of [`BLOCK_TOKENS`] positions of every layer.
///
/// Blocks are shared between sequences behind `Arc`s; a sequence writes only
/// into a block it holds alone (see [`crate::kv::KvCache`]), so a shared
/// block never changes.
#[derive(Clone, PartialEq)]
pub struct KvBlock {
    data: Storage,
}

impl std::fmt::Debug for KvBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KvBlock({} {} values)", self.len(), self.dtype().name())
    }
}

impl KvBlock {
    /// A zeroed block for `shape`.
    pub fn zeroed(shape: &KvShape) -> KvBlock {
        let n = shape.block_len();
        let data = match shape.dtype {
            KvType::F16 => Storage::F16(vec![half::f16::ZERO; n].into_boxed_slice()),
            KvType::F32 => Storage::F32(vec![0.0; n].into_boxed_slice()),
        };
        KvBlock { data }
    }

    /// An f32 block holding `data`, which must be `shape.block_len()` values.
    pub fn from_values(data: Box<[f32]>) -> KvBlock {
        KvBlock {
            data: Storage::F32(data),
        }
    }

    /// A block of `dtype` from its values' little-endian bytes, or `None`
    /// when `bytes` is not a whole number of values.
    pub fn from_le_bytes(dtype: KvType, bytes: &[u8]) -> Option<KvBlock> {
        if !bytes.len().is_multiple_of(dtype.bytes()) {
            return None;
        }
        let data = match dtype {
            KvType::F16 => Storage::F16(
                bytes
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]))
                    .collect(),
            ),
            KvType::F32 => Storage::F32(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
        };
        Some(KvBlock { data })
    }

    /// Appends the values' little-endian bytes to `out`.
    pub fn write_le_bytes(&self, out: &mut Vec<u8>) {
        match &self.data {
            Storage::F16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Storage::F32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
    }

    /// How the values are stored.
    pub fn dtype(&self) -> KvType {
        match self.data {
            Storage::F16(_) => KvType::F16,
            Storage::F32(_) => KvType::F32,
        }
    }

    /// Values held.
    pub fn len(&self) -> usize {
        match &self.data {
            Storage::F16(v) => v.len(),
            Storage::F32(v) => v.len(),
        }
    }

    /// Whether the block holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `len` values from `at`, in the layout [`KvShape`] describes.
    pub fn rows(&self, at: usize, len: usize) -> KvRows<'_> {
        match &self.data {
            Storage::F16(v) => KvRows::F16(&v[at..at + len]),
            Storage::F32(v) => KvRows::F32(&v[at..at + len]),
        }
    }

    /// Stores `values` from `at`, rounded to the storage type (to nearest,
    /// ties to even).
    pub fn write(&mut self, at: usize, values: &[f32]) {
        match &mut self.data {
            Storage::F16(v) => {
                for (d, &x) in v[at..at + values.len()].iter_mut().zip(values) {
                    *d = half::f16::from_f32(x);
                }
            }
            Storage::F32(v) => v[at..at + values.len()].copy_from_slice(values),
        }
    }

    /// Bytes of storage.
    pub fn bytes(&self) -> usize {
        self.len() * self.dtype().bytes()
    }
}

#[cfg(test)]
impl KvShape {
    /// The smallest shape (one layer, one head of width 2, f32): for tests
    /// whose blocks only need to be told apart.
    pub(crate) fn tiny() -> Self {
        KvShape {
            n_layers: 1,
            n_kv_heads: 1,
            head_dim: 2,
            dtype: KvType::F32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_blocks_round_to_nearest_and_round_trip_through_bytes() {
        let shape = KvShape::tiny().with_dtype(KvType::F16);
        let mut block = KvBlock::zeroed(&shape);
        assert_eq!(block.bytes(), shape.block_bytes());
        assert_eq!(
            shape.block_bytes() * 2,
            shape.with_dtype(KvType::F32).block_bytes()
        );
        block.write(2, &[1.0 + 1.0 / 4096.0, -65504.0, 0.1]);
        let rows = block.rows(2, 3);
        // 1 + 2^-12 is a tie between 1 and 1 + 2^-10: it rounds to even.
        assert_eq!((rows.get(0), rows.get(1)), (1.0, -65504.0));
        assert_eq!(rows.get(2), half::f16::from_f32(0.1).to_f32());
        let mut bytes = Vec::new();
        block.write_le_bytes(&mut bytes);
        assert_eq!(bytes.len(), shape.block_bytes());
        assert_eq!(KvBlock::from_le_bytes(KvType::F16, &bytes), Some(block));
        assert_eq!(KvBlock::from_le_bytes(KvType::F32, &bytes[1..]), None);
        assert!(shape.same_dims(&shape.with_dtype(KvType::F32)));
        assert_eq!("f32".parse::<KvType>(), Ok(KvType::F32));
        assert!("q8".parse::<KvType>().is_err());
    }
}
