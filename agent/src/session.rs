//! A session: its prompt prefix, history, usage, checkpoints and file, and the ops that
//! change them. The turn loop itself is in `turn.rs`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hearth_engine::api::{Message, Usage};
use hearth_tools::{repo_map, retrieve, value_lines, Retrieved, ToolContext, ToolRegistry};

use crate::backend::Backend;
use crate::builder::RequestBudget;
use crate::checkpoint::{Checkpoint, Checkpoints};
use crate::compaction::{plan_cut, rebuild, summary_request};
use crate::error::AgentError;
use crate::history::{estimate_tokens, starts_user_turn, text_of};
use crate::prompt::{
    first_user_message, repository_context, system_prompt, tool_definitions, PromptPrefix,
    INSTRUCTION_FILES,
};
use crate::protocol::{
    Changes, Compacted, ErrorReport, Event, FileChangeReport, Op, Resumed, SessionApproval,
    ToolCall, Undone,
};
use crate::session_config::open_repository;
pub use crate::session_config::SessionConfig;
use crate::store::{
    new_session_id, Record, Replay, SessionHeader, SessionStore, SESSION_FORMAT_VERSION,
};
use crate::task_kind::asks_for_a_change;

/// The most tokens of a compaction summary: enough for goals, decisions and open work.
const SUMMARY_TOKENS: u32 = 512;

/// The retrieved code takes at most this share of the context window (1/n).
const RETRIEVAL_WINDOW_SHARE: u32 = 8;

/// The window assumed for `/compact` when neither the configuration nor the backend knows
/// it: a small one, so a manual compaction keeps little.
const DEFAULT_WINDOW: u32 = 8_192;

/// The most lines holding a change's numbers that the first message shows.
const MAX_VALUE_LINES: usize = 6;

/// How a front end answers a request for approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approval {
    /// Run the call.
    Approved,
    /// Run the call, and from now on run the calls the scope covers without asking.
    ApprovedForSession(SessionApproval),
    /// Refuse it; the reason goes to the model.
    Denied(String),
}

/// Where a turn's events go, and how it asks for approval.
pub trait TurnIo {
    /// Sends an event to the front end.
    fn emit(&mut self, event: Event);
    /// Asks whether `call` may run (after [`Event::ApprovalRequested`] was emitted).
    fn approve(&mut self, call: &ToolCall) -> Approval;
    /// Whether the user asked to stop the turn.
    fn interrupted(&self) -> bool;
    /// A line for the front end's log, not for the conversation (why the tests did not run).
    fn log(&mut self, _line: &str) {}
}

/// One conversation with the agent in one repository.
pub struct Session {
    pub(crate) id: String,
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) tools: ToolRegistry,
    pub(crate) ctx: ToolContext,
    pub(crate) prefix: PromptPrefix,
    pub(crate) history: Vec<Message>,
    pub(crate) usage: Usage,
    pub(crate) turns: u32,
    pub(crate) checkpoints: Checkpoints,
    pub(crate) store: Option<SessionStore>,
    pub(crate) config: SessionConfig,
    /// The prompt size the backend last reported, and the history length it covered: the
    /// anchor of the next estimate.
    pub(crate) measured: Option<(usize, u32)>,
    /// Opens another model's backend for [`Op::SetModel`]; `None`: the model is fixed.
    pub(crate) factory: Option<Box<dyn crate::backend::BackendFactory>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("root", &self.ctx.root)
            .field("messages", &self.history.len())
            .finish()
    }
}

impl Session {
    /// Starts a new session and assembles the prompt prefix, once. The repository is mapped
    /// when the first task comes.
    pub fn start(config: SessionConfig, backend: Box<dyn Backend>) -> Result<Session, AgentError> {
        let ctx = open_repository(&config)?;
        let tools = ToolRegistry::standard();
        let prefix = PromptPrefix {
            system: system_prompt(&config.system_text),
            tools: tool_definitions(&tools),
        };
        let now = SystemTime::now();
        let id = new_session_id(now);
        let store = match &config.sessions_dir {
            Some(dir) => Some(SessionStore::create(
                dir,
                &SessionHeader {
                    version: SESSION_FORMAT_VERSION,
                    id: id.clone(),
                    created_unix: now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
                    root: ctx.root.clone(),
                    model: backend.model_id(),
                    system: prefix.system.clone(),
                },
            )?),
            None => None,
        };
        Ok(Session {
            id,
            backend,
            tools,
            ctx,
            prefix,
            history: Vec::new(),
            usage: Usage::default(),
            turns: 0,
            checkpoints: Checkpoints::default(),
            store,
            config,
            measured: None,
            factory: None,
        })
    }

    /// Resumes the session saved in `path`, appending to that file from now on. The prompt
    /// prefix is the one saved, so the resumed session's requests extend the old ones.
    pub fn resume(
        config: SessionConfig,
        backend: Box<dyn Backend>,
        path: &Path,
    ) -> Result<Session, AgentError> {
        let ctx = open_repository(&config)?;
        let replay = Replay::read(path)?;
        // The front end shows log warnings (exec on stderr, the TUI in its log file).
        replay.warnings.iter().for_each(|w| log::warn!("{w}"));
        if replay.header.root != ctx.root {
            return Err(AgentError::OtherRepository {
                id: replay.header.id,
                session_root: replay.header.root,
                root: ctx.root,
            });
        }
        let tools = ToolRegistry::standard();
        let prefix = PromptPrefix {
            system: replay.header.system.clone(),
            tools: tool_definitions(&tools),
        };
        Ok(Session {
            id: replay.header.id,
            backend,
            tools,
            ctx,
            prefix,
            history: replay.history,
            usage: replay.usage,
            turns: replay.turns,
            checkpoints: replay.checkpoints,
            store: Some(SessionStore::append_to(path)?),
            config,
            measured: None,
            factory: None,
        })
    }

    /// The session's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session file, when the session is saved.
    pub fn file(&self) -> Option<&Path> {
        self.store.as_ref().map(SessionStore::path)
    }

    /// The conversation so far.
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    /// The stable prefix of every request.
    pub fn prefix(&self) -> &PromptPrefix {
        &self.prefix
    }

    /// Token counts summed over the session.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// How many user turns the session has had.
    pub fn turns(&self) -> u32 {
        self.turns
    }

    /// The thinking budget of the next requests; `None` when thinking is off.
    pub fn thinking_budget(&self) -> Option<u32> {
        self.config.request.budget.thinking_tokens()
    }

    /// The token budget of the next requests.
    pub fn budget(&self) -> RequestBudget {
        self.config.request.budget
    }

    /// Lets [`Op::SetModel`] open other models through `factory`.
    pub fn set_backend_factory(&mut self, factory: Box<dyn crate::backend::BackendFactory>) {
        self.factory = Some(factory);
    }

    /// Serves the rest of the session with the model `name`; the history carries over,
    /// and the next request computes its whole prompt on the new model.
    fn set_model(&mut self, name: &str, io: &mut dyn TurnIo) {
        let opened = match &self.factory {
            Some(factory) => factory.open(name),
            None => Err("this session's model cannot be changed".to_string()),
        };
        match opened {
            Ok(backend) => {
                self.backend = backend;
                // The old model's prompt size says nothing of the new tokenizer's.
                self.measured = None;
                io.emit(Event::ModelChanged {
                    model: self.backend.model_id(),
                    context_window: self.context_window(),
                });
            }
            Err(message) => io.emit(Event::Error(ErrorReport {
                message: format!("model {name}: {message}"),
            })),
        }
    }

    /// Sets the thinking budget of the next requests (`None` or 0: off); their
    /// `max_tokens` grows by it, so the answer keeps its share ([`RequestBudget`]). The prompt
    /// prefix does not change, so the prefix cache still serves the history.
    pub fn set_thinking(&mut self, budget_tokens: Option<u32>) {
        self.config.request.budget.set_thinking(budget_tokens);
    }

    /// The file changes tools made, oldest first.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        self.checkpoints.list()
    }

    /// The text of the last assistant message.
    pub fn last_answer(&self) -> String {
        self.history
            .iter()
            .rev()
            .find(|m| m.role == hearth_engine::api::Role::Assistant)
            .map(text_of)
            .unwrap_or_default()
    }

    /// Handles one op; returns `false` once the session should end.
    pub fn handle(&mut self, op: Op, io: &mut dyn TurnIo) -> Result<bool, AgentError> {
        match op {
            Op::UserTurn(turn) => {
                let text = crate::mentions::attach_mentions(&self.ctx.root, &turn.text);
                self.run_turn(&text, io)?;
            }
            Op::Compact => self.compact(io)?,
            Op::Undo => self.undo(io)?,
            Op::SetThinking { budget_tokens } => self.set_thinking(budget_tokens),
            Op::Clear => {
                self.history.clear();
                self.measured = None;
                self.record(Record::Compaction {
                    history: Vec::new(),
                })?;
                io.emit(Event::Cleared);
            }
            Op::Resume { id } => self.resume_saved(id.as_deref(), io)?,
            Op::SetMode { mode } => {
                self.config.permissions.mode = mode;
                io.emit(Event::ModeChanged { mode });
            }
            Op::ListChanges => io.emit(Event::Changes(Changes {
                changes: self
                    .checkpoints
                    .list()
                    .iter()
                    .map(|c| FileChangeReport {
                        call_id: c.call_id.clone(),
                        path: c.path.clone(),
                        diff: c.diff.clone(),
                        undone: c.undone,
                    })
                    .collect(),
            })),
            Op::SetModel { model } => self.set_model(&model, io),
            Op::Shutdown => return Ok(false),
            // Outside a turn there is nothing to approve or interrupt.
            Op::Approve { .. } | Op::ApproveForSession { .. } | Op::Deny { .. } | Op::Interrupt => {
            }
        }
        Ok(true)
    }

    pub(crate) fn record(&mut self, record: Record) -> Result<(), AgentError> {
        if let Some(store) = &mut self.store {
            store.append(&record)?;
        }
        Ok(())
    }

    pub(crate) fn append_message(&mut self, message: Message) -> Result<(), AgentError> {
        if starts_user_turn(&message) {
            self.turns += 1;
        }
        self.history.push(message.clone());
        self.record(Record::Message { message })
    }

    /// The message that starts a user turn with `text`. The first one of a conversation is
    /// opened by the repository's context: the instruction files, the repository map (left
    /// out when the retrieved code is the whole repository) and the code retrieved for
    /// `text`. It is computed once and kept in the history, so later requests and a resumed
    /// session send the same bytes.
    pub(crate) fn user_message(&self, text: &str) -> Result<Message, AgentError> {
        // A session saved by an older version has its context in the system prompt.
        let context_in_system = self.prefix.system.0.len() > 1;
        if !self.history.is_empty() || context_in_system {
            return Ok(Message::user(text));
        }
        let root = &self.ctx.root;
        let repository_error = |source| AgentError::Repository {
            root: root.clone(),
            source,
        };
        let budget = self.retrieval_budget();
        let retrieved = if budget == 0 {
            Retrieved::default()
        } else {
            retrieve(root, text, budget, &INSTRUCTION_FILES).map_err(repository_error)?
        };
        let map = if self.config.repo_map_chars == 0 || retrieved.whole_repository {
            String::new()
        } else {
            repo_map(root, self.config.repo_map_chars).map_err(repository_error)?
        };
        // A change that names numbers ("14 days instead of 7") is shown where they are.
        let values = if asks_for_a_change(text) {
            value_lines(root, text, MAX_VALUE_LINES)
        } else {
            Vec::new()
        };
        let context = repository_context(root, &map, &retrieved, &values);
        Ok(first_user_message(context, text))
    }

    /// The retrieval budget in tokens: the configured one, at most an eighth of the window.
    fn retrieval_budget(&self) -> usize {
        let configured = self.config.retrieval_tokens;
        match self.context_window() {
            Some(window) => configured.min((window / RETRIEVAL_WINDOW_SHARE) as usize),
            None => configured,
        }
    }

    /// The estimated size of the next request's prompt.
    pub(crate) fn estimated_prompt_tokens(&self) -> u32 {
        let (measured, estimated) = self.prompt_tokens();
        measured.saturating_add(estimated)
    }

    /// The next request's prompt size in two parts: what the backend measured for an
    /// earlier request, and an estimate of the rest.
    fn prompt_tokens(&self) -> (u32, u32) {
        match self.measured {
            Some((covered, tokens)) if covered <= self.history.len() => {
                (tokens, estimate_tokens(&self.history[covered..]))
            }
            _ => (
                0,
                self.prefix_tokens()
                    .saturating_add(estimate_tokens(&self.history)),
            ),
        }
    }

    /// An estimate of the prompt prefix's size, a token per four bytes as for messages.
    fn prefix_tokens(&self) -> u32 {
        let prefix_chars = self.prefix.system.joined().len()
            + serde_json::to_string(&self.prefix.tools).map_or(0, |s| s.len());
        u32::try_from(prefix_chars / 4).unwrap_or(u32::MAX)
    }

    /// The context window, when known.
    pub(crate) fn context_window(&self) -> Option<u32> {
        self.config
            .context_tokens
            .or_else(|| self.backend.context_tokens())
    }

    /// Compacts when the next prompt might not leave the request's `max_tokens` free in
    /// the context window ([`RequestBudget::needs_compaction`]).
    pub(crate) fn compact_if_needed(&mut self, io: &mut dyn TurnIo) -> Result<(), AgentError> {
        let Some(window) = self.context_window() else {
            return Ok(());
        };
        let (measured, estimated) = self.prompt_tokens();
        if self
            .config
            .request
            .budget
            .needs_compaction(window, measured, estimated)
        {
            self.compact(io)?;
        }
        Ok(())
    }

    /// Replaces older history by a summary the model writes.
    pub fn compact(&mut self, io: &mut dyn TurnIo) -> Result<(), AgentError> {
        let summary_tokens = self
            .config
            .request
            .budget
            .answer_tokens()
            .min(SUMMARY_TOKENS);
        let window = self.context_window().unwrap_or(DEFAULT_WINDOW);
        // The history's share of the prompt room; the kept tail takes at most half of what
        // the summary leaves, so that the next requests have room to grow before the next
        // compaction.
        let history_room = self
            .config
            .request
            .budget
            .prompt_room(window)
            .saturating_sub(self.prefix_tokens())
            .saturating_sub(summary_tokens);
        let Some(cut) = plan_cut(&self.history, history_room / 2) else {
            return Ok(());
        };
        let tokens_before = self.estimated_prompt_tokens();
        let request = summary_request(
            &self.history[..cut],
            summary_tokens,
            self.config.request.temperature,
        );
        let response = self
            .backend
            .stream(&request, &mut |_| std::ops::ControlFlow::Continue(()))?;
        self.usage.add(&response.usage);
        self.record(Record::Usage {
            usage: response.usage,
        })?;
        let summary = text_of(&Message {
            role: hearth_engine::api::Role::Assistant,
            content: response.content,
        });
        // The project's instructions open the first message; the summary would only
        // paraphrase them, so they are kept as they were.
        let kept = self
            .history
            .first()
            .map(crate::prompt::instruction_blocks)
            .unwrap_or_default();
        self.history = rebuild(kept, &summary, &self.history[cut..]);
        self.measured = None;
        self.record(Record::Compaction {
            history: self.history.clone(),
        })?;
        io.emit(Event::Compacted(Compacted {
            replaced_messages: cut,
            tokens_before,
            tokens_after: self.estimated_prompt_tokens(),
            summary,
        }));
        Ok(())
    }

    /// Replaces this session by the saved session `id` (default: the latest other one of
    /// this repository), appending to its file from now on. A session that cannot be
    /// resumed is reported as an error event and the current one goes on.
    fn resume_saved(&mut self, id: Option<&str>, io: &mut dyn TurnIo) -> Result<(), AgentError> {
        let Some(dir) = self.config.sessions_dir.clone() else {
            io.emit(Event::Error(ErrorReport {
                message: "this session is not saved, so there is no saved session to resume".into(),
            }));
            return Ok(());
        };
        let found = match id {
            Some(id) => Replay::find(&dir, id),
            None => Replay::find_last_except(&dir, &self.ctx.root, self.file()),
        };
        let replay = found.and_then(|path| Ok((Replay::read(&path)?, path)));
        let (replay, path) = match replay {
            Ok(found) if found.0.header.root == self.ctx.root => found,
            Ok((replay, _)) => {
                io.emit(Event::Error(ErrorReport {
                    message: format!(
                        "session {} belongs to {}, not to this repository",
                        replay.header.id,
                        replay.header.root.display()
                    ),
                }));
                return Ok(());
            }
            Err(e) => {
                io.emit(Event::Error(ErrorReport {
                    message: e.to_string(),
                }));
                return Ok(());
            }
        };
        // Another process appending to it (its lock) is the user's to sort out, not the end
        // of this session.
        match SessionStore::append_to(&path) {
            Ok(store) => self.store = Some(store),
            Err(e) => {
                io.emit(Event::Error(ErrorReport {
                    message: e.to_string(),
                }));
                return Ok(());
            }
        }
        for warning in replay.warnings {
            io.emit(Event::Error(ErrorReport { message: warning }));
        }
        self.id = replay.header.id;
        self.prefix.system = replay.header.system;
        self.history = replay.history;
        self.usage = replay.usage;
        self.turns = replay.turns;
        self.checkpoints = replay.checkpoints;
        self.measured = None;
        io.emit(Event::Resumed(Resumed {
            session_id: self.id.clone(),
            history: self.history.clone(),
        }));
        Ok(())
    }

    /// Reverts the latest file change not undone yet.
    pub fn undo(&mut self, io: &mut dyn TurnIo) -> Result<(), AgentError> {
        match self.checkpoints.undo_latest(&self.ctx.root) {
            Ok(checkpoint) => {
                self.record(Record::Undo {
                    call_id: checkpoint.call_id.clone(),
                    path: checkpoint.path.clone(),
                })?;
                self.sync_store()?;
                io.emit(Event::Undone(Undone {
                    call_id: checkpoint.call_id,
                    path: checkpoint.path,
                }));
            }
            Err(e) => io.emit(Event::Error(ErrorReport {
                message: e.to_string(),
            })),
        }
        Ok(())
    }
}
