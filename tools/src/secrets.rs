//! Files the tools do not read by default because they usually hold credentials: `.env`,
//! private keys and certificates (`*.pem`, `*.key`), SSH keys (`id_rsa`, …).
//!
//! A repository on disk often holds a developer's `.env` beside the code, ignored by git but
//! readable. Nothing the model asks for should put its tokens into a prompt, a session file
//! or a remote endpoint's logs unless the user said so. The rules are globs, as the
//! permission rules for commands are: a rule without `/` matches a file's name wherever it
//! is (`.env`), a rule with `/` matches the path from the repository root
//! (`config/master.key`), and a rule starting with `!` makes an exception, as in
//! `.gitignore`: the last rule that matches decides. So `!.env` appended to the defaults
//! lifts the rule for `.env`, and an empty rule list lifts them all.

use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};

use crate::ToolError;

/// The rules in force unless the user changes them: environment files (but not the
/// templates committed beside them, which document settings and hold no values), private
/// keys and keystores, SSH keys by their usual names, and credential stores. `id_*` is
/// narrowed to the SSH key types so that source files such as `id_map.rs` stay readable.
pub const DEFAULT_SECRET_RULES: &[&str] = &[
    // `*.env` also matches `.env`; it comes first so that the narrower rule is the one named.
    "*.env",
    ".env",
    ".env.*",
    "!.env.example",
    "!.env.sample",
    "!.env.template",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "!id_*.pub",
    ".netrc",
    ".git-credentials",
    ".pgpass",
    "credentials.json",
];

/// One rule: the glob, as written, and whether it is an exception (`!`).
#[derive(Clone, Debug)]
struct Rule {
    text: String,
    exception: bool,
    /// Whether the glob matches the whole relative path (it holds `/`) or the name only.
    whole_path: bool,
    matcher: GlobMatcher,
}

/// The read-deny rules for secret files: which files `read_file`, `grep`, the edits (whose
/// diff would show the old text), `git_blame`, `git_show` and `git_diff` refuse, and which
/// the repository walk that feeds retrieval, the repository map and the symbol tools skips.
///
/// The default is [`DEFAULT_SECRET_RULES`]. The caller lifts rules from the user's own
/// configuration (never the repository's, which an attacker may have planted): with
/// [`SecretFiles::new`] and the defaults plus exceptions (`!.env`), or [`SecretFiles::none`].
/// What the harness puts into a prompt on its own (retrieved code, the map) always keeps the
/// defaults: a lifted rule lets the model read such a file when it asks, visibly, in a tool
/// call, and no more.
#[derive(Clone, Debug)]
pub struct SecretFiles {
    rules: Vec<Rule>,
}

impl Default for SecretFiles {
    fn default() -> Self {
        // The built-in rules are tested to parse; an empty set would fail open, so a rule
        // that somehow did not parse is left out rather than dropping them all.
        let rules = DEFAULT_SECRET_RULES
            .iter()
            .filter_map(|text| Rule::new(text).ok())
            .collect();
        SecretFiles { rules }
    }
}

impl SecretFiles {
    /// The rules `rules`, in order (see the module's documentation for their form).
    /// Errors: [`ToolError::InvalidPattern`] naming the first rule that is not a glob.
    pub fn new<I, S>(rules: I) -> Result<Self, ToolError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let rules = rules
            .into_iter()
            .map(|text| Rule::new(text.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(SecretFiles { rules })
    }

    /// No rules at all: every file may be read.
    pub fn none() -> Self {
        SecretFiles { rules: Vec::new() }
    }

    /// The rules as written, in order: what a `config show` prints.
    pub fn rules(&self) -> Vec<&str> {
        self.rules.iter().map(|rule| rule.text.as_str()).collect()
    }

    /// The rule that denies reading the file at `relative` (a path from the repository root,
    /// `/`-separated), or `None` when it may be read.
    pub fn denying_rule(&self, relative: &str) -> Option<&str> {
        let relative = relative.trim_start_matches("./").trim_start_matches('/');
        let name = relative.rsplit('/').next().unwrap_or(relative);
        let decided = self.rules.iter().rev().find(|rule| {
            let subject = if rule.whole_path { relative } else { name };
            rule.matcher.is_match(subject)
        })?;
        (!decided.exception).then_some(decided.text.as_str())
    }

    /// Refuses `path` (physical, inside `root`) when a rule denies it, by its path from the
    /// root or by the name the model gave (`shown`, so that a link named `id_rsa` is refused
    /// whatever it points at). Errors: [`ToolError::SecretFile`] naming `shown` and the rule.
    pub fn check(&self, root: &Path, path: &Path, shown: &str) -> Result<(), ToolError> {
        let relative = crate::paths::display_path(root, path);
        let rule = self
            .denying_rule(&relative)
            .or_else(|| self.denying_rule(shown.trim()));
        match rule {
            Some(rule) => Err(ToolError::SecretFile {
                path: shown.to_string(),
                rule: rule.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Whether the file at `path` (physical, inside `root`) may be read.
    pub(crate) fn allows(&self, root: &Path, path: &Path) -> bool {
        self.denying_rule(&crate::paths::display_path(root, path))
            .is_none()
    }
}

impl Rule {
    fn new(text: &str) -> Result<Rule, ToolError> {
        let trimmed = text.trim();
        let (exception, glob) = match trimmed.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let glob = glob.trim_start_matches('/');
        let matcher = GlobBuilder::new(glob)
            // `*` stays within one component, as in `.gitignore`; `**` crosses them.
            .literal_separator(true)
            .build()
            .map_err(|e| ToolError::InvalidPattern {
                what: "secret-file rule",
                pattern: text.to_string(),
                message: e.to_string(),
            })?
            .compile_matcher();
        Ok(Rule {
            text: trimmed.to_string(),
            exception,
            whole_path: glob.contains('/'),
            matcher,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_default_rule_parses() {
        assert_eq!(
            SecretFiles::default().rules(),
            DEFAULT_SECRET_RULES.to_vec()
        );
    }

    #[test]
    fn the_defaults_deny_env_files_keys_and_credentials_anywhere() {
        let rules = SecretFiles::default();
        for (path, rule) in [
            (".env", ".env"),
            ("app/.env", ".env"),
            (".env.local", ".env.*"),
            ("deploy/production.env", "*.env"),
            ("certs/server.pem", "*.pem"),
            ("tls.key", "*.key"),
            ("id_rsa", "id_rsa*"),
            ("home/.ssh/id_ed25519", "id_ed25519*"),
            (".netrc", ".netrc"),
        ] {
            assert_eq!(rules.denying_rule(path), Some(rule), "{path}");
        }
        for path in [
            ".env.example",
            "src/id_map.rs",
            "id_rsa.pub",
            "src/environment.rs",
            "keys.rs",
            "README.md",
        ] {
            assert_eq!(rules.denying_rule(path), None, "{path}");
        }
    }

    #[test]
    fn an_exception_or_no_rules_lift_the_defaults() {
        let mut lifted: Vec<&str> = DEFAULT_SECRET_RULES.to_vec();
        lifted.push("!.env");
        let rules = SecretFiles::new(&lifted).unwrap();
        assert_eq!(rules.denying_rule(".env"), None);
        assert_eq!(rules.denying_rule("a.pem"), Some("*.pem"));
        assert_eq!(SecretFiles::none().denying_rule(".env"), None);
    }

    #[test]
    fn a_rule_with_a_slash_matches_the_path_from_the_root() {
        let rules = SecretFiles::new(["config/*.yml", "/master.key"]).unwrap();
        assert_eq!(rules.denying_rule("config/db.yml"), Some("config/*.yml"));
        assert_eq!(rules.denying_rule("other/config/db.yml"), None);
        assert_eq!(rules.denying_rule("config/sub/db.yml"), None);
        assert_eq!(rules.denying_rule("master.key"), Some("/master.key"));
    }

    #[test]
    fn a_bad_rule_is_named() {
        let err = SecretFiles::new(["a[b"]).unwrap_err().to_string();
        assert!(err.contains("a[b"), "{err}");
    }

    #[test]
    fn check_names_the_path_and_the_rule() {
        let root = Path::new("/repo");
        let err = SecretFiles::default()
            .check(root, &root.join("conf/.env"), "conf/.env")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`conf/.env`") && err.contains("`.env`"),
            "{err}"
        );
        // A link named like a key is refused by its name, whatever its target.
        assert!(SecretFiles::default()
            .check(root, &root.join("notes.txt"), "id_rsa")
            .is_err());
    }
}
