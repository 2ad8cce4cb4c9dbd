//! One event through one function: a fresh `Store` and instance per call, so
//! nothing survives between events, with the outcome classified for the
//! host's status mapping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{PoolConcurrencyLimitError, Store, Trap, UpdateDeadline};

use super::engine::{CompiledModule, Sandbox};
use super::guest_log::LogRate;
use super::state::InstanceState;
use crate::config::Settings;
use crate::event::{Event, GuestError};
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
}

/// Why the sandbox could not produce the guest's own answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    /// The engine or linker could not be set up (a host bug or a bad flag).
    #[error("cannot set up the Wasm engine: {0}")]
    Engine(String),
    /// The module is not a component that satisfies `wasmfn:function`.
    #[error("not a valid wasmfn function component: {0}")]
    Compile(String),
    /// Every instance slot is in use.
    #[error("all {0} instance slots are in use")]
    Exhausted(u32),
    /// The guest ran past its time limit.
    #[error("the function exceeded its time limit of {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The guest tried to grow its memory past the limit.
    #[error("the function exceeded its memory limit of {} MiB", .0 >> 20)]
    Memory(usize),
    /// The guest used up its fuel.
    #[error("the function used up its fuel of {0} units (`limits.fuel` in wasmfn.toml)")]
    Fuel(u64),
    /// The guest overflowed its stack.
    #[error("the function overflowed its stack")]
    StackOverflow,
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access...).
    #[error("the function trapped: {0}")]
    Trap(String),
}

impl SandboxError {
    pub(super) fn engine(err: wasmtime::Error) -> Self {
        SandboxError::Engine(format!("{err:#}"))
    }

    pub(super) fn compile(err: wasmtime::Error) -> Self {
        SandboxError::Compile(format!("{err:#}"))
    }
}

impl Sandbox {
    /// The time limit and memory cap (bytes) an instance of `context` runs
    /// with: the function's own, else the sandbox's, memory capped by it.
    pub fn limits_of(&self, context: &GuestContext) -> (Duration, usize) {
        let timeout = context.timeout.unwrap_or(self.limits.timeout);
        let memory = context
            .memory_bytes
            .map_or(self.limits.max_memory_bytes, |m| {
                m.min(self.limits.max_memory_bytes)
            });
        (timeout, memory)
    }

    /// Runs `event` through a fresh instance of `module`. `Ok(Err(_))` is the
    /// guest's own verdict (`invalid` / `failed`); `Err(_)` is a host-side
    /// outcome: a trap or a limit hit.
    pub async fn invoke(
        &self,
        module: &CompiledModule,
        context: &Arc<GuestContext>,
        event: &Event,
    ) -> Result<Result<Vec<Event>, GuestError>, SandboxError> {
        let (timeout, memory) = self.limits_of(context);
        let deadline = Instant::now() + timeout;
        let state = InstanceState::new(context.clone(), memory);
        let mut store = Store::new(&self.engine, state);
        store.limiter(InstanceState::limiter);
        let fuel = context.fuel.unwrap_or(u64::MAX);
        if self.limits.meter_fuel {
            store
                .set_fuel(fuel)
                .expect("the engine is configured to consume fuel");
        }
        // Every epoch tick the guest yields to the runtime, so a busy guest
        // never starves other requests; past the deadline it is interrupted.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });

        let run = async {
            let started = Instant::now();
            let instance = module.pre.instantiate_async(&mut store).await?;
            context.metrics.record_instantiation(started.elapsed());
            instance.call_handle(&mut store, event).await
        };
        // The epoch deadline cuts guest code; this cuts a guest stuck in a
        // host call that never returns.
        let outcome = tokio::time::timeout(timeout + super::engine::EPOCH_TICK, run).await;
        match outcome {
            Ok(Ok(verdict)) => Ok(verdict),
            Ok(Err(err)) => Err(self.classify(&err, store.data(), timeout, memory, fuel)),
            Err(_) => Err(SandboxError::Timeout(timeout)),
        }
    }

    fn classify(
        &self,
        err: &wasmtime::Error,
        state: &InstanceState,
        timeout: Duration,
        memory: usize,
        fuel: u64,
    ) -> SandboxError {
        if err.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
            return SandboxError::Exhausted(self.limits.max_instances);
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => SandboxError::Timeout(timeout),
            Some(Trap::StackOverflow) => SandboxError::StackOverflow,
            Some(Trap::OutOfFuel) => SandboxError::Fuel(fuel),
            _ if state.memory_denied() => SandboxError::Memory(memory),
            _ => SandboxError::Trap(format!("{err:#}")),
        }
    }
}
