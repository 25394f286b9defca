//! The user's policy file, `~/.config/hearth/config.toml`: command rules, the sandbox, the
//! network and the extra variables commands get.
//!
//! Only the user's own file is read, never one in the repository: a planted repository must
//! not be able to loosen the confinement it runs under. Command-line flags add to it
//! (`--allow`, `--deny`, `--network`) or override it (`--sandbox`).

use std::path::{Path, PathBuf};

use hearth_agent::SandboxLevel;
use serde::Deserialize;

use crate::error::CliError;

/// The file's contents; every section and key is optional.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// `[permissions]`: shell command rules.
    #[serde(default)]
    pub permissions: PermissionsSection,
    /// `[sandbox]`: how commands are confined.
    #[serde(default)]
    pub sandbox: SandboxSection,
    /// `[shell]`: what commands get.
    #[serde(default)]
    pub shell: ShellSection,
    /// `[files]`: what the file tools may read.
    #[serde(default)]
    pub files: FilesSection,
}

/// `[permissions]`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionsSection {
    /// Commands run without asking (as `--allow`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Commands never run (as `--deny`).
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `[sandbox]`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSection {
    /// `read-only`, `workspace-write` or `off` (as `--sandbox`).
    pub level: Option<SandboxLevel>,
    /// Whether commands may use the network (as `--network`).
    pub network: Option<bool>,
}

/// `[shell]`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellSection {
    /// Variables passed to commands beyond the built-in allowlist.
    #[serde(default)]
    pub env: Vec<String>,
}

/// `[files]`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSection {
    /// Secret-file rules (`.env`, `*.pem`, …) lifted for this user: the file tools may read
    /// files these patterns name.
    #[serde(default)]
    pub allow_secret_files: Vec<String>,
}

/// The policy in force: the file's values and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The file, `None` when it does not exist (the defaults apply).
    pub source: Option<PathBuf>,
    /// Its values.
    pub values: PolicyFile,
}

impl Policy {
    /// Reads the policy file at `path`; a file that does not exist is the defaults, one
    /// that does not parse is a usage error naming the file, the line and what was wrong.
    pub fn load(path: &Path) -> Result<Policy, CliError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Policy {
                    source: None,
                    values: PolicyFile::default(),
                })
            }
            Err(e) => {
                return Err(CliError::usage(anyhow::anyhow!(
                    "cannot read the policy file {}: {e}",
                    path.display()
                )))
            }
        };
        let values = Self::parse(&text).map_err(|e| {
            CliError::usage(anyhow::anyhow!(
                "the policy file {} is not valid: {e}",
                path.display()
            ))
        })?;
        Ok(Policy {
            source: Some(path.to_path_buf()),
            values,
        })
    }

    fn parse(text: &str) -> Result<PolicyFile, toml::de::Error> {
        toml::from_str(text)
    }

    /// Where a value set in the file came from, for `hearth config show`.
    pub fn origin(&self, set_in_file: bool) -> String {
        match (&self.source, set_in_file) {
            (Some(path), true) => path.display().to_string(),
            _ => "default".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_full_file_parses() {
        let values = Policy::parse(
            "[permissions]\nallow = [\"cargo test\"]\ndeny = [\"git push\"]\n\
             [sandbox]\nlevel = \"read-only\"\nnetwork = true\n\
             [shell]\nenv = [\"DATABASE_URL\"]\n\
             [files]\nallow_secret_files = [\".env.example\"]\n",
        )
        .unwrap();
        assert_eq!(values.permissions.allow, ["cargo test"]);
        assert_eq!(values.permissions.deny, ["git push"]);
        assert_eq!(values.sandbox.level, Some(SandboxLevel::ReadOnly));
        assert_eq!(values.sandbox.network, Some(true));
        assert_eq!(values.shell.env, ["DATABASE_URL"]);
        assert_eq!(values.files.allow_secret_files, [".env.example"]);
    }

    #[test]
    fn mistakes_are_named() {
        let error = Policy::parse("[sandbox]\nlevel = \"strict\"\n").unwrap_err();
        assert!(error.to_string().contains("strict"), "{error}");
        let error = Policy::parse("[sandbox]\nnetwrk = true\n").unwrap_err();
        assert!(error.to_string().contains("netwrk"), "{error}");
    }

    #[test]
    fn a_missing_file_is_the_defaults_and_a_bad_one_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let policy = Policy::load(&path).unwrap();
        assert_eq!(policy.source, None);
        assert_eq!(policy.values, PolicyFile::default());
        std::fs::write(&path, "[sandbox\n").unwrap();
        let error = Policy::load(&path).unwrap_err().to_string();
        assert!(error.contains("config.toml"), "{error}");
    }
}
