//! The one mapping from what went wrong to the HTTP status Knative acts on:
//! poison input → 400/422 (dead-letter, no retry), transient trouble → 5xx or
//! 429 (retry). Bodies keep the shape today's clients parse:
//! `{"success": false, "error": {"type": "<kind>", "message": "..."}}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};
use serde::Serialize;

use crate::event::InvalidEvent;
use crate::outputs::SinkError;
use crate::sandbox::SandboxError;

/// Everything a request can end in other than success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is not a CloudEvent (nor a plain `ce_type`/`ce_source` request).
    #[error("{0}")]
    NotAnEvent(String),
    /// The request claims to be a CloudEvent but cannot be parsed as one.
    #[error("malformed CloudEvent: {0}")]
    Malformed(String),
    /// The request is a CloudEvent that breaks the spec.
    #[error("invalid CloudEvent: {0}")]
    InvalidEvent(#[from] InvalidEvent),
    /// The HTTP request itself is malformed (a path that is not
    /// percent-encoded UTF-8, an HTTP/1.1 request without one `Host`).
    #[error("{0}")]
    BadRequest(String),
    /// No function is served at this path.
    #[error(
        "no function named `{0}` is loaded; POST to /<function> for one of the .wasm files in the functions directory"
    )]
    UnknownFunction(String),
    /// The function is configured but no version of it has loaded yet (its
    /// registry pull is still failing): transient, so Knative retries.
    #[error(
        "function `{0}` is configured but not loaded yet (its registry pull is failing, see /readyz); retry later"
    )]
    NotLoaded(String),
    /// `POST /` with neither `default` configured nor exactly one function.
    #[error(
        "no default function: set `default = \"<name>\"` in wasmfn.toml or POST to /<function>"
    )]
    NoDefaultFunction,
    /// The method is not POST (or GET for the health endpoints).
    #[error("method not allowed; send events with POST")]
    MethodNotAllowed,
    /// The body is over the configured limit.
    #[error("request body is over the limit of {0} bytes (`max_body_bytes` in wasmfn.toml)")]
    PayloadTooLarge(usize),
    /// The client did not send the whole body in time (a slow client).
    #[error(
        "the request body did not arrive within {} ms (`--read-timeout-ms`)",
        .0.as_millis()
    )]
    BodyTimeout(std::time::Duration),
    /// The body could not be read.
    #[error("cannot read the request body: {0}")]
    BodyRead(String),
    /// The function said the event can never succeed.
    #[error("{0}")]
    FunctionInvalid(String),
    /// The function said something transient went wrong.
    #[error("{0}")]
    FunctionFailed(String),
    /// The sandbox stopped the function (trap, limit) or could not run it.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The function's output cannot be sent as it is.
    #[error("{0}")]
    Output(String),
    /// A sink refused an output event for good, or stayed unavailable.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The function already has `max_concurrency` events in flight.
    #[error(
        "the function already has {0} events in flight (`limits.max_concurrency`); retry later"
    )]
    Overloaded(usize),
    /// The host is starting or draining.
    #[error("not ready: {0}")]
    NotReady(&'static str),
}

impl Error {
    /// The status Knative sees.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NotAnEvent(_)
            | Error::Malformed(_)
            | Error::InvalidEvent(_)
            | Error::BodyRead(_)
            | Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::UnknownFunction(_) | Error::NoDefaultFunction => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Error::FunctionInvalid(_) | Error::Output(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::FunctionFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Sandbox(err) => match err {
                SandboxError::Timeout(_) | SandboxError::Exhausted(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                SandboxError::Memory(_)
                | SandboxError::StackOverflow
                | SandboxError::Fuel(_)
                | SandboxError::Output(_) => StatusCode::UNPROCESSABLE_ENTITY,
                SandboxError::Trap(_) | SandboxError::Engine(_) | SandboxError::Compile(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
            Error::Sink(SinkError::Rejected { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Sink(SinkError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            Error::NotReady(_) | Error::NotLoaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The `error.type` of the JSON body: a stable, machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotAnEvent(_) => "not_a_cloudevent",
            Error::Malformed(_) | Error::InvalidEvent(_) => "invalid_cloudevent",
            Error::UnknownFunction(_) | Error::NoDefaultFunction => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::BodyRead(_) | Error::BadRequest(_) => "bad_request",
            Error::BodyTimeout(_) => "request_timeout",
            Error::FunctionInvalid(_) => "invalid",
            Error::FunctionFailed(_) => "failed",
            Error::Sandbox(err) => match err {
                SandboxError::Timeout(_) => "timeout",
                SandboxError::Exhausted(_) => "overload",
                SandboxError::Memory(_) => "memory",
                SandboxError::StackOverflow => "stack",
                SandboxError::Fuel(_) => "fuel",
                SandboxError::Trap(_) => "trap",
                SandboxError::Output(_) => "output",
                SandboxError::Engine(_) | SandboxError::Compile(_) => "internal",
            },
            Error::Output(_) => "output",
            Error::Sink(SinkError::Rejected { .. }) => "sink_rejected",
            Error::Sink(SinkError::Unavailable { .. }) => "sink_unavailable",
            Error::NotReady(_) => "not_ready",
            Error::NotLoaded(_) => "not_loaded",
            Error::Overloaded(_) => "overload",
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    success: bool,
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        // Bad input is the caller's business; everything else is ours to see.
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), kind = self.kind(), "{self}");
        } else {
            tracing::debug!(status = status.as_u16(), kind = self.kind(), "{self}");
        }
        let body = Body {
            success: false,
            error: Detail {
                kind: self.kind(),
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn poison_is_4xx_and_transient_is_5xx() {
        let table: Vec<(Error, u16, &str)> = vec![
            (Error::NotAnEvent("x".into()), 400, "not_a_cloudevent"),
            (
                Error::InvalidEvent(InvalidEvent::new("id", "empty")),
                400,
                "invalid_cloudevent",
            ),
            (Error::BadRequest("no host".into()), 400, "bad_request"),
            (Error::UnknownFunction("f".into()), 404, "not_found"),
            (Error::NotLoaded("f".into()), 503, "not_loaded"),
            (Error::MethodNotAllowed, 405, "method_not_allowed"),
            (Error::PayloadTooLarge(1), 413, "payload_too_large"),
            (
                Error::BodyTimeout(Duration::from_secs(1)),
                408,
                "request_timeout",
            ),
            (Error::FunctionInvalid("x".into()), 422, "invalid"),
            (Error::FunctionFailed("x".into()), 500, "failed"),
            (Error::Sandbox(SandboxError::Trap("x".into())), 500, "trap"),
            (
                Error::Sandbox(SandboxError::Timeout(Duration::from_secs(1))),
                503,
                "timeout",
            ),
            (Error::Sandbox(SandboxError::Memory(1 << 20)), 422, "memory"),
            (Error::Sandbox(SandboxError::StackOverflow), 422, "stack"),
            (Error::Sandbox(SandboxError::Fuel(10)), 422, "fuel"),
            (Error::Sandbox(SandboxError::Exhausted(4)), 503, "overload"),
            (Error::Output("x".into()), 422, "output"),
            (
                Error::Sandbox(SandboxError::Output("x".into())),
                422,
                "output",
            ),
            (Error::Overloaded(8), 429, "overload"),
            (
                Error::Sink(SinkError::Rejected {
                    status: 400,
                    body: "no".into(),
                }),
                422,
                "sink_rejected",
            ),
            (
                Error::Sink(SinkError::Unavailable {
                    attempts: 5,
                    last: "503".into(),
                }),
                503,
                "sink_unavailable",
            ),
        ];
        for (error, status, kind) in table {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.kind(), kind, "{error:?}");
        }
    }

    #[tokio::test]
    async fn body_has_the_legacy_shape() {
        let response = Error::FunctionInvalid("bad price".into()).into_response();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"success": false, "error": {"type": "invalid", "message": "bad price"}})
        );
    }
}
