//! Speed measurements of a model on this machine: prefill and decode
//! throughput, and the memory bandwidth that bounds decode.
//!
//! Decode reads every weight once per token, so its ceiling is
//! `bandwidth / weight bytes per token`; [`decode_limit_tps`] reports that
//! figure so a measured decode speed can be judged against it.

use std::time::Instant;

use rayon::prelude::*;

use crate::cpu::matmul::QMatrix;
use crate::kv::KvCache;
use crate::model::transformer::{ForwardError, LogitsFor, Transformer};
use crate::rng::SplitMix64;

/// One throughput test, named as llama-bench names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchTest {
    /// Prefill of `tokens` prompt tokens into an empty cache.
    Prefill {
        /// Prompt length.
        tokens: usize,
    },
    /// Decode of `tokens` tokens one at a time after `depth` cached positions.
    Decode {
        /// Tokens generated.
        tokens: usize,
        /// Positions already in the cache before the first one.
        depth: usize,
    },
}

impl BenchTest {
    /// The short name: `pp512`, `tg128`, `tg128_d2048`.
    pub fn name(&self) -> String {
        match *self {
            BenchTest::Prefill { tokens } => format!("pp{tokens}"),
            BenchTest::Decode { tokens, depth: 0 } => format!("tg{tokens}"),
            BenchTest::Decode { tokens, depth } => format!("tg{tokens}_d{depth}"),
        }
    }

    /// Parses a name made by [`BenchTest::name`]; a test of 0 tokens measures
    /// nothing and is refused.
    pub fn parse(name: &str) -> Option<BenchTest> {
        if let Some(n) = name.strip_prefix("pp") {
            let tokens = n.parse().ok().filter(|&t| t > 0)?;
            return Some(BenchTest::Prefill { tokens });
        }
        let rest = name.strip_prefix("tg")?;
        let (tokens, depth) = match rest.split_once("_d") {
            Some((t, d)) => (t.parse().ok()?, d.parse().ok()?),
            None => (rest.parse().ok()?, 0),
        };
        (tokens > 0).then_some(BenchTest::Decode { tokens, depth })
    }

    /// Cache positions the test needs.
    pub fn context_needed(&self) -> usize {
        match *self {
            BenchTest::Prefill { tokens } => tokens,
            BenchTest::Decode { tokens, depth } => tokens + depth,
        }
    }
}

/// The median and spread of one test's speeds over several runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Speed {
    /// Tokens per second of each run, in run order.
    pub runs: Vec<f64>,
}

impl Speed {
    /// The median tokens/s (the mean of the middle two for an even count).
    pub fn median(&self) -> f64 {
        let mut v = self.runs.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The slowest run.
    pub fn min(&self) -> f64 {
        self.runs.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The fastest run.
    pub fn max(&self) -> f64 {
        self.runs.iter().copied().fold(0.0, f64::max)
    }
}

/// Bytes of weights one decoded token reads: every matrix of every layer and
/// the output head (the embedding table is read one row per token).
pub fn weight_bytes_per_token(model: &Transformer) -> usize {
    sum_over_token_matrices(model, QMatrix::byte_len)
}

/// Multiply-adds of the matrix products one token takes (every matrix of
/// every layer and the output head): a prefill's speed in tokens/s times
/// this is the rate its kernels work at, to set against [`int8_peak`].
/// Attention's products, which grow with the context, are not counted.
pub fn matrix_macs_per_token(model: &Transformer) -> usize {
    sum_over_token_matrices(model, |m| m.rows() * m.cols())
}

/// `of(m)` summed over the matrices every token goes through: each layer's
/// projections and the output head.
fn sum_over_token_matrices(model: &Transformer, of: impl Fn(&QMatrix) -> usize) -> usize {
    let w = model.weights();
    let layers: usize = w
        .layers
        .iter()
        .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down])
        .map(|lin| of(&lin.weight))
        .sum();
    layers + of(&w.output)
}

/// Int8 multiply-accumulate rates of this CPU, all worker threads together.
pub use crate::cpu::quant::Int8Peak;

/// Measures the int8 ceiling and the packed kernels against it (see
/// [`Int8Peak`]), about a fifth of a second; `None` where the CPU has no
/// packed kernels (no AVX-512 VNNI).
pub fn int8_peak() -> Option<Int8Peak> {
    #[cfg(target_arch = "x86_64")]
    {
        crate::cpu::quant::measure_int8_peak(0.02, 3)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// The decode speed that `bandwidth_gbs` allows when each token reads
/// `bytes_per_token` bytes.
pub fn decode_limit_tps(bandwidth_gbs: f64, bytes_per_token: usize) -> f64 {
    if bytes_per_token == 0 {
        return 0.0;
    }
    bandwidth_gbs * 1e9 / bytes_per_token as f64
}

/// Read bandwidth in GB/s of the engine's thread pool streaming through a
/// buffer of `bytes` (pick one far larger than the last-level cache): the
/// best of `passes` passes, as a decode step is one such pass over the weights.
pub fn measure_bandwidth(bytes: usize, passes: usize) -> f64 {
    let words = (bytes / 8).max(1);
    // Distinct values so no page is shared zero-page memory.
    let buffer: Vec<u64> = (0..words as u64).collect();
    let chunk = words.div_ceil(rayon::current_num_threads() * 16).max(1024);
    let mut best = 0.0f64;
    for _ in 0..passes.max(1) {
        let start = Instant::now();
        let sum = buffer
            .par_chunks(chunk)
            .map(sum_words)
            .reduce(|| 0u64, u64::wrapping_add);
        let seconds = start.elapsed().as_secs_f64();
        // The sum is consumed so the reads cannot be optimized away.
        std::hint::black_box(sum);
        best = best.max((words * 8) as f64 / seconds / 1e9);
    }
    best
}

/// Sums with four independent lanes so the loop is limited by loads, not by
/// the dependency chain of one accumulator.
fn sum_words(words: &[u64]) -> u64 {
    let mut acc = [0u64; 4];
    let mut chunks = words.chunks_exact(4);
    for c in &mut chunks {
        for l in 0..4 {
            acc[l] = acc[l].wrapping_add(c[l]);
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(0u64, |a, &w| a.wrapping_add(w));
    acc.iter().fold(tail, |a, &w| a.wrapping_add(w))
}

/// The CPU features this build can use, and which the kernels dispatch on.
pub fn cpu_features() -> Vec<&'static str> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let detected = [
            ("avx2", is_x86_feature_detected!("avx2")),
            ("fma", is_x86_feature_detected!("fma")),
            ("f16c", is_x86_feature_detected!("f16c")),
            ("avx512f", is_x86_feature_detected!("avx512f")),
            ("avx512vnni", is_x86_feature_detected!("avx512vnni")),
        ];
        out.extend(detected.iter().filter(|(_, on)| *on).map(|(name, _)| *name));
    }
    #[cfg(target_arch = "aarch64")]
    out.push("neon");
    out
}

/// Worker threads the kernels run on.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// The kernel family the quantized matrix products run on this CPU.
pub fn kernel_family() -> &'static str {
    if crate::cpu::quant::has_avx512_vnni() {
        "avx512-vnni (packed K-quants), avx2"
    } else if crate::cpu::quant::has_avx2() {
        "avx2"
    } else {
        "scalar"
    }
}

/// Deterministic token ids spread over the vocabulary (a seeded
/// [`SplitMix64`]), so each run sees the same input and no token repeats in
/// a pattern.
pub fn bench_tokens(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| rng.below(vocab as u64) as u32).collect()
}

/// Runs tests on one model, reusing a prefilled cache where two tests need
/// the same prefix (a decode at depth 2048 after a 2048-token prefill).
pub struct Bench<'m> {
    model: &'m Transformer,
    /// The cache of the last test, kept so a later decode can start from
    /// its prefix instead of prefilling again.
    deep: Option<KvCache>,
}

impl<'m> Bench<'m> {
    /// A bench over `model`.
    pub fn new(model: &'m Transformer) -> Bench<'m> {
        Bench { model, deep: None }
    }

    /// Runs `test` once and returns its tokens per second.
    pub fn run_once(&mut self, test: BenchTest) -> Result<f64, ForwardError> {
        let vocab = self.model.config().vocab_size;
        match test {
            BenchTest::Prefill { tokens } => {
                let prompt = bench_tokens(tokens, vocab, tokens as u64);
                let mut kv = KvCache::new(self.model.kv_shape(), tokens + 1024);
                let start = Instant::now();
                self.model.forward(&prompt, &mut kv, LogitsFor::Last)?;
                let seconds = start.elapsed().as_secs_f64();
                // Keep the cache so a decode at this depth needs no new prefill.
                self.deep = Some(kv);
                Ok(tokens as f64 / seconds)
            }
            BenchTest::Decode { tokens, depth } => {
                let mut kv = self.cache_at(depth, tokens)?;
                let next = bench_tokens(tokens, vocab, 7 + depth as u64);
                let start = Instant::now();
                for &t in &next {
                    self.model.forward(&[t], &mut kv, LogitsFor::Last)?;
                }
                let seconds = start.elapsed().as_secs_f64();
                kv.truncate(depth);
                self.deep = Some(kv);
                Ok(tokens as f64 / seconds)
            }
        }
    }

    /// A cache holding `depth` positions with room for `extra` more: the kept
    /// one when it is deep enough (truncated to `depth`), else a new prefill.
    fn cache_at(&mut self, depth: usize, extra: usize) -> Result<KvCache, ForwardError> {
        if let Some(mut kv) = self.deep.take() {
            if kv.len() >= depth && kv.limit() >= depth + extra {
                kv.truncate(depth);
                return Ok(kv);
            }
        }
        let vocab = self.model.config().vocab_size;
        let mut kv = KvCache::new(self.model.kv_shape(), depth + extra);
        if depth > 0 {
            let prompt = bench_tokens(depth, vocab, depth as u64);
            self.model.forward(&prompt, &mut kv, LogitsFor::Last)?;
        }
        Ok(kv)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [
            BenchTest::Prefill { tokens: 512 },
            BenchTest::Decode {
                tokens: 128,
                depth: 0,
            },
            BenchTest::Decode {
                tokens: 128,
                depth: 2048,
            },
        ] {
            assert_eq!(BenchTest::parse(&t.name()), Some(t));
        }
        assert_eq!(
            BenchTest::parse("tg128_d2048").unwrap().context_needed(),
            2176
        );
        assert_eq!(BenchTest::parse("xx12"), None);
        assert_eq!(BenchTest::parse("pp"), None);
        assert_eq!(BenchTest::parse("pp0"), None);
        assert_eq!(BenchTest::parse("tg0_d5"), None);
    }

    #[test]
    fn speed_statistics() {
        let s = Speed {
            runs: vec![3.0, 1.0, 2.0, 10.0],
        };
        assert_eq!(s.median(), 2.5);
        assert_eq!(s.min(), 1.0);
        assert_eq!(s.max(), 10.0);
        assert_eq!(
            Speed {
                runs: vec![4.0, 1.0, 9.0]
            }
            .median(),
            4.0
        );
    }

    #[test]
    fn sum_words_matches_iterator_sum_at_every_tail() {
        for n in 0..13u64 {
            let v: Vec<u64> = (0..n).map(|i| i * 3 + 1).collect();
            assert_eq!(sum_words(&v), v.iter().sum::<u64>());
        }
    }

    #[test]
    fn bandwidth_is_positive_and_limit_follows() {
        assert!(measure_bandwidth(1 << 20, 2) > 0.0);
        assert_eq!(decode_limit_tps(10.0, 1_000_000_000), 10.0);
        assert_eq!(decode_limit_tps(10.0, 0), 0.0);
    }

    #[test]
    fn bench_tokens_are_in_vocab_and_deterministic() {
        let a = bench_tokens(100, 50, 3);
        assert!(a.iter().all(|&t| t < 50));
        assert_eq!(a, bench_tokens(100, 50, 3));
        assert_ne!(a, bench_tokens(100, 50, 4));
    }
}
