//! One event through one function, whatever its form: what every form
//! shares — the instance slot, the limits set on each `Store` (time, memory,
//! fuel) and the classification of a trap or limit hit for the host's status
//! mapping. Each form's executor is its own module (`component`, `command`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{PoolConcurrencyLimitError, ResourceLimiter, Store, Trap, UpdateDeadline};

use super::component::WarmInstances;
use super::engine::{CompiledModule, Linked, Sandbox};
use super::guest_log::LogRate;
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
    /// Its output data limit in bytes (`limits.max_output_bytes`), which
    /// also bounds what a command may write to stdout.
    pub max_output_bytes: usize,
    /// Its instances kept warm between events (`instances = "reused"`);
    /// `None`: a fresh instance per event.
    pub warm: Option<WarmInstances>,
}

/// Why the sandbox could not produce the guest's own answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    /// The engine or linker could not be set up (a host bug or a bad flag).
    #[error("cannot set up the Wasm engine: {0}")]
    Engine(String),
    /// The module is none of the accepted forms, does not satisfy its
    /// form's contract (the `wasmfn:function` world, a WASI command), or
    /// does not fit the host's limits.
    #[error("cannot load the function module: {0}")]
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
    /// A command's stdout is not output events as the command ABI defines
    /// them, or is over its limit.
    #[error("{0}")]
    Output(String),
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

    /// Runs `event` through an instance of `module`: a fresh one, or one
    /// kept warm when the function reuses instances. `Ok(Err(_))` is the
    /// guest's own verdict (`invalid` / `failed`); `Err(_)` is a host-side
    /// outcome: a trap, a limit hit, no free instance slot.
    pub async fn invoke(
        &self,
        module: &CompiledModule,
        context: &Arc<GuestContext>,
        event: &Event,
    ) -> Result<Result<Vec<Event>, GuestError>, SandboxError> {
        match &module.linked {
            Linked::Component(pre) => self.run_component(pre, context, event).await,
            Linked::Command(pre) => self.run_command(pre, context, event).await,
        }
    }

    /// One of the `--max-instances` instance slots, or
    /// [`SandboxError::Exhausted`] when all are taken.
    pub(super) fn slot(&self) -> Result<OwnedSemaphorePermit, SandboxError> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| SandboxError::Exhausted(self.limits.max_instances))
    }

    /// A `Store` for one instance of `context`'s function holding `state`,
    /// whose memory growth `limiter` decides.
    pub(super) fn store<T: 'static>(
        &self,
        state: T,
        limiter: impl (FnMut(&mut T) -> &mut dyn ResourceLimiter) + Send + Sync + 'static,
    ) -> Store<T> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(limiter);
        store
    }

    /// Arms `store` for one event of `context`: its fuel and its deadline.
    /// Returns the fuel given (`u64::MAX`: unmetered).
    pub(super) fn arm<T: 'static>(
        &self,
        store: &mut Store<T>,
        context: &GuestContext,
        deadline: Instant,
    ) -> u64 {
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
        fuel
    }

    /// What a wasmtime error of a guest run means. `memory_denied`: the
    /// limiter refused a memory growth during the run.
    pub(super) fn classify(
        &self,
        err: &wasmtime::Error,
        memory_denied: bool,
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
            _ if memory_denied => SandboxError::Memory(memory),
            _ => SandboxError::Trap(format!("{err:#}")),
        }
    }
}
