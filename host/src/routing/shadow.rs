//! A function's shadow version (issue 14): after the serving version has
//! answered an event, `sample` percent of the events (the canary's stable
//! hash of `source` + `id`) also run on the shadow, on a spawned task, and
//! its outputs are compared with the serving version's, ignoring the
//! host-set `id`. They are never replied or delivered: only
//! [`Destination::send`](crate::outputs::Destination::send) lets outputs
//! leave the host, and nothing here calls it.
//!
//! Shadow work never delays or fails the real answer: it is started only
//! once that answer is formed, its failures are only counted, and it is
//! shed — counted, not run — first under load: when [`SHADOW_IN_FLIGHT`]
//! shadow runs of the function are running, or when fewer than a quarter of
//! the sandbox's instance slots are free (a real event that finds no slot
//! answers 503). A shadow run takes no `max_concurrency` permit, so it never
//! turns a real event away with 429.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::rollout::bucket;
use super::table::LoadedFunction;
use crate::config::ShadowConfig;
use crate::error::Error;
use crate::event::Event;
use crate::observability::metrics::outcome;
use crate::observability::{Metrics, TraceContext};
use crate::sandbox::{Sandbox, SandboxError};

/// Shadow runs of one function at once; more are shed. A bound, not a
/// measured figure: each run holds an instance slot and a core that real
/// events need first.
pub const SHADOW_IN_FLIGHT: usize = 4;

/// Mismatches logged per function per minute; the rest are only counted.
const MISMATCH_LOGS_PER_MINUTE: u32 = 5;

/// What one sampled event's shadow run came to: the `result` label of
/// `wasmfn_shadow_runs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowResult {
    /// The same outputs as the serving version's (ids aside).
    Match,
    /// Different outputs.
    Mismatch,
    /// The shadow failed (trap, limit hit, `failed` or `invalid` verdict,
    /// bad outputs) where the serving version answered.
    Error,
    /// Not run: the host was busy.
    Shed,
}

impl ShadowResult {
    /// Every result, in the order `/functions` lists them.
    pub const ALL: [ShadowResult; 4] = [
        ShadowResult::Match,
        ShadowResult::Mismatch,
        ShadowResult::Error,
        ShadowResult::Shed,
    ];

    /// The `result` label.
    pub fn label(self) -> &'static str {
        match self {
            ShadowResult::Match => "match",
            ShadowResult::Mismatch => "mismatch",
            ShadowResult::Error => "error",
            ShadowResult::Shed => "shed",
        }
    }
}

/// A function's shadow: its module, its sample and its bounds.
pub struct Shadow {
    /// The shadow version (the function's settings and limits).
    pub module: Arc<LoadedFunction>,
    /// Percent of events copied to it.
    pub sample: u8,
    gate: Arc<Semaphore>,
    state: Arc<State>,
}

/// What the runs of one shadow share: the results so far and the mismatch
/// log budget.
struct State {
    results: [AtomicU64; 4],
    logged: Mutex<(Instant, u32)>,
}

impl State {
    fn record(&self, function: &str, result: ShadowResult) {
        self.results[result as usize].fetch_add(1, Ordering::Relaxed);
        Metrics::global().record_shadow(function, result.label());
    }

    /// Whether one more mismatch may be logged this minute.
    fn may_log(&self) -> bool {
        let mut logged = self.logged.lock().expect("shadow log lock");
        if logged.0.elapsed() >= Duration::from_secs(60) {
            *logged = (Instant::now(), 0);
        }
        logged.1 += 1;
        logged.1 <= MISMATCH_LOGS_PER_MINUTE
    }
}

/// A sampled event's shadow run, admitted but not started yet.
pub struct ShadowRun {
    module: Arc<LoadedFunction>,
    state: Arc<State>,
    event: Event,
    expected: Vec<Event>,
    trace: TraceContext,
    _permit: OwnedSemaphorePermit,
}

impl Shadow {
    /// The shadow `module` as `config` samples it. The in-flight bound of
    /// `previous` carries over a reload (its runs may still be going), and
    /// so do its results when it is the same module with the same sample.
    pub fn new(
        module: Arc<LoadedFunction>,
        config: &ShadowConfig,
        previous: Option<&Shadow>,
    ) -> Shadow {
        let state = previous
            .filter(|old| old.module.digest == module.digest && old.sample == config.sample)
            .map(|old| old.state.clone())
            .unwrap_or_else(|| {
                Arc::new(State {
                    results: Default::default(),
                    logged: Mutex::new((Instant::now(), 0)),
                })
            });
        Shadow {
            module,
            sample: config.sample,
            gate: previous.map_or_else(
                || Arc::new(Semaphore::new(SHADOW_IN_FLIGHT)),
                |old| old.gate.clone(),
            ),
            state,
        }
    }

    /// The run of `event`, which the serving version of `function` answered
    /// with `outputs`, when the event is in the sample and the host has room
    /// for it (else it is counted as shed). Never waits; copies the event
    /// and outputs only when sampled.
    pub fn admit(
        &self,
        function: &LoadedFunction,
        sandbox: &Sandbox,
        event: &Event,
        outputs: &[Event],
        trace: &TraceContext,
    ) -> Option<ShadowRun> {
        if bucket(event) >= self.sample {
            return None;
        }
        let busy = sandbox.free_slots() * 4 < sandbox.max_slots();
        let permit = (!busy)
            .then(|| self.gate.clone().try_acquire_owned().ok())
            .flatten();
        let Some(permit) = permit else {
            self.state.record(function.name(), ShadowResult::Shed);
            return None;
        };
        Some(ShadowRun {
            module: self.module.clone(),
            state: self.state.clone(),
            event: event.clone(),
            expected: outputs.to_vec(),
            trace: trace.clone(),
            _permit: permit,
        })
    }

    /// Runs so far by result, for `/functions`.
    pub fn results(&self) -> Vec<(&'static str, u64)> {
        ShadowResult::ALL
            .iter()
            .map(|r| {
                (
                    r.label(),
                    self.state.results[*r as usize].load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

impl ShadowRun {
    /// Runs the shadow on a task of its own and counts what it came to.
    pub fn start(self, sandbox: Arc<Sandbox>) {
        let span = tracing::info_span!(
            "shadow",
            function = self.module.name(),
            digest = %self.module.digest,
            id = %self.event.id,
        );
        tokio::spawn(
            async move {
                let started = Instant::now();
                let result = self
                    .module
                    .execute(&sandbox, &self.event, &self.trace)
                    .await;
                self.module
                    .metrics()
                    .record_event(outcome(&result), started.elapsed());
                let verdict = match result {
                    Err(Error::Sandbox(SandboxError::Exhausted(_))) => ShadowResult::Shed,
                    Err(_) => ShadowResult::Error,
                    Ok(actual) => match difference(&self.expected, &actual) {
                        None => ShadowResult::Match,
                        Some(diff) => {
                            if self.state.may_log() {
                                tracing::warn!(
                                    "shadow output differs from the serving version's: {diff}"
                                );
                            }
                            ShadowResult::Mismatch
                        }
                    },
                };
                self.state.record(self.module.name(), verdict);
            }
            .instrument(span),
        );
    }
}

/// What differs between the serving version's outputs and the shadow's,
/// ignoring `id` (the host sets it): output counts, attribute and extension
/// names and data sizes — never a value (outputs can carry anything the
/// function read, settings included).
fn difference(expected: &[Event], actual: &[Event]) -> Option<String> {
    if expected.len() != actual.len() {
        return Some(format!(
            "{} output events instead of {}",
            actual.len(),
            expected.len()
        ));
    }
    let mut diff = String::new();
    for (index, (want, got)) in expected.iter().zip(actual).enumerate() {
        let attributes = [
            ("type", want.type_ != got.type_),
            ("source", want.source != got.source),
            ("specversion", want.specversion != got.specversion),
            (
                "datacontenttype",
                want.datacontenttype != got.datacontenttype,
            ),
            ("dataschema", want.dataschema != got.dataschema),
            ("subject", want.subject != got.subject),
            ("time", want.time != got.time),
        ];
        let mut names: Vec<String> = attributes
            .iter()
            .filter(|(_, differs)| *differs)
            .map(|(name, _)| (*name).to_owned())
            .collect();
        let mut extensions: Vec<&str> = want
            .extensions
            .iter()
            .filter(|pair| !got.extensions.contains(pair))
            .chain(
                got.extensions
                    .iter()
                    .filter(|pair| !want.extensions.contains(pair)),
            )
            .map(|(name, _)| name.as_str())
            .collect();
        extensions.sort_unstable();
        extensions.dedup();
        names.extend(extensions.iter().map(|name| format!("extension {name}")));
        if want.data != got.data {
            let size = |e: &Event| e.data.as_ref().map_or(0, Vec::len);
            names.push(format!("data ({} bytes, shadow {})", size(want), size(got)));
        }
        if !names.is_empty() {
            if !diff.is_empty() {
                diff.push_str("; ");
            }
            let _ = write!(diff, "output {index}: {}", names.join(", "));
        }
    }
    (!diff.is_empty()).then_some(diff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_event;

    #[test]
    fn differences_name_attributes_and_sizes_never_values() {
        let mut want = test_event("/s", "1");
        want.data = Some(b"secret-one".to_vec());
        want.extensions = vec![("desk".into(), "fx-secret".into())];
        let mut got = want.clone();
        got.id = "other".into();
        assert_eq!(
            difference(&[want.clone()], &[got.clone()]),
            None,
            "id ignored"
        );
        got.type_ = "t2".into();
        got.data = Some(b"secret-three".to_vec());
        got.extensions = vec![
            ("desk".into(), "eq-secret".into()),
            ("x".into(), "y".into()),
        ];
        let diff = difference(&[want.clone()], &[got]).unwrap();
        assert_eq!(
            diff,
            "output 0: type, extension desk, extension x, data (10 bytes, shadow 12)"
        );
        assert!(!diff.contains("secret"), "{diff}");
        assert_eq!(
            difference(&[want.clone()], &[]).unwrap(),
            "0 output events instead of 1"
        );
        let mut second = want.clone();
        second.subject = Some("s".into());
        assert_eq!(
            difference(&[want.clone(), want.clone()], &[want, second]).unwrap(),
            "output 1: subject"
        );
        assert_eq!(difference(&[], &[]), None);
    }

    #[test]
    fn results_are_labelled_in_order() {
        let labels: Vec<_> = ShadowResult::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels, ["match", "mismatch", "error", "shed"]);
        for (index, result) in ShadowResult::ALL.iter().enumerate() {
            assert_eq!(*result as usize, index);
        }
    }
}
