//! The TUI's state and how it changes: agent events in, keys in, ops out. Rendering reads
//! this state and changes nothing (`render.rs`), so both halves are tested on their own.

mod slash;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use hearth_agent::protocol::{Event, Op, SessionApproval, ToolCall, TurnStop, UserTurn};
use hearth_agent::Mode;
use hearth_engine::api::Usage;

use crate::commands::{complete, COMMANDS};
use crate::input::Editor;
use crate::render::RenderCache;
use crate::transcript::{Entry, Folding};

/// The shortest stream a tokens-per-second figure is computed from.
const MIN_RATE_SECONDS: f32 = 0.05;

/// How long an approval prompt ignores keys after it appears: a key pressed this soon was
/// meant for what was on the screen before (typed ahead while the turn ran), not an answer
/// to a question the user has not read yet.
pub const APPROVAL_ARMING: Duration = Duration::from_millis(250);

/// What the TUI knows before the session starts.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The model's name, as the user chose it.
    pub model: String,
    /// The permission mode the session starts in.
    pub mode: Mode,
    /// The thinking budget in tokens; `None`: off.
    pub thinking_budget: Option<u32>,
    /// Whether to use colours (`false` under `NO_COLOR`).
    pub color: bool,
    /// The repository's files, relative to its root, for `@path` completion.
    pub files: Vec<String>,
}

/// What the session told the TUI once it was ready.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The session's id.
    pub session_id: String,
    /// The model's name as the backend reports it.
    pub model: String,
    /// The context window in tokens, when known.
    pub context_window: Option<u32>,
}

/// A tool call waiting for the user's answer.
#[derive(Clone, Debug)]
pub struct PendingApproval {
    /// The call.
    pub call: ToolCall,
    /// While `n` was pressed: the reason being typed.
    pub reason: Option<String>,
    /// When the prompt appeared; keys before [`APPROVAL_ARMING`] has passed are dropped.
    pub shown_at: Instant,
}

impl PendingApproval {
    /// What `a` approves for the rest of the session, in words: a command exactly, or
    /// every call of a tool that edits files (the session keeps it as a permission rule).
    pub fn session_scope(&self) -> String {
        match self.call.input.get("command").and_then(|c| c.as_str()) {
            Some(command) if self.call.tool == "shell" => format!("`{}` (exactly)", command.trim()),
            _ => format!("every `{}` call", self.call.tool),
        }
    }
}

/// The numbers the status line shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Prompt plus output tokens of the last model request.
    pub context_used: Option<u32>,
    /// The share of the last prompt served from the prefix cache.
    pub cache_share: Option<f32>,
    /// Output tokens per second of the last model request, from its first streamed token.
    pub tokens_per_second: Option<f32>,
    /// The current turn's usage so far (for /status).
    turn_usage: Usage,
    /// When the current request streamed its first event.
    stream_start: Option<Instant>,
}

/// The whole state of the TUI.
#[derive(Debug)]
pub struct App {
    /// Startup settings.
    pub settings: Settings,
    /// Whole seconds the running turn has taken, as of the last [`App::tick`].
    pub busy_seconds: Option<u64>,
    /// When the running turn started.
    busy_since: Option<Instant>,
    /// Set once the session is ready; until then a progress line shows.
    pub loaded: Option<Loaded>,
    /// What the progress line says while loading.
    pub loading_message: String,
    /// The permission mode in force.
    pub mode: Mode,
    /// The transcript.
    pub entries: Vec<Entry>,
    /// What is folded.
    pub folding: Folding,
    /// The prompt editor.
    pub input: Editor,
    /// Completions of the word at the cursor, and the highlighted one.
    pub completions: Vec<String>,
    /// The highlighted completion.
    pub selected: usize,
    /// A turn is running.
    pub busy: bool,
    /// A call waiting for approval.
    pub approval: Option<PendingApproval>,
    /// Status line numbers.
    pub stats: Stats,
    /// Lines scrolled up from the bottom of the transcript.
    pub scroll: usize,
    /// Ctrl-C was pressed once on an empty prompt.
    quit_armed: bool,
    /// Ops to send to the session.
    outbox: Vec<Op>,
    /// The user asked to leave.
    quit: bool,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// Rendered transcript lines kept between frames (rendering's own, hence a cell).
    pub(crate) render_cache: RefCell<RenderCache>,
}

impl App {
    /// A TUI whose session is still loading.
    pub fn new(settings: Settings) -> App {
        App {
            mode: settings.mode,
            loading_message: format!("loading {}", settings.model),
            settings,
            loaded: None,
            busy_seconds: None,
            busy_since: None,
            entries: Vec::new(),
            folding: Folding::default(),
            input: Editor::default(),
            completions: Vec::new(),
            selected: 0,
            busy: false,
            approval: None,
            stats: Stats::default(),
            scroll: 0,
            quit_armed: false,
            outbox: Vec::new(),
            quit: false,
            dirty: true,
            render_cache: RefCell::new(RenderCache::default()),
        }
    }

    /// The session is ready.
    pub fn set_loaded(&mut self, loaded: Loaded) {
        self.loaded = Some(loaded);
        self.dirty = true;
    }

    /// The session could not start.
    pub fn set_load_failed(&mut self, message: &str) {
        self.entries.push(Entry::Error(message.to_string()));
        self.loading_message = "the session could not start; Ctrl-D to quit".into();
        self.dirty = true;
    }

    /// Takes the ops to send.
    pub fn take_ops(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.outbox)
    }

    /// Whether the user asked to leave.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    fn note(&mut self, text: impl Into<String>) {
        self.entries.push(Entry::Notice(text.into()));
    }

    /// Applies an event from the session, as of now.
    pub fn on_event(&mut self, event: Event) {
        self.on_event_at(event, Instant::now());
    }

    /// Applies an event from the session that arrived at `now`.
    pub fn on_event_at(&mut self, event: Event, now: Instant) {
        self.dirty = true;
        match event {
            Event::TurnStarted(_) => {
                self.busy = true;
                self.busy_since = Some(now);
                self.stats.turn_usage = Usage::default();
                self.stats.stream_start = None;
            }
            Event::TextDelta(delta) => {
                self.stats.stream_start.get_or_insert(now);
                match self.entries.last_mut() {
                    Some(Entry::Assistant(text)) => text.push_str(&delta.text),
                    _ => self.entries.push(Entry::Assistant(delta.text)),
                }
            }
            Event::ThinkingDelta(delta) => {
                self.stats.stream_start.get_or_insert(now);
                match self.entries.last_mut() {
                    Some(Entry::Thinking(text)) => text.push_str(&delta.text),
                    _ => self.entries.push(Entry::Thinking(delta.text)),
                }
            }
            Event::ToolCallProposed(call) => {
                // No rate clock here: a call is proposed once its request has ended.
                self.entries.push(Entry::Tool { call, output: None });
            }
            Event::ApprovalRequested(call) => {
                // What was approved for the session the agent's permission rules let
                // through without asking; a call that reaches here needs an answer.
                self.approval = Some(PendingApproval {
                    call,
                    reason: None,
                    shown_at: now,
                });
            }
            Event::ToolOutput(out) => {
                let found = self.entries.iter_mut().rev().find_map(|e| match e {
                    Entry::Tool { call, output } if call.call_id == out.call_id => Some(output),
                    _ => None,
                });
                if let Some(slot) = found {
                    *slot = Some(out);
                }
            }
            Event::Usage(report) => self.on_usage(report.request, report.turn, now),
            Event::Compacted(c) => self.note(format!(
                "context compacted: {} messages summarized ({} → {} tokens)",
                c.replaced_messages, c.tokens_before, c.tokens_after
            )),
            Event::Undone(u) => self.note(format!("undid the change to {}", u.path)),
            Event::Changes(c) => {
                if c.changes.is_empty() {
                    self.note("no files changed in this session");
                }
                for change in c.changes {
                    let state = if change.undone { " (undone)" } else { "" };
                    self.entries.push(Entry::Diff {
                        title: format!("{}{state}", change.path),
                        diff: change.diff,
                    });
                }
            }
            Event::Cleared => self.note("conversation cleared"),
            Event::Resumed(r) => {
                self.entries = crate::transcript::from_history(&r.history);
                self.note(format!("resumed session {}", r.session_id));
                if let Some(loaded) = &mut self.loaded {
                    loaded.session_id = r.session_id;
                }
            }
            Event::ModelChanged {
                model,
                context_window,
            } => {
                self.note(format!("model: {model}"));
                if let Some(loaded) = &mut self.loaded {
                    (loaded.model, loaded.context_window) = (model, context_window);
                }
            }
            Event::ModeChanged { mode } => {
                self.mode = mode;
                self.note(format!("mode: {mode}"));
            }
            Event::TurnFinished(f) => {
                self.busy = false;
                self.busy_since = None;
                self.busy_seconds = None;
                self.approval = None;
                match f.stop {
                    TurnStop::Done | TurnStop::Failed => {}
                    TurnStop::Interrupted => self.note("interrupted"),
                    TurnStop::MaxTokens => self.note("the answer reached its token limit"),
                    TurnStop::MaxTurns => self.note("the turn reached its request limit"),
                }
            }
            Event::Error(e) => self.entries.push(Entry::Error(e.message)),
        }
    }

    fn on_usage(&mut self, request: Usage, turn: Usage, now: Instant) {
        self.stats.turn_usage = turn;
        let prompt = request.prompt_tokens();
        self.stats.context_used = Some(prompt + request.output_tokens);
        if prompt > 0 {
            self.stats.cache_share = Some(request.cache_read_input_tokens as f32 / prompt as f32);
        }
        if let Some(start) = self.stats.stream_start.take() {
            let seconds = now.duration_since(start).as_secs_f32();
            // A stream shorter than this (a scripted backend, a one-token reply) gives no
            // meaningful rate.
            if seconds >= MIN_RATE_SECONDS && request.output_tokens > 1 {
                self.stats.tokens_per_second = Some(request.output_tokens as f32 / seconds);
            }
        }
    }

    /// Advances the clock of the running turn (the working line counts seconds, so a long
    /// prefill is visibly alive).
    pub fn tick(&mut self, now: Instant) {
        let seconds = self.busy_since.map(|t| now.duration_since(t).as_secs());
        if seconds != self.busy_seconds {
            self.busy_seconds = seconds;
            self.dirty = true;
        }
    }

    /// Inserts pasted text at the cursor.
    pub fn on_paste(&mut self, text: &str) {
        self.dirty = true;
        if let Some(PendingApproval {
            reason: Some(reason),
            ..
        }) = &mut self.approval
        {
            reason.push_str(text.lines().next().unwrap_or(""));
            return;
        }
        self.input.insert(text);
        self.update_completions();
    }

    /// Scrolls the transcript by `lines` (positive: up, into older lines).
    pub fn scroll_by(&mut self, lines: isize) {
        self.scroll = self.scroll.saturating_add_signed(lines);
        self.dirty = true;
    }

    /// Handles a key, pressed now.
    pub fn on_key(&mut self, key: KeyEvent) {
        self.on_key_at(key, Instant::now());
    }

    /// Handles a key pressed at `now`.
    pub fn on_key_at(&mut self, key: KeyEvent, now: Instant) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        self.dirty = true;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if !(ctrl && key.code == KeyCode::Char('c')) {
            self.quit_armed = false;
        }
        if let Some(pending) = &self.approval {
            // Stopping is always safe, so Esc and Ctrl-C act at once; anything else this
            // soon was typed for the prompt box, and would answer unread.
            let stops = key.code == KeyCode::Esc || (ctrl && key.code == KeyCode::Char('c'));
            if stops || now.saturating_duration_since(pending.shown_at) >= APPROVAL_ARMING {
                self.on_approval_key(key);
            }
            return;
        }
        match (key.code, ctrl) {
            (KeyCode::Char('c'), true) => self.ctrl_c(),
            (KeyCode::Char('d'), true) if self.input.is_empty() => self.quit = true,
            (KeyCode::Char('d'), true) => self.input.delete(),
            (KeyCode::Esc, _) if self.busy => self.outbox.push(Op::Interrupt),
            (KeyCode::Esc, _) => self.completions.clear(),
            (KeyCode::Char('t'), true) => self.folding.thinking = !self.folding.thinking,
            (KeyCode::Char('o'), true) => self.folding.tools = !self.folding.tools,
            (KeyCode::Char('a'), true) => self.input.home(),
            (KeyCode::Char('e'), true) => self.input.end(),
            (KeyCode::Char('u'), true) => self.input.delete_to_line_start(),
            (KeyCode::Char('k'), true) => self.input.delete_to_line_end(),
            (KeyCode::Char('w'), true) => self.input.delete_word(),
            (KeyCode::Char('j'), true) => self.input.insert("\n"),
            (KeyCode::Enter, _)
                if key
                    .modifiers
                    .intersects(KeyModifiers::ALT | KeyModifiers::SHIFT) =>
            {
                self.input.insert("\n")
            }
            (KeyCode::Enter, _) => {
                if !self.accept_completion() {
                    self.submit();
                }
            }
            (KeyCode::Tab, _) => {
                self.accept_completion();
            }
            (KeyCode::Up, _) if !self.completions.is_empty() => {
                self.selected = self.selected.saturating_sub(1);
                return;
            }
            (KeyCode::Down, _) if !self.completions.is_empty() => {
                self.selected = (self.selected + 1).min(self.completions.len() - 1);
                return;
            }
            (KeyCode::Up, _) if self.input.on_first_line() => {
                self.input.history_prev();
            }
            (KeyCode::Down, _) if self.input.on_last_line() => {
                self.input.history_next();
            }
            (KeyCode::Up, _) => self.input.up(),
            (KeyCode::Down, _) => self.input.down(),
            (KeyCode::Left, _) => self.input.left(),
            (KeyCode::Right, _) => self.input.right(),
            (KeyCode::Home, _) => self.input.home(),
            (KeyCode::End, _) => self.input.end(),
            (KeyCode::Backspace, _) => self.input.backspace(),
            (KeyCode::Delete, _) => self.input.delete(),
            (KeyCode::PageUp, _) => self.scroll_by(10),
            (KeyCode::PageDown, _) => self.scroll_by(-10),
            (KeyCode::Char(c), false) => self.input.insert(c.encode_utf8(&mut [0; 4])),
            _ => return,
        }
        self.update_completions();
    }

    fn ctrl_c(&mut self) {
        if self.busy {
            self.outbox.push(Op::Interrupt);
        } else if !self.input.is_empty() {
            self.input.clear();
        } else if self.quit_armed {
            self.quit = true;
        } else {
            self.quit_armed = true;
            self.note("press Ctrl-C again (or Ctrl-D) to quit");
        }
    }

    fn on_approval_key(&mut self, key: KeyEvent) {
        let Some(pending) = &mut self.approval else {
            return;
        };
        let call_id = pending.call.call_id.clone();
        if let Some(reason) = &mut pending.reason {
            match key.code {
                KeyCode::Enter => {
                    let reason = if reason.trim().is_empty() {
                        "the user denied this call".to_string()
                    } else {
                        reason.trim().to_string()
                    };
                    self.outbox.push(Op::Deny { call_id, reason });
                    self.approval = None;
                }
                KeyCode::Esc => pending.reason = None,
                KeyCode::Backspace => {
                    reason.pop();
                }
                KeyCode::Char(c) => reason.push(c),
                _ => {}
            }
            return;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('y') | KeyCode::Enter => {
                self.outbox.push(Op::Approve { call_id });
                self.approval = None;
            }
            KeyCode::Char('a') => {
                let scope = pending.session_scope();
                self.note(format!("approved {scope} for the rest of the session"));
                self.outbox.push(Op::ApproveForSession {
                    call_id,
                    scope: SessionApproval::ThisCall,
                });
                self.approval = None;
            }
            KeyCode::Char('n') => pending.reason = Some(String::new()),
            KeyCode::Esc => {
                self.outbox.push(Op::Interrupt);
                self.approval = None;
            }
            KeyCode::Char('c') if ctrl => {
                self.outbox.push(Op::Interrupt);
                self.approval = None;
            }
            _ => {}
        }
    }

    /// Replaces the word at the cursor by the highlighted completion; `false` when none.
    fn accept_completion(&mut self) -> bool {
        let Some(choice) = self.completions.get(self.selected).cloned() else {
            return false;
        };
        let command = choice.starts_with('/');
        self.input.replace_word(&choice);
        if !command
            || COMMANDS
                .iter()
                .any(|(n, h)| *n == choice && h.contains(':'))
        {
            self.input.insert(" ");
        }
        self.completions.clear();
        true
    }

    /// Recomputes the completions of the word at the cursor.
    pub fn update_completions(&mut self) {
        let (start, word) = self.input.word_at_cursor();
        let first = self.input.text()[..start].trim().is_empty();
        let found = complete(word, first, &self.settings.files);
        if found != self.completions {
            self.completions = found;
            self.selected = 0;
        }
    }

    fn submit(&mut self) {
        let text = self.input.take();
        let text = text.trim().to_string();
        if text.is_empty() {
            return;
        }
        self.scroll = 0;
        if text.starts_with('/') {
            self.run_command(&text);
            return;
        }
        if self.busy {
            self.note("a turn is running; Esc stops it");
            return;
        }
        self.entries.push(Entry::User(text.clone()));
        self.busy = true;
        self.outbox.push(Op::UserTurn(UserTurn { text }));
    }
}
