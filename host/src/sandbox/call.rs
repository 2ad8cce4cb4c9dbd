//! One guest call per event, whatever the module's form: [`Sandbox::call`]
//! picks the form's executor, and here is what every form shares — the
//! instance slot, the limits set on each `Store` (time, memory,
//! fuel) and the classification of a trap or limit hit for the host's status
//! mapping. Each form's executor is its own module (`component`, `command`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{PoolConcurrencyLimitError, ResourceLimiter, Store, Trap, UpdateDeadline};

use super::context::GuestContext;
use super::engine::{CompiledModule, Linked, Sandbox};
use super::error::SandboxError;
use crate::event::{Event, GuestError};
use crate::observability::TraceContext;

impl Sandbox {
    /// The time limit and memory cap (bytes) an instance of `context` runs
    /// with: the function's own, else the sandbox's, memory capped by it.
    pub fn limits_of(&self, context: &GuestContext) -> (Duration, usize) {
        let timeout = context.limits.timeout.unwrap_or(self.config.timeout);
        let memory = context
            .limits
            .memory_bytes
            .map_or(self.config.max_memory_bytes, |m| {
                m.min(self.config.max_memory_bytes)
            });
        (timeout, memory)
    }

    /// Calls the guest once with `event`, in an instance of `module`: a
    /// fresh one, or one kept warm when the function reuses instances. `Ok(Err(_))` is the
    /// guest's own verdict (`invalid` / `failed`); `Err(_)` is a host-side
    /// outcome: a trap, a limit hit, no free instance slot. `trace` is the
    /// event's, continued on the guest's outbound requests.
    pub async fn call(
        &self,
        module: &CompiledModule,
        context: &Arc<GuestContext>,
        event: &Event,
        trace: &TraceContext,
    ) -> Result<Result<Vec<Event>, GuestError>, SandboxError> {
        match &module.linked {
            Linked::Component(pre) => self.call_component(pre, context, event, trace).await,
            Linked::Command(pre) => self.call_command(pre, context, event).await,
        }
    }

    /// Instance slots free now, of [`Self::max_slots`]: a shadow run is
    /// shed when few are left, so real events get them first.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Instance slots in all (`--max-instances`).
    pub fn max_slots(&self) -> usize {
        self.config.max_instances as usize
    }

    /// One of the `--max-instances` instance slots, or
    /// [`SandboxError::Exhausted`] when all are taken.
    pub(super) fn slot(&self) -> Result<OwnedSemaphorePermit, SandboxError> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| SandboxError::Exhausted(self.config.max_instances))
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
        let fuel = context.limits.fuel.unwrap_or(u64::MAX);
        if self.config.meter_fuel {
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
            return SandboxError::Exhausted(self.config.max_instances);
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
