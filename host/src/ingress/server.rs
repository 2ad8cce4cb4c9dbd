//! The HTTP server: routes, health endpoints, and serving with graceful
//! shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;

use super::admin::{function_route, functions, metrics};
use super::handler::{invoke_default, invoke_named};
use crate::error::Error;
use crate::outputs::SinkClient;
use crate::routing::Registry;
use crate::sandbox::Sandbox;

/// What every request handler shares.
pub struct App {
    /// The loaded functions.
    pub registry: Arc<Registry>,
    /// The engine that runs them.
    pub sandbox: Arc<Sandbox>,
    /// The pooled client for sink outputs.
    pub sink: SinkClient,
    /// Request body limit in bytes.
    pub max_body_bytes: usize,
}

/// The routes: `POST /{function}`, `POST /` (the default function),
/// `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /functions`.
/// Everything else answers a JSON 404 or 405.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", function_route("metrics").get(metrics))
        .route("/functions", function_route("functions").get(functions))
        .route("/", post(invoke_default))
        .route("/{name}", post(invoke_named))
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .fallback(|uri: Uri| async move {
            Error::UnknownFunction(uri.path().trim_start_matches('/').to_owned())
        })
        .with_state(app)
}

/// Liveness: the process is up and serving HTTP.
async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// Readiness: every module is compiled and the host is not draining. The body
/// lists the functions served with their digests, and what reloads did (a
/// module that failed to reload keeps its previous version serving and is
/// listed under `issues`).
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let table = app.registry.snapshot();
    let functions: Vec<_> = table
        .functions()
        .into_iter()
        .map(|f| json!({"name": f.name(), "digest": f.digest}))
        .collect();
    let ready = app.registry.is_ready();
    let reloads = app.registry.reload_status();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ready": ready,
            "default": table.default_name(),
            "functions": functions,
            "reloads": reloads.reloads,
            "failed_reloads": reloads.failed_reloads,
            "issues": reloads.issues,
        })),
    )
        .into_response()
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting
/// and waits for in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}
