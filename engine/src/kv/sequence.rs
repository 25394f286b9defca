//! The paged KV cache of one sequence: a block table over shared blocks.

use std::sync::Arc;

use super::block::{KvBlock, KvRows, KvShape, BLOCK_TOKENS};

/// The sequence would outgrow the cache's limit.
#[derive(Debug, thiserror::Error)]
#[error("the sequence needs {needed} positions; the context window holds {limit}")]
pub struct ContextFull {
    /// Positions the sequence would need.
    pub needed: usize,
    /// Positions the cache allows.
    pub limit: usize,
}

/// Keys and values of one sequence's positions `0..len()`, in blocks of
/// [`BLOCK_TOKENS`] positions allocated as the sequence grows: memory follows
/// the tokens held, never the whole context window.
///
/// Blocks may be shared with the prefix cache and with other sequences. A
/// write goes only into a block this sequence holds alone: a shared block is
/// copied first (copy-on-write), which happens only when a sequence resumes
/// inside a cached block.
pub struct KvCache {
    shape: KvShape,
    blocks: Vec<Arc<KvBlock>>,
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

    /// A cache whose first positions are the full `blocks` (each of
    /// [`BLOCK_TOKENS`] positions), as served by a prefix cache.
    pub fn from_blocks(
        shape: KvShape,
        limit: usize,
        blocks: Vec<Arc<KvBlock>>,
    ) -> Result<KvCache, ContextFull> {
        let len = blocks.len() * BLOCK_TOKENS;
        if len > limit {
            return Err(ContextFull { needed: len, limit });
        }
        Ok(KvCache {
            shape,
            blocks,
            len,
            limit,
        })
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

    /// The blocks whose every position is held, in order.
    pub fn full_blocks(&self) -> &[Arc<KvBlock>] {
        &self.blocks[..self.len / BLOCK_TOKENS]
    }

    /// Every block holding a position, in order: the full ones, then the
    /// partly filled last one if any.
    pub fn blocks(&self) -> &[Arc<KvBlock>] {
        &self.blocks[..self.len.div_ceil(BLOCK_TOKENS)]
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
        while self.blocks.len() * BLOCK_TOKENS < new_len {
            self.blocks.push(Arc::new(KvBlock::zeroed(&self.shape)));
        }
        self.len = self.len.max(new_len);
        Ok(())
    }

    /// Stores the keys and values (`n_kv_heads * head_dim` each) of `layer`
    /// at position `pos`, which must already be held (see [`KvCache::grow`]).
    pub fn write(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let hd = self.shape.head_dim;
        let (block, slot) = (pos / BLOCK_TOKENS, pos % BLOCK_TOKENS);
        let shape = self.shape;
        // Copies the block first if another sequence or the prefix cache
        // shares it: what they hold never changes under them.
        let data = Arc::make_mut(&mut self.blocks[block]);
        for head in 0..shape.n_kv_heads {
            let ko = shape.offset(layer, false, head, slot);
            let vo = shape.offset(layer, true, head, slot);
            data.write(ko, &k[head * hd..(head + 1) * hd]);
            data.write(vo, &v[head * hd..(head + 1) * hd]);
        }
    }

    /// The keys (or values) of `head` in `layer` for the positions of block
    /// `block`: `BLOCK_TOKENS * head_dim` values, of which the first
    /// `min(BLOCK_TOKENS, len - block * BLOCK_TOKENS)` positions are held.
    pub fn block_slice(&self, block: usize, layer: usize, value: bool, head: usize) -> KvRows<'_> {
        let o = self.shape.offset(layer, value, head, 0);
        self.blocks[block].rows(o, BLOCK_TOKENS * self.shape.head_dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> KvShape {
        KvShape {
            n_layers: 2,
            n_kv_heads: 2,
            head_dim: 4,
            dtype: crate::kv::KvType::F32,
        }
    }

    fn fill(kv: &mut KvCache, from: usize, to: usize, salt: f32) {
        kv.grow(to).unwrap();
        for pos in from..to {
            for layer in 0..2 {
                let k: Vec<f32> = (0..8)
                    .map(|i| (pos * 100 + layer * 10 + i) as f32 + salt)
                    .collect();
                let v: Vec<f32> = k.iter().map(|x| -x).collect();
                kv.write(layer, pos, &k, &v);
            }
        }
    }

    #[test]
    fn write_then_read_across_blocks_and_truncate() {
        let mut kv = KvCache::new(shape(), 100);
        fill(&mut kv, 0, 70, 0.0);
        let pos = 65;
        let (b, s) = (pos / BLOCK_TOKENS, pos % BLOCK_TOKENS);
        let keys = kv.block_slice(b, 1, false, 1);
        assert_eq!(keys.get(s * 4), (pos * 100 + 10 + 4) as f32);
        let vals = kv.block_slice(b, 1, true, 1);
        assert_eq!(vals.get(s * 4 + 3), -((pos * 100 + 10 + 7) as f32));
        assert_eq!(kv.full_blocks().len(), 2);
        kv.truncate(33);
        assert_eq!(kv.len(), 33);
        assert_eq!(kv.full_blocks().len(), 1);
        assert!(kv.grow(101).is_err());
    }

    /// A sequence resuming inside a shared block copies it before writing:
    /// the other holder keeps what it had.
    #[test]
    fn writes_never_reach_a_shared_block() {
        let mut first = KvCache::new(shape(), 100);
        fill(&mut first, 0, 64, 0.0);
        let shared = first.full_blocks().to_vec();
        let mut second = KvCache::from_blocks(shape(), 100, shared.clone()).unwrap();
        second.truncate(40);
        fill(&mut second, 40, 64, 0.5);
        assert_eq!(first.block_slice(1, 0, false, 0).get(8 * 4), 4000.0);
        assert_eq!(second.block_slice(1, 0, false, 0).get(8 * 4), 4000.5);
        assert!(Arc::ptr_eq(
            &first.full_blocks()[0],
            &second.full_blocks()[0]
        ));
        assert!(!Arc::ptr_eq(&shared[1], &second.full_blocks()[1]));
        assert!(KvCache::from_blocks(shape(), 50, shared).is_err());
    }
}
