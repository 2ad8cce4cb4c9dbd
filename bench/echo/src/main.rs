//! `bench-echo PORT`: the HTTP-stack ceiling for bench/run.sh. It serves
//! HTTP/1.1 keep-alive the way `wasmfn serve` does (host/src/main.rs: a
//! multi-thread tokio runtime, one worker per CPU the process may run on;
//! host/src/ingress/server.rs: hyper's http1 connection builder with a
//! header-read timeout, an axum `Router` as the service, `TCP_NODELAY`), reads
//! every request body whole, and answers like the workloads: `POST /echo` is
//! 200 with the body and the request's `content-type` and `ce-*` headers (the
//! shape of a reply-mode event, workload b), any other `POST` is 202 with an
//! empty body (workloads a and c).

use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// The body limit `wasmfn serve` applies by default (`max_body_bytes`).
const MAX_BODY_BYTES: usize = 1 << 20;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|port| port.parse().ok())
        .unwrap_or(18084);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(port))
}

async fn serve(port: u16) -> std::io::Result<()> {
    let routes = Router::new()
        .route("/echo", post(echo))
        .fallback(post(accepted));
    let service = TowerToHyperService::new(routes);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), service.clone());
        tokio::spawn(connection);
    }
}

/// 202, empty: the body is read (as the host reads an event) and dropped.
async fn accepted(request: Request) -> StatusCode {
    match to_bytes(request.into_body(), MAX_BODY_BYTES).await {
        Ok(_) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::PAYLOAD_TOO_LARGE,
    }
}

/// 200 with the body and the event's headers back.
async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if name == CONTENT_TYPE || name.as_str().starts_with("ce-") {
            headers.insert(name.clone(), value.clone());
        }
    }
    (StatusCode::OK, headers, Body::from(body)).into_response()
}
