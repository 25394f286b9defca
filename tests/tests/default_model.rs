//! The default model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M) against llama.cpp:
//! greedy continuations and perplexity.
//!
//! The model is fetched once per machine by `hearth model pull` into the
//! user's cache dir, as a user would get it. Fixtures: tests/fixtures/llamacpp_*.json,
//! made by scripts/fixtures/llamacpp_reference.py (llama.cpp via llama-cpp-python).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_engine::generation::sampler::argmax;
use hearth_engine::kv::KvCache;
use hearth_engine::model::load::Model;
use hearth_engine::model::transformer::LogitsFor;
use hearth_tests::{fixture, hearth, stderr_of, stdout_of};

/// Where llama.cpp's two best logits are closer than this, the two engines'
/// different rounding may pick either: the sequences may part there. Two
/// correct engines' logits differ by a few tenths here (8-bit activations,
/// 28 layers, different summation orders): with the packed VNNI kernels one
/// token at a gap of 0.31 went the other way while perplexity moved closer
/// to llama.cpp's (from +0.5% to -0.3%). The perplexity test bounds accuracy;
/// this one checks that only close calls differ.
const NEAR_TIE: f64 = 0.5;

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn greedy_continuations_agree_with_llama_cpp() {
    let model = Model::load(hearth!().default_model()).unwrap();
    let t = model.transformer();
    let reference = json("llamacpp_greedy.json");
    let mut compared = 0;
    let mut near_ties = 0;
    for case in reference["cases"].as_array().unwrap() {
        let prompt_ids = ids(&case["prompt_ids"]);
        let text = case["text"].as_str().unwrap();
        if case["kind"] == "raw" {
            // The tokenizer agrees with llama.cpp's on the prompt.
            assert_eq!(
                model.tokenizer().encode(text, true).unwrap(),
                prompt_ids,
                "{text:?}"
            );
        }
        let want = ids(&case["greedy"]);
        let gaps: Vec<f64> = case["top2_gap"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_f64().unwrap())
            .collect();
        let mut kv = KvCache::new(t.kv_shape(), 4096);
        let mut logits = t.forward(&prompt_ids, &mut kv, LogitsFor::Last).unwrap();
        for (i, &w) in want.iter().enumerate() {
            let got = argmax(&logits);
            compared += 1;
            if got != w {
                assert!(
                    gaps[i] < NEAR_TIE,
                    "{text:?}: token {i} is {got}, llama.cpp chose {w} with a clear margin {}",
                    gaps[i]
                );
                near_ties += 1;
                eprintln!(
                    "{text:?}: token {i} differs at a near-tie (gap {})",
                    gaps[i]
                );
            }
            // Continue from llama.cpp's choice, so every position is compared.
            logits = t.forward(&[w], &mut kv, LogitsFor::Last).unwrap();
        }
    }
    eprintln!("{compared} greedy tokens compared with llama.cpp; {near_ties} near-ties went the other way");
    assert!(compared >= 150, "only {compared} tokens compared");
    assert!(
        near_ties * 20 <= compared,
        "{near_ties} of {compared} tokens differ"
    );
}

#[test]
fn perplexity_is_within_one_percent_of_llama_cpp() {
    let reference = json("llamacpp_perplexity.json");
    let ctx = reference["ctx"].as_u64().unwrap().to_string();
    let model = hearth!().default_model().display().to_string();
    let file = fixture("perplexity.txt").display().to_string();
    let out = hearth!().run(&[
        "perplexity",
        "--model",
        &model,
        &file,
        "--ctx",
        &ctx,
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_str(stdout_of(&out).trim()).unwrap();
    let ours = v["perplexity"].as_f64().unwrap();
    let theirs = reference["perplexity"].as_f64().unwrap();
    eprintln!("perplexity: hearth {ours:.4}, llama.cpp {theirs:.4}");
    assert_eq!(v["tokens"], reference["scored_tokens"]);
    assert!(
        (ours / theirs - 1.0).abs() < 0.01,
        "hearth {ours} vs llama.cpp {theirs}"
    );
}

#[test]
fn chat_answers_on_the_default_model() {
    let out = hearth!().run(&[
        "generate",
        "--chat",
        "What is 2 + 3? Reply with just the number.",
        "--temperature",
        "0",
        "-n",
        "8",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains('5'),
        "answer: {:?}",
        stdout_of(&out)
    );
}
