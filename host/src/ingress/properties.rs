//! Property tests (fuzzing) of the ingress parser: any headers and any body
//! give either valid events or an error the host answers with a 4xx, never
//! a panic or a 5xx. `scripts/fuzz.sh SECONDS` runs them with fresh seeds
//! for a bounded time; CI runs it for 60 s.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use super::extract::{Incoming, parse_request};
use crate::event::validate;

/// Header names the parser looks at, plus arbitrary ones.
fn header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        prop::sample::select(vec![
            "content-type",
            "ce-specversion",
            "ce-id",
            "ce-source",
            "ce-type",
            "ce-time",
            "ce-subject",
            "ce-dataschema",
            "ce-partitionkey",
            "ce-",
            "ce_type",
            "ce_source",
            "ce_id",
            "traceparent",
        ])
        .prop_map(HeaderName::from_static),
        "[a-z][a-z0-9-]{0,12}".prop_map(|name| HeaderName::from_bytes(name.as_bytes()).unwrap()),
    ]
}

/// Header values: the interesting ones and arbitrary legal bytes
/// (visible ASCII, space, tab and obs-text; HTTP forbids controls).
fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        prop::sample::select(vec![
            "1.0",
            "0.3",
            "",
            "application/json",
            "application/cloudevents+json",
            "application/cloudevents-batch+json",
            "application/cloudevents+json; charset=utf-8",
            "application/cloudevents+xml",
            "text/plain",
            "2018-04-05T17:31:00Z",
            "not a time",
            "%20%ZZ%",
            "https://example.com/schema",
            "::not a uri",
        ])
        .prop_map(HeaderValue::from_static),
        prop::collection::vec(
            prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff],
            0..40
        )
        .prop_map(|bytes| HeaderValue::from_bytes(&bytes).unwrap()),
    ]
}

/// Bodies: arbitrary bytes, and JSON near a valid structured event or batch.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let attribute = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::json!({"nested": [1, 2]})),
    ];
    let event = prop::collection::btree_map(
        prop::sample::select(vec![
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "subject",
            "datacontenttype",
            "dataschema",
            "data",
            "data_base64",
            "partitionkey",
            "Bad-Name",
        ]),
        attribute,
        0..10,
    )
    .prop_map(|fields| serde_json::to_value(fields).unwrap());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        event.clone().prop_map(|e| e.to_string().into_bytes()),
        prop::collection::vec(event, 0..4)
            .prop_map(|events| serde_json::Value::from(events).to_string().into_bytes()),
    ]
}

proptest! {
    #[test]
    fn any_request_is_parsed_or_refused_with_a_4xx(
        headers in prop::collection::vec((header_name(), header_value()), 0..8),
        body in body(),
    ) {
        let headers: HeaderMap = headers.into_iter().collect();
        match parse_request(&headers, Bytes::from(body)) {
            Ok(Incoming::Single(event)) => prop_assert!(validate(&event).is_ok()),
            Ok(Incoming::Batch(events)) => {
                for event in &events {
                    prop_assert!(validate(event).is_ok());
                }
            }
            Err(err) => prop_assert!(
                err.status().is_client_error(),
                "{} for {:?}", err.status(), err
            ),
        }
    }
}
