//! `[delivery]`: how output events are POSTed to sinks — tries, backoff and
//! timeouts, shared by every function in sink mode.

use std::time::Duration;

use serde::Deserialize;

use super::KeyError;

/// Default number of tries per output event sent to a sink.
pub const DEFAULT_DELIVERY_ATTEMPTS: usize = 5;
/// Default first backoff between sink tries (then doubled: 20+40+80+160 ms).
pub const DEFAULT_INITIAL_BACKOFF_MS: u64 = 20;
/// Default TCP connect timeout for sinks.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Default whole-request timeout for one POST to a sink.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 5_000;

/// Retry and timeout policy for POSTs to sinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Tries per output event, the first included.
    pub attempts: usize,
    /// Backoff before the second try; doubled after each further failure.
    pub initial_backoff: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout for one whole request.
    pub request_timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        WireDelivery::default()
            .validate()
            .expect("the defaults are valid")
    }
}

/// `[delivery]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct WireDelivery {
    attempts: usize,
    initial_backoff_ms: u64,
    connect_timeout_ms: u64,
    request_timeout_ms: u64,
}

impl Default for WireDelivery {
    fn default() -> Self {
        WireDelivery {
            attempts: DEFAULT_DELIVERY_ATTEMPTS,
            initial_backoff_ms: DEFAULT_INITIAL_BACKOFF_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
        }
    }
}

impl WireDelivery {
    /// The validated policy; the error names the bad key under `delivery`.
    pub(super) fn validate(self) -> Result<DeliveryConfig, KeyError> {
        if self.attempts == 0 {
            return Err(KeyError::new(
                "attempts",
                "must be at least 1 (the first try counts)",
            ));
        }
        Ok(DeliveryConfig {
            attempts: self.attempts,
            initial_backoff: Duration::from_millis(self.initial_backoff_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
        })
    }
}
