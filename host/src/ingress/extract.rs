//! CloudEvent extraction from an HTTP request, in every mode the HTTP binding
//! 1.0.2 defines plus the plain requests today's producers send. Binary mode
//! (every Knative delivery) is read by `event::decode_binary`, structured and
//! batched JSON by cloudevents-sdk; statuses are ours (every bad input is a 400).

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};

use crate::error::Error;
use crate::event::{BinaryModeError, Event, decode_binary, decode_plain, from_sdk, validate};

/// Media type of structured mode.
const STRUCTURED: &str = "application/cloudevents+json";
/// Media type of batched mode.
const BATCHED: &str = "application/cloudevents-batch+json";

/// The event(s) a request carries.
// Short-lived on the stack: boxing the single event would cost an allocation
// per request for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Incoming {
    /// Binary, structured or plain mode: one event.
    Single(Event),
    /// Batched mode: zero or more events, each run in order.
    Batch(Vec<Event>),
}

impl Incoming {
    /// How many events the request carries.
    pub fn len(&self) -> usize {
        match self {
            Incoming::Single(_) => 1,
            Incoming::Batch(events) => events.len(),
        }
    }

    /// Whether the request carries no event (an empty batch).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a request body of at most `limit` bytes.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Error> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Error::PayloadTooLarge(limit));
    }
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| Error::BodyTimeout(timeout))?;
    read.map_err(|err| {
        let over_limit =
            std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if over_limit {
            Error::PayloadTooLarge(limit)
        } else {
            Error::BodyRead(err.to_string())
        }
    })
}

/// Extracts and validates the event(s) of a request.
pub fn parse_request(headers: &HeaderMap, body: Bytes) -> Result<Incoming, Error> {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match media_type.as_deref() {
        Some(BATCHED) => {
            let events: Vec<cloudevents::Event> = serde_json::from_slice(&body)
                .map_err(|err| Error::Malformed(format!("batched mode: {err}")))?;
            let events = events
                .into_iter()
                .enumerate()
                .map(|(index, event)| {
                    let event = from_sdk(event);
                    validate(&event).map_err(|err| {
                        Error::Malformed(format!("batched mode: event #{index}: {err}"))
                    })?;
                    Ok(event)
                })
                .collect::<Result<Vec<_>, Error>>()?;
            Ok(Incoming::Batch(events))
        }
        Some(STRUCTURED) => {
            let event: cloudevents::Event = serde_json::from_slice(&body)
                .map_err(|err| Error::Malformed(format!("structured mode: {err}")))?;
            let event = from_sdk(event);
            validate(&event)?;
            Ok(Incoming::Single(event))
        }
        Some(other) if other.starts_with("application/cloudevents") => Err(Error::Malformed(
            format!("unsupported event format `{other}`; use {STRUCTURED} or {BATCHED}"),
        )),
        _ if headers.contains_key("ce-specversion") => {
            let event = decode_binary(headers, body.into()).map_err(|err| match err {
                BinaryModeError::Invalid(invalid) => Error::InvalidEvent(invalid),
                malformed => Error::Malformed(malformed.to_string()),
            })?;
            Ok(Incoming::Single(event))
        }
        _ => {
            let event = decode_plain(headers, body.into())
                .map_err(|err| Error::NotAnEvent(err.to_string()))?;
            validate(&event)?;
            Ok(Incoming::Single(event))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    fn single(headers: &HeaderMap, body: &str) -> Event {
        match parse_request(headers, Bytes::from(body.to_owned())) {
            Ok(Incoming::Single(event)) => event,
            other => panic!("expected one event, got {other:?}"),
        }
    }

    #[test]
    fn binary_mode_percent_decodes_and_keeps_the_body() {
        let event = single(
            &headers(&[
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
                ("ce-subject", "caf%C3%A9%20x"),
                ("content-type", "application/json"),
            ]),
            r#"{"a":1}"#,
        );
        assert_eq!(event.subject.as_deref(), Some("café x"));
        assert_eq!(event.data.as_deref(), Some(&br#"{"a":1}"#[..]));
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
    }

    #[test]
    fn structured_mode_with_charset() {
        let event = single(
            &headers(&[(
                "content-type",
                "application/cloudevents+json; charset=utf-8",
            )]),
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"m":"hi"}}"#,
        );
        assert_eq!(event.type_, "t");
    }

    #[test]
    fn every_bad_input_is_a_400() {
        let cases = [
            (headers(&[("content-type", "application/json")]), "{}"),
            (headers(&[("content-type", STRUCTURED)]), "{not json"),
            (
                headers(&[("content-type", STRUCTURED)]),
                r#"{"specversion":"1.0"}"#,
            ),
            (
                headers(&[("content-type", BATCHED)]),
                r#"{"not":"an array"}"#,
            ),
            (
                headers(&[("content-type", "application/cloudevents+avro")]),
                "",
            ),
            (headers(&[("ce-specversion", "1.0"), ("ce-id", "1")]), ""),
            (
                headers(&[
                    ("ce-specversion", "0.9"),
                    ("ce-id", "1"),
                    ("ce-source", "s"),
                    ("ce-type", "t"),
                ]),
                "",
            ),
        ];
        for (headers, body) in cases {
            let err = parse_request(&headers, Bytes::from(body)).expect_err(body);
            assert_eq!(err.status(), 400, "{headers:?} {body}: {err}");
        }
    }
}
