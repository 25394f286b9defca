//! `GET /metrics`: the server's counters in Prometheus's text format, through the
//! `prometheus` crate: requests by endpoint, status and key; tokens by key; the prefix
//! cache's hit ratio; time to first token and between tokens; the queue; KV blocks; and
//! the vLLM-named gauges a cache-aware router (SMG) reads from a worker.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Counter, Encoder as _, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

use crate::worker::QueueStats;
use hearth_engine::api::Usage;
use hearth_engine::kv::CacheStats;
use hearth_engine::schedule::BatchStats;

/// The label of requests made without a key.
const NO_KEY: &str = "-";

/// Every metric the server keeps, registered in a registry of its own.
pub(crate) struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    tokens: IntCounterVec,
    time_to_first_token: Histogram,
    inter_token: Histogram,
    cache_hit_ratio: Gauge,
    queue_depth: IntGauge,
    batch_size: IntGauge,
    kv_blocks_used: IntGauge,
    kv_blocks_free: IntGauge,
    vllm_running: IntGauge,
    vllm_waiting: IntGauge,
    vllm_kv_usage: Gauge,
    batch_seated: IntGauge,
    batch_passes: IntCounter,
    batch_rows: IntCounter,
    batch_busy: Counter,
    /// The scheduler's counters at the last scrape: the counters grow by the difference.
    batch_seen: Mutex<BatchStats>,
}

impl Metrics {
    /// The metrics, registered; fails only on a name the crate refuses (a programming
    /// error, caught by the tests).
    pub(crate) fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "hearth_requests_total",
                "API requests by endpoint, HTTP status and key",
            ),
            &["endpoint", "status", "key"],
        )?;
        let tokens = IntCounterVec::new(
            Opts::new(
                "hearth_tokens_total",
                "Tokens by key and kind: input (computed), cache_read, cache_creation, output",
            ),
            &["key", "kind"],
        )?;
        // A CPU takes seconds to minutes before a first token; a GPU, milliseconds.
        let time_to_first_token = Histogram::with_opts(
            HistogramOpts::new(
                "hearth_time_to_first_token_seconds",
                "From a request's arrival to its first generated token",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
            ]),
        )?;
        let inter_token = Histogram::with_opts(
            HistogramOpts::new(
                "hearth_inter_token_latency_seconds",
                "Between two streamed pieces of one answer",
            )
            .buckets(vec![
                0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56,
            ]),
        )?;
        let cache_hit_ratio = Gauge::new(
            "hearth_prefix_cache_hit_ratio",
            "Prompt tokens served from the prefix cache, of all prompt tokens looked up",
        )?;
        let queue_depth = IntGauge::new("hearth_queue_depth", "Requests waiting for the model")?;
        let batch_size = IntGauge::new(
            "hearth_batch_size",
            "Sequences in the batch scheduler's last forward pass",
        )?;
        let kv_blocks_used = IntGauge::new(
            "hearth_kv_blocks_used",
            "Prefix-cache KV blocks held in memory",
        )?;
        let kv_blocks_free = IntGauge::new(
            "hearth_kv_blocks_free",
            "Prefix-cache KV blocks the memory budget still has room for",
        )?;
        let vllm_running = IntGauge::new(
            "vllm:num_requests_running",
            "Requests being computed (vLLM's name, for routers)",
        )?;
        let vllm_waiting = IntGauge::new(
            "vllm:num_requests_waiting",
            "Requests waiting (vLLM's name, for routers)",
        )?;
        let vllm_kv_usage = Gauge::new(
            "vllm:kv_cache_usage_perc",
            "Share of the KV cache's memory in use, 0 to 1 (vLLM's name, for routers)",
        )?;
        let batch_passes = IntCounter::new(
            "hearth_batch_passes_total",
            "Forward passes the batch scheduler ran",
        )?;
        let batch_rows = IntCounter::new(
            "hearth_batch_rows_total",
            "Token rows those passes carried (decode tokens, drafts and prompt pieces)",
        )?;
        let batch_busy = Counter::new(
            "hearth_batch_busy_seconds_total",
            "Time the batch scheduler spent in passes (over wall time: its utilization)",
        )?;
        let batch_seated = IntGauge::new(
            "hearth_batch_sequences",
            "Sequences the batch scheduler holds now (prefilling or decoding); each holds its KV blocks",
        )?;
        let collectors: [Box<dyn Collector>; 16] = [
            Box::new(batch_seated.clone()),
            Box::new(batch_passes.clone()),
            Box::new(batch_rows.clone()),
            Box::new(batch_busy.clone()),
            Box::new(requests.clone()),
            Box::new(tokens.clone()),
            Box::new(time_to_first_token.clone()),
            Box::new(inter_token.clone()),
            Box::new(cache_hit_ratio.clone()),
            Box::new(queue_depth.clone()),
            Box::new(batch_size.clone()),
            Box::new(kv_blocks_used.clone()),
            Box::new(kv_blocks_free.clone()),
            Box::new(vllm_running.clone()),
            Box::new(vllm_waiting.clone()),
            Box::new(vllm_kv_usage.clone()),
        ];
        for collector in collectors {
            registry.register(collector)?;
        }
        Ok(Metrics {
            registry,
            requests,
            tokens,
            time_to_first_token,
            inter_token,
            cache_hit_ratio,
            queue_depth,
            batch_size,
            kv_blocks_used,
            kv_blocks_free,
            vllm_running,
            vllm_waiting,
            vllm_kv_usage,
            batch_seated,
            batch_passes,
            batch_rows,
            batch_busy,
            batch_seen: Mutex::new(BatchStats::default()),
        })
    }

    /// Counts a request to `endpoint` answered with `status`, made with the key `key`.
    pub(crate) fn request(&self, endpoint: &str, status: u16, key: Option<&str>) {
        self.requests
            .with_label_values(&[endpoint, &status.to_string(), key.unwrap_or(NO_KEY)])
            .inc();
    }

    /// Adds one finished job's `usage` to its key's token counts.
    pub(crate) fn tokens(&self, key: Option<&str>, usage: &Usage) {
        let key = key.unwrap_or(NO_KEY);
        for (kind, n) in [
            ("input", usage.input_tokens),
            ("cache_read", usage.cache_read_input_tokens),
            ("cache_creation", usage.cache_creation_input_tokens),
            ("output", usage.output_tokens),
        ] {
            self.tokens
                .with_label_values(&[key, kind])
                .inc_by(u64::from(n));
        }
    }

    /// Records a first token `after` the request arrived.
    pub(crate) fn first_token(&self, after: Duration) {
        self.time_to_first_token.observe(after.as_secs_f64());
    }

    /// Records `gap` between two streamed pieces of an answer.
    pub(crate) fn between_tokens(&self, gap: Duration) {
        self.inter_token.observe(gap.as_secs_f64());
    }

    /// The text a scrape gets: the gauges set from `queue` and `cache` now, then every
    /// metric.
    pub(crate) fn render(
        &self,
        queue: QueueStats,
        cache: Option<CacheStats>,
        batch: Option<BatchStats>,
    ) -> String {
        let waiting = i64::try_from(queue.queued).unwrap_or(i64::MAX);
        let running = i64::try_from(queue.running).unwrap_or(i64::MAX);
        self.queue_depth.set(waiting);
        // Sequences in the scheduler's last pass; without one, each request runs alone.
        let batch_size = batch.map_or(running.min(1), |b| {
            i64::try_from(b.last_sequences).unwrap_or(i64::MAX)
        });
        self.batch_size.set(batch_size);
        if let Some(now) = batch {
            self.batch_seated
                .set(i64::try_from(now.seated).unwrap_or(i64::MAX));
            let mut seen = self
                .batch_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.batch_passes
                .inc_by(now.passes.saturating_sub(seen.passes));
            self.batch_rows.inc_by(now.rows.saturating_sub(seen.rows));
            self.batch_busy
                .inc_by(now.busy.saturating_sub(seen.busy).as_secs_f64());
            *seen = now;
        }
        self.vllm_waiting.set(waiting);
        self.vllm_running.set(running);
        if let Some(cache) = cache {
            let used = cache.blocks_in_memory;
            let budget = cache.memory_budget_blocks;
            self.kv_blocks_used
                .set(i64::try_from(used).unwrap_or(i64::MAX));
            self.kv_blocks_free
                .set(i64::try_from(budget.saturating_sub(used)).unwrap_or(i64::MAX));
            self.vllm_kv_usage.set(cache.memory_usage());
            self.cache_hit_ratio.set(cache.hit_ratio());
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::warn!("encoding the metrics failed: {e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
