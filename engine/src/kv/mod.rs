//! Keys and values, held outside the model: the paged cache of one sequence
//! and the prefix cache that shares its blocks between requests.
//!
//! A sequence's KV lives in fixed-size blocks of [`BLOCK_TOKENS`] positions,
//! listed in a block table ([`KvCache`]). Full blocks never change again, so
//! they can be shared: the [`PrefixCache`] keys each full block by a hash
//! chained over every token id before and in it ([`BlockHash`]), keeps the
//! blocks of finished requests within a memory budget, and hands them to any
//! later request whose prompt starts with the same tokens. With a
//! [`DiskStore`], blocks evicted from memory and the prefixes of finished
//! requests are also written to disk, so a new process starts warm.

mod block;
mod disk;
mod hash;
mod prefix;
mod sequence;

pub use block::{KvBlock, KvRows, KvShape, KvType, BLOCK_TOKENS};
pub use disk::{DiskStore, DiskStoreError};
pub use hash::{block_hashes, BlockHash};
pub use prefix::{CacheStats, PrefixCache, PrefixCacheOptions, PrefixHit};
pub use sequence::{ContextFull, KvCache};
