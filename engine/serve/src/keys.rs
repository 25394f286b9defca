//! API keys: who may use a server that listens beyond loopback.
//!
//! The keys file is TOML, one `[[key]]` table per key: its `name`, the `sha256` of the key
//! (lowercase hex), and optionally `requests_per_minute`, `tokens_per_minute` and
//! `cache_group`. Only hashes are stored, so the file reveals no key; a key is shown once,
//! when [`add_key`] makes it. A request presents its key as `Authorization: Bearer KEY`
//! (OpenAI's clients) or `x-api-key: KEY` (the Messages API's).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a key made by [`add_key`] begins with, so that one found in a log or a commit
/// can be recognised as hearth's.
pub const KEY_PREFIX: &str = "hearth-";

/// Random bytes in a key: 256 bits, as many as the hash keeps.
const KEY_BYTES: usize = 32;

/// One key's entry in the keys file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Who holds the key: what the usage ledger and the metrics call it.
    pub name: String,
    /// The SHA-256 of the key, lowercase hex.
    pub sha256: String,
    /// The most requests the key may make in a minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// The most tokens (prompt and output) the key may use in a minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    /// Keys of one group share their prefix cache; a key without a group has its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_group: Option<String>,
}

/// The keys file's shape: `[[key]]` tables.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

/// Why the keys file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The keys file.
        path: PathBuf,
        /// The OS's reason.
        source: std::io::Error,
    },
    /// The file is not a keys file.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The keys file.
        path: PathBuf,
        /// What is wrong, naming the table or field.
        message: String,
    },
    /// No randomness for a new key.
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

/// The keys a server accepts, looked up by their hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeys {
    by_hash: HashMap<String, KeyEntry>,
}

impl ApiKeys {
    /// The keys of the file at `path`; fails on a file that cannot be read, is not a keys
    /// file, or holds no key (a server that accepts no key serves no one).
    pub fn load(path: &Path) -> Result<ApiKeys, KeysError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let keys = ApiKeys::parse(&text).map_err(|message| KeysError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        if keys.by_hash.is_empty() {
            return Err(KeysError::Invalid {
                path: path.to_path_buf(),
                message: "holds no [[key]] table; add one with `hearth keys add NAME --file …`"
                    .into(),
            });
        }
        Ok(keys)
    }

    /// The keys of a keys file's `text`, checked: every hash 64 lowercase hex digits, every
    /// name given and used once, every hash once. The error names the table.
    pub fn parse(text: &str) -> Result<ApiKeys, String> {
        let file: KeyFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_hash = HashMap::new();
        for (index, entry) in file.key.into_iter().enumerate() {
            let at = format!("[[key]] number {} ({:?})", index + 1, entry.name);
            if entry.name.trim().is_empty() {
                return Err(format!("{at}: `name` is empty"));
            }
            let hex_digits = entry
                .sha256
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
            if entry.sha256.len() != 64 || !hex_digits {
                return Err(format!(
                    "{at}: `sha256` must be 64 lowercase hex digits (the SHA-256 of the key), \
                     got {:?}",
                    entry.sha256
                ));
            }
            if by_hash.values().any(|e: &KeyEntry| e.name == entry.name) {
                return Err(format!("{at}: the name is used by an earlier key"));
            }
            if by_hash.contains_key(&entry.sha256) {
                return Err(format!("{at}: the same key as an earlier one"));
            }
            by_hash.insert(entry.sha256.clone(), entry);
        }
        Ok(ApiKeys { by_hash })
    }

    /// The entry of `key`, when it is one of these.
    pub fn check(&self, key: &str) -> Option<&KeyEntry> {
        self.by_hash.get(&hash_key(key))
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// The SHA-256 of `key`, lowercase hex: what the keys file stores.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Makes a key for `name`, appends its entry (with `cache_group`, if any) to the keys
/// file at `path`, creating it readable by its owner only, and returns the key: the only
/// time it is seen. Fails, changing nothing, when the file is not a keys file or the name
/// is taken.
pub fn add_key(path: &Path, name: &str, cache_group: Option<&str>) -> Result<String, KeysError> {
    let invalid = |message: String| KeysError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(KeysError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let keys = ApiKeys::parse(&existing).map_err(invalid)?;
    if name.trim().is_empty() {
        return Err(invalid("the key's name is empty".into()));
    }
    if keys.by_hash.values().any(|e| e.name == name) {
        return Err(invalid(format!("a key named {name:?} exists already")));
    }
    let mut random = [0u8; KEY_BYTES];
    getrandom::fill(&mut random).map_err(|e| KeysError::Random(e.to_string()))?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(random));
    let entry = KeyFile {
        key: vec![KeyEntry {
            name: name.to_string(),
            sha256: hash_key(&key),
            requests_per_minute: None,
            tokens_per_minute: None,
            cache_group: cache_group.map(str::to_string),
        }],
    };
    let table = toml::to_string(&entry).map_err(|e| invalid(e.to_string()))?;
    let separator = if existing.is_empty() || existing.ends_with("\n\n") {
        ""
    } else if existing.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    let io = |source| KeysError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = open_for_append(path).map_err(io)?;
    file.write_all(format!("{separator}{table}").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    Ok(key)
}

/// Opens `path` to append, creating it readable and writable by its owner only.
fn open_for_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_added_to_a_file_are_accepted_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let alice = add_key(&path, "alice", None).unwrap();
        let ci = add_key(&path, "ci", Some("team")).unwrap();
        assert!(alice.starts_with(KEY_PREFIX) && alice.len() == KEY_PREFIX.len() + 64);
        let keys = ApiKeys::load(&path).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.check(&alice).unwrap().name, "alice");
        let entry = keys.check(&ci).unwrap();
        assert_eq!(entry.cache_group.as_deref(), Some("team"));
        assert!(keys.check("hearth-0000").is_none());
        assert!(keys.check("").is_none());
        // The file holds hashes, never a key.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&alice) && text.contains(&hash_key(&alice)),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A name is used once; the file is left as it was.
        let error = add_key(&path, "alice", None).unwrap_err().to_string();
        assert!(error.contains("\"alice\" exists already"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_bad_keys_file_is_refused_naming_the_table() {
        let hash = "a".repeat(64);
        let ok = format!(
            "[[key]]\nname = \"a\"\nsha256 = \"{hash}\"\nrequests_per_minute = 60\n\
             tokens_per_minute = 100000\ncache_group = \"g\"\n"
        );
        let keys = ApiKeys::parse(&ok).unwrap();
        assert_eq!(keys.len(), 1);
        let bad_hash = ApiKeys::parse("[[key]]\nname = \"a\"\nsha256 = \"ABC\"\n").unwrap_err();
        assert!(bad_hash.contains("[[key]] number 1 (\"a\")") && bad_hash.contains("sha256"));
        let twice = format!(
            "{ok}\n[[key]]\nname = \"a\"\nsha256 = \"{}\"\n",
            "b".repeat(64)
        );
        assert!(ApiKeys::parse(&twice).unwrap_err().contains("number 2"));
        let unknown = format!("[[key]]\nname = \"a\"\nsha256 = \"{hash}\"\nrole = \"admin\"\n");
        assert!(ApiKeys::parse(&unknown).unwrap_err().contains("role"));
        assert!(ApiKeys::parse("").unwrap().is_empty());
    }
}
