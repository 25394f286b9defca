//! Session setup, one implementation for every front end (`hearth exec`, the TUI, and any
//! front end to come).
//!
//! A front end reads its flags into a [`SessionBuilder`]: the repository directory, the
//! permission mode and command rules, the request budget, sampling settings, where sessions
//! are saved and which one to resume. [`SessionBuilder::build`] checks all of it before any
//! model is loaded (a bad rule, a missing directory or an unknown session id is the user's
//! mistake, reported as a [`SetupError`]) and returns a [`SessionPlan`]: the
//! [`SessionConfig`] and the session file to resume. [`SessionPlan::open`] starts or resumes
//! the session on a backend, so a front end may load the model in between (the TUI does so
//! behind its own progress line). The context window a local model is asked for is chosen
//! here too ([`context_window`]); loading the model and its caches stays with the front end.
//!
//! # The request budget
//!
//! [`RequestBudget`] is the one place that sizes a request. The engine counts thinking and
//! answer against one `max_tokens`, so a request asks for the answer budget plus, when
//! thinking is on, the thinking budget and the few tokens that close the thinking segment:
//! thinking can never eat the answer's share. `/think` in the TUI changes the budget through
//! [`crate::Session::set_thinking`], which is this same code.
//!
//! Compaction works from the same number. The engine refuses a request whose prompt and
//! `max_tokens` together exceed the window, so the history is compacted as soon as the next
//! prompt might not fit in the window less `max_tokens` ([`RequestBudget::needs_compaction`]).

use std::path::{Path, PathBuf};

use hearth_engine::api::ThinkingConfig;
use hearth_tools::{SandboxLevel, SandboxPolicy, SandboxUnavailable};

use crate::backend::Backend;
use crate::error::AgentError;
use crate::permissions::{BadRule, CommandRule, Mode, Permissions};
use crate::prompt::RequestSettings;
use crate::session::{Session, SessionConfig};
use crate::store::{Replay, StoreError};

/// Room for the tokens that close a thinking segment (`</think>` and a paragraph break in
/// the prompted mode): they are neither thinking nor answer.
pub const THINKING_DELIMITER_TOKENS: u32 = 8;

/// The largest context window asked of a local model by default: the KV cache of a 32k
/// window costs memory a laptop or a CPU-only CI runner may not have.
pub const DEFAULT_MAX_CONTEXT: usize = 16_384;

/// The context window to ask of a model whose own window is `model_tokens`: the one the
/// user asked for, else the model's, at most [`DEFAULT_MAX_CONTEXT`].
pub fn context_window(requested: Option<usize>, model_tokens: usize) -> usize {
    requested.unwrap_or_else(|| model_tokens.min(DEFAULT_MAX_CONTEXT))
}

/// A thinking budget as users write it (`--think`, `/think`): a number of tokens, or `off`
/// (also `0`). `None`: thinking off.
pub fn parse_thinking(text: &str) -> Result<Option<u32>, BadThinking> {
    match text.trim() {
        "off" | "0" => Ok(None),
        n => n
            .parse::<u32>()
            .map(Some)
            .map_err(|_| BadThinking(text.to_string())),
    }
}

/// A thinking budget that is neither a number nor `off`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a thinking budget; expected a number of tokens (e.g. 256) or `off`")]
pub struct BadThinking(pub String);

/// How many tokens a request may generate: the answer's share and thinking's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestBudget {
    answer_tokens: u32,
    /// Never `Some(0)`: a zero budget is thinking off.
    thinking_tokens: Option<u32>,
    thinking_min_tokens: Option<u32>,
}

impl RequestBudget {
    /// A budget of `answer_tokens` for the answer, thinking off.
    pub fn new(answer_tokens: u32) -> RequestBudget {
        RequestBudget {
            answer_tokens,
            thinking_tokens: None,
            thinking_min_tokens: None,
        }
    }

    /// This budget with thinking set to `budget_tokens` (`None` or 0: off).
    pub fn with_thinking(mut self, budget_tokens: Option<u32>) -> RequestBudget {
        self.set_thinking(budget_tokens);
        self
    }

    /// This budget with budget forcing: thinking that ends before `min_tokens` goes on
    /// (`None` or 0: no minimum). It has no effect while thinking is off.
    pub fn with_thinking_min(mut self, min_tokens: Option<u32>) -> RequestBudget {
        self.thinking_min_tokens = min_tokens.filter(|&n| n > 0);
        self
    }

    /// Sets the thinking budget (`None` or 0: off); the answer's share stays.
    pub fn set_thinking(&mut self, budget_tokens: Option<u32>) {
        self.thinking_tokens = budget_tokens.filter(|&n| n > 0);
    }

    /// This budget with the answer's share at most `answer_tokens`; thinking's stays.
    pub fn answer_at_most(mut self, answer_tokens: u32) -> RequestBudget {
        self.answer_tokens = self.answer_tokens.min(answer_tokens);
        self
    }

    /// The most tokens of the answer, after any thinking.
    pub fn answer_tokens(&self) -> u32 {
        self.answer_tokens
    }

    /// The thinking budget; `None` when thinking is off.
    pub fn thinking_tokens(&self) -> Option<u32> {
        self.thinking_tokens
    }

    /// A request's `max_tokens`: the answer's share, and thinking's with its delimiter.
    pub fn max_tokens(&self) -> u32 {
        let thinking = self
            .thinking_tokens
            .map_or(0, |n| n.saturating_add(THINKING_DELIMITER_TOKENS));
        self.answer_tokens.saturating_add(thinking)
    }

    /// A request's thinking setting.
    pub fn thinking(&self) -> Option<ThinkingConfig> {
        self.thinking_tokens
            .map(|budget_tokens| ThinkingConfig::Enabled {
                budget_tokens,
                min_tokens: self.thinking_min_tokens,
            })
    }

    /// Whether the history must be compacted before a request in a `window`-token context,
    /// given the prompt's size: `measured_tokens` the backend counted for an earlier
    /// request, and `estimated_tokens` estimated (a token per four bytes) for what was
    /// added since.
    ///
    /// The prompt must leave `max_tokens` of the window free. The estimate is taken a third
    /// larger than it is: source code and JSON, most of what tools return, tokenize at about
    /// three bytes per token, not four. A measured count needs no margin.
    pub fn needs_compaction(
        &self,
        window: u32,
        measured_tokens: u32,
        estimated_tokens: u32,
    ) -> bool {
        let bound = measured_tokens
            .saturating_add(estimated_tokens)
            .saturating_add(estimated_tokens / 3);
        bound > self.prompt_room(window)
    }

    /// The most prompt tokens a request in a `window`-token context may have.
    pub fn prompt_room(&self, window: u32) -> u32 {
        window.saturating_sub(self.max_tokens())
    }
}

/// Which saved session a front end continues.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Resume {
    /// None: a new session.
    #[default]
    New,
    /// The session with this id (`--resume ID`).
    Id(String),
    /// The latest session of the repository (`--last`).
    Last,
}

impl Resume {
    /// The choice `--resume ID` and `--last` make.
    pub fn from_flags(id: Option<String>, last: bool) -> Resume {
        match (id, last) {
            (Some(id), _) => Resume::Id(id),
            (None, true) => Resume::Last,
            (None, false) => Resume::New,
        }
    }
}

/// Why a session could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The repository directory does not exist or cannot be read.
    #[error("{}: expected a directory that exists", .root.display())]
    Root {
        /// The directory as given.
        root: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A command rule does not parse.
    #[error(transparent)]
    Rule(#[from] BadRule),
    /// The temperature is out of range.
    #[error("temperature {0}: expected a value from 0 to 2")]
    Temperature(f32),
    /// The session to resume was not found or cannot be read.
    #[error(transparent)]
    Resume(#[from] StoreError),
    /// The sandbox asked for cannot be enforced on this system.
    #[error(transparent)]
    Sandbox(#[from] SandboxUnavailable),
}

impl SetupError {
    /// Whether the user's input is at fault (a front end's usage error), not the machine.
    pub fn is_usage(&self) -> bool {
        match self {
            SetupError::Root { .. }
            | SetupError::Rule(_)
            | SetupError::Temperature(_)
            | SetupError::Sandbox(_) => true,
            SetupError::Resume(e) => matches!(e, StoreError::NotFound { .. }),
        }
    }
}

/// What a front end asks of a session; [`SessionBuilder::build`] checks it.
#[derive(Clone, Debug)]
pub struct SessionBuilder {
    /// The repository directory (canonicalized by `build`).
    pub root: PathBuf,
    /// What tools may do without asking.
    pub mode: Mode,
    /// Shell command rules allowed without approval.
    pub allow: Vec<String>,
    /// Shell command rules never run.
    pub deny: Vec<String>,
    /// The tokens each request may generate.
    pub budget: RequestBudget,
    /// Sampling temperature, 0 to 2 (`None`: the backend's default).
    pub temperature: Option<f32>,
    /// Sampling seed.
    pub seed: Option<u64>,
    /// The most model requests one turn may make.
    pub max_requests_per_turn: u32,
    /// Where sessions are saved and looked up.
    pub sessions_dir: PathBuf,
    /// Whether this session is saved (`false`: ephemeral; a resumed session's file is still
    /// appended to).
    pub save: bool,
    /// Which saved session to continue.
    pub resume: Resume,
    /// The environment shell commands start from (only allowed variables pass).
    pub shell_env: Vec<(String, String)>,
    /// Variables of `shell_env` passed to commands beyond the allowlist.
    pub shell_extra_env: Vec<String>,
    /// The OS sandbox of shell commands (`None`: read-only in the read-only mode,
    /// workspace-write otherwise).
    pub sandbox: Option<SandboxLevel>,
    /// Whether shell commands may use the network.
    pub network: bool,
    /// Secret-file patterns the user lifted (see [`SessionConfig::secret_file_exceptions`]).
    pub secret_file_exceptions: Vec<String>,
}

impl SessionBuilder {
    /// A new, saved session in `root` with `mode`, an answer budget of `answer_tokens` and
    /// the other settings at their defaults ([`SessionConfig::new`]'s).
    pub fn new(
        root: impl Into<PathBuf>,
        sessions_dir: impl Into<PathBuf>,
        mode: Mode,
        answer_tokens: u32,
    ) -> SessionBuilder {
        let root = root.into();
        let defaults = SessionConfig::new(&root);
        SessionBuilder {
            root,
            mode,
            allow: Vec::new(),
            deny: Vec::new(),
            budget: RequestBudget::new(answer_tokens),
            temperature: defaults.request.temperature,
            seed: defaults.request.seed,
            max_requests_per_turn: defaults.max_requests_per_turn,
            sessions_dir: sessions_dir.into(),
            save: true,
            resume: Resume::New,
            shell_env: Vec::new(),
            shell_extra_env: Vec::new(),
            sandbox: None,
            network: false,
            secret_file_exceptions: Vec::new(),
        }
    }

    /// Checks the settings, finds the session to resume, and returns the plan to open.
    pub fn build(self) -> Result<SessionPlan, SetupError> {
        let root = self
            .root
            .canonicalize()
            .and_then(|root| {
                if root.is_dir() {
                    Ok(root)
                } else {
                    Err(std::io::Error::other("it is a file"))
                }
            })
            .map_err(|source| SetupError::Root {
                root: self.root.clone(),
                source,
            })?;
        let mut permissions = Permissions::new(self.mode);
        for rule in &self.allow {
            permissions.allow.push(CommandRule::new(rule)?);
        }
        for rule in &self.deny {
            permissions.deny.push(CommandRule::new(rule)?);
        }
        if let Some(t) = self.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
            return Err(SetupError::Temperature(t));
        }
        let resume_from = match &self.resume {
            Resume::New => None,
            Resume::Id(id) => Some(Replay::find(&self.sessions_dir, id)?),
            Resume::Last => Some(Replay::find_last(&self.sessions_dir, &root)?),
        };
        let mut config = SessionConfig::new(&root);
        config.sessions_dir = self.save.then_some(self.sessions_dir);
        config.permissions = permissions;
        config.request = RequestSettings {
            model: None,
            budget: self.budget,
            temperature: self.temperature,
            seed: self.seed,
        };
        config.max_requests_per_turn = self.max_requests_per_turn.max(1);
        config.shell_env = self.shell_env;
        config.shell_extra_env = self.shell_extra_env;
        config.sandbox = self.sandbox.unwrap_or(match self.mode {
            Mode::ReadOnly => SandboxLevel::ReadOnly,
            Mode::Ask | Mode::AutoEdit | Mode::FullAuto => SandboxLevel::WorkspaceWrite,
        });
        config.network = self.network;
        config.secret_file_exceptions = self.secret_file_exceptions;
        // Said once, at the start: a sandbox the kernel cannot enforce is refused, never
        // silently dropped.
        SandboxPolicy::new(config.sandbox, config.network).check()?;
        Ok(SessionPlan {
            config,
            resume_from,
        })
    }
}

/// A checked session setup, ready to open on a backend.
#[derive(Clone, Debug)]
pub struct SessionPlan {
    /// The session's configuration.
    pub config: SessionConfig,
    /// The session file to continue; `None`: a new session.
    pub resume_from: Option<PathBuf>,
}

impl SessionPlan {
    /// The canonical repository root.
    pub fn root(&self) -> &Path {
        &self.config.root
    }

    /// Starts the session, or resumes the saved one, on `backend`.
    pub fn open(self, backend: Box<dyn Backend>) -> Result<Session, AgentError> {
        match &self.resume_from {
            Some(path) => Session::resume(self.config, backend, path),
            None => Session::start(self.config, backend),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn thinking_adds_its_budget_and_delimiter_to_the_answer_budget() {
        let budget = RequestBudget::new(1024);
        assert_eq!(budget.max_tokens(), 1024);
        assert_eq!(budget.thinking(), None);
        let budget = budget
            .with_thinking(Some(4096))
            .with_thinking_min(Some(256));
        assert_eq!(budget.max_tokens(), 1024 + 4096 + THINKING_DELIMITER_TOKENS);
        assert_eq!(
            budget.thinking(),
            Some(ThinkingConfig::Enabled {
                budget_tokens: 4096,
                min_tokens: Some(256)
            })
        );
        assert_eq!(budget.with_thinking(Some(0)).max_tokens(), 1024);
        // A brief answer shortens the answer's share only.
        let brief = budget.with_thinking(Some(4096)).answer_at_most(256);
        assert_eq!(brief.max_tokens(), 256 + 4096 + THINKING_DELIMITER_TOKENS);
        let unthinking = budget.with_thinking(None);
        assert_eq!(unthinking.answer_at_most(4096).max_tokens(), 1024);
    }

    #[test]
    fn compaction_leaves_max_tokens_of_the_window_free() {
        let budget = RequestBudget::new(1024);
        assert_eq!(budget.prompt_room(2048), 1024);
        assert!(!budget.needs_compaction(2048, 1024, 0));
        assert!(budget.needs_compaction(2048, 1025, 0));
        // An estimate counts a third more.
        assert!(!budget.needs_compaction(2048, 724, 225));
        assert!(budget.needs_compaction(2048, 724, 300));
        // A window smaller than max_tokens leaves no room at all.
        assert!(budget.needs_compaction(512, 1, 0));
    }

    #[test]
    fn thinking_budgets_parse_as_users_write_them() {
        assert_eq!(parse_thinking("512").unwrap(), Some(512));
        assert_eq!(parse_thinking("off").unwrap(), None);
        assert_eq!(parse_thinking("0").unwrap(), None);
        let err = parse_thinking("lots").unwrap_err().to_string();
        assert!(err.contains("lots") && err.contains("off"), "{err}");
    }

    #[test]
    fn setup_errors_name_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let builder = SessionBuilder::new(dir.path(), dir.path(), Mode::Ask, 64);
        let missing = SessionBuilder {
            root: dir.path().join("nope"),
            ..builder.clone()
        };
        let err = missing.build().unwrap_err();
        assert!(err.is_usage() && err.to_string().contains("nope"), "{err}");
        let resume = SessionBuilder {
            resume: Resume::Id("20250101T000000-000000".into()),
            ..builder.clone()
        };
        let err = resume.build().unwrap_err();
        assert!(
            err.is_usage() && err.to_string().contains("20250101"),
            "{err}"
        );
        let hot = SessionBuilder {
            temperature: Some(3.0),
            ..builder.clone()
        };
        assert!(hot.build().unwrap_err().is_usage());
        let plan = builder.build().unwrap();
        assert_eq!(plan.root(), dir.path().canonicalize().unwrap());
        assert_eq!(plan.resume_from, None);
    }
}
