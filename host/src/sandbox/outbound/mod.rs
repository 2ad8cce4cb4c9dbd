//! Outbound HTTP: the one place a guest's `wasi:http/outgoing-handler`
//! requests are granted or refused, as Spin keeps each capability in its own
//! factor.
//!
//! Deny by default: a function with no `allowed_outbound_hosts` can send
//! nothing, and every request of one that has a list is checked against it
//! (`config/outbound.rs`) on the URL the client will send. A request then
//! passes these checks, in order, each failing the request *in the guest*
//! (a `wasi:http` error code its SDK turns into an error value) and never the
//! event:
//!
//! 1. at most `limits.max_outbound_requests` per event (`connection-limit-reached`);
//! 2. the URL's scheme, host and port are listed (`HTTP-request-denied`, and
//!    one log line naming the function and the URL without its query);
//! 3. the address is not link-local or a metadata address unless the list
//!    names that address itself: an IP in the URL is checked here, a name's
//!    addresses after DNS resolution, by the client's resolver
//!    (`destination-IP-prohibited`, logged likewise);
//! 4. it ends before the event's time limit (the request's timeout is the
//!    time the event has left);
//! 5. its response body fits in what is left of the event's
//!    `limits.max_outbound_response_bytes` (`HTTP-response-body-size`).
//!
//! Redirects are returned to the guest as they are, never followed. Every
//! request continues the event's trace (`traceparent`, `tracestate`) and is
//! counted in `wasmfn_outbound_requests_total`. Each function has one client
//! whose connections are pooled per host across its events; a reload builds
//! a new one.

mod address;
mod body;
mod send;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{AllowedHosts, FunctionLimits};
use crate::observability::TraceContext;

use super::context::GuestContext;
use super::error::SandboxError;
use body::Budget;

/// How long an idle pooled connection is kept (as for sinks).
const POOL_IDLE: Duration = Duration::from_secs(60);
/// Idle connections kept per host.
const POOL_IDLE_PER_HOST: usize = 32;

/// What one function may do over HTTP, shared by all its instances so its
/// connection pool is too.
#[derive(Debug)]
pub struct Outbound {
    allowed: Arc<AllowedHosts>,
    /// `None` when nothing is allowed: no pool to keep.
    client: Option<reqwest::Client>,
    max_requests: u32,
    max_response_bytes: u64,
}

impl Outbound {
    /// The grant of a function with `allowed` hosts and `limits`.
    pub fn new(allowed: AllowedHosts, limits: &FunctionLimits) -> Result<Outbound, SandboxError> {
        let allowed = Arc::new(allowed);
        let client = if allowed.is_empty() {
            None
        } else {
            Some(
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    // The host's proxy variables are not the guest's to use.
                    .no_proxy()
                    .dns_resolver(Arc::new(address::ScreeningResolver {
                        allowed: allowed.clone(),
                    }))
                    .pool_idle_timeout(POOL_IDLE)
                    .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
                    .tcp_nodelay(true)
                    .build()
                    .map_err(|err| {
                        SandboxError::Engine(format!(
                            "cannot build the outbound HTTP client: {err}"
                        ))
                    })?,
            )
        };
        Ok(Outbound {
            allowed,
            client,
            max_requests: limits.max_outbound_requests,
            max_response_bytes: limits.max_outbound_response_bytes,
        })
    }

    /// Nothing allowed (unit tests and functions without a list).
    pub fn denied() -> Outbound {
        Outbound::new(AllowedHosts::none(), &FunctionLimits::default())
            .expect("no client is built for an empty list")
    }
}

/// One instance's side of `wasi:http`: who it is, and what its current
/// event has used.
pub(super) struct OutboundHooks {
    context: Arc<GuestContext>,
    event: EventUse,
}

/// The current event's deadline, trace and use of its limits.
struct EventUse {
    deadline: Instant,
    trace: Option<TraceContext>,
    requests: u32,
    /// Made on the first request: an event that sends none allocates nothing.
    budget: Option<Budget>,
}

impl OutboundHooks {
    /// Hooks for the instances of `context`'s function.
    pub(super) fn new(context: Arc<GuestContext>) -> OutboundHooks {
        OutboundHooks {
            context,
            event: EventUse {
                deadline: Instant::now(),
                trace: None,
                requests: 0,
                budget: None,
            },
        }
    }

    /// Starts an event ending at `deadline` in `trace`: its counts start
    /// again (a warm instance's earlier event used its own).
    pub(super) fn next_event(&mut self, deadline: Instant, trace: Option<&TraceContext>) {
        self.event = EventUse {
            deadline,
            trace: trace.cloned(),
            requests: 0,
            budget: None,
        };
    }
}
