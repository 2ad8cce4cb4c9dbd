//! The function table: name → loaded function, plus the default route, held
//! in a [`Registry`] that swaps whole tables atomically.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use http::HeaderValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use sha2::{Digest, Sha256};

use super::DedupWindow;
use super::rollout::{Rollout, Version};
use super::shadow::Shadow;
use crate::config::{FunctionConfig, FunctionLimits, Instances};
use crate::error::Error;
use crate::event::{Event, GuestError};
use crate::observability::{FunctionMetrics, Metrics, TraceContext};
use crate::outputs::{Destination, check_bounds, prepare};
use crate::sandbox::{
    CompiledModule, GuestContext, GuestForm, Outbound, Sandbox, SandboxError, WarmInstances,
};

/// A function ready to serve: its compiled module and its configuration.
pub struct LoadedFunction {
    /// Name, settings and limits, shared with every instance.
    pub context: Arc<GuestContext>,
    /// Where its output events go and how its answer is formed.
    pub destination: Destination,
    /// `sha256:<hex>` of the `.wasm` bytes.
    pub digest: String,
    /// [`Self::digest`] as a response header value.
    pub digest_header: HeaderValue,
    /// Size of the `.wasm` file in bytes.
    pub size: usize,
    /// The compiled, linked component.
    pub module: CompiledModule,
    /// Inputs recently handled, when `dedup` is configured.
    pub dedup: Option<DedupWindow>,
    /// Which version of the function this module is.
    pub version: Version,
    /// Its canary, when one is configured and loaded (serving version only).
    pub rollout: Option<Rollout>,
    /// Its shadow, when one is configured and loaded (serving version only).
    pub shadow: Option<Shadow>,
    /// Admission control: one permit per event in flight.
    permits: Arc<Semaphore>,
}

impl LoadedFunction {
    /// Compiles `bytes` as function `name` with its configuration.
    pub fn compile(
        sandbox: &Sandbox,
        name: &str,
        bytes: &[u8],
        config: FunctionConfig,
    ) -> Result<LoadedFunction, SandboxError> {
        let digest = digest(bytes);
        let module = sandbox.compile(bytes, &digest)?;
        LoadedFunction::new(name, Version::Serving, digest, bytes.len(), module, config)
    }

    /// `version` of function `name` from an already compiled module. A
    /// memory limit below what the module's memory starts at is refused,
    /// naming `limits.memory_mb` and that minimum.
    pub fn new(
        name: &str,
        version: Version,
        digest: String,
        size: usize,
        module: CompiledModule,
        config: FunctionConfig,
    ) -> Result<LoadedFunction, SandboxError> {
        let minimum = module.min_memory_bytes();
        if let Some(limit) = config.limits.memory_bytes
            && minimum > limit as u64
        {
            return Err(SandboxError::Compile(format!(
                "its memory starts at {minimum} bytes, over `functions.{name}.limits.memory_mb = {}` in wasmfn.toml; set it to at least {}",
                limit >> 20,
                minimum.div_ceil(1 << 20)
            )));
        }
        let warm = match (config.instances, module.form()) {
            (Instances::Fresh, _) => None,
            (Instances::Reused { max_events }, GuestForm::Component) => Some(WarmInstances::new(
                max_events,
                config.limits.max_concurrency,
            )),
            (Instances::Reused { .. }, GuestForm::Command) => {
                tracing::warn!(
                    function = name,
                    "`instances = \"reused\"` does not apply to a WASI command (its `_start` runs once per instance); every event gets a fresh instance"
                );
                None
            }
        };
        let outbound = Outbound::new(config.allowed_outbound_hosts, &config.limits)?;
        Ok(LoadedFunction {
            permits: Arc::new(Semaphore::new(config.limits.max_concurrency)),
            context: Arc::new(GuestContext {
                name: name.into(),
                settings: config.settings,
                limits: config.limits,
                metrics: Metrics::global().function(name, version.label()),
                log_rate: Default::default(),
                warm,
                outbound,
            }),
            destination: Destination::new(config.output),
            digest_header: HeaderValue::from_str(&digest).expect("a hex digest is ASCII"),
            digest,
            size,
            module,
            dedup: config.dedup.as_ref().map(DedupWindow::new),
            version,
            rollout: None,
            shadow: None,
        })
    }

    /// The function's name (its route and `.wasm` file stem).
    pub fn name(&self) -> &str {
        &self.context.name
    }

    /// Its limits (kept in its [`GuestContext`], the one copy).
    pub fn limits(&self) -> &FunctionLimits {
        &self.context.limits
    }

    /// Its metric handles, resolved once at load so events only touch them.
    pub fn metrics(&self) -> &FunctionMetrics {
        &self.context.metrics
    }

    /// Admits a request of `events` events (a batch counts each of its
    /// events, since none is acknowledged before the batch answers), or
    /// [`Error::Overloaded`] when they do not fit under `max_concurrency`.
    /// A batch larger than the cap takes the whole cap, so it still runs
    /// once the function is idle.
    pub fn admit(&self, events: usize) -> Result<OwnedSemaphorePermit, Error> {
        let max = self.limits().max_concurrency;
        let permits = events.clamp(1, max);
        self.permits
            .clone()
            .try_acquire_many_owned(u32::try_from(permits).unwrap_or(u32::MAX))
            .map_err(|_| Error::Overloaded(max))
    }

    /// Executes one event in the sandbox (a fresh instance, or a warm one
    /// when the function reuses instances) and returns its output events,
    /// checked against the function's limits, with their deterministic ids.
    /// The guest's verdict, traps and limit hits become the matching [`Error`].
    /// `trace` is the event's, continued on the guest's outbound requests.
    pub async fn execute(
        &self,
        sandbox: &Sandbox,
        event: &Event,
        trace: &TraceContext,
    ) -> Result<Vec<Event>, Error> {
        let verdict = sandbox
            .call(&self.module, &self.context, event, trace)
            .await
            .map_err(|err| match err {
                SandboxError::Output(message) => Error::Output(message),
                other => Error::Sandbox(other),
            })?;
        let mut outputs = verdict.map_err(|err| match err {
            GuestError::Invalid(message) => Error::FunctionInvalid(message),
            GuestError::Failed(message) => Error::FunctionFailed(message),
        })?;
        check_bounds(&outputs, self.limits()).map_err(Error::Output)?;
        prepare(event, &mut outputs).map_err(Error::Output)?;
        Ok(outputs)
    }
}

/// `sha256:<hex>` of a module's bytes: its identity across reloads.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// An immutable set of loaded functions.
#[derive(Default)]
pub struct FunctionTable {
    functions: HashMap<String, Arc<LoadedFunction>>,
    default: Option<Arc<LoadedFunction>>,
}

impl FunctionTable {
    /// A table of `functions`; `POST /` serves `default`, or the only
    /// function when `default` is `None` and there is exactly one.
    pub fn new(functions: Vec<LoadedFunction>, default: Option<&str>) -> Result<Self, String> {
        let functions: HashMap<String, Arc<LoadedFunction>> = functions
            .into_iter()
            .map(|f| (f.name().to_owned(), Arc::new(f)))
            .collect();
        let default = match default {
            Some(name) => Some(functions.get(name).cloned().ok_or_else(|| {
                format!(
                    "`default = \"{name}\"` but there is no {name}.wasm in the functions directory"
                )
            })?),
            None if functions.len() == 1 => functions.values().next().cloned(),
            None => None,
        };
        Ok(FunctionTable { functions, default })
    }

    /// The function named `name`, if loaded.
    pub fn find(&self, name: &str) -> Option<&Arc<LoadedFunction>> {
        self.functions.get(name)
    }

    /// The function served at `/{name}`.
    pub fn get(&self, name: &str) -> Result<&Arc<LoadedFunction>, Error> {
        self.functions
            .get(name)
            .ok_or_else(|| Error::UnknownFunction(name.to_owned()))
    }

    /// The function served at `/`.
    pub fn default_function(&self) -> Result<&Arc<LoadedFunction>, Error> {
        self.default.as_ref().ok_or(Error::NoDefaultFunction)
    }

    /// Every function, sorted by name.
    pub fn functions(&self) -> Vec<&Arc<LoadedFunction>> {
        let mut all: Vec<_> = self.functions.values().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// The name of the function served at `/`, if any.
    pub fn default_name(&self) -> Option<&str> {
        self.default.as_ref().map(|f| f.name())
    }
}

/// A module (or the configuration) that could not be loaded on a reload.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadIssue {
    /// The function (or `wasmfn.toml`).
    pub function: String,
    /// What went wrong; the previous version, if any, keeps serving.
    pub message: String,
}

/// What the last reloads did, for `/readyz`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    /// Reloads attempted since start.
    pub reloads: u64,
    /// Reloads with at least one issue.
    pub failed_reloads: u64,
    /// The issues of the last reload (empty when it fully succeeded).
    pub issues: Vec<LoadIssue>,
}

/// The current function table and readiness. Requests take a snapshot of the
/// table, so an event in flight finishes on the version it started with.
pub struct Registry {
    table: ArcSwap<FunctionTable>,
    ready: AtomicBool,
    /// Every function configured at start has loaded once (registry
    /// sources can lag behind the start).
    loaded: AtomicBool,
    /// Configured functions with no version loaded yet.
    waiting: Mutex<Vec<String>>,
    status: Mutex<ReloadStatus>,
}

impl Registry {
    /// A registry serving `table`, not yet marked ready nor loaded (see
    /// [`Self::set_waiting`]).
    pub fn new(table: FunctionTable) -> Self {
        publish(None, &table);
        Registry {
            table: ArcSwap::from_pointee(table),
            ready: AtomicBool::new(false),
            loaded: AtomicBool::new(false),
            waiting: Mutex::new(Vec::new()),
            status: Mutex::new(ReloadStatus::default()),
        }
    }

    /// The current table.
    pub fn snapshot(&self) -> Arc<FunctionTable> {
        self.table.load_full()
    }

    /// Replaces the whole table at once.
    pub fn replace(&self, table: FunctionTable) {
        let table = Arc::new(table);
        let old = self.table.swap(table.clone());
        publish(Some(&old), &table);
    }

    /// Records the outcome of one reload.
    pub fn record_reload(&self, issues: Vec<LoadIssue>) {
        let mut status = self.status.lock().expect("reload status lock");
        status.reloads += 1;
        status.failed_reloads += u64::from(!issues.is_empty());
        Metrics::global().record_reload(!issues.is_empty());
        status.issues = issues;
    }

    /// Records what loading at startup could not load (not a reload).
    pub fn record_startup(&self, issues: Vec<LoadIssue>) {
        self.status.lock().expect("reload status lock").issues = issues;
    }

    /// Records which configured functions have no version loaded yet. Until
    /// that is none for the first time, the host is not ready: a new pod
    /// stays out of the routing while its first pulls fail. Later (a
    /// function added by a reload) it only shows in `/readyz`.
    pub fn set_waiting(&self, functions: Vec<String>) {
        Metrics::global().set_waiting(functions.len());
        if functions.is_empty() {
            self.loaded.store(true, Ordering::Release);
        }
        *self.waiting.lock().expect("waiting lock") = functions;
    }

    /// Configured functions with no version loaded yet.
    pub fn waiting(&self) -> Vec<String> {
        self.waiting.lock().expect("waiting lock").clone()
    }

    /// Whether `function` is configured but has no version loaded yet.
    pub fn is_waiting(&self, function: &str) -> bool {
        self.waiting
            .lock()
            .expect("waiting lock")
            .iter()
            .any(|name| name == function)
    }

    /// What the reloads so far did.
    pub fn reload_status(&self) -> ReloadStatus {
        self.status.lock().expect("reload status lock").clone()
    }

    /// Whether the host should receive traffic (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && self.loaded.load(Ordering::Acquire)
    }

    /// Marks the host ready (after loading) or not (while draining).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

/// Shows the module versions `new` serves in the metrics, and retires the
/// functions of `old` it no longer has.
fn publish(old: Option<&FunctionTable>, new: &FunctionTable) {
    for function in new.functions() {
        function.metrics().serving(&function.digest);
        if let Some(rollout) = &function.rollout {
            rollout.canary.metrics().serving(&rollout.canary.digest);
        }
        if let Some(shadow) = &function.shadow {
            shadow.module.metrics().serving(&shadow.module.digest);
        }
    }
    for function in old.map(FunctionTable::functions).unwrap_or_default() {
        let now = new.find(function.name());
        if now.is_none() {
            function.metrics().retired();
        }
        if let Some(rollout) = &function.rollout
            && now.is_none_or(|f| f.rollout.is_none())
        {
            rollout.canary.metrics().retired();
        }
        if let Some(shadow) = &function.shadow
            && now.is_none_or(|f| f.shadow.is_none())
        {
            shadow.module.metrics().retired();
        }
    }
}
