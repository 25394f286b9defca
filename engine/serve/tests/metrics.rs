//! `GET /metrics`: Prometheus's text format, read back with a Prometheus parser; the
//! counters agree with the responses that were served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use prometheus_parse::{Sample, Scrape, Value as Metric};
use serde_json::json;

/// The value of the sample of `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s: &&Sample| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
            Metric::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Metric::Summary(_) => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count_what_was_served() {
    let server = start(Arc::new(tiny_engine(1024))).await;
    let base = &server.base;
    let (status, answer) = post(base, "/v1/messages", &request("the other thing", 6, false)).await;
    assert_eq!(status, 200, "{answer}");
    let events = read_events(post_stream(base, &request("the other thing", 5, true)).await).await;
    let streamed = events
        .iter()
        .rfind(|(name, _)| name == "message_delta")
        .unwrap()
        .1["usage"]["output_tokens"]
        .as_u64()
        .unwrap();
    let (status, _) = post(base, "/v1/messages", &json!({"model": "tiny-qwen2"})).await;
    assert_eq!(status, 400);

    let response = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = response.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let requests = |status: &str| {
        value(
            &scrape,
            "hearth_requests_total",
            &[
                ("endpoint", "POST /v1/messages"),
                ("status", status),
                ("key", "-"),
            ],
        )
    };
    assert_eq!(requests("200"), Some(2.0), "{text}");
    assert_eq!(requests("400"), Some(1.0), "{text}");
    let output = value(
        &scrape,
        "hearth_tokens_total",
        &[("key", "-"), ("kind", "output")],
    );
    let expected = answer["usage"]["output_tokens"].as_u64().unwrap() + streamed;
    assert_eq!(output, Some(expected as f64), "{text}");
    let first_tokens = value(&scrape, "hearth_time_to_first_token_seconds", &[]);
    assert_eq!(first_tokens, Some(2.0), "{text}");
    assert!(value(&scrape, "hearth_inter_token_latency_seconds", &[]).unwrap() >= 1.0);
    // vLLM's names hold a `:`, which Prometheus allows in names and this parser does
    // not read: their lines are read here.
    let gauge = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name}:\n{text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(gauge("vllm:num_requests_waiting"), 0.0);
    assert_eq!(gauge("vllm:num_requests_running"), 0.0);
    assert!((0.0..=1.0).contains(&gauge("vllm:kv_cache_usage_perc")));
    assert!(
        value(&scrape, "hearth_kv_blocks_used", &[]).unwrap() >= 1.0,
        "{text}"
    );
    assert!(
        value(&scrape, "hearth_kv_blocks_free", &[]).is_some(),
        "{text}"
    );
    let ratio = value(&scrape, "hearth_prefix_cache_hit_ratio", &[]).unwrap();
    assert!((0.0..=1.0).contains(&ratio), "{text}");
}
