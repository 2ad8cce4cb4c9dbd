//! Reading the CloudEvent a dev endpoint (Broker, KafkaSink) receives. Unlike
//! a function route, these accept only real CloudEvents (binary or
//! structured mode), as Knative's ingresses do; errors are the host's 400s.

use axum::extract::Request;
use http::header::CONTENT_TYPE;

use crate::config::DEFAULT_MAX_BODY_BYTES;
use crate::error::Error;
use crate::event::Event;
use crate::ingress::{Incoming, parse_request};

/// The one CloudEvent of `request`, or the 400/413 [`Error`] to answer.
pub(super) async fn read_cloudevent(request: Request) -> Result<Event, Error> {
    let (parts, body) = request.into_parts();
    let structured = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/cloudevents")
        });
    if !structured && !parts.headers.contains_key("ce-specversion") {
        return Err(Error::NotAnEvent(
            "not a CloudEvent: send binary mode (ce-specversion, ce-id, ce-source, ce-type headers) or structured mode (application/cloudevents+json)".into(),
        ));
    }
    let body = axum::body::to_bytes(body, DEFAULT_MAX_BODY_BYTES)
        .await
        .map_err(|_| Error::PayloadTooLarge(DEFAULT_MAX_BODY_BYTES))?;
    match parse_request(&parts.headers, body)? {
        Incoming::Single(event) => Ok(event),
        Incoming::Batch(_) => Err(Error::Malformed(
            "batched mode is not accepted here; send one event per request".into(),
        )),
    }
}
