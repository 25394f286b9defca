//! What a session is started with ([`SessionConfig`]), and the repository context it
//! opens from it: the shell's environment and sandbox, and the secret-file rules.

use std::path::PathBuf;

use hearth_tools::{SandboxLevel, SecretFiles, ShellPolicy, ToolContext, DEFAULT_SECRET_RULES};

use crate::builder::RequestBudget;
use crate::error::AgentError;
use crate::permissions::Permissions;
use crate::prompt::RequestSettings;

/// Everything a session is started with.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The repository root.
    pub root: PathBuf,
    /// Where session files go; `None`: the session is not saved.
    pub sessions_dir: Option<PathBuf>,
    /// What tool calls may do.
    pub permissions: Permissions,
    /// The system text (see [`crate::prompt::DEFAULT_SYSTEM_TEXT`]).
    pub system_text: String,
    /// The repository map's budget in characters (0: no map).
    pub repo_map_chars: usize,
    /// The budget in tokens of the code retrieved for the first task (0: none); a small
    /// context window gets less ([`Session`] keeps it to an eighth of the window).
    pub retrieval_tokens: usize,
    /// The budget and sampling settings of every request.
    pub request: RequestSettings,
    /// The most model requests one turn may make.
    pub max_requests_per_turn: u32,
    /// The context window, overriding the backend's.
    pub context_tokens: Option<u32>,
    /// The environment shell commands start from (only allowed variables pass).
    pub shell_env: Vec<(String, String)>,
    /// Variables of `shell_env` passed to commands beyond the allowlist (the user's config).
    pub shell_extra_env: Vec<String>,
    /// The OS sandbox shell commands run in.
    pub sandbox: SandboxLevel,
    /// Whether shell commands may use the network.
    pub network: bool,
    /// Secret-file patterns the user lifted (`.env.example`): the file tools may read the
    /// files they name despite the default rules.
    pub secret_file_exceptions: Vec<String>,
    /// Whether the first turn of a question about the code opens with a request that
    /// must answer from the code the first message shows
    /// (`direct_answer.rs`); off, every step is a call from the start.
    pub answer_from_context: bool,
}

impl SessionConfig {
    /// A configuration with the defaults for the repository at `root`.
    pub fn new(root: impl Into<PathBuf>) -> SessionConfig {
        SessionConfig {
            root: root.into(),
            sessions_dir: None,
            permissions: Permissions::new(crate::permissions::Mode::AutoEdit),
            system_text: crate::prompt::DEFAULT_SYSTEM_TEXT.to_string(),
            repo_map_chars: 2_000,
            retrieval_tokens: 2_000,
            request: RequestSettings {
                model: None,
                budget: RequestBudget::new(1_024),
                temperature: None,
                seed: None,
            },
            max_requests_per_turn: 20,
            context_tokens: None,
            shell_env: Vec::new(),
            shell_extra_env: Vec::new(),
            sandbox: SandboxLevel::WorkspaceWrite,
            network: false,
            secret_file_exceptions: Vec::new(),
            answer_from_context: true,
        }
    }
}

/// The tool context of the repository `config` names, confined as it says.
pub(crate) fn open_repository(config: &SessionConfig) -> Result<ToolContext, AgentError> {
    let shell = ShellPolicy::new(config.shell_env.clone(), &config.shell_extra_env)
        .with_sandbox(config.sandbox, config.network);
    let repository = |source| AgentError::Repository {
        root: config.root.clone(),
        source,
    };
    let mut ctx = ToolContext::new(&config.root, shell).map_err(repository)?;
    if !config.secret_file_exceptions.is_empty() {
        // The user's exceptions come last: the last matching rule wins.
        let rules = DEFAULT_SECRET_RULES
            .iter()
            .map(|rule| rule.to_string())
            .chain(
                config
                    .secret_file_exceptions
                    .iter()
                    .map(|p| format!("!{p}")),
            );
        ctx.secret_files = SecretFiles::new(rules).map_err(repository)?;
    }
    Ok(ctx)
}
