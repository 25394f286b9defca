//! Per-key rate limits: requests and tokens per minute, over a sliding window of the last
//! 60 seconds. A request over either limit is refused with 429 and the seconds until the
//! window lets it in (`retry-after`); tokens are charged as each request ends (the prompt,
//! cached or not, and the output), so a long answer counts against the minute it ends in.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::keys::KeyEntry;

/// The window the limits count over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What each key used in the last [`WINDOW`].
#[derive(Debug, Default)]
pub struct RateLimits {
    used: Mutex<HashMap<String, Usage>>,
}

/// One key's requests and token charges, oldest first.
#[derive(Debug, Default)]
struct Usage {
    requests: VecDeque<Instant>,
    tokens: VecDeque<(Instant, u64)>,
}

impl Usage {
    fn forget_before(&mut self, start: Instant) {
        while self.requests.front().is_some_and(|t| *t < start) {
            self.requests.pop_front();
        }
        while self.tokens.front().is_some_and(|(t, _)| *t < start) {
            self.tokens.pop_front();
        }
    }
}

/// Why a request was refused: which limit, and when to try again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverLimit {
    /// What was exceeded, for the error message (`60 requests per minute`).
    pub limit: String,
    /// How long until the window lets a request in.
    pub retry_after: Duration,
}

impl RateLimits {
    /// Counts a request of `key` at `now`, or refuses it when the key is at one of its
    /// limits (the request is then not counted).
    pub fn admit(&self, key: &KeyEntry, now: Instant) -> Result<(), OverLimit> {
        if key.requests_per_minute.is_none() && key.tokens_per_minute.is_none() {
            return Ok(());
        }
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        let usage = used.entry(key.name.clone()).or_default();
        usage.forget_before(now.checked_sub(WINDOW).unwrap_or(now));
        let free_at = |t: Instant| (t + WINDOW).saturating_duration_since(now);
        if let Some(limit) = key.requests_per_minute {
            if usage.requests.len() >= limit as usize {
                let oldest = usage.requests.front().copied().unwrap_or(now);
                return Err(OverLimit {
                    limit: format!("{limit} requests per minute"),
                    retry_after: free_at(oldest),
                });
            }
        }
        if let Some(limit) = key.tokens_per_minute {
            let total: u64 = usage.tokens.iter().map(|(_, n)| n).sum();
            if total >= limit {
                // The window must lose enough of its oldest charges to fall under the limit.
                let mut left = total;
                let mut until = now;
                for (at, n) in &usage.tokens {
                    left -= n;
                    until = *at;
                    if left < limit {
                        break;
                    }
                }
                return Err(OverLimit {
                    limit: format!("{limit} tokens per minute"),
                    retry_after: free_at(until),
                });
            }
        }
        usage.requests.push_back(now);
        Ok(())
    }

    /// Charges `tokens` to the key named `key` at `now`.
    pub fn charge(&self, key: &str, tokens: u64, now: Instant) {
        if tokens == 0 {
            return;
        }
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(usage) = used.get_mut(key) {
            usage.tokens.push_back((now, tokens));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(rpm: Option<u32>, tpm: Option<u64>) -> KeyEntry {
        KeyEntry {
            name: "k".into(),
            sha256: "0".repeat(64),
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            cache_group: None,
        }
    }

    #[test]
    fn requests_over_the_limit_wait_for_the_oldest_to_leave_the_window() {
        let limits = RateLimits::default();
        let key = key(Some(2), None);
        let start = Instant::now();
        limits.admit(&key, start).unwrap();
        limits.admit(&key, start + Duration::from_secs(10)).unwrap();
        let over = limits
            .admit(&key, start + Duration::from_secs(20))
            .unwrap_err();
        assert_eq!(over.retry_after, Duration::from_secs(40));
        assert_eq!(over.limit, "2 requests per minute");
        // A refused request is not counted; once the first leaves, one more gets in.
        limits.admit(&key, start + Duration::from_secs(61)).unwrap();
        assert!(limits.admit(&key, start + Duration::from_secs(62)).is_err());
    }

    #[test]
    fn tokens_charged_count_until_they_leave_the_window() {
        let limits = RateLimits::default();
        let key = key(None, Some(1_000));
        let start = Instant::now();
        limits.admit(&key, start).unwrap();
        limits.charge("k", 600, start + Duration::from_secs(1));
        limits.admit(&key, start + Duration::from_secs(2)).unwrap();
        limits.charge("k", 500, start + Duration::from_secs(5));
        let over = limits
            .admit(&key, start + Duration::from_secs(10))
            .unwrap_err();
        // 1,100 tokens: under the limit once the 600 of second 1 leave, at second 61.
        assert_eq!(over.retry_after, Duration::from_secs(51));
        limits.admit(&key, start + Duration::from_secs(62)).unwrap();
        // A key without limits is never counted.
        let free = KeyEntry {
            name: "free".into(),
            tokens_per_minute: None,
            ..key.clone()
        };
        for _ in 0..100 {
            limits.admit(&free, start).unwrap();
        }
    }
}
