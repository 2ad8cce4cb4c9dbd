//! `rollback = { max_error_rate, min_events, window_s }`: when a canary is
//! taken out by itself (issue 14). Applies only with `canary`.

use std::time::Duration;

use serde::Deserialize;

use super::KeyError;

/// When a canary gets weight 0: its failure rate over `window` exceeds the
/// serving version's by more than `max_error_rate`, with at least
/// `min_events` canary events in the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollbackConfig {
    /// The largest excess of the canary's failure rate (0 to 1) tolerated.
    pub max_error_rate: f64,
    /// Canary events the window needs before it is judged.
    pub min_events: u32,
    /// The sliding window the rates are taken over.
    pub window: Duration,
}

/// `rollback` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireRollback {
    max_error_rate: f64,
    min_events: u32,
    window_s: u64,
}

/// The longest window: its per-second buckets are kept in memory.
const MAX_WINDOW_S: u64 = 3600;

impl WireRollback {
    /// The validated rule; the error names the bad key under `rollback`.
    pub(super) fn validate(self) -> Result<RollbackConfig, KeyError> {
        if !(0.0..1.0).contains(&self.max_error_rate) {
            return Err(KeyError::new(
                "max_error_rate",
                "is a rate: at least 0 and below 1 (0.05 tolerates a canary failing 5 points more often than the serving version)",
            ));
        }
        if self.min_events == 0 {
            return Err(KeyError::new("min_events", "must be at least 1"));
        }
        if !(1..=MAX_WINDOW_S).contains(&self.window_s) {
            return Err(KeyError::new(
                "window_s",
                format!("must be 1 to {MAX_WINDOW_S} seconds"),
            ));
        }
        Ok(RollbackConfig {
            max_error_rate: self.max_error_rate,
            min_events: self.min_events,
            window: Duration::from_secs(self.window_s),
        })
    }
}
