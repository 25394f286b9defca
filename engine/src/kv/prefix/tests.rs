use super::*;

fn blocks(n: usize, seed: f32) -> Vec<Arc<KvBlock>> {
    let len = KvShape::tiny().block_len();
    (0..n)
        .map(|b| {
            Arc::new(KvBlock::from_values(
                (0..len)
                    .map(|i| i as f32 + b as f32 * 1000.0 + seed)
                    .collect(),
            ))
        })
        .collect()
}

fn cache(memory_blocks: usize, disk: Option<DiskStore>) -> PrefixCache {
    PrefixCache::new(
        KvShape::tiny(),
        PrefixCacheOptions {
            memory_bytes: memory_blocks * KvShape::tiny().block_bytes(),
            salt: b"test model".to_vec(),
        },
        disk,
    )
}

#[test]
fn serves_the_longest_cached_prefix_of_full_blocks() {
    let mut cache = cache(16, None);
    let tokens: Vec<u32> = (0..100).collect();
    assert_eq!(cache.lookup(&tokens).tokens(), 0);
    let seq = blocks(3, 0.0);
    cache.insert(&tokens, &seq, false);
    let hit = cache.lookup(&tokens);
    assert_eq!(hit.tokens(), 96);
    assert!(hit.blocks.iter().zip(&seq).all(|(a, b)| Arc::ptr_eq(a, b)));
    // Diverging inside the second block keeps the first and the positions
    // of the second before the change.
    let mut other = tokens.clone();
    other[40] = 7;
    let hit = cache.lookup(&other);
    assert_eq!((hit.tokens(), hit.partial), (40, 8));
    assert!(Arc::ptr_eq(&hit.blocks[1], &seq[1]));
    other[0] = 7;
    assert_eq!(cache.lookup(&other).tokens(), 0);
    // A prompt shorter than a block shares the start of the first one.
    let hit = cache.lookup(&tokens[..31]);
    assert_eq!((hit.tokens(), hit.partial), (31, 31));
    // Another salt (another model) shares nothing.
    let mut foreign = PrefixCache::new(
        KvShape::tiny(),
        PrefixCacheOptions {
            memory_bytes: 1 << 20,
            salt: b"other".to_vec(),
        },
        None,
    );
    assert_ne!(foreign.root(), cache.root());
    assert_eq!(foreign.lookup(&tokens).tokens(), 0);
    let stats = cache.stats();
    assert_eq!((stats.lookups, stats.memory_hits), (5, 6));
    assert_eq!(stats.blocks_in_memory, 3);
}

#[test]
fn evicts_least_recently_used_blocks_no_sequence_holds() {
    let mut cache = cache(2, None);
    let a: Vec<u32> = (0..64).collect();
    let b: Vec<u32> = (1000..1064).collect();
    let seq_a = blocks(2, 0.0);
    cache.insert(&a, &seq_a, false);
    let seq_b = blocks(2, 0.5);
    cache.insert(&b, &seq_b, false);
    // Both sequences still hold their blocks: nothing can go.
    assert_eq!(cache.stats().blocks_in_memory, 4);
    drop(seq_a);
    drop(seq_b);
    // `a` is used again, so `b` is the least recently used.
    assert_eq!(cache.lookup(&a).tokens(), 64);
    assert_eq!(cache.stats().blocks_in_memory, 2);
    assert_eq!(cache.stats().evictions, 2);
    assert_eq!(cache.lookup(&a).tokens(), 64);
    assert_eq!(cache.lookup(&b).tokens(), 0);
    assert!(cache.memory_used() <= 2 * KvShape::tiny().block_bytes());
}

#[test]
fn evicted_and_persisted_blocks_come_back_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let open = || DiskStore::open(dir.path(), [9; 32], KvShape::tiny(), 1 << 30).unwrap();
    let tokens: Vec<u32> = (0..70).collect();
    let seq = blocks(2, 0.25);
    let expected: Vec<KvBlock> = seq.iter().map(|b| (**b).clone()).collect();
    {
        // No memory at all: blocks live on disk once nothing holds them.
        let mut cache = cache(0, Some(open()));
        cache.insert(&tokens, &seq, false);
        assert_eq!(cache.stats().disk_writes, 0);
        let hit = cache.lookup(&tokens[..64]);
        assert_eq!(hit.from_disk, 0);
        drop(hit);
        drop(seq);
        cache.lookup(&[]);
        assert_eq!(cache.stats().disk_writes, 2);
        assert_eq!(cache.stats().blocks_in_memory, 0);
        let hit = cache.lookup(&tokens);
        assert_eq!((hit.tokens(), hit.from_disk), (64, 2));
        assert_eq!(*hit.blocks[1], expected[1]);
    }
    // A new process (a new cache over the same directory) finds them.
    let mut fresh = cache(16, Some(open()));
    let hit = fresh.lookup(&tokens);
    assert_eq!((hit.tokens(), hit.from_disk), (64, 2));
    assert_eq!(*hit.blocks[0], expected[0]);
    // Persisting writes what is not on disk yet, once.
    let more: Vec<u32> = (500..564).collect();
    fresh.insert(&more, &blocks(2, 3.0), true);
    fresh.insert(&more, &blocks(2, 3.0), true);
    assert_eq!(fresh.stats().disk_writes, 2);
    assert_eq!(fresh.stats().blocks_on_disk, 4);
}

#[test]
fn a_partly_filled_last_block_serves_the_positions_it_holds() {
    let mut big = cache(16, None);
    let tokens: Vec<u32> = (0..70).collect();
    let seq = blocks(3, 0.0);
    big.insert(&tokens, &seq, false);
    // The same 70 tokens and more: 64 whole, then 6 of the partial block.
    let mut longer = tokens.clone();
    longer.extend([500, 501, 502]);
    let hit = big.lookup(&longer);
    assert_eq!((hit.tokens(), hit.partial), (70, 6));
    assert!(Arc::ptr_eq(&hit.blocks[2], &seq[2]));
    // A prompt that departs at token 66 uses two positions of it.
    let mut departs = tokens.clone();
    departs[66] = 9;
    assert_eq!(big.lookup(&departs).tokens(), 66);
}

#[test]
fn namespaces_share_nothing_with_each_other_or_the_shared_cache() {
    let mut cache = cache(16, None);
    let tokens: Vec<u32> = (0..100).collect();
    let seq = blocks(3, 0.0);
    cache.insert_in(Some("key:alice"), &tokens, &seq, false);
    assert_eq!(cache.lookup_in(Some("key:alice"), &tokens).tokens(), 96);
    // Not even the partly shared first block of another namespace is served.
    assert_eq!(cache.lookup_in(Some("key:bob"), &tokens).tokens(), 0);
    assert_eq!(cache.lookup_in(Some("key:bob"), &tokens[..20]).tokens(), 0);
    assert_eq!(cache.lookup(&tokens).tokens(), 0);
    cache.insert(&tokens, &seq, false);
    assert_eq!(cache.lookup(&tokens).tokens(), 96);
    assert_eq!(cache.lookup_in(Some("group:team"), &tokens).tokens(), 0);
}
