//! The prefix cache: full KV blocks keyed by chained hashes of their token
//! ids, shared by reference count, evicted least recently used within a
//! memory budget, and spilled to a [`DiskStore`] when one is attached.
//!
//! This is only the data structure, testable without a model; the engine
//! reaches it through [`crate::engine::prompt_cache`], which adds the
//! per-request policy (a shared lock, the model's salt, the last prompt
//! token always computed). See that module for why both exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::block::{KvBlock, KvShape, BLOCK_TOKENS};
use super::disk::DiskStore;
use super::hash::BlockHash;

/// How a [`PrefixCache`] is bounded and keyed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixCacheOptions {
    /// Bytes of blocks kept in memory while no sequence uses them; 0 keeps
    /// none (a disk store can still serve hits).
    pub memory_bytes: usize,
    /// Mixed into every chain so that caches of different models (or
    /// different KV formats) never share a key: the model's fingerprint.
    pub salt: Vec<u8>,
}

/// Counters over a cache's life, for benchmarks and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Prompts looked up.
    pub lookups: u64,
    /// Prompt tokens looked up.
    pub prompt_tokens: u64,
    /// Prompt tokens served from the cache.
    pub hit_tokens: u64,
    /// Blocks served from memory.
    pub memory_hits: u64,
    /// Blocks served from disk.
    pub disk_hits: u64,
    /// Blocks dropped from memory to stay within the budget.
    pub evictions: u64,
    /// Blocks written to disk.
    pub disk_writes: u64,
    /// Blocks held in memory now.
    pub blocks_in_memory: u64,
    /// Blocks on disk now.
    pub blocks_on_disk: u64,
    /// Blocks the memory budget holds.
    pub memory_budget_blocks: u64,
}

impl CacheStats {
    /// Prompt tokens served from the cache, of all looked up (0 before any lookup).
    pub fn hit_ratio(&self) -> f64 {
        share(self.hit_tokens, self.prompt_tokens)
    }

    /// The share of the memory budget in use, 0 to 1 (0 without a budget).
    pub fn memory_usage(&self) -> f64 {
        share(self.blocks_in_memory, self.memory_budget_blocks).min(1.0)
    }
}

/// `part / whole`, 0 when `whole` is.
fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The longest cached prefix of a prompt.
#[derive(Debug)]
pub struct PrefixHit {
    /// The prefix's blocks, in order; all are full except perhaps the last,
    /// of which only the first positions match (see [`PrefixHit::tokens`]).
    pub blocks: Vec<Arc<KvBlock>>,
    /// How many of them were read from disk.
    pub from_disk: usize,
    /// Positions of the last block that match, when it is used only in
    /// part; 0 when every block is used whole.
    pub partial: usize,
}

impl PrefixHit {
    /// Tokens the hit covers.
    pub fn tokens(&self) -> usize {
        if self.partial > 0 {
            (self.blocks.len() - 1) * BLOCK_TOKENS + self.partial
        } else {
            self.blocks.len() * BLOCK_TOKENS
        }
    }
}

struct Entry {
    block: Arc<KvBlock>,
    parent: BlockHash,
    tokens: Box<[u32]>,
    last_used: u64,
    on_disk: bool,
}

/// Full KV blocks of earlier sequences, found by their token prefix.
pub struct PrefixCache {
    shape: KvShape,
    root: BlockHash,
    memory_bytes: usize,
    entries: HashMap<BlockHash, Entry>,
    /// Parent key → keys of the blocks in memory that follow it: where a
    /// prompt departs from every cached chain inside a block, the child
    /// sharing most of its first tokens still serves those positions.
    children: HashMap<BlockHash, Vec<BlockHash>>,
    /// `last_used` tick → key, oldest first.
    recency: BTreeMap<u64, BlockHash>,
    tick: u64,
    disk: Option<DiskStore>,
    stats: CacheStats,
}

impl std::fmt::Debug for PrefixCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixCache")
            .field("shape", &self.shape)
            .field("memory_bytes", &self.memory_bytes)
            .field("stats", &self.stats())
            .field("disk", &self.disk)
            .finish()
    }
}

impl PrefixCache {
    /// An empty cache for KV of `shape`, spilling to `disk` if given.
    pub fn new(
        shape: KvShape,
        options: PrefixCacheOptions,
        disk: Option<DiskStore>,
    ) -> PrefixCache {
        PrefixCache {
            shape,
            root: BlockHash::root(&options.salt),
            memory_bytes: options.memory_bytes,
            entries: HashMap::new(),
            children: HashMap::new(),
            recency: BTreeMap::new(),
            tick: 0,
            disk,
            stats: CacheStats::default(),
        }
    }

    /// Attaches `disk` (replacing any store attached before): from now on
    /// evicted blocks and persisted prefixes are written there, and lookups
    /// that miss in memory read from it.
    pub fn set_disk(&mut self, disk: DiskStore) {
        self.disk = Some(disk);
    }

    /// Whether a disk store is attached.
    pub fn has_disk(&self) -> bool {
        self.disk.is_some()
    }

    /// The hash chains start from (it names the salt).
    pub fn root(&self) -> BlockHash {
        self.root
    }

    /// The hash the chains of `namespace` start from.
    fn root_of(&self, namespace: Option<&str>) -> BlockHash {
        match namespace {
            Some(namespace) => self.root.namespace(namespace),
            None => self.root,
        }
    }

    /// The counters, with the current block counts.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            blocks_in_memory: self.entries.len() as u64,
            blocks_on_disk: self.disk.as_ref().map_or(0, |d| d.len() as u64),
            memory_budget_blocks: (self.memory_bytes / self.shape.block_bytes().max(1)) as u64,
            ..self.stats
        }
    }

    /// Bytes of blocks held in memory.
    pub fn memory_used(&self) -> usize {
        self.entries.len() * self.shape.block_bytes()
    }

    /// The longest cached prefix of `tokens`: whole blocks from memory or
    /// else from disk, then the first positions of the block in memory
    /// that shares the most of the tokens that follow (a block of a
    /// sequence that went elsewhere, or the partly filled last block of a
    /// finished one). Counts the lookup in the stats.
    pub fn lookup(&mut self, tokens: &[u32]) -> PrefixHit {
        self.lookup_in(None, tokens)
    }

    /// [`PrefixCache::lookup`] among the sequences of `namespace` only (`None`: those
    /// cached without one).
    pub fn lookup_in(&mut self, namespace: Option<&str>, tokens: &[u32]) -> PrefixHit {
        let mut hit = PrefixHit {
            blocks: Vec::new(),
            from_disk: 0,
            partial: 0,
        };
        let mut parent = self.root_of(namespace);
        for block_tokens in tokens.chunks_exact(BLOCK_TOKENS) {
            let hash = parent.chain(block_tokens);
            let block = match self.entries.get(&hash) {
                Some(entry) => {
                    let block = Arc::clone(&entry.block);
                    self.touch(hash);
                    self.stats.memory_hits += 1;
                    block
                }
                None => {
                    let Some(block) = self
                        .disk
                        .as_mut()
                        .and_then(|d| d.read(hash, parent, block_tokens))
                    else {
                        break;
                    };
                    let block = Arc::new(block);
                    self.put(hash, parent, block_tokens, Arc::clone(&block), true);
                    self.stats.disk_hits += 1;
                    hit.from_disk += 1;
                    block
                }
            };
            hit.blocks.push(block);
            parent = hash;
        }
        let rest = &tokens[hit.blocks.len() * BLOCK_TOKENS..];
        if let Some((hash, shared)) = self.best_child(parent, rest) {
            if let Some(entry) = self.entries.get(&hash) {
                hit.blocks.push(Arc::clone(&entry.block));
                hit.partial = shared;
                self.touch(hash);
                self.stats.memory_hits += 1;
            }
        }
        self.stats.lookups += 1;
        self.stats.prompt_tokens += tokens.len() as u64;
        // Blocks just read from disk may have pushed memory over budget;
        // the ones this hit holds are referenced, so they stay.
        self.evict_to_budget();
        hit
    }

    /// The block in memory after `parent` whose tokens share the longest
    /// start with `rest` (at least one token), and how many they share;
    /// fewer than a whole block, since whole matches were taken already.
    fn best_child(&self, parent: BlockHash, rest: &[u32]) -> Option<(BlockHash, usize)> {
        let children = self.children.get(&parent)?;
        children
            .iter()
            .filter_map(|hash| {
                let entry = self.entries.get(hash)?;
                let shared = entry
                    .tokens
                    .iter()
                    .zip(rest)
                    .take_while(|(a, b)| a == b)
                    .count()
                    .min(BLOCK_TOKENS - 1);
                (shared > 0).then_some((*hash, shared))
            })
            .max_by_key(|&(_, shared)| shared)
    }

    /// Counts `tokens` prompt tokens as served from the cache (a request
    /// may use less than its hit: it always computes its last token).
    pub fn record_hit_tokens(&mut self, tokens: usize) {
        self.stats.hit_tokens += tokens as u64;
    }

    /// Caches the `blocks` of a sequence whose token ids are `tokens`:
    /// block `i` holds the positions of `tokens[i * BLOCK_TOKENS..]`, the
    /// last one perhaps only partly. With `persist`, every full block is
    /// also written to disk (the prefix of a finished request, for the next
    /// process); a partly filled block stays in memory only.
    pub fn insert(&mut self, tokens: &[u32], blocks: &[Arc<KvBlock>], persist: bool) {
        self.insert_in(None, tokens, blocks, persist);
    }

    /// [`PrefixCache::insert`] into `namespace` (`None`: the shared sequences).
    pub fn insert_in(
        &mut self,
        namespace: Option<&str>,
        tokens: &[u32],
        blocks: &[Arc<KvBlock>],
        persist: bool,
    ) {
        let mut parent = self.root_of(namespace);
        for (block_tokens, block) in tokens.chunks(BLOCK_TOKENS).zip(blocks) {
            let hash = parent.chain(block_tokens);
            if self.entries.contains_key(&hash) {
                self.touch(hash);
            } else {
                self.put(hash, parent, block_tokens, Arc::clone(block), false);
            }
            if persist && block_tokens.len() == BLOCK_TOKENS {
                self.persist(hash);
            }
            parent = hash;
        }
        self.evict_to_budget();
    }

    fn put(
        &mut self,
        hash: BlockHash,
        parent: BlockHash,
        tokens: &[u32],
        block: Arc<KvBlock>,
        on_disk: bool,
    ) {
        self.tick += 1;
        self.recency.insert(self.tick, hash);
        self.children.entry(parent).or_default().push(hash);
        self.entries.insert(
            hash,
            Entry {
                block,
                parent,
                tokens: tokens.into(),
                last_used: self.tick,
                on_disk,
            },
        );
    }

    fn touch(&mut self, hash: BlockHash) {
        if let Some(entry) = self.entries.get_mut(&hash) {
            self.recency.remove(&entry.last_used);
            self.tick += 1;
            entry.last_used = self.tick;
            self.recency.insert(self.tick, hash);
        }
    }

    /// Writes the cached block `hash` to disk unless it is there already.
    fn persist(&mut self, hash: BlockHash) {
        let (Some(disk), Some(entry)) = (self.disk.as_mut(), self.entries.get_mut(&hash)) else {
            return;
        };
        // A partly filled block is found only in memory (by `best_child`).
        if entry.on_disk || entry.tokens.len() < BLOCK_TOKENS {
            return;
        }
        // The cache is best-effort: a failed write costs a later recompute,
        // never a wrong answer, so it is not an error for the request.
        match disk.write(hash, entry.parent, &entry.tokens, &entry.block) {
            Ok(written) => {
                entry.on_disk = true;
                if written {
                    self.stats.disk_writes += 1;
                }
            }
            Err(e) => log::debug!("prefix cache: writing block {hash:?} failed: {e}"),
        }
    }

    /// Drops least recently used blocks that no sequence holds until memory
    /// is within budget, spilling each to disk first.
    fn evict_to_budget(&mut self) {
        let block_bytes = self.shape.block_bytes().max(1);
        let keep = self.memory_bytes / block_bytes;
        if self.entries.len() <= keep {
            return;
        }
        let mut excess = self.entries.len() - keep;
        let victims: Vec<BlockHash> = self
            .recency
            .values()
            .filter(|h| {
                // Only this cache holds it: no live sequence reads it.
                self.entries
                    .get(h)
                    .is_some_and(|e| Arc::strong_count(&e.block) == 1)
            })
            .take(excess)
            .copied()
            .collect();
        for hash in victims {
            self.persist(hash);
            if let Some(entry) = self.entries.remove(&hash) {
                self.recency.remove(&entry.last_used);
                if let Some(siblings) = self.children.get_mut(&entry.parent) {
                    siblings.retain(|h| *h != hash);
                    if siblings.is_empty() {
                        self.children.remove(&entry.parent);
                    }
                }
                self.stats.evictions += 1;
                excess -= 1;
            }
        }
        if excess > 0 {
            log::debug!(
                "prefix cache: {excess} blocks over the memory budget are in use by live sequences"
            );
        }
    }
}

#[cfg(test)]
mod tests;
