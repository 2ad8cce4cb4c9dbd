//! The data path of one request: route → extract → sandbox → outputs.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use tracing::{Instrument, Span};

use super::extract::{Incoming, parse_request, read_body};
use super::server::App;
use crate::config::Output;
use crate::error::Error;
use crate::event::Event;
use crate::observability::TraceContext;
use crate::observability::metrics::outcome;
use crate::outputs::{reply_batch, reply_single};
use crate::routing::{DedupWindow, LoadedFunction};

/// Response header naming the digest of the module that handled the request.
pub(super) const MODULE_DIGEST_HEADER: &str = "wasmfn-module-digest";

/// `POST /{name}`.
pub(super) async fn invoke_named(
    State(app): State<Arc<App>>,
    name: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    match name {
        Ok(Path(name)) => invoke_function(&app, &name, request).await,
        // axum would answer this one in text/plain; every error is JSON.
        Err(_) => {
            Error::BadRequest("the path is not percent-encoded UTF-8".to_owned()).into_response()
        }
    }
}

/// The function `name`, for routes whose path is fixed (`POST /metrics`
/// reaches a function named `metrics` though `GET /metrics` is the host's).
pub(super) async fn invoke_function(app: &App, name: &str, request: Request) -> Response {
    let table = app.registry.snapshot();
    match table.get(name) {
        Ok(function) => invoke(app, function, request).await,
        Err(err) => err.into_response(),
    }
}

/// `POST /`.
pub(super) async fn invoke_default(State(app): State<Arc<App>>, request: Request) -> Response {
    let table = app.registry.snapshot();
    match table.default_function() {
        Ok(function) => invoke(&app, function, request).await,
        Err(err) => err.into_response(),
    }
}

/// Runs the request's event(s) through `function` and answers with the
/// status Knative acts on, tagged with the module's digest, and counts it.
async fn invoke(app: &App, function: &Arc<LoadedFunction>, request: Request) -> Response {
    let started = Instant::now();
    // The span of the event being run when an error ends the request, so
    // the error's log line carries the event's fields and trace-id.
    let mut span = Span::none();
    let result = handle(app, function, request, &mut span).await;
    function
        .metrics()
        .record_event(outcome(&result), started.elapsed());
    let mut response = span.in_scope(|| match result {
        Ok(response) => response,
        Err(err) => err.into_response(),
    });
    response
        .headers_mut()
        .insert(MODULE_DIGEST_HEADER, function.digest_header.clone());
    response
}

async fn handle(
    app: &App,
    function: &Arc<LoadedFunction>,
    request: Request,
    span: &mut Span,
) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    // Admission comes after the body: a client that sends its body slowly
    // must not hold a `max_concurrency` permit while it does (issue 16 #6).
    let body = read_body(&parts.headers, body, app.max_body_bytes, app.body_timeout).await?;
    let incoming = parse_request(&parts.headers, body)?;
    let _in_flight = function.admit(incoming.len())?;
    match incoming {
        Incoming::Single(event) => {
            let outputs = run(app, function, &parts.headers, &event, span).await?;
            match &function.output {
                Output::Reply => reply_single(outputs),
                Output::Sink(_) => Ok(http::StatusCode::ACCEPTED.into_response()),
            }
        }
        Incoming::Batch(events) => {
            let mut replies = Vec::new();
            for event in &events {
                replies.extend(run(app, function, &parts.headers, event, span).await?);
            }
            reply_batch(replies)
        }
    }
}

/// One event through the function, then — in sink mode — delivery of every output in order. Returns the outputs still
/// to be replied (none in sink mode). The event's trace (from the request
/// `headers` or the event) tags its log lines and continues to the sink; its
/// log span is left in `current`.
async fn run(
    app: &App,
    function: &LoadedFunction,
    headers: &http::HeaderMap,
    event: &Event,
    current: &mut Span,
) -> Result<Vec<Event>, Error> {
    let trace = TraceContext::continue_from(headers, event);
    let span = tracing::info_span!(
        "event",
        function = function.name(),
        digest = %function.digest,
        id = %event.id,
        r#type = %event.type_,
        trace_id = %trace.trace_id(),
    );
    *current = span.clone();
    async {
        let dedup = function
            .dedup
            .as_ref()
            .map(|window| (window, DedupWindow::key(event)));
        if let Some((window, key)) = &dedup
            && let Some(answer) = window.seen(key)
        {
            tracing::info!("duplicate of an event already handled; acknowledged without running");
            return Ok(answer.to_vec());
        }
        let mut outputs = function.process(&app.sandbox, event).await?;
        if let Output::Sink(url) = &function.output {
            for output in &outputs {
                app.sink
                    .deliver(url, output, &trace, function.metrics())
                    .await?;
            }
            outputs.clear();
        }
        if let Some((window, key)) = dedup {
            window.remember(key, &outputs);
        }
        tracing::debug!(outputs = outputs.len(), "event handled");
        Ok(outputs)
    }
    .instrument(span)
    .await
}
