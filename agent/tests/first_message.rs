//! What the model sees before its first token: a system turn that is the same in every
//! repository, and a first user message opened by the repository's context (instructions,
//! map, retrieved code), kept byte for byte across a resume.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use hearth_agent::protocol::{Op, UserTurn};
use hearth_agent::{Record, ScriptedBackend, ScriptedReply, Session, SessionConfig, SessionHeader};
use hearth_engine::api::{ContentBlock, Message, Request, SystemPrompt};

/// Runs `tasks` as user turns of `session` on its own thread, as a front end does.
fn answer(session: Session, tasks: &[&str]) {
    let handle = hearth_agent::spawn(session);
    for task in tasks {
        let turn = UserTurn {
            text: task.to_string(),
        };
        handle.ops.send(Op::UserTurn(turn)).unwrap();
    }
    handle.join().unwrap();
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Code that mentions none of the tasks' words, to make a repository too big to go whole.
fn filler(name: &str, count: usize) -> String {
    (0..count)
        .map(|i| format!("def {name}_{i}(value):\n    return value + {i}\n\n"))
        .collect()
}

/// The requests of one session that answers `tasks` in `config`'s repository.
fn run(mut config: SessionConfig, tasks: &[&str]) -> Vec<Request> {
    // What the first message holds is the subject here, not the answer from it
    // (tests/direct_answer.rs), whose side request would be the first one recorded.
    config.answer_from_context = false;
    let replies = tasks
        .iter()
        .map(|_| ScriptedReply::Text("done".into()))
        .collect();
    let backend = Arc::new(ScriptedBackend::new(replies));
    let session = Session::start(config, Box::new(Arc::clone(&backend))).unwrap();
    answer(session, tasks);
    backend.requests()
}

fn text_of(message: &Message) -> String {
    message
        .content
        .iter()
        .map(|b| match b {
            ContentBlock::Text { text } => text.as_str(),
            other => panic!("not text: {other:?}"),
        })
        .collect()
}

#[test]
fn the_system_turn_and_tools_are_the_same_in_every_repository() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(a.path(), "AGENTS.md", "Run pytest.\n");
    write(a.path(), "calc.py", "def blend(a, b):\n    return a * b\n");
    write(
        b.path(),
        "src/lib.rs",
        "pub fn frobnicate() -> u32 {\n    7\n}\n",
    );
    write(b.path(), "HEARTH.md", "Use tabs.\n");
    let first = run(
        SessionConfig::new(a.path()),
        &["which function multiplies?"],
    );
    let second = run(
        SessionConfig::new(b.path()),
        &["what does frobnicate return?"],
    );
    // Everything up to the end of the tool schemas is identical, so a prefix cache serves it
    // in every repository after the first.
    assert_eq!(first[0].system, second[0].system);
    assert_eq!(first[0].tools, second[0].tools);
    assert!(!first[0].tools.is_empty());
    for (request, own, other) in [
        (&first[0], "def blend", "frobnicate"),
        (&second[0], "pub fn frobnicate", "blend"),
    ] {
        let system = request.system.joined();
        assert!(!system.contains(own) && !system.contains(other), "{system}");
        assert!(!system.contains("AGENTS.md") && !system.contains("HEARTH.md"));
        assert!(text_of(&request.messages[0]).contains(own));
    }
    let opening = text_of(&first[0].messages[0]);
    assert!(opening.starts_with("# Project instructions (AGENTS.md)\n\nRun pytest.\n\n"));
    assert!(
        opening.ends_with("\n\nwhich function multiplies?"),
        "{opening}"
    );
}

#[test]
fn the_first_message_holds_the_definition_the_task_is_about() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "proto/header.py",
        &format!(
            "{}def parse_header(line):\n    name, value = line.split(':', 1)\n    return name.strip(), value\n\n{}",
            filler("pad", 30),
            filler("more", 30)
        ),
    );
    write(dir.path(), "proto/body.py", &filler("body", 60));
    write(dir.path(), "util/colors.py", &filler("color", 60));
    let mut config = SessionConfig::new(dir.path());
    config.retrieval_tokens = 400;
    let requests = run(
        config,
        &["which function parses the header?", "and the body?"],
    );
    let first = &requests[0].messages[0];
    let text = text_of(first);
    assert!(text.contains("# Repository map"), "{text}");
    let code = text.split("# Code that may be relevant").nth(1).unwrap();
    assert!(
        code.contains("<file path=\"proto/header.py\" lines=\"91-93\">\ndef parse_header(line):"),
        "{code}"
    );
    assert!(code.len() <= 400 * 4 + 200, "{} bytes", code.len());
    // Only the first message carries the context; the second task is sent as typed.
    assert_eq!(requests[1].messages[0], *first);
    assert_eq!(requests[1].messages[2], Message::user("and the body?"));
}

#[test]
fn a_small_repository_goes_in_whole_without_a_map() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "calc.py",
        "def blend(a, b):\n    return a * b\n",
    );
    let requests = run(SessionConfig::new(dir.path()), &["what is here?"]);
    let text = text_of(&requests[0].messages[0]);
    assert_eq!(
        text,
        "# The repository's files (all of them)\n\n<file path=\"calc.py\">\n\
         def blend(a, b):\n    return a * b\n</file>\n\nwhat is here?"
    );
}

#[test]
fn a_small_context_window_gets_a_smaller_retrieval_budget() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "big.py", &filler("parse", 200));
    let mut config = SessionConfig::new(dir.path());
    config.repo_map_chars = 0;
    config.context_tokens = Some(800);
    config.request.budget = hearth_agent::RequestBudget::new(64);
    let requests = run(config, &["parse"]);
    let text = text_of(&requests[0].messages[0]);
    // An eighth of 800 tokens, at four bytes a token, and the heading.
    assert!(text.len() <= 100 * 4 + 100, "{} bytes: {text}", text.len());
    assert!(text.contains("def parse_"), "{text}");
}

#[test]
fn a_resumed_session_sends_the_same_first_message() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    write(dir.path(), "AGENTS.md", "Be brief.\n");
    write(
        dir.path(),
        "calc.py",
        "def blend(a, b):\n    return a * b\n",
    );
    let mut config = SessionConfig::new(dir.path());
    config.sessions_dir = Some(sessions.path().to_path_buf());
    config.answer_from_context = false;
    let backend = Arc::new(ScriptedBackend::new(vec![ScriptedReply::Text("a".into())]));
    let session = Session::start(config.clone(), Box::new(Arc::clone(&backend))).unwrap();
    let file = session.file().unwrap().to_path_buf();
    answer(session, &["what multiplies?"]);
    // The repository changes in between: what was sent stays what it was.
    write(dir.path(), "AGENTS.md", "Be verbose.\n");

    let again = Arc::new(ScriptedBackend::new(vec![ScriptedReply::Text("b".into())]));
    let resumed = Session::resume(config, Box::new(Arc::clone(&again)), &file).unwrap();
    answer(resumed, &["and adds?"]);
    let (before, after) = (&backend.requests()[0], &again.requests()[0]);
    assert_eq!(before.system, after.system);
    assert_eq!(before.tools, after.tools);
    assert_eq!(before.messages[..], after.messages[..1]);
    assert!(text_of(&after.messages[0]).contains("Be brief."));
    assert_eq!(after.messages[2], Message::user("and adds?"));
}

/// A session saved before the context moved to the first message had it in its system
/// prompt: resumed, it sends that same system prompt, and adds no context to its messages.
#[test]
fn a_session_saved_with_the_context_in_the_system_prompt_resumes_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    write(dir.path(), "AGENTS.md", "Be brief.\n");
    let root = dir.path().canonicalize().unwrap();
    let old_system = SystemPrompt(vec![
        SystemPrompt::text("You are hearth.").0.remove(0),
        SystemPrompt::text("# Project instructions (AGENTS.md)\n\nBe brief.")
            .0
            .remove(0),
    ]);
    let lines = [
        Record::Session(SessionHeader {
            version: 1,
            id: "old".into(),
            created_unix: 0,
            root: root.clone(),
            model: "scripted".into(),
            system: old_system.clone(),
        }),
        Record::Message {
            message: Message::user("hi"),
        },
        Record::Message {
            message: Message::assistant("hello"),
        },
    ];
    let file = sessions.path().join("old.jsonl");
    let text: String = lines
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&file, text).unwrap();

    let backend = Arc::new(ScriptedBackend::new(vec![ScriptedReply::Text("x".into())]));
    let mut config = SessionConfig::new(&root);
    config.sessions_dir = Some(sessions.path().to_path_buf());
    let session = Session::resume(config, Box::new(Arc::clone(&backend)), &file).unwrap();
    answer(session, &["more"]);
    let request = &backend.requests()[0];
    assert_eq!(request.system, old_system);
    assert_eq!(
        request.messages[..],
        [
            Message::user("hi"),
            Message::assistant("hello"),
            Message::user("more")
        ]
    );
}
