//! The HTTP server: routes, health endpoints, and serving connections with
//! limits against slow or oversized request heads and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::{StatusCode, Uri, Version};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;

use super::admin::{function_route, functions, metrics};
use super::handler::{route_default, route_named};
use super::write_timeout::WriteTimeout;
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
    /// Time a client may take to send a request body (then 408).
    pub body_timeout: Duration,
}

/// Bounds on what one connection may cost before its request is handled,
/// so a slow or hostile client cannot hold a connection or memory forever.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time a client may take to send a complete request head; the
    /// connection is closed past it (slowloris).
    pub header_timeout: Duration,
    /// Bytes of one request head; more answer 431. (More than 100 header
    /// fields, hyper's default, also answer 431; raising that would move
    /// header parsing from the stack to the heap on every request.)
    pub max_header_bytes: usize,
    /// Time a response write may stall because the client does not read;
    /// the connection is closed past it.
    pub write_timeout: Duration,
    /// Time in-flight requests get to finish once shutdown begins; the
    /// connections still open then are closed.
    pub shutdown_timeout: Duration,
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
        .route("/", post(route_default))
        .route("/{name}", post(route_named))
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .fallback(|uri: Uri| async move {
            Error::UnknownFunction(uri.path().trim_start_matches('/').to_owned())
        })
        .layer(axum::middleware::map_request(require_host))
        .with_state(app)
}

/// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a
/// `Host` header or with more than one (hyper leaves it to the service).
async fn require_host(request: Request) -> Result<Request, Error> {
    let hosts = request.headers().get_all(HOST).iter().count();
    if request.version() == Version::HTTP_11 && hosts != 1 {
        return Err(Error::BadRequest(format!(
            "an HTTP/1.1 request needs exactly one `Host` header, not {hosts} (RFC 9112 §3.2)"
        )));
    }
    Ok(request)
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
    // Canaries their rollback rule took out (issue 14): still ready, the
    // serving version takes their events.
    let rolled_back: Vec<_> = table
        .functions()
        .into_iter()
        .filter_map(|f| {
            let rollout = f.rollout.as_ref()?;
            rollout.rolled_back()?;
            Some(json!({"name": f.name(), "canary": rollout.canary.digest}))
        })
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
            "waiting": app.registry.waiting(),
            "rolled_back": rolled_back,
        })),
    )
        .into_response()
}

/// Serves `routes` on `listener` (HTTP/1.1, keep-alive) with `limits` on
/// every connection until `shutdown` resolves; then stops accepting, closes
/// idle connections and waits for in-flight requests to finish, at most
/// `limits.shutdown_timeout`; returns whether every request finished. The one
/// connection loop of `serve` ([`router`]) and `dev` (the same routes plus
/// the emulated eventing).
pub async fn serve(
    listener: TcpListener,
    routes: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<bool> {
    let service = TowerToHyperService::new(routes);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: back off rather
                    // than spin; the connections already open keep working.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Replies are written whole; waiting to coalesce them only adds latency.
        let _ = stream.set_nodelay(true);
        let stream = WriteTimeout::new(stream, limits.write_timeout);
        let connection = http.serve_connection(TokioIo::new(stream), service.clone());
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection closed with an error");
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.shutdown_timeout, connections.shutdown())
        .await
        .is_ok();
    if !drained {
        tracing::warn!(
            shutdown_timeout_secs = limits.shutdown_timeout.as_secs(),
            "connections still open past the shutdown timeout are closed"
        );
    }
    Ok(drained)
}
