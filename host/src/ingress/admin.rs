//! The operator endpoints: `GET /metrics` (Prometheus / OpenMetrics text) and
//! `GET /functions` (what is loaded, as JSON; setting names, never values).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{MethodRouter, post};
use http::header::{CONTENT_TYPE, HeaderValue};

use super::handler::route_to;
use super::server::App;
use crate::observability::{Metrics, describe, metrics};

/// `GET /metrics`: every metric of the process.
pub(super) async fn metrics() -> Response {
    let mut response = Metrics::global().encode().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}

/// `GET /functions`: the loaded functions with digest, output, limits and
/// counters.
pub(super) async fn functions(State(app): State<Arc<App>>) -> Response {
    let table = app.registry.snapshot();
    Json(describe(&table, &app.sandbox)).into_response()
}

/// `POST` to the function `name` on a path the host also serves by `GET`, so
/// a function named like an endpoint stays reachable.
pub(super) fn function_route(name: &'static str) -> MethodRouter<Arc<App>> {
    post(
        move |State(app): State<Arc<App>>, request: Request| async move {
            route_to(&app, name, request).await
        },
    )
}
