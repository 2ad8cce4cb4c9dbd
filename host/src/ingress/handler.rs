//! The data path of one request: route → extract → sandbox → outputs.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::extract::{Incoming, parse_request, read_body};
use super::server::App;
use crate::config::Output;
use crate::error::Error;
use crate::event::Event;
use crate::outputs::{reply_batch, reply_single};
use crate::routing::LoadedFunction;

/// Response header naming the digest of the module that handled the request.
pub(super) const MODULE_DIGEST_HEADER: &str = "wasmfn-module-digest";

/// `POST /{name}`.
pub(super) async fn invoke_named(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let table = app.registry.snapshot();
    match table.get(&name) {
        Ok(function) => invoke(&app, function, request).await,
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
/// status Knative acts on, tagged with the module's digest.
async fn invoke(app: &App, function: &Arc<LoadedFunction>, request: Request) -> Response {
    let mut response = match handle(app, function, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    response
        .headers_mut()
        .insert(MODULE_DIGEST_HEADER, function.digest_header.clone());
    response
}

async fn handle(
    app: &App,
    function: &Arc<LoadedFunction>,
    request: Request,
) -> Result<Response, Error> {
    let _in_flight = function.admit()?;
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, app.max_body_bytes, app.body_timeout).await?;
    match parse_request(&parts.headers, body)? {
        Incoming::Single(event) => {
            let outputs = run(app, function, &event).await?;
            match &function.output {
                Output::Reply => reply_single(outputs),
                Output::Sink(_) => Ok(http::StatusCode::ACCEPTED.into_response()),
            }
        }
        Incoming::Batch(events) => {
            let mut replies = Vec::new();
            for event in &events {
                replies.extend(run(app, function, event).await?);
            }
            reply_batch(replies)
        }
    }
}

/// One event through the function, then — in sink mode — delivery of every output in order. Returns the outputs still
/// to be replied (none in sink mode).
async fn run(app: &App, function: &LoadedFunction, event: &Event) -> Result<Vec<Event>, Error> {
    let span = tracing::info_span!(
        "event",
        function = function.name(),
        digest = %function.digest,
        id = %event.id,
        r#type = %event.type_,
    );
    async {
        if let Some(answer) = function.dedup.as_ref().and_then(|d| d.seen(event)) {
            tracing::info!("duplicate of an event already handled; acknowledged without running");
            return Ok(answer.to_vec());
        }
        let mut outputs = function.process(&app.sandbox, event).await?;
        if let Output::Sink(url) = &function.output {
            for output in &outputs {
                app.sink.deliver(url, output).await?;
            }
            outputs.clear();
        }
        if let Some(dedup) = &function.dedup {
            dedup.remember(event, &outputs);
        }
        tracing::debug!(outputs = outputs.len(), "event handled");
        Ok(outputs)
    }
    .instrument(span)
    .await
}
