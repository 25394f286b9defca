//! Scrubbing secrets from the environment commands run with.

/// Name endings that mark a credential (`GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `PGPASSWORD`
/// does not end in one but contains `PASSWORD`).
const SECRET_SUFFIXES: &[&str] = &[
    "_TOKEN",
    "_KEY",
    "_SECRET",
    "_PASSWORD",
    "_PASSWD",
    "_CREDENTIALS",
    "_AUTH",
];

/// Name fragments that mark a credential wherever they appear.
const SECRET_FRAGMENTS: &[&str] = &[
    "API_KEY",
    "APIKEY",
    "SECRET",
    "PASSWORD",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "AUTH_TOKEN",
];

/// Names that carry credentials without saying so: connection strings with passwords in
/// them, and handles to agents that would let a command sign or push as the user.
const DENIED_NAMES: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "MONGODB_URI",
    "AMQP_URL",
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    "DOCKER_AUTH_CONFIG",
    "NETRC",
    "TOKEN",
    "KUBECONFIG",
];

/// Whether an environment variable of this name likely holds a secret (compared without
/// regard to case).
pub fn is_secret_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_SUFFIXES.iter().any(|suffix| upper.ends_with(suffix))
        || SECRET_FRAGMENTS
            .iter()
            .any(|fragment| upper.contains(fragment))
        || DENIED_NAMES.contains(&upper.as_str())
}

/// The variables of `vars` that do not look like secrets, in their original order.
///
/// A pure function over the variables so it can be tested as such; the caller decides
/// where they come from (normally the agent's own process environment).
pub fn scrub_environment(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    vars.into_iter()
        .filter(|(name, _)| !is_secret_variable(name))
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

    #[test]
    fn secrets_are_dropped_and_everything_else_kept_in_order() {
        let input = vars(&[
            "PATH",
            "GITHUB_TOKEN",
            "HOME",
            "OPENAI_API_KEY",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "MY_SECRET",
            "db_password",
            "PGPASSWORD",
            "ANTHROPIC_AUTH_TOKEN",
            "CLIENT_SECRET_FILE",
            "DATABASE_URL",
            "SSH_AUTH_SOCK",
            "NPM_CONFIG__AUTH",
            "LANG",
            "CARGO_HOME",
            "TERM",
        ]);
        let kept: Vec<String> = scrub_environment(input)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(kept, ["PATH", "HOME", "LANG", "CARGO_HOME", "TERM"]);
    }

    #[test]
    fn values_are_kept_untouched() {
        let kept = scrub_environment(vec![("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        assert_eq!(kept, [("PATH".to_string(), "/usr/bin:/bin".to_string())]);
    }

    #[test]
    fn names_that_merely_resemble_secrets_are_kept() {
        for name in [
            "KEYBOARD_LAYOUT",
            "TOKENIZERS_PARALLELISM",
            "PASS_THROUGH",
            "KEYS_DIR",
        ] {
            assert!(!is_secret_variable(name), "{name}");
        }
    }
}
