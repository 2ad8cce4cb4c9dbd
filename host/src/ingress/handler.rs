//! The data path of one request, one layer per function, outermost first:
//!
//! 1. `route_named`, `route_default`, `route_to`: the function the path
//!    names (or the default one), from the current table snapshot.
//! 2. `respond`: the outcome as the HTTP status Knative acts on, tagged with
//!    the module's digest, counted in the metrics.
//! 3. `admit`: the body read and decoded into one event or a batch
//!    (`extract.rs`), then one concurrency permit per event; the reply.
//! 4. `deliver`: one event — its version (`choose_version`: the serving one
//!    or a canary), its trace span, dedup, then its outputs sent on by the
//!    function's `Destination` (`outputs/`): to the sink, or back for the
//!    reply; then, when sampled, a copy of it to the function's shadow
//!    (`routing/shadow.rs`), which only compares.
//! 5. `LoadedFunction::execute` (`routing/table.rs`): the guest's verdict as
//!    an [`Error`], its outputs bounded and given their ids.
//! 6. `Sandbox::call` (`sandbox/call.rs`): one instance (fresh or warm) of
//!    the module's form, armed with its limits, called once.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use tracing::{Instrument, Span};

use super::extract::{Incoming, parse_request, read_body};
use super::server::App;
use crate::error::Error;
use crate::event::Event;
use crate::observability::metrics::outcome;
use crate::observability::{TraceContext, event_span};
use crate::routing::{DedupWindow, LoadedFunction, choose_version};

/// Response header naming the digest of the module that handled the request
/// (in a batch, the last event's: a canary can take some of its events).
/// (A `HeaderName` made at compile time: a `&str` is looked up per request.)
pub(super) const MODULE_DIGEST_HEADER: http::HeaderName =
    http::HeaderName::from_static("wasmfn-module-digest");

/// `POST /{name}`.
pub(super) async fn route_named(
    State(app): State<Arc<App>>,
    name: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    match name {
        Ok(Path(name)) => route_to(&app, &name, request).await,
        // axum would answer this one in text/plain; every error is JSON.
        Err(_) => {
            Error::BadRequest("the path is not percent-encoded UTF-8".to_owned()).into_response()
        }
    }
}

/// The function `name`, for routes whose path is fixed (`POST /metrics`
/// reaches a function named `metrics` though `GET /metrics` is the host's).
pub(super) async fn route_to(app: &App, name: &str, request: Request) -> Response {
    let table = app.registry.snapshot();
    match table.get(name) {
        Ok(function) => respond(app, function, request).await,
        Err(_) if app.registry.is_waiting(name) => {
            Error::NotLoaded(name.to_owned()).into_response()
        }
        Err(err) => err.into_response(),
    }
}

/// `POST /`.
pub(super) async fn route_default(State(app): State<Arc<App>>, request: Request) -> Response {
    let table = app.registry.snapshot();
    match table.default_function() {
        Ok(function) => respond(&app, function, request).await,
        Err(err) => err.into_response(),
    }
}

/// Answers the request to `function` with the status Knative acts on,
/// tagged with the digest of the version that answered, and counts it.
async fn respond(app: &App, function: &Arc<LoadedFunction>, request: Request) -> Response {
    let started = Instant::now();
    // The span of the event being run when an error ends the request, so
    // the error's log line carries the event's fields and trace-id; and the
    // version that ran it.
    let mut span = Span::none();
    let mut answered = function;
    let result = admit(app, function, request, &mut span, &mut answered).await;
    answered
        .metrics()
        .record_event(outcome(&result), started.elapsed());
    let mut response = span.in_scope(|| match result {
        Ok(response) => response,
        Err(err) => err.into_response(),
    });
    response
        .headers_mut()
        .insert(MODULE_DIGEST_HEADER, answered.digest_header.clone());
    response
}

/// Reads and decodes the request's event(s), admits them under the
/// function's `max_concurrency`, delivers each, and builds the reply (202
/// for a single event in sink mode).
async fn admit<'a>(
    app: &App,
    function: &'a Arc<LoadedFunction>,
    request: Request,
    span: &mut Span,
    answered: &mut &'a Arc<LoadedFunction>,
) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    // Admission comes after the body: a client that sends its body slowly
    // must not hold a `max_concurrency` permit while it does (issue 16 #6).
    let body = read_body(&parts.headers, body, app.max_body_bytes, app.body_timeout).await?;
    let incoming = parse_request(&parts.headers, body)?;
    let _in_flight = function.admit(incoming.len())?;
    match incoming {
        Incoming::Single(event) => {
            let left = deliver(app, function, &parts.headers, &event, span, answered).await?;
            function.destination.answer_single(left)
        }
        Incoming::Batch(events) => {
            let mut left = Vec::new();
            for event in &events {
                left.extend(deliver(app, function, &parts.headers, event, span, answered).await?);
            }
            function.destination.answer_batch(left)
        }
    }
}

/// One event executed by the function's version for it (unless dedup has
/// seen it), then its outputs sent on by the function's destination. Returns
/// the outputs still to be replied (none in sink mode). The event's trace
/// (from the request `headers` or the event) tags its log lines and
/// continues to the sink; its log span is left in `current`, its version in
/// `answered`.
async fn deliver<'a>(
    app: &App,
    function: &'a Arc<LoadedFunction>,
    headers: &http::HeaderMap,
    event: &Event,
    current: &mut Span,
    answered: &mut &'a Arc<LoadedFunction>,
) -> Result<Vec<Event>, Error> {
    let trace = TraceContext::continue_from(headers, event);
    let (version, role) = choose_version(function, event);
    *answered = version;
    let span = event_span(
        function.name(),
        &version.digest,
        &event.id,
        &event.type_,
        trace.trace_id(),
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
        let executed = version.execute(&app.sandbox, event, &trace).await;
        if let Some(rollout) = &function.rollout {
            rollout.record(function.name(), role, &executed);
        }
        let outputs = executed?;
        // Admitted (or shed) now, started once the real answer is formed.
        let shadow = function
            .shadow
            .as_ref()
            .and_then(|shadow| shadow.admit(function, &app.sandbox, event, &outputs, &trace));
        let outputs = function
            .destination
            .send(&app.sink, outputs, &trace, version.metrics())
            .await?;
        if let Some(run) = shadow {
            run.start(app.sandbox.clone());
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
