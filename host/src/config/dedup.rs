//! `dedup = { window_s = .., max_entries = .. }`: a function's window for
//! acknowledging redelivered events without running it again.

use std::time::Duration;

use serde::Deserialize;

use super::KeyError;

/// Default bound on remembered inputs per function.
pub const DEFAULT_DEDUP_MAX_ENTRIES: u64 = 100_000;

/// Remember the inputs (`source` + `id`) handled successfully in the last
/// `window`, and acknowledge a redelivery without running the function again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupConfig {
    /// How long a handled input is remembered.
    pub window: Duration,
    /// At most this many inputs are remembered (oldest evicted first).
    pub max_entries: u64,
}

/// `dedup` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireDedup {
    window_s: u64,
    max_entries: Option<u64>,
}

impl WireDedup {
    /// The validated window; the error names the bad key under `dedup`.
    pub(super) fn validate(self) -> Result<DedupConfig, KeyError> {
        let max_entries = self.max_entries.unwrap_or(DEFAULT_DEDUP_MAX_ENTRIES);
        if self.window_s == 0 {
            return Err(KeyError::new("window_s", "must be at least 1"));
        }
        if max_entries == 0 {
            return Err(KeyError::new("max_entries", "must be at least 1"));
        }
        Ok(DedupConfig {
            window: Duration::from_secs(self.window_s),
            max_entries,
        })
    }
}
