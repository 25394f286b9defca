//! The environment commands run with: an allowlist, not a denylist.
//!
//! Secrets hide under any name (`MYSQL_PWD`, `*_PAT`, `*_DSN`, `npm_config__authToken`, a
//! proxy URL with a password in it), so no list of bad names is ever complete. Commands get
//! the variables that tools and toolchains need to find themselves, none of which carry a
//! credential, and whatever else the user's configuration names.

/// Variables passed to commands when the agent's environment has them.
pub const ALLOWED_VARIABLES: &[&str] = &[
    // The system and the terminal.
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "TZ",
    "CI",
    // Toolchains: where they live and which version runs.
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "CARGO_TARGET_DIR",
    "RUST_BACKTRACE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONPATH",
    "PYTHONDONTWRITEBYTECODE",
    "NODE_PATH",
    "NVM_DIR",
    "GOPATH",
    "GOROOT",
    "JAVA_HOME",
    "CC",
    "CXX",
];

/// Name prefixes passed as well: the locale categories.
const ALLOWED_PREFIXES: &[&str] = &["LC_"];

/// The variables that point at the temporary directory; each command gets its own.
pub(crate) const TEMP_DIR_VARIABLES: &[&str] = &["TMPDIR", "TMP", "TEMP"];

/// Whether commands get a variable of this name by default.
pub fn is_allowed_variable(name: &str) -> bool {
    ALLOWED_VARIABLES.contains(&name) || ALLOWED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The variables of `vars` that commands may see, in their original order: the
/// [`ALLOWED_VARIABLES`] and locale variables, and those named in `extra` (the user's
/// configuration).
///
/// A pure function over the variables so it can be tested as such; the caller decides
/// where they come from (normally the agent's own process environment).
pub fn command_environment(
    vars: impl IntoIterator<Item = (String, String)>,
    extra: &[String],
) -> Vec<(String, String)> {
    vars.into_iter()
        .filter(|(name, _)| is_allowed_variable(name) || extra.iter().any(|e| e == name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|name| (name.to_string(), "value".to_string()))
            .collect()
    }

    fn kept(names: &[&str], extra: &[String]) -> Vec<String> {
        command_environment(vars(names), extra)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn only_allowed_names_pass_in_order() {
        let names = [
            "PATH",
            "GITHUB_TOKEN",
            "HOME",
            "LC_ALL",
            "MYSQL_PWD",
            "DEPLOY_PASS",
            "GITLAB_PAT",
            "SESSION_JWT",
            "SENTRY_DSN",
            "AZURE_CONNECTION_STRING",
            "npm_config__authToken",
            "https_proxy",
            "SSH_AUTH_SOCK",
            "LANG",
            "CARGO_HOME",
            "TERM",
        ];
        assert_eq!(
            kept(&names, &[]),
            ["PATH", "HOME", "LC_ALL", "LANG", "CARGO_HOME", "TERM"]
        );
    }

    #[test]
    fn the_user_can_add_names() {
        let extra = vec!["DATABASE_URL".to_string()];
        assert_eq!(
            kept(&["DATABASE_URL", "REDIS_URL"], &extra),
            ["DATABASE_URL"]
        );
    }

    #[test]
    fn values_are_kept_untouched() {
        let kept =
            command_environment(vec![("PATH".to_string(), "/usr/bin:/bin".to_string())], &[]);
        assert_eq!(kept, [("PATH".to_string(), "/usr/bin:/bin".to_string())]);
    }
}
