//! Versions of one function (issue 14): the serving version and, when
//! configured, a canary taking `weight` percent of the events (or a shadow
//! given a copy of some, `shadow.rs`). Which version
//! runs an event is [`choose_version`]; the canary's health over a sliding
//! window decides the automatic rollback.
//!
//! A function without a canary pays one `Option` check per event.

use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use siphasher::sip::SipHasher13;

use super::table::LoadedFunction;
use crate::config::{CanaryConfig, RollbackConfig};
use crate::error::Error;
use crate::event::{Event, identity};
use crate::observability::Metrics;
use crate::sandbox::SandboxError;

/// Which version of a function a loaded module is: the `version` label of
/// its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The function's own module, served at its route.
    Serving,
    /// `canary`: a share of the events.
    Canary,
    /// `shadow`: a copy of a share of the events, its outputs only compared.
    Shadow,
}

impl Version {
    /// The `version` label.
    pub fn label(self) -> &'static str {
        match self {
            Version::Serving => "serving",
            Version::Canary => "canary",
            Version::Shadow => "shadow",
        }
    }
}

/// A function's canary: its loaded module, its share and its health.
pub struct Rollout {
    /// The canary version (same settings, limits and output as the function).
    pub canary: Arc<LoadedFunction>,
    /// Percent of events it is given while not rolled back.
    pub weight: u8,
    /// When it is taken out by itself.
    pub rollback: Option<RollbackConfig>,
    /// Kept across reloads while the canary and its settings are unchanged.
    health: Arc<Health>,
}

impl Rollout {
    /// The canary `canary` configured by `config` and `rollback`. The
    /// health (and a rollback) of `previous` carries over when it is the same
    /// canary module with the same settings: a rollback lasts until its
    /// configuration changes.
    pub fn new(
        canary: Arc<LoadedFunction>,
        config: &CanaryConfig,
        rollback: Option<RollbackConfig>,
        previous: Option<&Rollout>,
    ) -> Rollout {
        let health = previous
            .filter(|old| {
                old.canary.digest == canary.digest
                    && old.weight == config.weight
                    && old.rollback == rollback
            })
            .map(|old| old.health.clone())
            .unwrap_or_else(|| Arc::new(Health::new(rollback)));
        Rollout {
            canary,
            weight: config.weight,
            rollback,
            health,
        }
    }

    /// Whether the canary was rolled back, and since when.
    pub fn rolled_back(&self) -> Option<SystemTime> {
        self.health
            .rolled_back
            .load(Ordering::Acquire)
            .then(|| *self.health.since.lock().expect("rollout lock"))
            .flatten()
    }

    /// The weight in force: 0 once rolled back.
    pub fn effective_weight(&self) -> u8 {
        if self.health.rolled_back.load(Ordering::Acquire) {
            0
        } else {
            self.weight
        }
    }

    /// Counts the outcome of one event run by `version` of `function` in
    /// the window, and rolls the canary back when the rule says so.
    pub fn record(&self, function: &str, version: Version, result: &Result<Vec<Event>, Error>) {
        let Some(rule) = self.rollback else {
            return;
        };
        let Some(failed) = failure(result) else {
            return;
        };
        let canary = version == Version::Canary;
        let mut window = self.health.window.lock().expect("rollout lock");
        window.record(canary, failed);
        if !canary || self.health.rolled_back.load(Ordering::Acquire) {
            return;
        }
        let (canary_events, canary_rate, serving_rate) = window.rates();
        if canary_events < u64::from(rule.min_events)
            || canary_rate - serving_rate <= rule.max_error_rate
        {
            return;
        }
        self.health.rolled_back.store(true, Ordering::Release);
        *self.health.since.lock().expect("rollout lock") = Some(SystemTime::now());
        drop(window);
        Metrics::global().record_rollback(function);
        tracing::warn!(
            function,
            canary = %self.canary.digest,
            canary_events,
            canary_failure_rate = canary_rate,
            serving_failure_rate = serving_rate,
            max_error_rate = rule.max_error_rate,
            "canary rolled back: its events go to the serving version until its configuration changes"
        );
    }
}

/// The version of `function` that runs `event`: the canary for `weight`
/// percent of the events, by a stable hash of the event's `source` and `id`
/// (a redelivery or retry reaches the version the first try did), else the
/// serving version.
pub fn choose_version<'a>(
    function: &'a Arc<LoadedFunction>,
    event: &Event,
) -> (&'a Arc<LoadedFunction>, Version) {
    match &function.rollout {
        Some(rollout) if bucket(event) < rollout.effective_weight() => {
            (&rollout.canary, Version::Canary)
        }
        _ => (function, Version::Serving),
    }
}

/// The event's bucket, 0 to 99 (a shadow samples by it too). SipHash-1-3 with fixed keys (the `siphasher`
/// crate, a specified algorithm): every pod and every host release must put
/// an id in the same bucket, which std's `DefaultHasher` does not promise.
pub(super) fn bucket(event: &Event) -> u8 {
    let mut hasher = SipHasher13::new_with_keys(0x7761_736d_666e_2d31, 0x6361_6e61_7279_2d31);
    hasher.write(identity(&event.source, &event.id).as_bytes());
    (hasher.finish() % 100) as u8
}

/// Whether an outcome counts against a version: `Some(true)` for a trap, a
/// `failed` verdict, a limit hit or a bad output; `None` for what says
/// nothing about the version (`invalid` input, no free instance).
fn failure(result: &Result<Vec<Event>, Error>) -> Option<bool> {
    match result {
        Ok(_) => Some(false),
        Err(Error::FunctionFailed(_) | Error::Output(_)) => Some(true),
        Err(Error::Sandbox(err)) => match err {
            SandboxError::Exhausted(_) | SandboxError::Engine(_) | SandboxError::Compile(_) => None,
            _ => Some(true),
        },
        Err(_) => None,
    }
}

/// A canary's health: the window of outcomes and whether it was rolled back.
struct Health {
    window: Mutex<Window>,
    rolled_back: AtomicBool,
    since: Mutex<Option<SystemTime>>,
}

impl Health {
    fn new(rollback: Option<RollbackConfig>) -> Health {
        let seconds = rollback.map_or(1, |rule| rule.window.as_secs().max(1));
        Health {
            window: Mutex::new(Window::new(seconds as usize)),
            rolled_back: AtomicBool::new(false),
            since: Mutex::new(None),
        }
    }
}

/// Outcomes per second over the last `buckets.len()` seconds.
struct Window {
    start: Instant,
    buckets: Vec<Second>,
}

/// One second's events and failures, per version.
#[derive(Clone, Copy, Default)]
struct Second {
    at: u64,
    canary: Tally,
    serving: Tally,
}

#[derive(Clone, Copy, Default)]
struct Tally {
    events: u64,
    failures: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.events += other.events;
        self.failures += other.failures;
    }

    fn rate(self) -> f64 {
        if self.events == 0 {
            0.0
        } else {
            self.failures as f64 / self.events as f64
        }
    }
}

impl Window {
    fn new(seconds: usize) -> Window {
        Window {
            start: Instant::now(),
            buckets: vec![Second::default(); seconds],
        }
    }

    /// Seconds since the window started, counted from 1 (0 marks an
    /// unused bucket).
    fn now(&self) -> u64 {
        self.start.elapsed().as_secs() + 1
    }

    fn record(&mut self, canary: bool, failed: bool) {
        let now = self.now();
        let len = self.buckets.len() as u64;
        let second = &mut self.buckets[(now % len) as usize];
        if second.at != now {
            *second = Second {
                at: now,
                ..Second::default()
            };
        }
        let tally = if canary {
            &mut second.canary
        } else {
            &mut second.serving
        };
        tally.events += 1;
        tally.failures += u64::from(failed);
    }

    /// The canary's events and failure rate, and the serving version's
    /// failure rate, over the window.
    fn rates(&self) -> (u64, f64, f64) {
        let now = self.now();
        let len = self.buckets.len() as u64;
        let (mut canary, mut serving) = (Tally::default(), Tally::default());
        for second in &self.buckets {
            if second.at != 0 && second.at + len > now {
                canary.add(second.canary);
                serving.add(second.serving);
            }
        }
        (canary.events, canary.rate(), serving.rate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_event;

    #[test]
    fn buckets_are_stable_and_spread() {
        // Pinned: a host release that moved ids between versions would
        // send a redelivery to another version than its first try.
        assert_eq!(
            bucket(&test_event("/s", "1")),
            bucket(&test_event("/s", "1"))
        );
        let mut counts = [0u32; 100];
        for i in 0..10_000 {
            counts[bucket(&test_event("/s", &i.to_string())) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (50..=150).contains(c)), "{counts:?}");
        assert_ne!(bucket(&test_event("a", "b\0c")), 255);
    }

    #[test]
    fn failures_count_against_a_version_but_invalid_input_does_not() {
        assert_eq!(failure(&Ok(vec![])), Some(false));
        assert_eq!(failure(&Err(Error::FunctionFailed("x".into()))), Some(true));
        assert_eq!(
            failure(&Err(Error::Sandbox(SandboxError::Trap("x".into())))),
            Some(true)
        );
        assert_eq!(
            failure(&Err(Error::Sandbox(SandboxError::Fuel(1)))),
            Some(true)
        );
        assert_eq!(failure(&Err(Error::Output("x".into()))), Some(true));
        assert_eq!(failure(&Err(Error::FunctionInvalid("x".into()))), None);
        assert_eq!(failure(&Err(Error::Overloaded(1))), None);
        assert_eq!(
            failure(&Err(Error::Sandbox(SandboxError::Exhausted(1)))),
            None
        );
    }

    #[test]
    fn the_window_compares_rates_of_both_versions() {
        let mut window = Window::new(60);
        for i in 0..10 {
            window.record(true, i < 3);
            window.record(false, i < 1);
        }
        let (events, canary, serving) = window.rates();
        assert_eq!(events, 10);
        assert!((canary - 0.3).abs() < 1e-9 && (serving - 0.1).abs() < 1e-9);
    }
}
