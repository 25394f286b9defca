//! Snapshots of the main screens, drawn by ratatui's test backend: empty, loading,
//! streaming with thinking, a tool call, an approval with a diff, and the help.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hearth_agent::protocol::{Event, TextDelta, ToolCall, ToolOutput, TurnStarted, UsageReport};
use hearth_agent::Mode;
use hearth_engine::api::Usage;
use hearth_tui::{draw, App, Loaded, Settings};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;
use serde_json::json;

const DIFF: &str = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n";

fn app() -> App {
    let mut app = App::new(Settings {
        model: "default".into(),
        mode: Mode::Ask,
        thinking_budget: Some(512),
        color: true,
        files: vec!["calc.py".into(), "src/main.rs".into()],
    });
    app.set_loaded(Loaded {
        session_id: "20261128T160000-1".into(),
        model: "qwen2.5-coder-1.5b-instruct-q4_k_m".into(),
        context_window: Some(16_384),
    });
    app
}

fn screen(app: &App) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| draw(frame, app)).unwrap();
    terminal
}

fn delta(text: &str) -> TextDelta {
    TextDelta { text: text.into() }
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
}

fn edit_call() -> ToolCall {
    ToolCall {
        call_id: "c1".into(),
        tool: "edit_file".into(),
        input: json!({"path": "calc.py", "old": "a - b", "new": "a + b"}),
        diff: Some(DIFF.into()),
    }
}

#[test]
fn empty() {
    insta::assert_snapshot!(screen(&app()).backend());
}

#[test]
fn loading() {
    let app = App::new(Settings {
        model: "default".into(),
        mode: Mode::Ask,
        thinking_budget: None,
        color: true,
        files: Vec::new(),
    });
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn streaming_with_thinking() {
    let mut app = app();
    type_text(&mut app, "where is add defined?");
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let t0 = Instant::now();
    app.on_event_at(Event::TurnStarted(TurnStarted { turn: 1 }), t0);
    app.on_event_at(Event::ThinkingDelta(delta("The user asks where ")), t0);
    app.on_event_at(Event::ThinkingDelta(delta("`add` is; calc.py has it.")), t0);
    app.on_event_at(
        Event::TextDelta(delta("## Answer\n`add` is in **calc.py**:\n```py")),
        t0,
    );
    app.on_event_at(
        Event::TextDelta(delta("thon\ndef add(a, b):\n    return a - b  # bug\n")),
        t0,
    );
    let usage = Usage {
        input_tokens: 100,
        cache_read_input_tokens: 900,
        cache_creation_input_tokens: 0,
        output_tokens: 40,
        thinking_tokens: 12,
        ..Usage::default()
    };
    app.on_event_at(
        Event::Usage(UsageReport {
            request: usage,
            turn: usage,
            session: usage,
        }),
        t0 + Duration::from_secs(2),
    );
    let terminal = screen(&app);
    insta::assert_snapshot!(terminal.backend());
    // Status: 1000 prompt + 40 output of 16384; 90% of the prompt from cache; 20 tok/s.
    let status = app_status(&terminal);
    assert!(status.contains("ctx 1040/16k (6%)"), "{status}");
    assert!(status.contains("cache 90%"), "{status}");
    assert!(status.contains("20.0 tok/s"), "{status}");

    // The running turn counts its seconds (a long prefill is visibly alive).
    app.tick(t0 + Duration::from_secs(5));
    let text = format!("{}", screen(&app).backend());
    assert!(text.contains("working 5s · Esc to stop"), "{text}");

    // Ctrl-T unfolds the thinking.
    app.on_key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL));
    insta::assert_snapshot!("streaming_with_thinking_unfolded", screen(&app).backend());
}

fn app_status(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let y = buffer.area.height - 1;
    (0..buffer.area.width)
        .map(|x| buffer[(x, y)].symbol().to_string())
        .collect()
}

#[test]
fn tool_call() {
    let mut app = app();
    app.on_event(Event::TurnStarted(TurnStarted { turn: 1 }));
    app.on_event(Event::ToolCallProposed(ToolCall {
        call_id: "c0".into(),
        tool: "grep".into(),
        input: json!({"pattern": "def add"}),
        diff: None,
    }));
    app.on_event(Event::ToolOutput(ToolOutput {
        call_id: "c0".into(),
        output: "calc.py:1: def add(a, b):\ntests/test_calc.py:3: from calc import add".into(),
        is_error: false,
        truncated: false,
    }));
    app.on_event(Event::ToolCallProposed(ToolCall {
        call_id: "c2".into(),
        tool: "shell".into(),
        input: json!({"command": "pytest -q"}),
        diff: None,
    }));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn approval_with_a_diff() {
    let mut app = app();
    app.on_event(Event::TurnStarted(TurnStarted { turn: 1 }));
    app.on_event(Event::ToolCallProposed(edit_call()));
    app.on_event(Event::ApprovalRequested(edit_call()));
    let terminal = screen(&app);
    insta::assert_snapshot!(terminal.backend());
    // Removed lines red, added lines green (ANSI colours).
    let buffer = terminal.backend().buffer();
    let colour_of = |needle: &str| {
        (0..buffer.area.height).find_map(|y| {
            let row: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect();
            let x = row.find(needle)? as u16;
            Some(buffer[(x, y)].fg)
        })
    };
    assert_eq!(colour_of("-    return a - b"), Some(Color::Red));
    assert_eq!(colour_of("+    return a + b"), Some(Color::Green));
}

#[test]
fn a_shell_approval_says_a_approves_exactly_that_command() {
    let mut app = app();
    app.on_event(Event::TurnStarted(TurnStarted { turn: 1 }));
    app.on_event(Event::ApprovalRequested(ToolCall {
        call_id: "c1".into(),
        tool: "shell".into(),
        input: json!({"command": "cargo test"}),
        diff: None,
    }));
    let terminal = screen(&app);
    let buffer = terminal.backend().buffer();
    let text: String = (0..buffer.area.height)
        .flat_map(|y| (0..buffer.area.width).map(move |x| (x, y)))
        .map(|(x, y)| buffer[(x, y)].symbol().to_string())
        .collect();
    assert!(
        text.contains("a approve `cargo test` (exactly) for the session"),
        "{text}"
    );
}

#[test]
fn no_color_draws_no_colours() {
    let mut app = App::new(Settings {
        model: "default".into(),
        mode: Mode::Ask,
        thinking_budget: None,
        color: false,
        files: Vec::new(),
    });
    app.on_event(Event::ToolCallProposed(edit_call()));
    app.on_event(Event::ApprovalRequested(edit_call()));
    let terminal = screen(&app);
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert_eq!(cell.fg, Color::Reset);
        assert!(matches!(cell.bg, Color::Reset));
    }
}

#[test]
fn help() {
    let mut app = app();
    type_text(&mut app, "/help");
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|frame| draw(frame, &app)).unwrap();
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn slash_completion_popup() {
    let mut app = app();
    type_text(&mut app, "/u");
    insta::assert_snapshot!(screen(&app).backend());
}
