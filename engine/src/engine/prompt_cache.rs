//! Serving each request's prompt from the prefix cache: the engine's side of
//! prompt caching. A request starts from the longest cached prefix of its
//! prompt and computes only the rest; when it ends, the full blocks of its
//! sequence (prompt and generated tokens) go back into the cache for the
//! next request, and to disk when a disk store is attached.
//!
//! Two caches, on purpose: [`crate::kv::PrefixCache`] is the data structure
//! (blocks by chained hash, reference counts, LRU eviction, disk spill) and
//! knows nothing of requests or models; this module is the engine's policy
//! over it: one lock shared by concurrent requests, a salt naming the model
//! and KV format, the rule that a prompt's last token is always computed,
//! the context window, and the log line that names where a missed prompt
//! departs from the previous one. A scheduler would keep the first and
//! replace this one.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::kv::{
    CacheStats, DiskStore, DiskStoreError, KvCache, KvShape, PrefixCache, PrefixCacheOptions,
    BLOCK_TOKENS,
};

/// Bytes of unreferenced KV blocks kept in memory by default: about 75,000
/// tokens of the default model's f16 KV (28 KiB a token), many agent
/// sessions' prefixes.
pub const DEFAULT_CACHE_MEMORY_BYTES: usize = 2 << 30;

/// Names the KV format in every block key (with the storage type), so blocks
/// written by a build that stores KV differently are never mistaken for this
/// one's.
const KV_FORMAT: &[u8] = b"hearth-kv-v2-";

/// How the engine caches prompt prefixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptCacheSettings {
    /// Bytes of KV blocks no request uses that stay in memory (the
    /// `--kv-cache-mem` budget); 0 keeps none in memory.
    pub memory_bytes: usize,
}

impl Default for PromptCacheSettings {
    fn default() -> PromptCacheSettings {
        PromptCacheSettings {
            memory_bytes: DEFAULT_CACHE_MEMORY_BYTES,
        }
    }
}

/// Where and how much KV the engine may spill to disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskCacheSettings {
    /// The directory shared by all models; each model gets a subdirectory
    /// named by its fingerprint.
    pub dir: PathBuf,
    /// The most bytes this model's blocks may take on disk.
    pub max_bytes: u64,
}

/// A sequence to continue: the cached part of a prompt, ready to extend.
pub(crate) struct Resumed {
    /// The KV cache holding the first `cached` prompt positions.
    pub kv: KvCache,
    /// Prompt tokens served from the cache.
    pub cached: usize,
    /// Prompt tokens this request adds to the cache's full blocks (those
    /// that also go to disk); the rest of its computed tokens are kept only
    /// in memory, in a partly filled block.
    pub created: usize,
}

struct State {
    cache: PrefixCache,
    /// The token ids of the latest sequence stored, to name where the next
    /// prompt departs from it when it misses.
    previous: Vec<u32>,
}

/// The prefix cache of one engine, shared by its requests.
pub(crate) struct PromptCache {
    shape: KvShape,
    fingerprint: [u8; 32],
    enabled: bool,
    state: Mutex<State>,
}

impl PromptCache {
    /// A cache for KV of `shape`, keyed under the model `fingerprint`.
    pub fn new(shape: KvShape, fingerprint: [u8; 32], settings: &PromptCacheSettings) -> Self {
        let mut salt = fingerprint.to_vec();
        salt.extend_from_slice(KV_FORMAT);
        salt.extend_from_slice(shape.dtype.name().as_bytes());
        let options = PrefixCacheOptions {
            memory_bytes: settings.memory_bytes,
            salt,
        };
        PromptCache {
            shape,
            fingerprint,
            enabled: settings.memory_bytes > 0,
            state: Mutex::new(State {
                cache: PrefixCache::new(shape, options, None),
                previous: Vec::new(),
            }),
        }
    }

    /// Opens the disk store described by `settings` and spills to it from
    /// now on.
    pub fn attach_disk(&mut self, settings: &DiskCacheSettings) -> Result<(), DiskStoreError> {
        let disk = DiskStore::open(
            &settings.dir,
            self.fingerprint,
            self.shape,
            settings.max_bytes,
        )?;
        self.lock().cache.set_disk(disk);
        self.enabled = true;
        Ok(())
    }

    /// The cache's counters.
    pub fn stats(&self) -> CacheStats {
        self.lock().cache.stats()
    }

    /// The KV cache to serve `prompt` in, holding its longest cached prefix.
    /// At least the prompt's last token is always left to compute: its
    /// logits are what generation starts from.
    pub fn resume(&self, prompt: &[u32], limit: usize) -> Resumed {
        self.resume_in(None, prompt, limit)
    }

    /// [`PromptCache::resume`] from the prefixes cached in `namespace` only (`None`: the
    /// shared ones): a request of one tenant is never served another's cached prompt.
    pub fn resume_in(&self, namespace: Option<&str>, prompt: &[u32], limit: usize) -> Resumed {
        let floor_blocks = |n: usize| n / BLOCK_TOKENS * BLOCK_TOKENS;
        let fresh = || KvCache::new(self.shape, limit);
        if !self.enabled || prompt.is_empty() {
            return Resumed {
                kv: fresh(),
                cached: 0,
                created: 0,
            };
        }
        let mut state = self.lock();
        let hit = state.cache.lookup_in(namespace, prompt);
        let hit_tokens = hit.tokens();
        let cached = hit_tokens.min(prompt.len() - 1);
        let (kv, cached) = match KvCache::from_blocks(self.shape, limit, hit.blocks) {
            Ok(mut kv) => {
                kv.truncate(cached);
                (kv, cached)
            }
            // A hit longer than the window cannot be served (the caller
            // rejects such a prompt anyway).
            Err(_) => (fresh(), 0),
        };
        state.cache.record_hit_tokens(cached);
        report_divergence(&state.previous, prompt, hit_tokens);
        let created = floor_blocks(prompt.len()).saturating_sub(hit_tokens);
        Resumed {
            kv,
            cached,
            created,
        }
    }

    /// Caches the blocks of a finished sequence whose first `kv.len()`
    /// token ids are `tokens`' first; the full ones are also written to
    /// disk when a store is attached, for the next process.
    pub fn store(&self, tokens: &[u32], kv: &KvCache) {
        self.store_in(None, tokens, kv);
    }

    /// [`PromptCache::store`] into `namespace` (`None`: the shared prefixes).
    pub fn store_in(&self, namespace: Option<&str>, tokens: &[u32], kv: &KvCache) {
        if !self.enabled {
            return;
        }
        let held = &tokens[..kv.len().min(tokens.len())];
        let mut state = self.lock();
        let persist = state.cache.has_disk();
        state.cache.insert_in(namespace, held, kv.blocks(), persist);
        state.previous = held.to_vec();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves at worst a block missing
        // from the index (every update is a single insert or remove): the
        // cache stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Logs (at debug level) where `prompt` departs from the previous sequence
/// when that costs cache hits, so a prefix that should have been stable can
/// be traced to the token that changed.
fn report_divergence(previous: &[u32], prompt: &[u32], hit_tokens: usize) {
    let common = previous
        .iter()
        .zip(prompt)
        .take_while(|(a, b)| a == b)
        .count();
    let expected = common / BLOCK_TOKENS * BLOCK_TOKENS;
    if common < previous.len() && common < prompt.len() {
        log::debug!(
            "prompt cache: the prompt ({} tokens) departs from the previous sequence ({} tokens) \
             at token {common} (previous {:?}, now {:?}); {hit_tokens} tokens served from cache",
            prompt.len(),
            previous.len(),
            previous[common],
            prompt[common],
        );
    } else if hit_tokens < expected {
        log::debug!(
            "prompt cache: expected {expected} tokens from the previous sequence, found \
             {hit_tokens} (blocks evicted)"
        );
    }
}
