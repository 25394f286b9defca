//! The key/value cache of one sequence, held outside the model.
//!
//! Keys and values live in fixed-size blocks of [`BLOCK_TOKENS`] positions,
//! allocated as the sequence grows: memory follows the tokens actually held,
//! never the whole context window, and whole blocks are the unit a prefix
//! cache can share between sequences.

/// Positions per KV block.
pub const BLOCK_TOKENS: usize = 32;

/// The dimensions of a model's KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

    /// Bytes of cache per position.
    pub fn bytes_per_token(&self) -> usize {
        self.n_layers * 2 * self.n_kv_heads * self.head_dim * std::mem::size_of::<f32>()
    }
}

/// The sequence would outgrow the cache's limit.
#[derive(Debug, thiserror::Error)]
#[error("the sequence needs {needed} positions; the context window holds {limit}")]
pub struct ContextFull {
    /// Positions the sequence would need.
    pub needed: usize,
    /// Positions the cache allows.
    pub limit: usize,
}

/// Keys and values of one sequence's positions `0..len()`.
///
/// Within a block the layout is `[layer][key|value][head][slot][dim]`, so one
/// head's keys for a block are contiguous: attention reads them in order.
pub struct KvCache {
    shape: KvShape,
    blocks: Vec<Box<[f32]>>,
    len: usize,
    limit: usize,
}

impl KvCache {
    /// An empty cache that can grow to `limit` positions.
    pub fn new(shape: KvShape, limit: usize) -> KvCache {
        KvCache {
            shape,
            blocks: Vec::new(),
            len: 0,
            limit,
        }
    }

    /// The shape this cache was made for.
    pub fn shape(&self) -> KvShape {
        self.shape
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most positions this cache may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Forgets positions from `len` on (keeping a shared prefix), releasing
    /// blocks no longer needed.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.blocks.truncate(len.div_ceil(BLOCK_TOKENS));
        }
    }

    /// Makes room for positions up to `new_len` and counts them as held; the
    /// caller then writes every layer's keys and values for them.
    pub fn grow(&mut self, new_len: usize) -> Result<(), ContextFull> {
        if new_len > self.limit {
            return Err(ContextFull {
                needed: new_len,
                limit: self.limit,
            });
        }
        let block_len = self.shape.block_len();
        while self.blocks.len() * BLOCK_TOKENS < new_len {
            self.blocks.push(vec![0.0; block_len].into_boxed_slice());
        }
        self.len = self.len.max(new_len);
        Ok(())
    }

    fn offset(&self, layer: usize, value: bool, head: usize, slot: usize) -> usize {
        let s = &self.shape;
        (((layer * 2 + usize::from(value)) * s.n_kv_heads + head) * BLOCK_TOKENS + slot)
            * s.head_dim
    }

    /// Stores the keys and values (`n_kv_heads * head_dim` each) of `layer`
    /// at position `pos`, which must already be held (see [`KvCache::grow`]).
    pub fn write(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let hd = self.shape.head_dim;
        let (block, slot) = (pos / BLOCK_TOKENS, pos % BLOCK_TOKENS);
        for head in 0..self.shape.n_kv_heads {
            let ko = self.offset(layer, false, head, slot);
            let vo = self.offset(layer, true, head, slot);
            let data = &mut self.blocks[block];
            data[ko..ko + hd].copy_from_slice(&k[head * hd..(head + 1) * hd]);
            data[vo..vo + hd].copy_from_slice(&v[head * hd..(head + 1) * hd]);
        }
    }

    /// The keys (or values) of `head` in `layer` for the positions of block
    /// `block`: `BLOCK_TOKENS * head_dim` values, of which the first
    /// `min(BLOCK_TOKENS, len - block * BLOCK_TOKENS)` positions are held.
    pub fn block_slice(&self, block: usize, layer: usize, value: bool, head: usize) -> &[f32] {
        let o = self.offset(layer, value, head, 0);
        &self.blocks[block][o..o + BLOCK_TOKENS * self.shape.head_dim]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_across_blocks_and_truncate() {
        let shape = KvShape {
            n_layers: 2,
            n_kv_heads: 2,
            head_dim: 4,
        };
        let mut kv = KvCache::new(shape, 100);
        kv.grow(70).unwrap();
        for pos in 0..70 {
            for layer in 0..2 {
                let k: Vec<f32> = (0..8)
                    .map(|i| (pos * 100 + layer * 10 + i) as f32)
                    .collect();
                let v: Vec<f32> = k.iter().map(|x| -x).collect();
                kv.write(layer, pos, &k, &v);
            }
        }
        let pos = 65;
        let (b, s) = (pos / BLOCK_TOKENS, pos % BLOCK_TOKENS);
        let keys = kv.block_slice(b, 1, false, 1);
        assert_eq!(keys[s * 4], (pos * 100 + 10 + 4) as f32);
        let vals = kv.block_slice(b, 1, true, 1);
        assert_eq!(vals[s * 4 + 3], -((pos * 100 + 10 + 7) as f32));
        kv.truncate(33);
        assert_eq!(kv.len(), 33);
        assert!(kv.grow(101).is_err());
    }
}
