//! [`GuestContext`]: who a guest is while it runs — the per-function name,
//! settings, limits, metric handles, warm instances and outbound grant every
//! instance of one loaded function shares.

use std::sync::Arc;
use std::time::Duration;

use super::component::WarmInstances;
use super::guest_log::LogRate;
use super::outbound::Outbound;
use crate::config::Settings;
use crate::observability::FunctionMetrics;

/// Who a guest is while it runs: its name (for logs) and its settings (for
/// `config.get`). Shared by all instances of one loaded function.
#[derive(Debug)]
pub struct GuestContext {
    /// The function's name, as routed and logged.
    pub name: Arc<str>,
    /// What the guest's `config.get` sees.
    pub settings: Settings,
    /// Its time limit per event (`None`: the sandbox's).
    pub timeout: Option<Duration>,
    /// Its memory limit in bytes (`None`: the sandbox's, also the ceiling).
    pub memory_bytes: Option<usize>,
    /// Its fuel per event (`None`: unmetered).
    pub fuel: Option<u64>,
    /// Its metric handles (instantiation time is measured here).
    pub metrics: Arc<FunctionMetrics>,
    /// Its guest-log rate limit, shared by all its events.
    pub log_rate: LogRate,
    /// Its output data limit in bytes (`limits.max_output_bytes`), which
    /// also bounds what a command may write to stdout.
    pub max_output_bytes: usize,
    /// Its instances kept warm between events (`instances = "reused"`);
    /// `None`: a fresh instance per event.
    pub warm: Option<WarmInstances>,
    /// The hosts it may send HTTP requests to, its client and its limits.
    pub outbound: Outbound,
}
