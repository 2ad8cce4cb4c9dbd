//! [`GuestContext`]: who a guest is while it runs — the per-function name,
//! settings, limits, metric handles, warm instances and outbound grant every
//! instance of one loaded function shares. It is the one value a function's
//! configuration reaches the sandbox as: the routing table builds it once per
//! loaded version and every `Store` holds an `Arc` of it, no field copied.

use std::sync::Arc;

use super::component::WarmInstances;
use super::guest_log::LogRate;
use super::outbound::Outbound;
use crate::config::{FunctionLimits, Settings};
use crate::observability::FunctionMetrics;

/// Who a guest is while it runs: its name (for logs) and its settings (for
/// `config.get`). Shared by all instances of one loaded function.
#[derive(Debug)]
pub struct GuestContext {
    /// The function's name, as routed and logged.
    pub name: Arc<str>,
    /// What the guest's `config.get` sees.
    pub settings: Settings,
    /// Its limits as configured: time, memory and fuel per event (`None`:
    /// the sandbox's), output bounds (`max_output_bytes` also bounds what a
    /// command may write to stdout), concurrency.
    pub limits: FunctionLimits,
    /// Its metric handles (instantiation time is measured here).
    pub metrics: Arc<FunctionMetrics>,
    /// Its guest-log rate limit, shared by all its events.
    pub log_rate: LogRate,
    /// Its instances kept warm between events (`instances = "reused"`);
    /// `None`: a fresh instance per event.
    pub warm: Option<WarmInstances>,
    /// The hosts it may send HTTP requests to, its client and its limits.
    pub outbound: Outbound,
}
