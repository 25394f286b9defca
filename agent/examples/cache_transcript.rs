//! Records the agent transcript `hearth bench cache` replays: a session of ten
//! user turns in a small copy of this repository, each answered after a tool
//! call, through the agent's real prompt assembly (system text and tool schemas;
//! then the first user message, opened by the project instructions, the
//! repository map and the code retrieved for the task; then the history). The model's replies
//! are scripted, so the transcript is the same wherever it is recorded.
//!
//! `cargo run -p hearth-agent --example cache_transcript -- bench/cache/transcript.json`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use hearth_agent::protocol::{Event, ToolCall};
use hearth_agent::{Approval, ScriptedBackend, ScriptedReply, Session, SessionConfig, TurnIo};
use hearth_engine::api::{ContentBlock, Message, Role};
use serde_json::{json, Value};

/// Files of this repository the session works on, copied as they are now.
const FILES: &[&str] = &[
    "engine/src/kv/prefix.rs",
    "engine/src/kv/block.rs",
    "engine/src/kv/hash.rs",
    "engine/src/engine/prompt_cache.rs",
    "engine/src/generation/stop.rs",
    "agent/src/history.rs",
];

const AGENTS_MD: &str = "# Working on this repository\n\n\
This is the KV-cache part of an inference engine written in Rust.\n\n\
- Run `cargo test -p hearth-engine` after every change; all tests must pass.\n\
- Keep files under 600 lines and one concept per module.\n\
- Every public item has a doc comment that says what it is for.\n\
- No `unwrap` or `expect` outside tests.\n\
- Errors name the input and what was expected.\n\
- Comments explain why, not what.\n\
- Prefer small, reviewable edits; explain each change in one sentence.\n";

/// (question, tool, input, answer) for each user turn.
fn script() -> Vec<(&'static str, &'static str, Value, &'static str)> {
    vec![
        ("How does the prefix cache find the cached prefix of a prompt?", "read_file",
         json!({"path": "engine/src/kv/prefix.rs"}),
         "`PrefixCache::lookup` walks the prompt in blocks of 32 tokens, chaining a hash over each block's tokens and its parent's hash, and takes blocks from memory or disk until one is missing; then `best_child` serves the first positions of the block that shares the most of the next tokens."),
        ("What is in a KV block and how big is it?", "read_file",
         json!({"path": "engine/src/kv/block.rs"}),
         "A `KvBlock` holds keys and values for 32 positions of every layer and KV head as f32; its size is `KvShape::block_bytes`: layers x 2 x heads x head_dim x 32 x 4 bytes."),
        ("How are block hashes chained?", "read_file",
         json!({"path": "engine/src/kv/hash.rs"}),
         "Each `BlockHash` is a sha256 of the parent's hash and the block's token ids, cut to 16 bytes; the root is a hash of the salt, the model's fingerprint."),
        ("Where does the engine decide how many prompt tokens come from the cache?", "grep",
         json!({"pattern": "fn resume"}),
         "In `PromptCache::resume` in engine/src/engine/prompt_cache.rs."),
        ("Show me that function.", "read_file",
         json!({"path": "engine/src/engine/prompt_cache.rs"}),
         "`resume` looks the prompt up, keeps at least the last token to compute, builds the sequence's KV cache from the hit's blocks and truncates it to the tokens served."),
        ("What are the definitions in the stop-string module?", "outline",
         json!({"path": "engine/src/generation/stop.rs"}),
         "It defines `StopStrings` (new, push, finish) and the `StopCheck` enum with `Continue` and `Stop`."),
        ("How does the agent estimate tokens for text it has not sent yet?", "read_file",
         json!({"path": "agent/src/history.rs"}),
         "`estimate_tokens` counts characters of the messages added since the last measured request and divides by about four."),
        ("Which files mention eviction?", "grep",
         json!({"pattern": "evict"}),
         "engine/src/kv/prefix.rs is the only file that evicts: `evict_to_budget`."),
        ("Where is the memory budget enforced?", "grep",
         json!({"pattern": "memory_bytes"}),
         "`evict_to_budget` keeps at most `memory_bytes / block_bytes` blocks, dropping the least recently used ones no sequence holds."),
        ("Summarize what we learned in three bullet points.", "list_files",
         json!({"pattern": "engine/src/kv/*.rs"}),
         "- Blocks of 32 tokens are keyed by chained hashes.\n- Lookups reuse the longest cached prefix, inside a block too.\n- Unused blocks are evicted least recently used within a memory budget."),
    ]
}

struct Quiet;

impl TurnIo for Quiet {
    fn emit(&mut self, event: Event) {
        if let Event::ToolOutput(out) = &event {
            assert!(!out.is_error, "a scripted tool call failed: {}", out.output);
        }
    }
    fn approve(&mut self, _call: &ToolCall) -> Approval {
        Approval::Approved
    }
    fn interrupted(&self) -> bool {
        false
    }
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bench/cache/transcript.json".to_string());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let repo = tempfile::tempdir().unwrap();
    for file in FILES {
        let to = repo.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(workspace.join(file), &to).unwrap();
    }
    std::fs::write(repo.path().join("AGENTS.md"), AGENTS_MD).unwrap();

    let mut replies = Vec::new();
    for (i, (_, tool, input, answer)) in script().into_iter().enumerate() {
        replies.push(ScriptedReply::Message {
            content: vec![
                ContentBlock::text("Let me look."),
                ContentBlock::ToolUse {
                    id: format!("call_{i}"),
                    name: tool.to_string(),
                    input,
                },
            ],
            stop_reason: None,
            usage: None,
        });
        replies.push(ScriptedReply::Text(answer.to_string()));
    }
    let backend = Arc::new(ScriptedBackend::new(replies));
    // The transcript is the tool loop's: a question's side request that answers from the
    // code shown would take the script's first reply.
    let mut config = SessionConfig::new(repo.path());
    config.answer_from_context = false;
    let mut session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    for (question, ..) in script() {
        session.run_turn(question, &mut Quiet).unwrap();
    }
    // The whole conversation: every request of the session is a prefix of its messages
    // ending at a user message (a question or tool results).
    let requests = backend.requests();
    let mut whole = requests.last().unwrap().clone();
    whole.messages.push(Message {
        role: Role::Assistant,
        content: vec![ContentBlock::text(script().last().unwrap().3)],
    });
    let cut: Vec<usize> = whole
        .messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::User)
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(cut.len(), requests.len());
    for (n, r) in cut.iter().zip(&requests) {
        assert_eq!(&whole.messages[..*n], r.messages.as_slice());
    }
    let text = serde_json::to_string_pretty(&whole).unwrap();
    std::fs::write(&out, text + "\n").unwrap();
    eprintln!("wrote {out}: {} requests", requests.len());
}
