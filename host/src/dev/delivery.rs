//! Knative delivery semantics, as Knative Eventing's dispatcher implements
//! them: which failures are retried, how long to wait, and the
//! `knativeerror*` extensions a dead-lettered event carries.
//!
//! Sources (knative/eventing): `pkg/kncloudevents/retries.go`
//! (`RetryConfigFromDeliverySpec`, `SelectiveRetry`), the go-retryablehttp
//! loop it drives (the backoff of retry n gets attempt number n-1), and
//! `pkg/kncloudevents/event_dispatcher.go` + `attributes/knative_error.go`
//! (`dispatchExecutionInfoTransformers`, `KnativeErrorDataExtensionMaxLength`).

use std::time::Duration;

use base64::Engine;
use reqwest::Url;

use super::manifests::{DeliverySpec, Destination, ManifestError};
use crate::event::Event;

/// Longest `knativeerrordata` value: Knative truncates the base64 text to it.
pub const KNATIVE_ERROR_DATA_MAX_LENGTH: usize = 1024;

/// How long to wait before each retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// No `backoffPolicy` or no `backoffDelay`: Knative retries at once.
    None,
    /// `delay * n` before retry n+1 (so the first retry is immediate).
    Linear(Duration),
    /// `delay * 2^n` before retry n+1 (delay, 2·delay, 4·delay, …).
    Exponential(Duration),
}

impl std::fmt::Display for Backoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backoff::None => f.write_str("no backoff"),
            Backoff::Linear(delay) => write!(f, "linear {delay:?}"),
            Backoff::Exponential(delay) => write!(f, "exponential {delay:?}"),
        }
    }
}

/// A resolved `spec.delivery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try.
    pub retry: u32,
    /// The wait before each retry.
    pub backoff: Backoff,
    /// Where an event goes when every try failed (none: it is dropped).
    pub dead_letter: Option<Url>,
}

impl Default for RetryPolicy {
    /// No `delivery` anywhere: one try, no dead-letter sink.
    fn default() -> Self {
        RetryPolicy {
            retry: 0,
            backoff: Backoff::None,
            dead_letter: None,
        }
    }
}

impl RetryPolicy {
    /// The policy `spec` describes; `resolve` turns the dead-letter
    /// destination into a URL; `owner` makes an error naming the object.
    pub fn from_spec(
        spec: &DeliverySpec,
        owner: &dyn Fn(String) -> ManifestError,
        resolve: impl Fn(&Destination) -> Result<Url, ManifestError>,
    ) -> Result<RetryPolicy, ManifestError> {
        let delay = spec
            .backoff_delay
            .as_deref()
            .map(|text| {
                iso8601::duration(text).map(Duration::from).map_err(|err| {
                    owner(
                        format!("spec.delivery.backoffDelay `{text}` is not an ISO-8601 duration such as PT0.5S: {err}"),
                    )
                })
            })
            .transpose()?;
        let backoff = match (spec.backoff_policy.as_deref(), delay) {
            (None, _) | (Some("exponential" | "linear"), None) => Backoff::None,
            (Some("exponential"), Some(delay)) => Backoff::Exponential(delay),
            (Some("linear"), Some(delay)) => Backoff::Linear(delay),
            (Some(other), _) => {
                return Err(owner(format!(
                    "spec.delivery.backoffPolicy `{other}` is neither `linear` nor `exponential`"
                )));
            }
        };
        let dead_letter = spec.dead_letter_sink.as_ref().map(&resolve).transpose()?;
        Ok(RetryPolicy {
            retry: spec.retry.unwrap_or(0),
            backoff,
            dead_letter,
        })
    }

    /// The wait before retry `n` (1-based).
    pub fn wait_before_retry(&self, n: u32) -> Duration {
        let attempt = n.saturating_sub(1);
        match self.backoff {
            Backoff::None => Duration::ZERO,
            Backoff::Linear(delay) => delay.saturating_mul(attempt),
            Backoff::Exponential(delay) => {
                delay.saturating_mul(2u32.checked_pow(attempt).unwrap_or(u32::MAX))
            }
        }
    }
}

/// Whether Knative retries a delivery that ended with `status` (`None`: no
/// response at all, e.g. connection refused). `SelectiveRetry`: 5xx, 404,
/// 408, 409, 429 and no response are retried; every other status (400, 422,
/// other 4xx, 3xx) goes straight to the dead-letter sink.
pub fn is_retryable(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(code) => code >= 500 || matches!(code, 404 | 408 | 409 | 429),
    }
}

/// The event as Knative sends it to a dead-letter sink: the original event
/// plus `knativeerrordest` (the subscriber's URL), `knativeerrorcode` (the
/// last HTTP status; 500 when there was no response) and `knativeerrordata`
/// (the last response body, base64, cut to 1024 characters).
pub fn with_error_extensions(event: &Event, dest: &Url, code: u16, body: &[u8]) -> Event {
    let mut data = base64::engine::general_purpose::STANDARD.encode(body);
    data.truncate(KNATIVE_ERROR_DATA_MAX_LENGTH);
    let mut event = event.clone();
    for (name, value) in [
        ("knativeerrordest", dest.to_string()),
        ("knativeerrorcode", code.to_string()),
        ("knativeerrordata", data),
    ] {
        event.extensions.retain(|(n, _)| n != name);
        event.extensions.push((name.to_owned(), value));
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn policy(yaml: &str) -> Result<RetryPolicy, ManifestError> {
        let spec: DeliverySpec = serde_yaml_ng::from_str(yaml).unwrap();
        let owner = super::super::manifests::Object {
            path: PathBuf::from("b.yaml"),
            namespace: "ns".into(),
            name: "b".into(),
            spec: (),
        };
        RetryPolicy::from_spec(&spec, &|m| owner.unsupported("Broker", m), |_| {
            Ok(Url::parse("http://127.0.0.1/dead-letter").unwrap())
        })
    }

    #[test]
    fn backoff_follows_knative() {
        let p = policy("{retry: 5, backoffPolicy: exponential, backoffDelay: PT0.5S}").unwrap();
        let waits: Vec<_> = (1..=5)
            .map(|n| p.wait_before_retry(n).as_millis())
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000]);
        let p = policy("{retry: 3, backoffPolicy: linear, backoffDelay: PT1S}").unwrap();
        let waits: Vec<_> = (1..=3).map(|n| p.wait_before_retry(n).as_secs()).collect();
        assert_eq!(waits, [0, 1, 2]);
        // Knative applies a backoff only when both policy and delay are set.
        assert_eq!(
            policy("{retry: 2, backoffDelay: PT1S}").unwrap().backoff,
            Backoff::None
        );
        assert_eq!(
            policy("{retry: 2, backoffPolicy: linear}").unwrap().backoff,
            Backoff::None
        );
        assert!(policy("{}").unwrap().dead_letter.is_none());
    }

    #[test]
    fn bad_delivery_values_are_named() {
        let err = policy("{backoffPolicy: exponential, backoffDelay: 500ms}").unwrap_err();
        assert!(err.to_string().contains("backoffDelay `500ms`"), "{err}");
        let err = policy("{backoffPolicy: fibonacci, backoffDelay: PT1S}").unwrap_err();
        assert!(
            err.to_string().contains("backoffPolicy `fibonacci`"),
            "{err}"
        );
    }

    #[test]
    fn retryable_statuses_follow_selective_retry() {
        for code in [500, 502, 503, 404, 408, 409, 429] {
            assert!(is_retryable(Some(code)), "{code}");
        }
        for code in [400, 401, 403, 413, 422, 301] {
            assert!(!is_retryable(Some(code)), "{code}");
        }
        assert!(is_retryable(None));
    }

    #[test]
    fn error_extensions_are_set_and_truncated() {
        let event = Event {
            extensions: vec![("knativeerrorcode".into(), "old".into())],
            ..crate::event::test_event("/s", "1")
        };
        let dest = Url::parse("http://127.0.0.1:1/evil").unwrap();
        let out = with_error_extensions(&event, &dest, 500, b"boom");
        let ext = |name: &str| {
            out.extensions
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(ext("knativeerrorcode"), ["500"]);
        assert_eq!(ext("knativeerrordest"), ["http://127.0.0.1:1/evil"]);
        assert_eq!(ext("knativeerrordata"), ["Ym9vbQ=="]);
        let long = with_error_extensions(&event, &dest, 500, &[b'x'; 2000]);
        let data = long
            .extensions
            .iter()
            .find(|(n, _)| n == "knativeerrordata")
            .unwrap();
        assert_eq!(data.1.len(), KNATIVE_ERROR_DATA_MAX_LENGTH);
    }
}
