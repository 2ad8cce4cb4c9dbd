//! Per-function limits (`[functions.<name>.limits]` in `wasmfn.toml`), with
//! defaults for all: time and memory per event, output bounds, concurrency,
//! outbound HTTP requests.

use std::time::Duration;

use serde::Deserialize;

use super::KeyError;

/// Default cap on output events per input event.
pub const DEFAULT_MAX_OUTPUT_EVENTS: usize = 100;
/// Default cap on the total bytes (data and attributes) of one input's output events.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// Default cap on events in flight per function (over it: 429).
pub const DEFAULT_MAX_CONCURRENCY: usize = 100;
/// Default cap on outbound HTTP requests per event.
pub const DEFAULT_MAX_OUTBOUND_REQUESTS: u32 = 10;
/// Default cap on the response body bytes of one event's outbound requests.
pub const DEFAULT_MAX_OUTBOUND_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// One function's limits. `None` means the host-wide value (`--timeout-ms`,
/// `--memory-mb`), which is also the ceiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionLimits {
    /// Time limit per event.
    pub timeout: Option<Duration>,
    /// Linear memory per instance, in bytes.
    pub memory_bytes: Option<usize>,
    /// Fuel per event (roughly one unit per Wasm instruction): a
    /// deterministic cut-off, unlike the wall-clock timeout. `None`: unmetered.
    pub fuel: Option<u64>,
    /// Output events per input event.
    pub max_output_events: usize,
    /// Total bytes of one input's output events: data and every attribute.
    pub max_output_bytes: usize,
    /// Events in flight at once; more answer 429 with `Retry-After`.
    pub max_concurrency: usize,
    /// Outbound HTTP requests per event; past it a request fails in the
    /// guest (`connection-limit-reached`), not the event.
    pub max_outbound_requests: u32,
    /// Response body bytes of all one event's outbound requests; past it
    /// the response body fails in the guest (`HTTP-response-body-size`).
    pub max_outbound_response_bytes: u64,
}

impl Default for FunctionLimits {
    fn default() -> Self {
        WireLimits::default()
            .validate()
            .expect("the defaults are valid")
    }
}

/// `[functions.<name>.limits]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireLimits {
    timeout_ms: Option<u64>,
    memory_mb: Option<usize>,
    fuel: Option<u64>,
    max_output_events: Option<usize>,
    max_output_bytes: Option<usize>,
    max_concurrency: Option<usize>,
    max_outbound_requests: Option<u32>,
    max_outbound_response_bytes: Option<u64>,
}

impl WireLimits {
    /// Validated limits; the error names the bad key under `limits`.
    pub(super) fn validate(self) -> Result<FunctionLimits, KeyError> {
        Ok(FunctionLimits {
            timeout: positive("timeout_ms", self.timeout_ms)?.map(Duration::from_millis),
            memory_bytes: positive("memory_mb", self.memory_mb)?.map(|mb| mb << 20),
            fuel: positive("fuel", self.fuel)?,
            max_output_events: self.max_output_events.unwrap_or(DEFAULT_MAX_OUTPUT_EVENTS),
            max_output_bytes: self.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT_BYTES),
            max_concurrency: positive("max_concurrency", self.max_concurrency)?
                .unwrap_or(DEFAULT_MAX_CONCURRENCY),
            max_outbound_requests: positive("max_outbound_requests", self.max_outbound_requests)?
                .unwrap_or(DEFAULT_MAX_OUTBOUND_REQUESTS),
            max_outbound_response_bytes: positive(
                "max_outbound_response_bytes",
                self.max_outbound_response_bytes,
            )?
            .unwrap_or(DEFAULT_MAX_OUTBOUND_RESPONSE_BYTES),
        })
    }
}

/// `value` unless it is zero, which no limit may be.
fn positive<T: Default + PartialEq>(
    field: &'static str,
    value: Option<T>,
) -> Result<Option<T>, KeyError> {
    match value {
        Some(v) if v == T::default() => Err(KeyError::new(field, "must be at least 1")),
        other => Ok(other),
    }
}
