//! The tokenizer against llama.cpp, and its behaviour on small hand-built vocabularies.
//!
//! `fixtures/tokenizer/qwen2.5-coder.json` holds token ids produced by
//! llama.cpp's tokenizer (scripts/fixtures/tokenizer_fixtures.py) for a varied
//! corpus. Those tests need the real model file, found through
//! `HEARTH_TEST_MODEL` or the standard cache path, so they are ignored unless
//! asked for: `.ci/run` runs them once the README's test command has fetched
//! the model. The hand-built vocabularies below always run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_engine::model::gguf::{Gguf, GgufWriter};
use hearth_engine::template::{ChatTemplate, TemplateInput};
use hearth_engine::tokenizer::{
    token_type, StreamDecoder, Tokenizer, TokenizerError, TokenizerSpec,
};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Instant;

mod common;

#[derive(Deserialize)]
struct Fixture {
    n_vocab: usize,
    bos: u32,
    eos: u32,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    ids_special: Vec<u32>,
    decoded: String,
}

fn fixture() -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizer/qwen2.5-coder.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Feeds `ids` one at a time; returns the streamed text and how many pushes held text back.
fn stream(tokenizer: &Tokenizer, ids: &[u32]) -> (String, usize) {
    let mut decoder = StreamDecoder::new(tokenizer);
    let mut text = String::new();
    let mut held_back = 0;
    for &id in ids {
        match decoder.push(id) {
            Some(piece) => text.push_str(&piece),
            None => held_back += 1,
        }
    }
    text.push_str(&decoder.finish());
    (text, held_back)
}

#[test]
#[ignore = "needs the default model (1.1 GB): run with --ignored after `hearth model pull`, or set HEARTH_TEST_MODEL"]
fn real_model_matches_llama_cpp() {
    let path = common::default_model();
    let gguf = Gguf::open(&path).unwrap();
    let started = Instant::now();
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    let built = started.elapsed();
    eprintln!(
        "tokenizer built from {} in {:.0} ms",
        path.display(),
        built.as_secs_f64() * 1e3
    );
    // The budget is well under 2 s on the reference machine; the bound here
    // only catches a gross regression on a loaded CI box.
    assert!(
        built.as_secs_f64() < 5.0,
        "building the tokenizer took {built:?}"
    );

    let fixture = fixture();
    assert_eq!(tokenizer.vocab_size(), fixture.n_vocab);
    assert_eq!(tokenizer.bos(), Some(fixture.bos));
    assert_eq!(tokenizer.eos(), Some(fixture.eos));
    assert!(!tokenizer.add_bos());

    let mut failures = Vec::new();
    let mut held_back_total = 0;
    for case in &fixture.cases {
        let plain = tokenizer.encode(&case.text, false).unwrap();
        let special = tokenizer.encode(&case.text, true).unwrap();
        if plain != case.ids {
            failures.push(format!(
                "{:?} without special tokens:\n  got  {plain:?}\n  want {:?}",
                case.text, case.ids
            ));
        }
        if special != case.ids_special {
            failures.push(format!(
                "{:?} with special tokens:\n  got  {special:?}\n  want {:?}",
                case.text, case.ids_special
            ));
        }
        for ids in [&case.ids, &case.ids_special] {
            let decoded = tokenizer.decode(ids);
            if decoded != case.text || decoded != case.decoded {
                failures.push(format!("decode of {:?} gave {decoded:?}", case.text));
            }
            let (streamed, held_back) = stream(&tokenizer, ids);
            held_back_total += held_back;
            if streamed != decoded || streamed.contains(char::REPLACEMENT_CHARACTER) {
                failures.push(format!("streaming {:?} gave {streamed:?}", case.text));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The corpus has emoji and CJK split across tokens: streaming must have
    // held back partial characters somewhere, or this test proves nothing.
    assert!(held_back_total > 0);

    let im_end = tokenizer.token_id("<|im_end|>").unwrap();
    assert_eq!(im_end, 151645);
    assert!(tokenizer.is_end_of_generation(im_end));
    assert!(tokenizer.is_end_of_generation(tokenizer.token_id("<|endoftext|>").unwrap()));
    assert!(!tokenizer.is_end_of_generation(tokenizer.token_id("<|im_start|>").unwrap()));
    assert!(!tokenizer.is_end_of_generation(tokenizer.encode("Hello", false).unwrap()[0]));
    assert_eq!(
        tokenizer.token_bytes(tokenizer.token_id("Ġworld").unwrap()),
        b" world"
    );
}

/// The template read from the model file renders every Qwen2.5 case of the
/// template fixtures (rendered by jinja2 from the same template) identically,
/// with BOS and EOS texts taken from the model's tokenizer.
#[test]
#[ignore = "needs the default model (1.1 GB): run with --ignored after `hearth model pull`, or set HEARTH_TEST_MODEL"]
fn real_model_template_matches_the_jinja2_fixtures() {
    let path = common::default_model();
    let gguf = Gguf::open(&path).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    let template = ChatTemplate::from_gguf(&gguf, &tokenizer)
        .unwrap()
        .expect("the model has a chat template");
    let cases_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/template/cases.json");
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(cases_path).unwrap()).unwrap();
    let mut checked = 0;
    for case in cases.iter().filter(|c| c["template"] == "qwen2.5.jinja") {
        let input = TemplateInput {
            messages: serde_json::from_value(case["messages"].clone()).unwrap(),
            tools: serde_json::from_value(case["tools"].clone()).unwrap(),
            add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
            extra: serde_json::from_value(case["extra"].clone()).unwrap(),
        };
        let prompt = template.render(&input).unwrap();
        assert_eq!(
            prompt,
            case["expected"].as_str().unwrap(),
            "{}",
            case["name"]
        );
        // The rendered prompt survives tokenization with special tokens parsed.
        let ids = tokenizer.encode(&prompt, true).unwrap();
        assert_eq!(ids[0], tokenizer.token_id("<|im_start|>").unwrap());
        assert_eq!(tokenizer.decode(&ids), prompt);
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} Qwen2.5 cases in the fixtures"
    );
}

// ---------------------------------------------------------------------------
// Hand-built vocabularies.

/// GPT-2's byte-level character for `byte`.
fn byte_char(byte: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(byte) {
        return char::from(byte);
    }
    let rank = (0..byte).filter(|&b| !printable(b)).count() as u32;
    char::from_u32(0x100 + rank).unwrap()
}

/// A byte-level BPE over all 256 bytes with a few merges, two specials and
/// the qwen2 pre-tokenizer.
fn tiny_bpe_spec() -> TokenizerSpec {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    let merges = [
        "h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o", "r l", "Ġwo rl", "Ġworl d", "1 2",
    ];
    for rule in merges {
        tokens.push(rule.replace(' ', ""));
    }
    let mut token_types = vec![token_type::NORMAL; tokens.len()];
    for (text, ty) in [
        ("<|im_end|>", token_type::CONTROL),
        ("<tool_call>", token_type::USER_DEFINED),
        ("<s>", token_type::CONTROL),
    ] {
        tokens.push(text.to_owned());
        token_types.push(ty);
    }
    TokenizerSpec {
        model: "gpt2".into(),
        pre: Some("qwen2".into()),
        merges: merges.iter().map(|m| m.to_string()).collect(),
        bos: Some(tokens.len() as u32 - 1),
        eos: Some(tokens.len() as u32 - 3),
        tokens,
        token_types,
        ..TokenizerSpec::default()
    }
}

#[test]
fn tiny_bpe_merges_and_special_tokens() {
    let tokenizer = Tokenizer::from_spec(tiny_bpe_spec()).unwrap();
    let id = |t: &str| tokenizer.token_id(t).unwrap();
    assert_eq!(
        tokenizer.encode("hello world", false).unwrap(),
        vec![id("hello"), id("Ġworld")]
    );
    // qwen2 splits digits one by one, so the "12" merge never applies.
    assert_eq!(
        tokenizer.encode("123", false).unwrap(),
        vec![id("1"), id("2"), id("3")]
    );

    let text = "hello<|im_end|><tool_call>";
    let control = id("<|im_end|>");
    let user_defined = id("<tool_call>");
    assert_eq!(
        tokenizer.encode(text, true).unwrap(),
        vec![id("hello"), control, user_defined]
    );
    let plain = tokenizer.encode(text, false).unwrap();
    assert!(
        !plain.contains(&control),
        "control tokens are text without parse_special"
    );
    assert_eq!(
        plain.last(),
        Some(&user_defined),
        "user-defined tokens always match"
    );
    assert_eq!(tokenizer.decode(&plain), text);

    assert!(tokenizer.encode("", true).unwrap().is_empty());
    assert!(tokenizer.is_end_of_generation(control));
    assert!(!tokenizer.is_end_of_generation(user_defined));
    assert_eq!(tokenizer.token_bytes(id("Ġw")), b" w");
    assert_eq!(tokenizer.token_bytes(u32::MAX), b"");
}

#[test]
fn tiny_bpe_round_trips_any_text_and_streams_whole_characters() {
    let tokenizer = Tokenizer::from_spec(tiny_bpe_spec()).unwrap();
    let texts = [
        "",
        "hello world",
        "  \n\n\t x",
        "日本語 👩‍💻 e\u{301} مرحبا",
        "<|im_end|> literally",
        "1234567",
    ];
    for text in texts {
        for parse_special in [false, true] {
            let ids = tokenizer.encode(text, parse_special).unwrap();
            assert_eq!(tokenizer.decode(&ids), text);
            let (streamed, _) = stream(&tokenizer, &ids);
            assert_eq!(streamed, text);
        }
    }
    // Only single bytes exist for non-ASCII here, so "😀" is 4 tokens: the
    // first three pushes must hold their bytes back.
    let ids = tokenizer.encode("😀!", false).unwrap();
    assert_eq!(ids.len(), 5);
    let mut decoder = tokenizer.stream_decoder();
    let pieces: Vec<Option<String>> = ids.iter().map(|&id| decoder.push(id)).collect();
    assert_eq!(
        pieces,
        vec![None, None, None, Some("😀".into()), Some("!".into())]
    );
    assert_eq!(decoder.finish(), "");
    // A stream cut inside a character ends with U+FFFD, as decode does.
    let mut decoder = tokenizer.stream_decoder();
    assert_eq!(decoder.push(ids[0]), None);
    assert_eq!(decoder.finish(), "\u{FFFD}");
    assert_eq!(tokenizer.decode(&ids[..1]), "\u{FFFD}");
}

#[test]
fn add_bos_puts_bos_first() {
    let mut spec = tiny_bpe_spec();
    spec.add_bos = true;
    let tokenizer = Tokenizer::from_spec(spec).unwrap();
    let bos = tokenizer.bos().unwrap();
    assert!(tokenizer.add_bos());
    assert_eq!(tokenizer.encode("", false).unwrap(), vec![bos]);
    assert_eq!(tokenizer.encode("hello", false).unwrap()[0], bos);
}

#[test]
fn malformed_specs_are_rejected_with_the_reason() {
    let mut spec = tiny_bpe_spec();
    spec.merges.push("nospace".into());
    assert!(
        matches!(Tokenizer::from_spec(spec), Err(TokenizerError::MalformedMerge { merge, .. }) if merge == "nospace")
    );

    let mut spec = tiny_bpe_spec();
    spec.merges.push("x yz".into());
    let err = Tokenizer::from_spec(spec).unwrap_err();
    assert!(matches!(err, TokenizerError::Build { .. }), "{err}");

    let mut spec = tiny_bpe_spec();
    spec.model = "wordpiece".into();
    assert!(
        matches!(Tokenizer::from_spec(spec), Err(TokenizerError::UnsupportedModel(m)) if m == "wordpiece")
    );

    let mut spec = tiny_bpe_spec();
    spec.token_types.pop();
    assert!(matches!(
        Tokenizer::from_spec(spec),
        Err(TokenizerError::LengthMismatch { .. })
    ));

    let mut spec = tiny_bpe_spec();
    spec.eos = Some(100_000);
    assert!(matches!(
        Tokenizer::from_spec(spec),
        Err(TokenizerError::SpecialTokenOutOfRange { name: "eos", .. })
    ));

    let mut spec = tiny_bpe_spec();
    spec.pre = Some("kimi-k2".into());
    assert!(matches!(
        Tokenizer::from_spec(spec),
        Err(TokenizerError::UnsupportedPreTokenizer(_))
    ));
}

/// A SentencePiece vocabulary: control tokens, byte fallback and scored pieces.
fn tiny_sentencepiece_spec() -> TokenizerSpec {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut token_types = vec![
        token_type::UNKNOWN,
        token_type::CONTROL,
        token_type::CONTROL,
    ];
    let mut scores = vec![0.0, 0.0, 0.0];
    for byte in 0..=255u8 {
        tokens.push(format!("<0x{byte:02X}>"));
        token_types.push(token_type::BYTE);
        scores.push(0.0);
    }
    let pieces = [
        ("▁", -1.0),
        ("h", -2.0),
        ("e", -2.0),
        ("l", -2.0),
        ("o", -2.0),
        ("w", -2.0),
        ("r", -2.0),
        ("d", -2.0),
    ];
    let merged = [
        ("he", -3.0),
        ("ll", -3.0),
        ("hell", -4.0),
        ("hello", -5.0),
        ("▁hello", -6.0),
        ("▁w", -3.5),
        ("or", -3.0),
    ];
    for (piece, score) in pieces.iter().chain(&merged) {
        tokens.push(piece.to_string());
        token_types.push(token_type::NORMAL);
        scores.push(*score);
    }
    TokenizerSpec {
        model: "llama".into(),
        tokens,
        token_types,
        scores,
        bos: Some(1),
        eos: Some(2),
        add_bos: true,
        add_space_prefix: true,
        ..TokenizerSpec::default()
    }
}

#[test]
fn tiny_sentencepiece_encodes_by_score_and_decodes_without_the_prefix_space() {
    let tokenizer = Tokenizer::from_spec(tiny_sentencepiece_spec()).unwrap();
    let id = |t: &str| tokenizer.token_id(t).unwrap();
    let ids = tokenizer.encode("hello world", false).unwrap();
    assert_eq!(
        ids,
        vec![1, id("▁hello"), id("▁w"), id("or"), id("l"), id("d")],
        "BOS, then the space-prefixed pieces"
    );
    assert_eq!(tokenizer.decode(&ids[1..]), "hello world");
    assert_eq!(tokenizer.decode(&ids), "<s> hello world");
    // Characters with no piece fall back to bytes; special tokens split text.
    let ids = tokenizer.encode("hé</s>x", true).unwrap();
    assert_eq!(
        ids,
        vec![
            1,
            id("▁"),
            id("h"),
            id("<0xC3>"),
            id("<0xA9>"),
            2,
            id("▁"),
            id("<0x78>")
        ]
    );
    assert_eq!(tokenizer.decode(&ids[1..]), "hé</s> x");
    assert!(tokenizer.is_end_of_generation(2));
}

#[test]
fn from_gguf_reads_the_tokenizer_metadata() {
    let spec = tiny_bpe_spec();
    let mut writer = GgufWriter::new();
    writer.add_meta("general.architecture", "qwen2").unwrap();
    writer.add_meta("tokenizer.ggml.model", "gpt2").unwrap();
    writer.add_meta("tokenizer.ggml.pre", "qwen2").unwrap();
    writer
        .add_meta("tokenizer.ggml.tokens", spec.tokens.clone())
        .unwrap();
    writer
        .add_meta("tokenizer.ggml.token_type", spec.token_types.clone())
        .unwrap();
    writer
        .add_meta("tokenizer.ggml.merges", spec.merges.clone())
        .unwrap();
    writer
        .add_meta("tokenizer.ggml.bos_token_id", spec.bos.unwrap())
        .unwrap();
    writer
        .add_meta("tokenizer.ggml.eos_token_id", spec.eos.unwrap())
        .unwrap();
    writer
        .add_meta(
            "tokenizer.chat_template",
            "{{ bos_token }}|{{ messages[0].content }}|{{ eos_token }}",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.gguf");
    writer.write_to(&path).unwrap();

    let gguf = Gguf::open(&path).unwrap();
    let from_file = Tokenizer::from_gguf(&gguf).unwrap();
    let from_spec = Tokenizer::from_spec(spec).unwrap();
    let text = "hello world<|im_end|> 12";
    assert_eq!(
        from_file.encode(text, true).unwrap(),
        from_spec.encode(text, true).unwrap()
    );
    assert!(
        !from_file.add_bos(),
        "gpt2 with qwen2 adds no BOS by default"
    );

    let template = ChatTemplate::from_gguf(&gguf, &from_file).unwrap().unwrap();
    let input = TemplateInput {
        messages: vec![serde_json::json!({"role": "user", "content": "hi"})],
        ..TemplateInput::default()
    };
    assert_eq!(template.render(&input).unwrap(), "<s>|hi|<|im_end|>");
}

#[test]
fn from_json_file_loads_a_hugging_face_tokenizer() {
    // The same tiny byte-level BPE in tokenizer.json form.
    let spec = tiny_bpe_spec();
    let n_plain = 256 + spec.merges.len();
    let vocab: serde_json::Map<String, serde_json::Value> = spec.tokens[..n_plain]
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i.into()))
        .collect();
    let added: Vec<serde_json::Value> = (n_plain..spec.tokens.len())
        .map(|id| {
            serde_json::json!({"id": id, "content": spec.tokens[id], "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": spec.token_types[id] == token_type::CONTROL})
        })
        .collect();
    let json = serde_json::json!({
        "version": "1.0",
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": spec.merges}
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();

    let from_json = Tokenizer::from_json_file(&path).unwrap();
    let from_spec = Tokenizer::from_spec(spec).unwrap();
    assert_eq!(from_json.vocab_size(), from_spec.vocab_size());
    for text in ["hello world<|im_end|><tool_call> 12 日本", "<|im_end|>"] {
        for parse_special in [false, true] {
            let ids = from_json.encode(text, parse_special).unwrap();
            assert_eq!(
                ids,
                from_spec.encode(text, parse_special).unwrap(),
                "{text:?} {parse_special}"
            );
            assert_eq!(from_json.decode(&ids), text);
        }
    }
    assert_eq!(from_json.eos(), from_json.token_id("<|im_end|>"));
    assert!(from_json.is_end_of_generation(from_json.token_id("<|im_end|>").unwrap()));

    let missing = dir.path().join("missing.json");
    assert!(matches!(
        Tokenizer::from_json_file(&missing),
        Err(TokenizerError::File { .. })
    ));
}
