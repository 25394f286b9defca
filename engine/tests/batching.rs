//! Continuous batching changes when a sequence's passes run, never what they compute:
//! rows of several sequences in one pass give each sequence the logits it gets alone, bit
//! for bit (on the tiny qwen2 model, and on the default model whose packed K-quant
//! kernels take rows in tiles), and an engine with a scheduler serving eight requests at
//! once from eight threads answers each exactly as it answers it alone, greedy, while
//! its passes really carry several sequences.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use hearth_engine::api::{Message, Request, Response};
use hearth_engine::engine::{Engine, EngineOptions};
use hearth_engine::generation::sampler::SamplingParams;
use hearth_engine::kv::KvCache;
use hearth_engine::model::load::Model;
use hearth_engine::model::transformer::{LogitsFor, SequenceRows};
use hearth_engine::rng::SplitMix64;
use hearth_engine::schedule::BatchOptions;

mod common;

fn tiny() -> Arc<Model> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny/qwen2.gguf");
    Arc::new(Model::load(&path).unwrap())
}

fn tokens(seed: u64, n: usize, vocab: usize) -> Vec<u32> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| rng.below(vocab as u64) as u32).collect()
}

/// Five sequences at different depths (0 to 300 positions cached) run in one pass: three
/// decode a token, one checks a draft of 7, one prefills 150 tokens (past the pass's
/// micro-batch of 256 rows with the others). Each one's logits and cache equal those of
/// running its rows alone.
fn assert_batch_equals_alone(model: &Model) {
    let t = model.transformer();
    let vocab = model.config().vocab_size;
    // (cached positions, new rows, which logits)
    let shapes = [
        (40, 1, LogitsFor::Last),
        (0, 150, LogitsFor::Last),
        (300, 8, LogitsFor::From(0)),
        (7, 1, LogitsFor::Last),
        (129, 100, LogitsFor::From(95)),
        (64, 1, LogitsFor::Last),
    ];
    let mut alone = Vec::new();
    let mut kvs = Vec::new();
    let mut news = Vec::new();
    for (i, &(cached, rows, logits)) in shapes.iter().enumerate() {
        let seq = tokens(i as u64 + 1, cached + rows, vocab);
        let mut kv = KvCache::new(t.kv_shape(), 1024);
        if cached > 0 {
            t.forward(&seq[..cached], &mut kv, LogitsFor::Last).unwrap();
        }
        let mut solo = KvCache::from_blocks(t.kv_shape(), 1024, vec![]).unwrap();
        t.forward(&seq[..cached], &mut solo, LogitsFor::Last)
            .unwrap();
        alone.push((t.forward(&seq[cached..], &mut solo, logits).unwrap(), solo));
        kvs.push(kv);
        news.push(seq[cached..].to_vec());
    }
    let mut seqs: Vec<SequenceRows<'_>> = kvs
        .iter_mut()
        .zip(&news)
        .zip(&shapes)
        .map(|((kv, new), &(_, _, logits))| SequenceRows {
            tokens: new,
            kv,
            logits,
        })
        .collect();
    let batched = t.forward_batch(&mut seqs).unwrap();
    drop(seqs);
    for (i, ((logits, solo_kv), (out, kv))) in
        alone.iter().zip(batched.iter().zip(&kvs)).enumerate()
    {
        assert_eq!(logits.len(), out.len(), "sequence {i}: rows of logits");
        assert!(
            logits
                .iter()
                .zip(out)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "sequence {i}: batched logits differ from its logits alone"
        );
        assert_eq!(kv.len(), solo_kv.len());
        for (b, (x, y)) in kv.blocks().iter().zip(solo_kv.blocks()).enumerate() {
            let (mut bx, mut by) = (Vec::new(), Vec::new());
            x.write_le_bytes(&mut bx);
            y.write_le_bytes(&mut by);
            assert!(bx == by, "sequence {i}: block {b} of its cache differs");
        }
    }
}

#[test]
fn a_batched_pass_gives_each_sequence_its_logits_alone_on_a_tiny_model() {
    assert_batch_equals_alone(&tiny());
}

#[test]
#[ignore = "needs the default model (1.1 GB); .ci/run runs it once the model is fetched"]
fn a_batched_pass_gives_each_sequence_its_logits_alone_on_the_default_model() {
    let model = Model::load(&common::default_model()).unwrap();
    assert_batch_equals_alone(&model);
}

fn engine(model: Arc<Model>, batched: bool) -> Engine {
    let mut options = EngineOptions::for_model(&model, "m");
    options.context_tokens = 2048;
    options.default_sampling = SamplingParams::greedy();
    let mut engine = Engine::new(model, options);
    if batched {
        engine.start_scheduler(BatchOptions::default()).unwrap();
    }
    engine
}

fn ask(engine: &Engine, text: &str, max_tokens: u32) -> Response {
    let req = Request {
        messages: vec![Message::user(text)],
        max_tokens,
        temperature: Some(0.0),
        ..Request::default()
    };
    engine
        .run(&req, &mut |_| ControlFlow::Continue(()))
        .unwrap()
}

/// Serves `questions` one at a time on a plain engine, then all at once from as many
/// threads on a batching one, and requires the same responses; returns the batching
/// engine's passes and the rows they ran.
fn assert_served_together_as_alone(model: Arc<Model>, questions: &[String], max_tokens: u32) {
    let plain = engine(Arc::clone(&model), false);
    let alone: Vec<Response> = questions
        .iter()
        .map(|q| ask(&plain, q, max_tokens))
        .collect();
    drop(plain);
    let batching = engine(model, true);
    let together: Vec<Response> = std::thread::scope(|s| {
        let handles: Vec<_> = questions
            .iter()
            .map(|q| s.spawn(|| ask(&batching, q, max_tokens)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(a.content, b.content, "request {i}: batched output differs");
        assert_eq!(a.stop_reason, b.stop_reason, "request {i}");
        assert_eq!(a.usage.output_tokens, b.usage.output_tokens, "request {i}");
    }
    let stats = batching.batch_stats().unwrap();
    let output: u64 = together
        .iter()
        .map(|r| u64::from(r.usage.output_tokens))
        .sum();
    // Eight sequences decoding through separate passes would take at least one pass per
    // output token; together they take far fewer.
    assert!(
        stats.passes < output * 3 / 4,
        "{} passes for {output} output tokens: the requests were not batched",
        stats.passes
    );
    assert_eq!(stats.seated, 0, "every sequence left its seat");
}

#[test]
fn eight_requests_at_once_answer_as_each_alone_on_a_tiny_model() {
    let questions: Vec<String> = (0..8)
        .map(|i| format!("question {i}: {}", "and more words ".repeat(i * 5)))
        .collect();
    assert_served_together_as_alone(tiny(), &questions, 40);
}

#[test]
#[ignore = "needs the default model (1.1 GB); .ci/run runs it once the model is fetched"]
fn eight_requests_at_once_answer_as_each_alone_on_the_default_model() {
    let model = Arc::new(Model::load(&common::default_model()).unwrap());
    let questions: Vec<String> = [
        "Write a Python function that reverses a string.",
        "What is a Rust trait? One sentence.",
        "Name three sorting algorithms.",
        "What does `git rebase` do? Briefly.",
        "Write a shell one-liner that counts lines in all .rs files.",
        "What is the capital of France?",
        "Explain a mutex in one sentence.",
        "Write a JavaScript arrow function that adds two numbers.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_served_together_as_alone(model, &questions, 48);
}

/// A request cancelled mid-answer (its client gone) leaves the batch at its next token:
/// the others go on to the answers they give alone, and no sequence stays seated.
#[test]
fn a_cancelled_request_leaves_the_batch_and_the_others_go_on() {
    let model = tiny();
    let questions: Vec<String> = (0..4).map(|i| format!("question number {i}")).collect();
    let plain = engine(Arc::clone(&model), false);
    let alone: Vec<Response> = questions.iter().map(|q| ask(&plain, q, 60)).collect();
    let batching = engine(model, true);
    let (cancelled, others) = std::thread::scope(|s| {
        let cancelled = s.spawn(|| {
            let req = Request {
                messages: vec![Message::user("this one hangs up")],
                max_tokens: 60,
                temperature: Some(0.0),
                ..Request::default()
            };
            let mut seen = 0;
            batching
                .run(&req, &mut |_| {
                    seen += 1;
                    if seen > 6 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })
                .unwrap()
        });
        let others: Vec<_> = questions
            .iter()
            .map(|q| s.spawn(|| ask(&batching, q, 60)))
            .collect();
        (
            cancelled.join().unwrap(),
            others
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>(),
        )
    });
    assert_eq!(
        cancelled.stop_reason,
        Some(hearth_engine::api::StopReason::Cancelled)
    );
    for (i, (a, b)) in alone.iter().zip(&others).enumerate() {
        assert_eq!(
            a.content, b.content,
            "request {i} changed when another left"
        );
    }
    assert_eq!(batching.batch_stats().unwrap().seated, 0);
}
