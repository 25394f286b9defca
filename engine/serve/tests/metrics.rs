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

/// With `max_batch` workers and an engine that batches, requests served at once share
/// forward passes: the scheduler's counters show passes carrying several sequences, the
/// streams answer what they answer one at a time, and nothing stays held afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_the_batch_schedulers_passes() {
    let alone_server = start(Arc::new(tiny_engine(1024))).await;
    let questions: Vec<String> = (0..4).map(|i| format!("batch question {i}")).collect();
    let mut alone = Vec::new();
    for q in &questions {
        let (status, answer) =
            post(&alone_server.base, "/v1/messages", &request(q, 30, false)).await;
        assert_eq!(status, 200, "{answer}");
        alone.push(answer["content"].clone());
    }
    let mut engine = tiny_engine(1024);
    engine
        .start_scheduler(hearth_engine::schedule::BatchOptions::default())
        .unwrap();
    let server = start_with(
        Arc::new(engine),
        hearth_serve::ServeOptions {
            max_batch: 4,
            ..hearth_serve::ServeOptions::default()
        },
    )
    .await;
    let base = server.base.clone();
    let answers = futures_join(
        questions
            .iter()
            .map(|q| {
                let (base, body) = (base.clone(), request(q, 30, false));
                tokio::spawn(async move { post(&base, "/v1/messages", &body).await })
            })
            .collect(),
    )
    .await;
    let mut output = 0;
    for (i, (status, answer)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(
            answer["content"], alone[i],
            "request {i} changed in a batch"
        );
        output += answer["usage"]["output_tokens"].as_u64().unwrap();
    }
    let text = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let passes = value(&scrape, "hearth_batch_passes_total", &[]).unwrap();
    let rows = value(&scrape, "hearth_batch_rows_total", &[]).unwrap();
    assert!(passes >= 1.0 && rows > passes, "{text}");
    assert!(
        passes < output as f64,
        "{passes} passes for {output} output tokens of 4 requests: not batched\n{text}"
    );
    assert_eq!(value(&scrape, "hearth_batch_sequences", &[]), Some(0.0));
    assert!(value(&scrape, "hearth_batch_busy_seconds_total", &[]).unwrap() > 0.0);
}

/// Every task's result, in order.
async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
