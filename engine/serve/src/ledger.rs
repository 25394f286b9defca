//! The usage ledger: one JSON line per API request, appended as it ends: when, whose key,
//! which model and endpoint, the tokens it used (prompt, from cache, cached anew, output,
//! thinking), the time to its first token, how long it took, and how it ended. It is the
//! team's billing and governance record, so a line is written for refused requests too
//! (with no tokens), and the file is only ever appended to. [`summarize`] reads it back.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use hearth_engine::api::Usage;
use serde::{Deserialize, Serialize};

use crate::app::rfc3339;
use crate::openai::now_unix;

/// One request's line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// When the request ended, RFC 3339 in UTC (`2026-12-06T18:04:11Z`).
    pub time: String,
    /// The name of the key it presented; `None` on a server without keys, or when it
    /// presented none it accepts.
    pub key: Option<String>,
    /// The model served.
    pub model: String,
    /// The method and path (`POST /v1/messages`).
    pub endpoint: String,
    /// The HTTP status it was answered with (a stream's is 200 even when it failed later:
    /// see `outcome`).
    pub status: u16,
    /// How it ended: the stop reason (`end_turn`, `tool_use`, `max_tokens`,
    /// `stop_sequence`), `cancelled` (the client left), or the error's type.
    pub outcome: String,
    /// Prompt tokens computed.
    pub input_tokens: u32,
    /// Prompt tokens read from the prefix cache.
    pub cache_read_input_tokens: u32,
    /// Prompt tokens computed and cached anew.
    pub cache_creation_input_tokens: u32,
    /// Tokens generated, thinking included.
    pub output_tokens: u32,
    /// Of those, thinking tokens.
    pub thinking_tokens: u32,
    /// From the request's arrival to its first generated token, when it had one.
    pub ttft_ms: Option<u64>,
    /// From its arrival to its end.
    pub duration_ms: u64,
}

impl LedgerEntry {
    /// An entry that ends now, with `usage`.
    pub fn ended_now(usage: &Usage) -> LedgerEntry {
        LedgerEntry {
            time: rfc3339(now_unix()),
            input_tokens: usage.input_tokens,
            cache_read_input_tokens: usage.cache_read_input_tokens,
            cache_creation_input_tokens: usage.cache_creation_input_tokens,
            output_tokens: usage.output_tokens,
            thinking_tokens: usage.thinking_tokens,
            ..LedgerEntry::default()
        }
    }

    /// The day of `time` (`2026-12-06`).
    fn day(&self) -> &str {
        self.time.get(..10).unwrap_or(&self.time)
    }
}

/// Why the ledger could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The file could not be opened, read or written.
    #[error("usage ledger {}: {source}", path.display())]
    Io {
        /// The ledger file.
        path: PathBuf,
        /// The OS's reason.
        source: std::io::Error,
    },
    /// A line is not a ledger entry.
    #[error("usage ledger {}, line {line}: {message}", path.display())]
    Invalid {
        /// The ledger file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// The ledger file a server appends to.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    file: Mutex<File>,
}

impl Ledger {
    /// Opens `path` to append (creating it, and its folder, readable by its owner only).
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let io = |source| LedgerError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(io)?;
        Ok(Ledger {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line, written whole (one `write` of the line under a
    /// lock), so concurrent requests never interleave. A failure is logged, not raised:
    /// a full disk must not fail the request that was served.
    pub fn append(&self, entry: &LedgerEntry) {
        let mut line = match serde_json::to_string(entry) {
            Ok(line) => line,
            Err(e) => {
                log::warn!("usage ledger: cannot encode an entry: {e}");
                return;
            }
        };
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = file.write_all(line.as_bytes()) {
            log::warn!("usage ledger {}: {e}", self.path.display());
        }
    }
}

/// The entries of the ledger at `path`, in order.
pub fn read_ledger(path: &Path) -> Result<Vec<LedgerEntry>, LedgerError> {
    let io = |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let mut entries = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line).map_err(|e| LedgerError::Invalid {
            path: path.to_path_buf(),
            line: index + 1,
            message: e.to_string(),
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// What a summary groups entries by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// The key's name (`-` for requests without one).
    Key,
    /// The day, in UTC.
    Day,
}

/// The totals of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageRow {
    /// The key's name or the day.
    pub group: String,
    /// Requests.
    pub requests: u64,
    /// Requests that ended in an error (a status of 400 or more, or an error outcome).
    pub errors: u64,
    /// Prompt tokens computed.
    pub input_tokens: u64,
    /// Prompt tokens read from cache.
    pub cache_read_input_tokens: u64,
    /// Prompt tokens cached anew.
    pub cache_creation_input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Thinking tokens (within the output).
    pub thinking_tokens: u64,
}

/// The totals of `entries` from the day `since` on (`YYYY-MM-DD`, inclusive), grouped
/// `by`, in the groups' order.
pub fn summarize(entries: &[LedgerEntry], by: GroupBy, since: Option<&str>) -> Vec<UsageRow> {
    let mut rows: BTreeMap<String, UsageRow> = BTreeMap::new();
    for entry in entries {
        if since.is_some_and(|since| entry.day() < since) {
            continue;
        }
        let group = match by {
            GroupBy::Key => entry.key.clone().unwrap_or_else(|| "-".to_string()),
            GroupBy::Day => entry.day().to_string(),
        };
        let row = rows.entry(group.clone()).or_insert_with(|| UsageRow {
            group,
            ..UsageRow::default()
        });
        let failed = entry.status >= 400 || OUTCOMES_THAT_FAILED.contains(&entry.outcome.as_str());
        row.add(&UsageRow {
            group: String::new(),
            requests: 1,
            errors: u64::from(failed),
            input_tokens: u64::from(entry.input_tokens),
            cache_read_input_tokens: u64::from(entry.cache_read_input_tokens),
            cache_creation_input_tokens: u64::from(entry.cache_creation_input_tokens),
            output_tokens: u64::from(entry.output_tokens),
            thinking_tokens: u64::from(entry.thinking_tokens),
        });
    }
    rows.into_values().collect()
}

impl UsageRow {
    /// Adds `other`'s counts to this row's (the group stays this row's).
    pub fn add(&mut self, other: &UsageRow) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.input_tokens += other.input_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
        self.output_tokens += other.output_tokens;
        self.thinking_tokens += other.thinking_tokens;
    }
}

/// Outcomes of a request answered 200 whose stream then failed.
const OUTCOMES_THAT_FAILED: [&str; 2] = ["api_error", "overloaded_error"];

/// Whether `text` is a day as `--since` takes it: `YYYY-MM-DD`.
pub fn is_day(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn days_are_written_year_month_day() {
        assert!(is_day("2026-12-06"));
        assert!(!is_day("2026-12-6") && !is_day("06/12/2026"));
        assert_eq!(LedgerEntry::ended_now(&Usage::default()).day().len(), 10);
    }

    #[test]
    fn entries_written_are_read_back_and_summed_by_key_and_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage/ledger.jsonl");
        let ledger = Ledger::open(&path).unwrap();
        let entry =
            |time: &str, key: Option<&str>, status: u16, input: u32, output: u32| LedgerEntry {
                time: time.into(),
                key: key.map(String::from),
                model: "m".into(),
                endpoint: "POST /v1/messages".into(),
                status,
                outcome: if status == 200 {
                    "end_turn"
                } else {
                    "invalid_request_error"
                }
                .into(),
                input_tokens: input,
                cache_read_input_tokens: 2 * input,
                output_tokens: output,
                ..LedgerEntry::default()
            };
        ledger.append(&entry("2026-12-05T10:00:00Z", Some("alice"), 200, 10, 5));
        ledger.append(&entry("2026-12-06T10:00:00Z", Some("alice"), 200, 20, 7));
        ledger.append(&entry("2026-12-06T11:00:00Z", Some("bob"), 400, 0, 0));
        ledger.append(&entry("2026-12-06T12:00:00Z", None, 401, 0, 0));
        let entries = read_ledger(&path).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(
            entries[1],
            entry("2026-12-06T10:00:00Z", Some("alice"), 200, 20, 7)
        );
        let by_key = summarize(&entries, GroupBy::Key, None);
        let groups: Vec<&str> = by_key.iter().map(|r| r.group.as_str()).collect();
        assert_eq!(groups, ["-", "alice", "bob"]);
        assert_eq!(
            (
                by_key[1].requests,
                by_key[1].input_tokens,
                by_key[1].cache_read_input_tokens
            ),
            (2, 30, 60)
        );
        assert_eq!((by_key[2].requests, by_key[2].errors), (1, 1));
        let by_day = summarize(&entries, GroupBy::Day, Some("2026-12-06"));
        assert_eq!(by_day.len(), 1);
        assert_eq!(
            (
                by_day[0].requests,
                by_day[0].output_tokens,
                by_day[0].errors
            ),
            (3, 7, 2)
        );
        std::fs::write(&path, "{\"time\": 3}\n").unwrap();
        let error = read_ledger(&path).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
    }
}
