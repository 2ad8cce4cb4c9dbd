//! Per-instance state: deny-by-default WASI, `wasi:http` through the
//! function's outbound grant, the memory limiter, and the host side of the
//! `config` and `log` imports.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::wasmfn::function::{config, log, types};
use super::context::GuestContext;
use super::guest_log::{EventLog, GuestOutput};
use super::outbound::OutboundHooks;
use crate::observability::TraceContext;

/// What one `Store` holds while it runs one event.
pub(super) struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: OutboundHooks,
    table: ResourceTable,
    limiter: MemoryLimiter,
    context: Arc<GuestContext>,
    log: Arc<EventLog>,
}

impl InstanceState {
    /// State for one event of the function described by `context`: no files,
    /// no sockets, no environment, no args; stdout and stderr go to the log.
    pub(super) fn new(context: Arc<GuestContext>, max_memory_bytes: usize) -> Self {
        let log = EventLog::new(context.clone());
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput::new(log.clone(), "stdout"))
            .stderr(GuestOutput::new(log.clone(), "stderr"))
            .build();
        InstanceState {
            wasi,
            http: WasiHttpCtx::new(),
            outbound: OutboundHooks::new(context.clone()),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(max_memory_bytes),
            context,
            log,
        }
    }

    /// The limiter the `Store` consults before growing memory or tables.
    pub(super) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// Whether the guest tried to grow memory beyond its limit.
    pub(super) fn memory_denied(&self) -> bool {
        self.limiter.denied
    }

    /// Starts an event ending at `deadline` in `trace`: forgets a refused
    /// growth and the outbound requests of an earlier event (a warm instance).
    pub(super) fn next_event(&mut self, deadline: Instant, trace: Option<&TraceContext>) {
        self.limiter.denied = false;
        self.log.next_event();
        self.outbound.next_event(deadline, trace);
    }
}

/// [`StoreLimits`] that remembers whether it refused a memory growth, so a
/// trap that follows can be reported as a memory limit hit.
pub(super) struct MemoryLimiter {
    inner: StoreLimits,
    denied: bool,
}

impl MemoryLimiter {
    /// Memory up to `max_memory_bytes`; any number of instances and tables
    /// (the pool bounds those).
    pub(super) fn new(max_memory_bytes: usize) -> Self {
        MemoryLimiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(max_memory_bytes)
                .instances(usize::MAX)
                .build(),
            denied: false,
        }
    }

    /// Whether a memory growth was refused.
    pub(super) fn denied(&self) -> bool {
        self.denied
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        self.denied |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

impl types::Host for InstanceState {}

impl config::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        self.context.settings.get(&key).map(str::to_owned)
    }
}

impl log::Host for InstanceState {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => tracing::Level::TRACE,
            log::Level::Debug => tracing::Level::DEBUG,
            log::Level::Info => tracing::Level::INFO,
            log::Level::Warn => tracing::Level::WARN,
            log::Level::Error => tracing::Level::ERROR,
        };
        self.log.record(level, None, &message);
    }
}
