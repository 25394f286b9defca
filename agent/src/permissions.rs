//! Permissions as data: a mode, and rules that allow or deny shell commands.
//!
//! Paths need no rule here: every tool resolves its paths inside the repository and never
//! writes `.git` (`hearth_tools::resolve_path`), whatever the mode.

use std::fmt;
use std::str::FromStr;

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

/// The name of the tool that runs commands; every other mutating tool edits files.
pub(crate) const SHELL_TOOL: &str = "shell";

/// The name of the tool that replaces text in a file (the repairs of `repair.rs` use it).
pub(crate) const EDIT_TOOL: &str = "edit_file";
/// The tool that renames an identifier across files.
pub(crate) const RENAME_TOOL: &str = "rename_symbol";

/// What the agent may do without asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Read and search only; no edits, no commands.
    ReadOnly,
    /// Read freely; ask before every edit and command.
    Ask,
    /// Read and edit freely; ask before commands (unless an allow rule matches).
    AutoEdit,
    /// Everything, except commands a deny rule matches.
    FullAuto,
}

impl Mode {
    /// Every mode, in order of trust.
    pub const ALL: [Mode; 4] = [Mode::ReadOnly, Mode::Ask, Mode::AutoEdit, Mode::FullAuto];

    /// The mode's name as users write it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::ReadOnly => "read-only",
            Mode::Ask => "ask",
            Mode::AutoEdit => "auto-edit",
            Mode::FullAuto => "full-auto",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A mode name that is not one of the four.
#[derive(Debug, thiserror::Error)]
#[error("unknown mode `{0}`; expected read-only, ask, auto-edit or full-auto")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Mode, UnknownMode> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownMode(s.to_string()))
    }
}

/// A pattern on shell commands: a glob when it holds `*`, `?` or `[`, else a command prefix
/// that matches whole words (`cargo test` matches `cargo test -p x`, not `cargo tester`).
#[derive(Clone, Debug)]
pub struct CommandRule {
    pattern: String,
    glob: Option<GlobMatcher>,
}

/// A glob rule that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid command rule `{pattern}`: {message}")]
pub struct BadRule {
    /// The rule as given.
    pub pattern: String,
    /// The glob parser's explanation.
    pub message: String,
}

impl CommandRule {
    /// Parses a rule.
    pub fn new(pattern: &str) -> Result<CommandRule, BadRule> {
        let pattern = pattern.trim().to_string();
        let glob = if pattern.contains(['*', '?', '[']) {
            // `*` must cross `/` in a command line (`rm -rf /tmp/x`), so no literal separator.
            let glob = Glob::new(&pattern).map_err(|e| BadRule {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            Some(glob.compile_matcher())
        } else {
            None
        };
        Ok(CommandRule { pattern, glob })
    }

    /// Whether this rule matches one simple command.
    fn matches(&self, command: &str) -> bool {
        let command = command.trim();
        match &self.glob {
            Some(glob) => glob.is_match(command),
            None => {
                command == self.pattern
                    || command
                        .strip_prefix(self.pattern.as_str())
                        .is_some_and(|rest| rest.starts_with(char::is_whitespace))
            }
        }
    }

    /// The rule as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// Shell operators that chain or redirect commands: a command holding one is more than the
/// simple command an allow rule vouches for.
const CHAINING: &[&str] = &["&&", "||", ";", "|", "&", "`", "$(", ">", "<", "\n"];

/// The simple commands of a command line, split at its chaining operators.
fn simple_commands(command: &str) -> Vec<&str> {
    let mut parts = vec![command];
    for op in CHAINING {
        parts = parts.iter().flat_map(|p| p.split(op)).collect();
    }
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// What may happen to one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Run it.
    Allow,
    /// Run it only if the user approves.
    Ask,
    /// Refuse it; the reason goes to the model.
    Deny(String),
}

/// The mode and command rules of a session.
#[derive(Clone, Debug)]
pub struct Permissions {
    /// The mode.
    pub mode: Mode,
    /// Commands that run without asking (in `ask` and `auto-edit`).
    pub allow: Vec<CommandRule>,
    /// Commands that never run, in every mode.
    pub deny: Vec<CommandRule>,
}

impl Permissions {
    /// A mode with no rules.
    pub fn new(mode: Mode) -> Permissions {
        Permissions {
            mode,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }

    /// Decides a call of `tool` (which mutates when `mutates`) with its arguments.
    pub fn decide(&self, tool: &str, mutates: bool, input: &serde_json::Value) -> Decision {
        if !mutates {
            return Decision::Allow;
        }
        let mode = self.mode;
        if tool != SHELL_TOOL {
            return match mode {
                Mode::ReadOnly => Decision::Deny(format!(
                    "`{tool}` changes files, and this session is in read-only mode; \
                     answer with what you found instead of editing"
                )),
                Mode::Ask => Decision::Ask,
                Mode::AutoEdit | Mode::FullAuto => Decision::Allow,
            };
        }
        let command = input
            .get("command")
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        let parts = simple_commands(command);
        if let Some(rule) = self
            .deny
            .iter()
            .find(|rule| rule.matches(command) || parts.iter().any(|p| rule.matches(p)))
        {
            return Decision::Deny(format!(
                "the command `{command}` is denied by the rule `{}`; do not run it",
                rule.pattern()
            ));
        }
        match mode {
            Mode::ReadOnly => Decision::Deny(format!(
                "running commands is not allowed in read-only mode (refused: `{command}`)"
            )),
            Mode::FullAuto => Decision::Allow,
            Mode::Ask | Mode::AutoEdit => {
                let simple = parts.len() == 1 && !CHAINING.iter().any(|op| command.contains(op));
                if simple && self.allow.iter().any(|rule| rule.matches(command)) {
                    Decision::Allow
                } else {
                    Decision::Ask
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn rules(patterns: &[&str]) -> Vec<CommandRule> {
        patterns
            .iter()
            .map(|p| CommandRule::new(p).unwrap())
            .collect()
    }

    fn shell(p: &Permissions, command: &str) -> Decision {
        p.decide("shell", true, &json!({ "command": command }))
    }

    #[test]
    fn modes_decide_reads_edits_and_commands() {
        let edit = json!({"path": "a", "old": "x", "new": "y"});
        for (mode, edits, commands) in [
            (Mode::ReadOnly, false, false),
            (Mode::Ask, false, false),
            (Mode::AutoEdit, true, false),
            (Mode::FullAuto, true, true),
        ] {
            let p = Permissions::new(mode);
            assert_eq!(p.decide("read_file", false, &json!({})), Decision::Allow);
            assert_eq!(
                p.decide("edit_file", true, &edit) == Decision::Allow,
                edits,
                "{mode}"
            );
            assert_eq!(shell(&p, "ls") == Decision::Allow, commands, "{mode}");
        }
        assert!(matches!(
            Permissions::new(Mode::ReadOnly).decide("edit_file", true, &edit),
            Decision::Deny(reason) if reason.contains("read-only")
        ));
    }

    #[test]
    fn prefix_rules_match_whole_words_and_never_chained_commands() {
        let mut p = Permissions::new(Mode::AutoEdit);
        p.allow = rules(&["cargo test"]);
        assert_eq!(shell(&p, "cargo test"), Decision::Allow);
        assert_eq!(shell(&p, "cargo test -p x"), Decision::Allow);
        assert_eq!(shell(&p, "cargo tester"), Decision::Ask);
        assert_eq!(shell(&p, "cargo test && rm -rf ."), Decision::Ask);
        assert_eq!(shell(&p, "cargo test > out"), Decision::Ask);
    }

    #[test]
    fn deny_rules_win_in_every_mode_and_see_inside_chains() {
        let mut p = Permissions::new(Mode::FullAuto);
        p.deny = rules(&["rm", "git push*"]);
        assert!(matches!(shell(&p, "ls; rm -rf x"), Decision::Deny(r) if r.contains("`rm`")));
        assert!(matches!(
            shell(&p, "git push origin main"),
            Decision::Deny(_)
        ));
        assert_eq!(shell(&p, "git status"), Decision::Allow);
        assert_eq!(shell(&p, "rmdir x"), Decision::Allow);
    }

    #[test]
    fn modes_parse_from_their_names() {
        for mode in Mode::ALL {
            assert_eq!(mode.name().parse::<Mode>().unwrap(), mode);
        }
        assert!("yolo"
            .parse::<Mode>()
            .unwrap_err()
            .to_string()
            .contains("auto-edit"));
    }
}
