//! The Broker emulation: an ingress that accepts a CloudEvent with 202 and
//! fans it out, in memory and asynchronously, to every Trigger whose filter
//! matches; replies re-enter the Broker; failures are retried per the
//! Trigger's (else the Broker's) delivery, then dead-lettered.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use reqwest::Url;

use super::delivery::{RetryPolicy, is_retryable, with_error_extensions};
use super::ingress::read_cloudevent;
use crate::event::{Event, write_headers};
use crate::ingress::{Incoming, parse_request};

/// One Trigger: its filter, subscriber and delivery.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// `metadata.name`.
    pub name: String,
    /// `spec.filter.attributes`: every one must equal the event's.
    pub filter: BTreeMap<String, String>,
    /// The resolved subscriber URL.
    pub subscriber: Url,
    /// The Trigger's delivery, else the Broker's.
    pub policy: RetryPolicy,
}

/// One Broker and its Triggers.
#[derive(Debug)]
pub struct Broker {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// Its local ingress URL (what `${BROKER_URL}` resolves to).
    pub url: Url,
    /// Its Triggers.
    pub triggers: Vec<Trigger>,
}

/// Whether `event` passes an exact-match attribute filter (Knative's
/// `filter.attributes`, knative/eventing `pkg/eventfilter/attributes`): every
/// listed attribute — a context attribute or an extension — must equal the
/// event's; an empty value matches any value of an attribute the event has
/// (unset context attributes count as empty, unset extensions as absent);
/// an empty filter matches every event.
pub fn matches(filter: &BTreeMap<String, String>, event: &Event) -> bool {
    filter
        .iter()
        .all(|(name, wanted)| match attribute(event, name) {
            Some(value) => wanted.is_empty() || value == *wanted,
            None => false,
        })
}

/// The value of attribute `name` of `event`, as Knative's filter reads it.
fn attribute<'e>(event: &'e Event, name: &str) -> Option<std::borrow::Cow<'e, str>> {
    let text = |v: &'e str| Some(std::borrow::Cow::Borrowed(v));
    match name {
        "specversion" => text(&event.specversion),
        "id" => text(&event.id),
        "type" => text(&event.type_),
        "source" => text(&event.source),
        // Knative's filter always sees the context attributes, unset ones
        // as empty strings; only extensions can be absent.
        "subject" => text(event.subject.as_deref().unwrap_or_default()),
        "datacontenttype" => text(event.datacontenttype.as_deref().unwrap_or_default()),
        "dataschema" => text(event.dataschema.as_deref().unwrap_or_default()),
        "time" => text(event.time.as_deref().unwrap_or_default()),
        _ => event
            .extensions
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| text(v)),
    }
}

/// How one try went.
enum Outcome {
    /// 2xx, with the reply event if the response carried one.
    Delivered(Option<Box<Event>>),
    /// No 2xx: the status (`None`: no response) and the body.
    Failed(Option<u16>, Bytes),
}

impl Broker {
    /// Accepts an event for fan-out: `202` at once, delivery in the
    /// background. A bad request is a 400 through [`crate::error::Error`].
    pub async fn ingress(self: Arc<Self>, http: reqwest::Client, request: Request) -> Response {
        match read_cloudevent(request).await {
            Ok(event) => {
                self.publish(&http, event);
                StatusCode::ACCEPTED.into_response()
            }
            Err(err) => err.into_response(),
        }
    }

    /// Delivers `event` to every matching Trigger, each in its own task.
    pub fn publish(self: &Arc<Self>, http: &reqwest::Client, event: Event) {
        let matched: Vec<&Trigger> = self
            .triggers
            .iter()
            .filter(|t| matches(&t.filter, &event))
            .collect();
        tracing::info!(
            broker = %format_args!("{}/{}", self.namespace, self.name),
            id = %event.id, r#type = %event.type_, source = %event.source,
            triggers = ?matched.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            "broker: event accepted"
        );
        for trigger in matched {
            let broker = self.clone();
            let http = http.clone();
            let trigger = trigger.clone();
            let event = event.clone();
            tokio::spawn(async move { broker.dispatch(&http, &trigger, event).await });
        }
    }

    /// Sends `event` to the Trigger's subscriber with retries; a reply
    /// re-enters the Broker; a final failure goes to the dead-letter sink.
    async fn dispatch(self: Arc<Self>, http: &reqwest::Client, trigger: &Trigger, event: Event) {
        match send_with_retries(
            http,
            &trigger.subscriber,
            &event,
            &trigger.policy,
            &trigger.name,
        )
        .await
        {
            Ok(Some(reply)) => {
                tracing::info!(trigger = %trigger.name, id = %reply.id, r#type = %reply.type_, "broker: reply re-enters the broker");
                self.publish(http, *reply);
            }
            Ok(None) => {}
            Err((status, body, attempts)) => {
                let code = status.unwrap_or(500);
                let Some(dead_letter) = &trigger.policy.dead_letter else {
                    tracing::error!(trigger = %trigger.name, id = %event.id, status = code, attempts, "broker: delivery failed and no deadLetterSink is set; event dropped");
                    return;
                };
                tracing::warn!(
                    trigger = %trigger.name, id = %event.id, status = code, attempts,
                    dead_letter = %dead_letter,
                    "broker: delivery failed; sending the event to the dead-letter sink"
                );
                let failed = with_error_extensions(&event, &trigger.subscriber, code, &body);
                let label = format!("{} (dead letter)", trigger.name);
                let dead_letter_policy = RetryPolicy {
                    dead_letter: None,
                    ..trigger.policy.clone()
                };
                if let Err((status, _, attempts)) =
                    send_with_retries(http, dead_letter, &failed, &dead_letter_policy, &label).await
                {
                    tracing::error!(trigger = %trigger.name, id = %event.id, ?status, attempts, "broker: the dead-letter sink failed too; event dropped");
                }
            }
        }
    }
}

/// Tries `event` at `url` once plus `policy.retry` times while the failure
/// is retryable. `Err` carries the last status, body and the tries made.
async fn send_with_retries(
    http: &reqwest::Client,
    url: &Url,
    event: &Event,
    policy: &RetryPolicy,
    label: &str,
) -> Result<Option<Box<Event>>, (Option<u16>, Bytes, u32)> {
    let mut attempt = 1;
    loop {
        match send(http, url, event).await {
            Outcome::Delivered(reply) => {
                tracing::info!(trigger = label, %url, id = %event.id, attempt, "broker: delivered");
                return Ok(reply);
            }
            Outcome::Failed(status, body) => {
                let retries_done = attempt - 1;
                if !is_retryable(status) || retries_done >= policy.retry {
                    return Err((status, body, attempt));
                }
                let wait = policy.wait_before_retry(attempt);
                tracing::info!(trigger = label, %url, id = %event.id, ?status, attempt, ?wait, "broker: delivery failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

/// One POST of `event` in binary mode, with `Prefer: reply` as Knative sends.
async fn send(http: &reqwest::Client, url: &Url, event: &Event) -> Outcome {
    let mut headers = HeaderMap::new();
    write_headers(event, &mut headers);
    headers.insert("prefer", HeaderValue::from_static("reply"));
    let response = http
        .post(url.clone())
        .headers(headers)
        .body(event.data.clone().unwrap_or_default())
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        // As Knative: no response is a 500 whose body says why.
        Err(err) => return Outcome::Failed(None, Bytes::from(format!("dispatch error: {err}"))),
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return Outcome::Failed(Some(status.as_u16()), body);
    }
    let is_event = headers.contains_key("ce-specversion")
        || headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/cloudevents+json"));
    if !is_event {
        return Outcome::Delivered(None);
    }
    match parse_request(&headers, body) {
        Ok(Incoming::Single(reply)) => Outcome::Delivered(Some(Box::new(reply))),
        Ok(Incoming::Batch(_)) => Outcome::Delivered(None),
        Err(err) => {
            tracing::warn!(%url, "broker: the reply is not a valid CloudEvent and is dropped: {err}");
            Outcome::Delivered(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            type_: "my-trade".into(),
            datacontenttype: Some("application/json".into()),
            extensions: vec![("partitionkey".into(), "T-1".into())],
            ..crate::event::test_event("my-exchange", "1")
        }
    }

    fn filter(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn exact_match_needs_every_attribute() {
        assert!(matches(
            &filter(&[("type", "my-trade"), ("source", "my-exchange")]),
            &event()
        ));
        assert!(!matches(
            &filter(&[("type", "my-trade"), ("source", "elsewhere")]),
            &event()
        ));
        assert!(!matches(&filter(&[("type", "my-trad")]), &event()));
    }

    #[test]
    fn empty_filter_matches_everything() {
        assert!(matches(&BTreeMap::new(), &event()));
    }

    #[test]
    fn extensions_and_optional_attributes_can_be_filtered() {
        assert!(matches(&filter(&[("partitionkey", "T-1")]), &event()));
        assert!(!matches(&filter(&[("partitionkey", "T-2")]), &event()));
        assert!(matches(
            &filter(&[("datacontenttype", "application/json")]),
            &event()
        ));
        // An absent extension never matches, not even an empty value.
        assert!(!matches(&filter(&[("region", "eu")]), &event()));
        assert!(!matches(&filter(&[("region", "")]), &event()));
        // An empty value matches any value (Knative's TriggerAnyFilter);
        // an unset context attribute reads as empty.
        assert!(matches(&filter(&[("partitionkey", "")]), &event()));
        assert!(matches(&filter(&[("subject", "")]), &event()));
        assert!(!matches(&filter(&[("subject", "x")]), &event()));
    }
}
