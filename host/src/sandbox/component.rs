//! The component executor: `handle` of a `wasmfn:function` component, in a
//! fresh instance per event (the default: nothing survives between events),
//! or in an instance kept warm for later events of the same function
//! (`instances = "reused"`: interpreters keep their loaded code).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;

use super::bindings::{Function, FunctionPre};
use super::context::GuestContext;
use super::engine::Sandbox;
use super::error::SandboxError;
use super::state::InstanceState;
use crate::event::{Event, GuestError};
use crate::observability::TraceContext;

/// The instances of one loaded function kept warm between its events, each
/// running one event at a time. A reload loads a new function with a new,
/// empty set, so the old instances go with the old version.
#[derive(Debug)]
pub struct WarmInstances {
    idle: Mutex<Vec<Warm>>,
    max_events: u32,
    max_idle: usize,
}

/// One warm instance: its store, its exports and its instance slot.
struct Warm {
    store: Store<InstanceState>,
    function: Function,
    events: u32,
    _slot: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Warm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warm")
            .field("events", &self.events)
            .finish()
    }
}

impl WarmInstances {
    /// Warm instances that each handle at most `max_events` events; at most
    /// `max_idle` (the function's `max_concurrency`) wait between events,
    /// each holding one of the sandbox's instance slots.
    pub fn new(max_events: u32, max_idle: usize) -> WarmInstances {
        WarmInstances {
            idle: Mutex::new(Vec::new()),
            max_events,
            max_idle,
        }
    }

    /// How many instances wait for an event.
    pub fn idle(&self) -> usize {
        self.idle.lock().expect("warm instances lock").len()
    }

    fn take(&self) -> Option<Warm> {
        self.idle.lock().expect("warm instances lock").pop()
    }

    /// Keeps `warm` for a later event unless it has had its events or
    /// enough instances already wait.
    fn give_back(&self, warm: Warm) {
        if warm.events >= self.max_events {
            return;
        }
        let mut idle = self.idle.lock().expect("warm instances lock");
        if idle.len() < self.max_idle {
            idle.push(warm);
        }
    }
}

impl Sandbox {
    /// Calls `handle` of the component `pre` with `event`.
    pub(super) async fn call_component(
        &self,
        pre: &FunctionPre<InstanceState>,
        context: &Arc<GuestContext>,
        event: &Event,
        trace: &TraceContext,
    ) -> Result<Result<Vec<Event>, GuestError>, SandboxError> {
        let (timeout, memory) = self.limits_of(context);
        let deadline = Instant::now() + timeout;
        let warm = context.warm.as_ref().and_then(WarmInstances::take);
        let (mut store, function, events, slot) = match warm {
            Some(warm) => (warm.store, Some(warm.function), warm.events, warm._slot),
            None => {
                let slot = self.slot()?;
                let state = InstanceState::new(context.clone(), memory);
                (self.store(state, InstanceState::limiter), None, 0, slot)
            }
        };
        store.data_mut().next_event(deadline, Some(trace));
        let fuel = self.arm(&mut store, context, deadline);

        let run = async {
            let function = match function {
                Some(function) => function,
                None => {
                    let started = Instant::now();
                    let function = pre.instantiate_async(&mut store).await?;
                    context.metrics.record_instantiation(started.elapsed());
                    function
                }
            };
            let verdict = function.call_handle(&mut store, event).await?;
            Ok::<_, wasmtime::Error>((function, verdict))
        };
        // The epoch deadline cuts guest code; this cuts a guest stuck in a
        // host call that never returns.
        let outcome = tokio::time::timeout(timeout + super::engine::EPOCH_TICK, run).await;
        let result = match outcome {
            Ok(Ok((function, verdict))) => {
                // Only an instance that succeeded or refused its input as
                // invalid is kept: after anything else its state is suspect.
                let keep = matches!(verdict, Ok(_) | Err(GuestError::Invalid(_)));
                if let (Some(warm), true) = (&context.warm, keep) {
                    warm.give_back(Warm {
                        store,
                        function,
                        events: events + 1,
                        _slot: slot,
                    });
                    return Ok(verdict);
                }
                Ok(verdict)
            }
            Ok(Err(err)) => {
                let denied = store.data().memory_denied();
                Err(self.classify(&err, denied, timeout, memory, fuel))
            }
            Err(_) => Err(SandboxError::Timeout(timeout)),
        };
        // The pool slot goes back before the instance slot, so whoever takes
        // the instance slot next finds a free pool slot.
        drop(store);
        drop(slot);
        result
    }
}
