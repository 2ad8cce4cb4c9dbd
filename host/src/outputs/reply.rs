//! Reply mode: output events go back in the HTTP response, which Knative
//! (the Broker sends `Prefer: reply`) turns into new events.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};

use crate::error::Error;
use crate::event::{Event, to_sdk, write_headers};

/// Media type of a batched (JSON array) reply.
const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// The reply to a single event: 202 and no body for no output, 200 with the
/// event in binary mode for one; more cannot be carried by a reply.
pub fn reply_single(mut outputs: Vec<Event>) -> Result<Response, Error> {
    match outputs.len() {
        0 => Ok(StatusCode::ACCEPTED.into_response()),
        1 => {
            let mut event = outputs.pop().expect("one output");
            let data = event.data.take().unwrap_or_default();
            let mut response = Response::new(Body::from(data));
            write_headers(&event, response.headers_mut());
            Ok(response)
        }
        n => Err(Error::Output(format!(
            "the function returned {n} events but its output is \"reply\", which carries one; set `output = \"sink\"` for this function in wasmfn.toml"
        ))),
    }
}

/// The reply to a batch: 202 for no output, else 200 with every output as a
/// structured JSON array (batched content mode).
pub fn reply_batch(outputs: Vec<Event>) -> Result<Response, Error> {
    if outputs.is_empty() {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let events = outputs
        .iter()
        .map(to_sdk)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| Error::Output(format!("cannot encode the reply batch: {err}")))?;
    let body = serde_json::to_vec(&events)
        .map_err(|err| Error::Output(format!("cannot encode the reply batch: {err}")))?;
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(BATCH_CONTENT_TYPE));
    Ok(response)
}
