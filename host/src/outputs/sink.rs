//! Sink delivery: each output event is POSTed in binary mode over pooled
//! keep-alive connections, with bounded exponential backoff on transient
//! failures (5xx, 429, 408, connection errors) — the `backon` crate. A
//! sink's `Retry-After` (in seconds) lengthens the wait, up to the request
//! timeout. Each request continues the event's trace (`traceparent`), and
//! deliveries and retries are counted by status in the function's metrics.

use std::time::Duration;

use crate::config::{DeliveryConfig, SinkUrl};
use crate::event::{Event, write_headers};
use crate::observability::{FunctionMetrics, TraceContext};
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{HeaderMap, StatusCode};

/// Longest part of a sink's error body quoted back to the caller.
const MAX_QUOTED_BODY: usize = 512;

/// Why an output event did not reach its sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink refused the event for good (a 4xx other than 408/429).
    #[error("the sink rejected output event with HTTP {status}: {body}")]
    Rejected {
        /// The sink's status code.
        status: u16,
        /// The start of the sink's response body.
        body: String,
    },
    /// The sink stayed unreachable or overloaded through every try.
    #[error("the sink is unavailable after {attempts} tries; last: {last}")]
    Unavailable {
        /// Tries made.
        attempts: usize,
        /// The last failure.
        last: String,
    },
}

/// One failed try.
#[derive(Debug)]
enum Attempt {
    /// Worth another try: the sink's status (`None`: no answer), what went
    /// wrong, and the wait the sink asked for.
    Transient {
        status: Option<u16>,
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Not worth another try.
    Rejected { status: u16, body: String },
}

/// A pooled HTTP client for sinks and its retry policy.
#[derive(Clone)]
pub struct SinkClient {
    http: reqwest::Client,
    policy: DeliveryConfig,
}

impl SinkClient {
    /// A client with the connect and request timeouts of `policy`.
    pub fn new(policy: DeliveryConfig) -> Result<SinkClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        Ok(SinkClient { http, policy })
    }

    /// POSTs `event` to `url` in binary mode, retrying transient failures,
    /// as a child of `trace`; the outcome is counted in `metrics`. Errors
    /// and log lines show the URL redacted (`SinkUrl`'s `Display`).
    pub async fn deliver(
        &self,
        url: &SinkUrl,
        event: &Event,
        trace: &TraceContext,
        metrics: &FunctionMetrics,
    ) -> Result<(), SinkError> {
        let mut headers = HeaderMap::new();
        write_headers(event, &mut headers);
        trace.write_child(&mut headers);
        let body = Bytes::from(event.data.clone().unwrap_or_default());
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.initial_backoff)
            .with_factor(2.0)
            .with_max_times(self.policy.attempts - 1);
        let mut tries = 0;
        let result = (|| {
            tries += 1;
            self.attempt(url, headers.clone(), body.clone())
        })
        .retry(backoff)
        .when(|failure| matches!(failure, Attempt::Transient { .. }))
        .adjust(|failure, delay| match failure {
            Attempt::Transient {
                retry_after: Some(after),
                ..
            } => delay.map(|delay| delay.max((*after).min(self.policy.request_timeout))),
            _ => delay,
        })
        .notify(|failure, delay| {
            if let Attempt::Transient { status, .. } = failure {
                metrics.record_sink_retry(*status);
            }
            tracing::debug!(sink = %url, ?failure, ?delay, "retrying sink delivery");
        })
        .await;
        metrics.record_sink_delivery(match &result {
            Ok(status) => Some(*status),
            Err(Attempt::Rejected { status, .. }) => Some(*status),
            Err(Attempt::Transient { status, .. }) => *status,
        });
        result.map(drop).map_err(|failure| match failure {
            Attempt::Rejected { status, body } => SinkError::Rejected { status, body },
            Attempt::Transient { reason, .. } => SinkError::Unavailable {
                attempts: tries,
                last: reason,
            },
        })
    }

    /// One try; `Ok` holds the sink's (successful) status.
    async fn attempt(
        &self,
        url: &SinkUrl,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<u16, Attempt> {
        let response = self
            .http
            .post(url.as_url().clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|err| Attempt::Transient {
                status: None,
                reason: describe(err, url),
                retry_after: None,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        let retryable = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT;
        if retryable {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(Attempt::Transient {
                status: Some(status.as_u16()),
                reason: format!("HTTP {status}"),
                retry_after,
            });
        }
        let mut body = response.text().await.unwrap_or_default();
        if body.len() > MAX_QUOTED_BODY {
            let cut = (0..=MAX_QUOTED_BODY)
                .rev()
                .find(|&i| body.is_char_boundary(i))
                .unwrap_or(0);
            body.truncate(cut);
            body.push('…');
        }
        Err(Attempt::Rejected {
            status: status.as_u16(),
            body,
        })
    }
}

/// A reqwest error with its causes ("error sending request for url
/// (http://sink/x?redacted): connection refused"). reqwest's own text quotes
/// the whole URL, so it is dropped and the redacted one written instead.
fn describe(err: reqwest::Error, url: &SinkUrl) -> String {
    let err = err.without_url();
    let mut text = format!("{err} for {url}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
