//! Chained block hashes: the prefix cache's keys.

use sha2::{Digest, Sha256};

use super::block::BLOCK_TOKENS;

/// The key of one full block: a hash over a salt (the model's fingerprint)
/// and every token id from the start of the sequence through this block.
///
/// Chaining makes a block's key name its whole prefix, so two sequences
/// share a block only when they agree on every token before it; 128 bits of
/// SHA-256 make an accidental collision out of reach.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockHash(pub [u8; 16]);

impl std::fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockHash({})", self.to_hex())
    }
}

impl BlockHash {
    /// The hash every chain starts from, for `salt`.
    pub fn root(salt: &[u8]) -> BlockHash {
        let mut h = Sha256::new();
        h.update(b"hearth kv prefix v1\0");
        h.update(salt);
        BlockHash::from_digest(h)
    }

    /// The hash chains of `namespace` start from, under the chains' root `self`:
    /// sequences of two namespaces never share a block, however alike their tokens.
    pub fn namespace(&self, namespace: &str) -> BlockHash {
        let mut h = Sha256::new();
        h.update(self.0);
        h.update(b"\0namespace\0");
        h.update(namespace.as_bytes());
        BlockHash::from_digest(h)
    }

    /// The hash of the block holding `tokens` after the prefix `self` names.
    pub fn chain(&self, tokens: &[u32]) -> BlockHash {
        let mut h = Sha256::new();
        h.update(self.0);
        for t in tokens {
            h.update(t.to_le_bytes());
        }
        BlockHash::from_digest(h)
    }

    /// Lower-case hex, 32 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses what [`BlockHash::to_hex`] writes.
    pub fn from_hex(s: &str) -> Option<BlockHash> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(BlockHash(out))
    }

    fn from_digest(h: Sha256) -> BlockHash {
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        BlockHash(out)
    }
}

/// The hashes of every full block of `tokens`, chained from `root`.
pub fn block_hashes(root: BlockHash, tokens: &[u32]) -> Vec<BlockHash> {
    let mut parent = root;
    tokens
        .chunks_exact(BLOCK_TOKENS)
        .map(|block| {
            parent = parent.chain(block);
            parent
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_key_names_its_whole_prefix() {
        let root = BlockHash::root(b"model");
        let a: Vec<u32> = (0..96).collect();
        let mut b = a.clone();
        b[5] = 999;
        let (ha, hb) = (block_hashes(root, &a), block_hashes(root, &b));
        assert_eq!(ha.len(), 3);
        // The same third block after a different first one is another key.
        assert!(ha.iter().zip(&hb).all(|(x, y)| x != y));
        assert_eq!(block_hashes(root, &a[..70]), ha[..2]);
        assert_ne!(block_hashes(BlockHash::root(b"other"), &a)[0], ha[0]);
        assert_eq!(BlockHash::from_hex(&ha[2].to_hex()), Some(ha[2]));
        assert_eq!(BlockHash::from_hex("zz"), None);
    }
}
