//! Prometheus metrics (`GET /metrics`, OpenMetrics text via the
//! `prometheus-client` crate): one registry with every family, and
//! [`FunctionMetrics`], the per-function handles resolved when a function is
//! loaded. Every per-function series also has a `version` label: `serving`,
//! `canary` for a function's canary or `shadow` for its shadow (issue 14).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `wasmfn_events_total` | function, outcome | requests handled, by outcome: `ok` or the error kind of the response body (`invalid`, `failed`, `trap`, `timeout`, `memory`, `stack`, `output`, `overload`, `sink_unavailable`…) |
//! | `wasmfn_event_duration_seconds` | function | request latency, admission to response (sink delivery included) |
//! | `wasmfn_instantiation_duration_seconds` | function | time to instantiate the component for one event |
//! | `wasmfn_sink_deliveries_total` | function, status | output events delivered or given up on, by the sink's last HTTP status (`error`: no response) |
//! | `wasmfn_sink_retries_total` | function, status | sink tries that were retried, by the failed try's status |
//! | `wasmfn_module_info` | function, digest | 1 for the module version serving |
//! | `wasmfn_module_loaded_timestamp_seconds` | function | when that version started serving (Unix time) |
//! | `wasmfn_reloads_total`, `wasmfn_failed_reloads_total` | | reloads of the functions directory, and those with an issue |
//! | `wasmfn_guest_log_dropped_total` | function, reason | guest log records dropped: `per_event` (past 256 in one event) or `rate` (past 1,000/s for the function) |
//! | `wasmfn_log_lines_dropped_total` | | log lines dropped because stderr did not keep up (the writer never blocks a request) |
//! | `wasmfn_registry_pulls_total` | result | `oci://` modules fetched: `cached` (from --cache-dir), `pulled`, or `failed` |
//! | `wasmfn_module_loads_total` | result | modules made ready to serve, by how: `compiled` (Cranelift ran), `cached` (compiled-artifact cache in --cache-dir), `precompiled` (an artifact's precompiled layer, --trust-precompiled) |
//! | `wasmfn_functions_waiting` | | configured functions not loaded yet (a first pull still failing): `/readyz` is 503 meanwhile |
//! | `wasmfn_outbound_requests_total` | function, version, host, status | outbound HTTP requests of guests, by the response's status, or `denied` (not allowed, or a link-local/metadata address), `limit` (past `max_outbound_requests`), `timeout`, `error` (no response); `host` is `-` for a refused host, so a guest cannot add series |
//! | `wasmfn_outbound_request_duration_seconds` | function, version, host | time from sending an outbound request to its response head |
//! | `wasmfn_rollbacks_total` | function | canaries rolled back by their `rollback` rule |
//! | `wasmfn_shadow_runs_total` | function, result | sampled events run on a function's shadow, by `result`: `match`, `mismatch` (outputs differ, `id` aside), `error` (the shadow failed), `shed` (not run: the host was busy) |
//!
//! The metrics are process-wide, like the log subscriber: [`Metrics::global`]
//! is what `wasmfn serve` exposes, so loading and reloading need no handle
//! threaded through them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::error::Error;

/// The media type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `outcome` of a request that succeeded; every other outcome is the
/// error's [`Error::kind`], so the labels and the response bodies agree.
pub const OK: &str = "ok";

/// The `outcome` label of a request's result.
pub fn outcome<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => OK,
        Err(err) => err.kind(),
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabels {
    function: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabels {
    function: String,
    version: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    function: String,
    version: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShadowLabels {
    function: String,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    function: String,
    version: &'static str,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    function: String,
    version: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboundLabels {
    function: String,
    version: &'static str,
    host: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabels {
    function: String,
    version: &'static str,
    host: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModuleLabels {
    function: String,
    version: &'static str,
    digest: String,
}

type Histograms = Family<FunctionLabels, Histogram, fn() -> Histogram>;

/// Event latency buckets: 0.5 ms to 12 s, ×2.5 each.
fn event_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.5, 12))
}

/// Instantiation buckets: 10 µs to 200 ms, ×3 each (a pooled instance
/// takes tens of microseconds; a cold one, milliseconds).
fn instantiation_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.00001, 3.0, 10))
}

/// Outbound request buckets: 1 ms to 10 s, ×2.5 each (a pooled request
/// to a nearby service takes milliseconds; a slow upstream, seconds).
fn outbound_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 11))
}

/// The metric families; clones share the series.
#[derive(Clone)]
struct Families {
    events: Family<OutcomeLabels, Counter>,
    event_duration: Histograms,
    instantiation: Histograms,
    sink_deliveries: Family<StatusLabels, Counter>,
    sink_retries: Family<StatusLabels, Counter>,
    module_info: Family<ModuleLabels, Gauge>,
    module_loaded: Family<FunctionLabels, Gauge<f64, AtomicU64>>,
    guest_log_dropped: Family<ReasonLabels, Counter>,
    outbound_requests: Family<OutboundLabels, Counter>,
    outbound_duration: Family<HostLabels, Histogram, fn() -> Histogram>,
}

/// The registry and every family, plus the per-function handles.
pub struct Metrics {
    registry: Registry,
    families: Families,
    reloads: Counter,
    failed_reloads: Counter,
    log_lines_dropped: Counter,
    pulls: Family<ResultLabels, Counter>,
    module_loads: Family<ResultLabels, Counter>,
    waiting: Gauge,
    rollbacks: Family<NameLabels, Counter>,
    shadow_runs: Family<ShadowLabels, Counter>,
    functions: Mutex<HashMap<(String, &'static str), Arc<FunctionMetrics>>>,
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    /// A registry with every family, empty.
    pub fn new() -> Metrics {
        let families = Families {
            events: Family::default(),
            event_duration: Family::new_with_constructor(event_buckets),
            instantiation: Family::new_with_constructor(instantiation_buckets),
            sink_deliveries: Family::default(),
            sink_retries: Family::default(),
            module_info: Family::default(),
            module_loaded: Family::default(),
            guest_log_dropped: Family::default(),
            outbound_requests: Family::default(),
            outbound_duration: Family::new_with_constructor(outbound_buckets),
        };
        let log_lines_dropped = Counter::default();
        let (reloads, failed_reloads) = (Counter::default(), Counter::default());
        let mut registry = Registry::with_prefix("wasmfn");
        let f = &families;
        registry.register(
            "events",
            "Requests handled by a function, by outcome (ok, or the error.type of the response)",
            f.events.clone(),
        );
        registry.register_with_unit(
            "event_duration",
            "Request latency from admission to response, sink delivery included",
            Unit::Seconds,
            f.event_duration.clone(),
        );
        registry.register_with_unit(
            "instantiation_duration",
            "Time to instantiate a function's component for one event",
            Unit::Seconds,
            f.instantiation.clone(),
        );
        registry.register(
            "sink_deliveries",
            "Output events delivered to (or given up on by) a sink, by its last HTTP status; error: no response",
            f.sink_deliveries.clone(),
        );
        registry.register(
            "sink_retries",
            "Sink tries that failed transiently and were retried, by their HTTP status; error: no response",
            f.sink_retries.clone(),
        );
        registry.register(
            "module_info",
            "The module version serving a function (always 1)",
            f.module_info.clone(),
        );
        registry.register_with_unit(
            "module_loaded_timestamp",
            "When the module version serving a function started serving, as Unix time",
            Unit::Seconds,
            f.module_loaded.clone(),
        );
        registry.register(
            "reloads",
            "Reloads of the functions directory",
            reloads.clone(),
        );
        registry.register(
            "failed_reloads",
            "Reloads that kept a previous version (a module or wasmfn.toml failed to load)",
            failed_reloads.clone(),
        );
        registry.register(
            "guest_log_dropped",
            "Guest log records dropped, by reason: per_event (past the records one event may log) or rate (past the function's records per second)",
            f.guest_log_dropped.clone(),
        );
        registry.register(
            "outbound_requests",
            "Outbound HTTP requests of a function, by the response's status, or denied, limit, timeout, error; host - for a refused host",
            f.outbound_requests.clone(),
        );
        registry.register_with_unit(
            "outbound_request_duration",
            "Time from sending an outbound HTTP request to its response head",
            Unit::Seconds,
            f.outbound_duration.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because stderr did not keep up (logging never blocks a request)",
            log_lines_dropped.clone(),
        );
        let pulls = Family::<ResultLabels, Counter>::default();
        registry.register(
            "registry_pulls",
            "oci:// modules fetched at load or reload, by result: cached, pulled, failed",
            pulls.clone(),
        );
        let module_loads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "module_loads",
            "Modules made ready to serve, by how: compiled, cached (compiled-artifact cache), precompiled (an artifact's precompiled layer)",
            module_loads.clone(),
        );
        let waiting = Gauge::default();
        registry.register(
            "functions_waiting",
            "Configured functions not loaded yet (their first pull is failing); /readyz answers 503 meanwhile",
            waiting.clone(),
        );
        let rollbacks = Family::<NameLabels, Counter>::default();
        registry.register(
            "rollbacks",
            "Canaries rolled back by their rollback rule (their failure rate over the window exceeded the serving version's)",
            rollbacks.clone(),
        );
        let shadow_runs = Family::<ShadowLabels, Counter>::default();
        registry.register(
            "shadow_runs",
            "Sampled events run on a function's shadow, by result: match, mismatch (outputs differ, id aside), error (the shadow failed), shed (not run: the host was busy)",
            shadow_runs.clone(),
        );
        Metrics {
            registry,
            families,
            reloads,
            failed_reloads,
            log_lines_dropped,
            pulls,
            module_loads,
            waiting,
            rollbacks,
            shadow_runs,
            functions: Mutex::new(HashMap::new()),
        }
    }

    /// The process-wide metrics `GET /metrics` shows.
    pub fn global() -> &'static Metrics {
        &GLOBAL
    }

    /// The handles of `version` (`serving`, `canary`, `shadow`) of function `name`,
    /// created on first use and shared by every module loaded in that role,
    /// so counters continue across reloads.
    pub fn function(&self, name: &str, version: &'static str) -> Arc<FunctionMetrics> {
        let mut functions = self.functions.lock().expect("metrics lock");
        functions
            .entry((name.to_owned(), version))
            .or_insert_with(|| Arc::new(FunctionMetrics::new(name, version, &self.families)))
            .clone()
    }

    /// Counts one canary of function `name` rolled back.
    pub fn record_rollback(&self, name: &str) {
        self.rollbacks
            .get_or_create(&NameLabels {
                function: name.to_owned(),
            })
            .inc();
    }

    /// Counts one sampled event of function `name` run on its shadow (or
    /// shed), by `result`: `match`, `mismatch`, `error`, `shed`. Shadow runs
    /// are off the request path, so the series is looked up per run.
    pub fn record_shadow(&self, name: &str, result: &'static str) {
        self.shadow_runs
            .get_or_create(&ShadowLabels {
                function: name.to_owned(),
                result,
            })
            .inc();
    }

    /// Counts one reload of the functions directory.
    pub fn record_reload(&self, failed: bool) {
        self.reloads.inc();
        if failed {
            self.failed_reloads.inc();
        }
    }

    /// Counts one fetch of an `oci://` module: `cached`, `pulled` or `failed`.
    pub fn record_pull(&self, result: &'static str) {
        self.pulls.get_or_create(&ResultLabels { result }).inc();
    }

    /// Counts one module made ready: `compiled`, `cached` or `precompiled`.
    pub fn record_module_load(&self, result: &'static str) {
        self.module_loads
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// How many configured functions have not loaded yet.
    pub fn set_waiting(&self, functions: usize) {
        self.waiting.set(functions as i64);
    }

    /// Every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        // The writer counts what it dropped; the counter follows it.
        self.log_lines_dropped
            .inner()
            .fetch_max(super::log_writer::dropped_lines(), Ordering::Relaxed);
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// One function's metric handles.
///
/// The hot path — a successful event — touches only handles resolved here
/// once, when the function is first loaded: no label set is built, hashed or
/// looked up per event, which would cost an allocation and a lock in the
/// family per request. Error outcomes and sink statuses are resolved on first
/// use and kept (errors are the cold path, and a sink delivery is a network
/// round trip that dwarfs a lookup).
pub struct FunctionMetrics {
    name: String,
    version: &'static str,
    families: Families,
    ok: Counter,
    event_duration: Histogram,
    instantiation: Histogram,
    errors: RwLock<BTreeMap<&'static str, Counter>>,
    module: Mutex<Option<ModuleVersion>>,
}

/// The module version serving a function, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleVersion {
    /// `sha256:<hex>` of the `.wasm` file.
    pub digest: String,
    /// When it started serving.
    pub loaded_at: SystemTime,
}

impl FunctionMetrics {
    fn new(name: &str, version: &'static str, families: &Families) -> FunctionMetrics {
        let function = FunctionLabels {
            function: name.to_owned(),
            version,
        };
        FunctionMetrics {
            name: name.to_owned(),
            version,
            families: families.clone(),
            ok: families
                .events
                .get_or_create_owned(&Self::outcome_labels(name, version, OK)),
            event_duration: families.event_duration.get_or_create_owned(&function),
            instantiation: families.instantiation.get_or_create_owned(&function),
            errors: RwLock::new(BTreeMap::new()),
            module: Mutex::new(None),
        }
    }

    fn outcome_labels(name: &str, version: &'static str, outcome: &'static str) -> OutcomeLabels {
        OutcomeLabels {
            function: name.to_owned(),
            version,
            outcome,
        }
    }

    /// Counts one request with its outcome ([`outcome`]) and latency.
    pub fn record_event(&self, outcome: &'static str, elapsed: Duration) {
        self.event_duration.observe(elapsed.as_secs_f64());
        if outcome == OK {
            self.ok.inc();
            return;
        }
        if let Some(counter) = self.errors.read().expect("metrics lock").get(outcome) {
            counter.inc();
            return;
        }
        let counter = self
            .families
            .events
            .get_or_create_owned(&Self::outcome_labels(&self.name, self.version, outcome));
        counter.inc();
        self.errors
            .write()
            .expect("metrics lock")
            .insert(outcome, counter);
    }

    /// Counts `records` guest log records dropped for `reason`
    /// (`per_event` or `rate`).
    pub fn record_guest_log_dropped(&self, reason: &'static str, records: u64) {
        if records > 0 {
            self.families
                .guest_log_dropped
                .get_or_create(&ReasonLabels {
                    function: self.name.clone(),
                    version: self.version,
                    reason,
                })
                .inc_by(records);
        }
    }

    /// Records how long instantiating the component took for one event.
    pub fn record_instantiation(&self, elapsed: Duration) {
        self.instantiation.observe(elapsed.as_secs_f64());
    }

    /// Counts one output event delivered to, or given up on by, a sink,
    /// by the sink's last HTTP status (`None`: it never answered).
    pub fn record_sink_delivery(&self, status: Option<u16>) {
        self.families
            .sink_deliveries
            .get_or_create(&self.status_labels(status))
            .inc();
    }

    /// Counts one sink try that failed transiently and is retried.
    pub fn record_sink_retry(&self, status: Option<u16>) {
        self.families
            .sink_retries
            .get_or_create(&self.status_labels(status))
            .inc();
    }

    /// Counts one outbound HTTP request to `host` (`-`: a refused host) by
    /// `status` (the response's, or `denied`, `limit`, `timeout`, `error`),
    /// and the time to its response head when it was sent (`elapsed`).
    /// Outbound requests are the cold path (a network round trip each), so
    /// the series are looked up per request.
    pub fn record_outbound(&self, host: &str, status: &str, elapsed: Option<Duration>) {
        self.families
            .outbound_requests
            .get_or_create(&OutboundLabels {
                function: self.name.clone(),
                version: self.version,
                host: host.to_owned(),
                status: status.to_owned(),
            })
            .inc();
        if let Some(elapsed) = elapsed {
            self.families
                .outbound_duration
                .get_or_create(&HostLabels {
                    function: self.name.clone(),
                    version: self.version,
                    host: host.to_owned(),
                })
                .observe(elapsed.as_secs_f64());
        }
    }

    fn status_labels(&self, status: Option<u16>) -> StatusLabels {
        StatusLabels {
            function: self.name.clone(),
            version: self.version,
            status: status.map_or_else(|| "error".to_owned(), |s| s.to_string()),
        }
    }

    /// Marks the module with `digest` as the version serving the function:
    /// `wasmfn_module_info` moves to it and the loaded-at time is now, unless
    /// that version was already serving (a reload that changed only
    /// settings keeps it).
    pub fn serving(&self, digest: &str) {
        let mut module = self.module.lock().expect("metrics lock");
        if module.as_ref().is_some_and(|m| m.digest == digest) {
            return;
        }
        if let Some(old) = module.take() {
            self.families
                .module_info
                .remove(&self.module_labels(old.digest));
        }
        let loaded_at = SystemTime::now();
        self.families
            .module_info
            .get_or_create(&self.module_labels(digest.to_owned()))
            .set(1);
        self.families
            .module_loaded
            .get_or_create(&self.function_labels())
            .set(
                loaded_at
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64(),
            );
        *module = Some(ModuleVersion {
            digest: digest.to_owned(),
            loaded_at,
        });
    }

    /// The function no longer serves (its module was removed): its module
    /// series go; its counters stay, as counters must.
    pub fn retired(&self) {
        if let Some(old) = self.module.lock().expect("metrics lock").take() {
            self.families
                .module_info
                .remove(&self.module_labels(old.digest));
            self.families.module_loaded.remove(&self.function_labels());
        }
    }

    fn module_labels(&self, digest: String) -> ModuleLabels {
        ModuleLabels {
            function: self.name.clone(),
            version: self.version,
            digest,
        }
    }

    fn function_labels(&self) -> FunctionLabels {
        FunctionLabels {
            function: self.name.clone(),
            version: self.version,
        }
    }

    /// The module version serving, if any.
    pub fn module(&self) -> Option<ModuleVersion> {
        self.module.lock().expect("metrics lock").clone()
    }

    /// Requests so far by outcome (`ok` always listed).
    pub fn events(&self) -> BTreeMap<&'static str, u64> {
        let mut events: BTreeMap<_, _> = self
            .errors
            .read()
            .expect("metrics lock")
            .iter()
            .map(|(outcome, counter)| (*outcome, counter.get()))
            .collect();
        events.insert(OK, self.ok.get());
        events
    }
}

impl std::fmt::Debug for FunctionMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionMetrics")
            .field("function", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::SinkError;
    use crate::sandbox::SandboxError;

    #[test]
    fn outcomes_are_the_error_kinds() {
        let ok: Result<(), Error> = Ok(());
        assert_eq!(outcome(&ok), "ok");
        let cases: Vec<(Error, &str)> = vec![
            (Error::FunctionInvalid("x".into()), "invalid"),
            (Error::FunctionFailed("x".into()), "failed"),
            (Error::Sandbox(SandboxError::Trap("x".into())), "trap"),
            (
                Error::Sandbox(SandboxError::Timeout(Duration::from_secs(1))),
                "timeout",
            ),
            (Error::Sandbox(SandboxError::Memory(1)), "memory"),
            (Error::Sandbox(SandboxError::StackOverflow), "stack"),
            (Error::Output("x".into()), "output"),
            (Error::Overloaded(1), "overload"),
            (
                Error::Sink(SinkError::Unavailable {
                    attempts: 1,
                    last: "x".into(),
                }),
                "sink_unavailable",
            ),
        ];
        for (error, expected) in cases {
            let result: Result<(), Error> = Err(error);
            assert_eq!(outcome(&result), expected);
        }
    }

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn per_function_series_are_encoded_and_shared_across_versions() {
        let metrics = Metrics::new();
        let first = metrics.function("f", "serving");
        first.record_event(OK, Duration::from_millis(2));
        first.record_event("invalid", Duration::from_millis(1));
        // A reload gets the same handles: counters continue.
        let again = metrics.function("f", "serving");
        again.record_event("invalid", Duration::from_millis(1));
        again.record_instantiation(Duration::from_micros(50));
        again.record_sink_retry(Some(503));
        again.record_sink_delivery(Some(202));
        again.record_sink_delivery(None);
        again.record_outbound("refdata.example", "200", Some(Duration::from_millis(3)));
        again.record_outbound("-", "denied", None);
        metrics.record_reload(true);

        let text = metrics.encode();
        let expect = [
            r#"wasmfn_events_total{function="f",version="serving",outcome="ok"} 1"#,
            r#"wasmfn_events_total{function="f",version="serving",outcome="invalid"} 2"#,
            r#"wasmfn_event_duration_seconds_count{function="f",version="serving"} 3"#,
            r#"wasmfn_instantiation_duration_seconds_count{function="f",version="serving"} 1"#,
            r#"wasmfn_sink_retries_total{function="f",version="serving",status="503"} 1"#,
            r#"wasmfn_sink_deliveries_total{function="f",version="serving",status="202"} 1"#,
            r#"wasmfn_sink_deliveries_total{function="f",version="serving",status="error"} 1"#,
            "wasmfn_reloads_total 1",
            "wasmfn_failed_reloads_total 1",
            r#"wasmfn_outbound_requests_total{function="f",version="serving",host="refdata.example",status="200"} 1"#,
            r#"wasmfn_outbound_requests_total{function="f",version="serving",host="-",status="denied"} 1"#,
            r#"wasmfn_outbound_request_duration_seconds_count{function="f",version="serving",host="refdata.example"} 1"#,
        ];
        for series in expect {
            assert!(text.lines().any(|l| l == series), "{series}\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(again.events(), BTreeMap::from([("ok", 1), ("invalid", 2)]));
    }

    #[test]
    fn module_info_follows_the_serving_version() {
        let metrics = Metrics::new();
        let f = metrics.function("g", "serving");
        assert_eq!(f.module(), None);
        f.serving("sha256:aa");
        let loaded = f.module().unwrap().loaded_at;
        f.serving("sha256:aa");
        assert_eq!(f.module().unwrap().loaded_at, loaded, "same version");
        f.serving("sha256:bb");
        let text = metrics.encode();
        assert!(
            line(
                &text,
                r#"wasmfn_module_info{function="g",version="serving",digest="sha256:bb"} 1"#
            )
            .is_some()
        );
        assert!(!text.contains("sha256:aa"), "{text}");
        assert!(
            line(
                &text,
                r#"wasmfn_module_loaded_timestamp_seconds{function="g",version="serving"} "#
            )
            .is_some()
        );
        f.retired();
        let text = metrics.encode();
        assert!(!text.contains("sha256:bb"), "{text}");
        assert!(
            !text.contains("wasmfn_module_loaded_timestamp_seconds{"),
            "{text}"
        );
        assert_eq!(f.module(), None);
    }
}
