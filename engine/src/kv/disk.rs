//! KV blocks on disk: where the prefix cache spills what memory cannot hold
//! and keeps finished prefixes for the next process.
//!
//! One file per block, named by its [`BlockHash`], under a directory per
//! model fingerprint. A file carries everything needed to prove it is the
//! block asked for: the model fingerprint, the cache shape, its own hash, its
//! parent's hash and token ids (the hash is recomputed from them), and a
//! checksum of the values. A file that fails any check (torn by a crash,
//! written by another model or another version) is ignored and removed,
//! never trusted. Files are written to a temporary name and renamed, so a
//! reader never sees a half-written block under its real name.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::block::{KvBlock, KvShape, KvType, BLOCK_TOKENS};
use super::hash::BlockHash;

const MAGIC: &[u8; 4] = b"HKVB";
/// Version 2 added the storage type to the header and checksums bytes.
const VERSION: u32 = 2;
const EXTENSION: &str = "kvb";
/// magic, version, fingerprint, hash, parent, shape (5 u32), checksum.
const HEADER_BYTES: usize = 4 + 4 + 32 + 16 + 16 + SHAPE_BYTES + 8;
/// Layers, KV heads, head size, block positions, storage type.
const SHAPE_BYTES: usize = 5 * 4;

/// The disk store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("KV cache directory {path}: {source}")]
pub struct DiskStoreError {
    /// The directory.
    pub path: PathBuf,
    /// What failed.
    pub source: std::io::Error,
}

struct DiskEntry {
    bytes: u64,
    last_used: u64,
}

/// The blocks of one model on disk, bounded in bytes; the least recently
/// used files go first when a write would pass the bound.
pub struct DiskStore {
    dir: PathBuf,
    fingerprint: [u8; 32],
    shape: KvShape,
    max_bytes: u64,
    index: HashMap<BlockHash, DiskEntry>,
    total_bytes: u64,
    tick: u64,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("dir", &self.dir)
            .field("blocks", &self.index.len())
            .field("total_bytes", &self.total_bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl DiskStore {
    /// Opens (creating it if needed) the store for the model `fingerprint`
    /// under `root`, and indexes the blocks already there.
    pub fn open(
        root: &Path,
        fingerprint: [u8; 32],
        shape: KvShape,
        max_bytes: u64,
    ) -> Result<DiskStore, DiskStoreError> {
        let hex = hex::encode(&fingerprint[..8]);
        // Each storage type has its own directory: engines keeping f16 and
        // f32 KV of one model never evict or reject each other's files.
        let dir = root.join(format!("{hex}-{}", shape.dtype.name()));
        let err = |source| DiskStoreError {
            path: dir.clone(),
            source,
        };
        private_dir(&dir).map_err(err)?;
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(err)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(hash) = name
                .to_str()
                .and_then(|n| n.strip_suffix(&format!(".{EXTENSION}")))
                .and_then(BlockHash::from_hex)
            else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            found.push((modified, hash, meta.len()));
        }
        // Recency across processes comes from the files' modification times
        // (a read touches its file).
        found.sort();
        let mut store = DiskStore {
            dir,
            fingerprint,
            shape,
            max_bytes,
            index: HashMap::new(),
            total_bytes: 0,
            tick: 0,
        };
        for (_, hash, bytes) in found {
            store.tick += 1;
            store.total_bytes += bytes;
            store.index.insert(
                hash,
                DiskEntry {
                    bytes,
                    last_used: store.tick,
                },
            );
        }
        store.evict_to(store.max_bytes);
        Ok(store)
    }

    /// The directory holding this model's blocks.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Blocks on disk.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no block is on disk.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes of blocks on disk.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Whether a block with this hash is on disk (as far as this process
    /// knows; another process may have removed it since).
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.index.contains_key(hash)
    }

    fn path_of(&self, hash: &BlockHash) -> PathBuf {
        self.dir.join(format!("{}.{EXTENSION}", hash.to_hex()))
    }

    /// Writes `block`, the block of `tokens` after the prefix `parent`, as
    /// `hash`. Returns whether it was written (a block already there, or
    /// one bigger than the whole bound, is not).
    pub fn write(
        &mut self,
        hash: BlockHash,
        parent: BlockHash,
        tokens: &[u32],
        block: &KvBlock,
    ) -> std::io::Result<bool> {
        if block.dtype() != self.shape.dtype || block.len() != self.shape.block_len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a block of {} {} values does not fit a store of {} {} values",
                    block.len(),
                    block.dtype().name(),
                    self.shape.block_len(),
                    self.shape.dtype.name()
                ),
            ));
        }
        if let Some(entry) = self.index.get_mut(&hash) {
            self.tick += 1;
            entry.last_used = self.tick;
            return Ok(false);
        }
        let bytes = self.encode(hash, parent, tokens, block);
        let size = bytes.len() as u64;
        if size > self.max_bytes {
            return Ok(false);
        }
        self.evict_to(self.max_bytes - size);
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            hash.to_hex(),
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = private_file(&tmp)?;
            file.write_all(&bytes)?;
            fs::rename(&tmp, self.path_of(&hash))
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.tick += 1;
        self.total_bytes += size;
        self.index.insert(
            hash,
            DiskEntry {
                bytes: size,
                last_used: self.tick,
            },
        );
        Ok(true)
    }

    /// Reads the block `hash`, the block of `tokens` after `parent`, if it
    /// is on disk and proves to be that block. A file that fails a check is
    /// removed.
    pub fn read(&mut self, hash: BlockHash, parent: BlockHash, tokens: &[u32]) -> Option<KvBlock> {
        self.index.get(&hash)?;
        let path = self.path_of(&hash);
        let block = fs::read(&path)
            .ok()
            .and_then(|bytes| self.decode(&bytes, hash, parent, tokens));
        match block {
            Some(block) => {
                self.tick += 1;
                if let Some(entry) = self.index.get_mut(&hash) {
                    entry.last_used = self.tick;
                }
                // Recency for the next process's eviction order.
                if let Ok(file) = fs::File::options().write(true).open(&path) {
                    let _ = file.set_modified(std::time::SystemTime::now());
                }
                Some(block)
            }
            None => {
                self.forget(&hash);
                None
            }
        }
    }

    fn forget(&mut self, hash: &BlockHash) {
        if let Some(entry) = self.index.remove(hash) {
            self.total_bytes -= entry.bytes;
            let _ = fs::remove_file(self.path_of(hash));
        }
    }

    /// Removes least recently used files until at most `bound` bytes remain.
    fn evict_to(&mut self, bound: u64) {
        if self.total_bytes <= bound {
            return;
        }
        let mut by_age: Vec<(u64, BlockHash)> =
            self.index.iter().map(|(h, e)| (e.last_used, *h)).collect();
        by_age.sort_unstable();
        for (_, hash) in by_age {
            if self.total_bytes <= bound {
                break;
            }
            self.forget(&hash);
        }
    }

    fn shape_words(&self) -> [u32; 5] {
        let s = &self.shape;
        let dtype = match s.dtype {
            KvType::F32 => 0,
            KvType::F16 => 1,
        };
        [s.n_layers, s.n_kv_heads, s.head_dim, BLOCK_TOKENS, dtype].map(|v| v as u32)
    }

    fn encode(
        &self,
        hash: BlockHash,
        parent: BlockHash,
        tokens: &[u32],
        block: &KvBlock,
    ) -> Vec<u8> {
        let value_bytes = self.shape.block_bytes();
        let mut out = Vec::with_capacity(HEADER_BYTES + tokens.len() * 4 + value_bytes);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.fingerprint);
        out.extend_from_slice(&hash.0);
        out.extend_from_slice(&parent.0);
        for w in self.shape_words() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let checksum_at = out.len();
        out.extend_from_slice(&[0; 8]);
        for t in tokens {
            out.extend_from_slice(&t.to_le_bytes());
        }
        let values_at = out.len();
        block.write_le_bytes(&mut out);
        let sum = checksum(&out[values_at..]);
        out[checksum_at..checksum_at + 8].copy_from_slice(&sum.to_le_bytes());
        out
    }

    fn decode(
        &self,
        bytes: &[u8],
        hash: BlockHash,
        parent: BlockHash,
        tokens: &[u32],
    ) -> Option<KvBlock> {
        if tokens.len() != BLOCK_TOKENS
            || bytes.len() != HEADER_BYTES + BLOCK_TOKENS * 4 + self.shape.block_bytes()
        {
            return None;
        }
        let (header, body) = bytes.split_at(HEADER_BYTES);
        let mut shape = [0u8; SHAPE_BYTES];
        for (i, w) in self.shape_words().iter().enumerate() {
            shape[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        let header_ok = &header[0..4] == MAGIC
            && header[4..8] == VERSION.to_le_bytes()
            && header[8..40] == self.fingerprint
            && header[40..56] == hash.0
            && header[56..72] == parent.0
            && header[72..72 + SHAPE_BYTES] == shape;
        if !header_ok || parent.chain(tokens) != hash {
            return None;
        }
        let (token_bytes, value_bytes) = body.split_at(BLOCK_TOKENS * 4);
        let stored_tokens = token_bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        if !stored_tokens.eq(tokens.iter().copied()) {
            return None;
        }
        let stored_sum = u64::from_le_bytes(header[HEADER_BYTES - 8..].try_into().ok()?);
        if checksum(value_bytes) != stored_sum {
            return None;
        }
        KvBlock::from_le_bytes(self.shape.dtype, value_bytes)
    }
}

/// Creates `dir` and its missing parents readable by the owner only: KV blocks hold the
/// token ids of every prompt, which is every file and secret the agent read.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates (or empties) the file at `path`, readable by its owner only when created.
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// A fast 64-bit checksum of the values' bytes, against torn and corrupted
/// files (the header's hashes guard against foreign ones). Four independent
/// lanes keep the multiplies from serializing.
fn checksum(bytes: &[u8]) -> u64 {
    const K: [u64; 4] = [
        0x9e37_79b9_7f4a_7c15,
        0xc2b2_ae3d_27d4_eb4f,
        0x1656_67b1_9e37_79f9,
        0x27d4_eb2f_1656_67c5,
    ];
    let word = |c: &[u8]| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    };
    let mut lanes = K;
    let mut chunks = bytes.chunks_exact(32);
    for c in &mut chunks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            *lane = (*lane ^ word(&c[i * 8..i * 8 + 8])).wrapping_mul(K[(i + 1) % 4]);
            *lane ^= *lane >> 29;
        }
    }
    for (i, c) in chunks.remainder().chunks(8).enumerate() {
        lanes[i] = (lanes[i] ^ word(c)).wrapping_mul(K[0]);
    }
    let mut h = bytes.len() as u64;
    for lane in lanes {
        h = (h ^ lane).wrapping_mul(K[1]).rotate_left(31);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(seed: f32) -> KvBlock {
        let n = KvShape::tiny().block_len();
        KvBlock::from_values((0..n).map(|i| i as f32 * seed).collect())
    }

    #[test]
    fn round_trip_rejects_foreign_and_torn_files_and_bounds_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let root = BlockHash::root(b"m");
        let tokens: Vec<u32> = (0..BLOCK_TOKENS as u32).collect();
        let hash = root.chain(&tokens);
        let mut store = DiskStore::open(dir.path(), [1; 32], KvShape::tiny(), 1 << 20).unwrap();
        assert!(store.write(hash, root, &tokens, &block(0.5)).unwrap());
        assert!(!store.write(hash, root, &tokens, &block(0.5)).unwrap());
        assert_eq!(store.read(hash, root, &tokens), Some(block(0.5)));
        // Wrong tokens for the hash: not trusted.
        let mut other = tokens.clone();
        other[3] = 77;
        assert_eq!(store.read(hash, root, &other), None);

        // A second process sees the block; another model's store does not.
        assert!(store.write(hash, root, &tokens, &block(0.5)).unwrap());
        let mut again = DiskStore::open(dir.path(), [1; 32], KvShape::tiny(), 1 << 20).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again.read(hash, root, &tokens), Some(block(0.5)));
        let foreign = DiskStore::open(dir.path(), [2; 32], KvShape::tiny(), 1 << 20).unwrap();
        assert!(foreign.is_empty());
        // The same file copied under a foreign store's directory is refused.
        let path = again.path_of(&hash);
        fs::copy(&path, foreign.path_of(&hash)).unwrap();
        let mut foreign = DiskStore::open(dir.path(), [2; 32], KvShape::tiny(), 1 << 20).unwrap();
        assert_eq!(foreign.read(hash, root, &tokens), None);

        // A store of f16 KV keeps its own files, and refuses an f32 block.
        let half_shape = KvShape::tiny().with_dtype(KvType::F16);
        let mut half = DiskStore::open(dir.path(), [1; 32], half_shape, 1 << 20).unwrap();
        assert!(half.is_empty());
        assert!(half.write(hash, root, &tokens, &block(0.5)).is_err());
        let mut half_block = KvBlock::zeroed(&half_shape);
        half_block.write(0, &[0.5, 1.5]);
        assert!(half.write(hash, root, &tokens, &half_block).unwrap());
        assert_eq!(half.read(hash, root, &tokens), Some(half_block));
        assert_eq!(again.read(hash, root, &tokens), Some(block(0.5)));

        // A torn file is ignored and removed.
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        assert_eq!(again.read(hash, root, &tokens), None);
        assert!(!path.exists());
        // A flipped value fails the checksum.
        assert!(again.write(hash, root, &tokens, &block(0.5)).unwrap());
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(again.read(hash, root, &tokens), None);

        // The bound: room for two blocks keeps the two most recent.
        let size = (HEADER_BYTES + BLOCK_TOKENS * 4 + KvShape::tiny().block_bytes()) as u64;
        let mut small = DiskStore::open(dir.path(), [3; 32], KvShape::tiny(), 2 * size).unwrap();
        let mut parent = root;
        let mut hashes = Vec::new();
        for i in 0..3u32 {
            let t: Vec<u32> = (0..BLOCK_TOKENS as u32).map(|x| x + i * 100).collect();
            let h = parent.chain(&t);
            assert!(small.write(h, parent, &t, &block(i as f32)).unwrap());
            hashes.push(h);
            parent = h;
        }
        assert_eq!(small.len(), 2);
        assert!(!small.contains(&hashes[0]) && small.contains(&hashes[2]));
        assert!(small.total_bytes() <= 2 * size);
    }

    #[cfg(unix)]
    #[test]
    fn blocks_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("kv");
        let mut store = DiskStore::open(&root, [1; 32], KvShape::tiny(), 1 << 20).unwrap();
        let parent = BlockHash::root(b"m");
        let tokens: Vec<u32> = (0..BLOCK_TOKENS as u32).collect();
        let hash = parent.chain(&tokens);
        assert!(store.write(hash, parent, &tokens, &block(0.5)).unwrap());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&store.dir), 0o700);
        assert_eq!(mode(&store.path_of(&hash)), 0o600);
    }
}
