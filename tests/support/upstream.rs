//! An upstream for guests' outbound requests: a real HTTP server on
//! 127.0.0.1 that records every request and answers by path:
//!
//! | path | answer |
//! |---|---|
//! | `/ref/{key}` | 200, `{"key": key, "desk": "metals"}` |
//! | `/redirect` | 302 to `/landed` |
//! | `/landed` | 200 `landed` (a guest must never get here by itself) |
//! | `/bytes/{n}` | 200, `n` bytes of `x` |
//! | `/slow` | nothing for 30 s, then 200 |
//! | `/echo` | 200, the request body |

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its path.
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
}

impl Seen {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A running upstream; stops with the test's runtime.
#[derive(Clone)]
pub struct Upstream {
    seen: Log,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The bound address.
    pub address: SocketAddr,
}

impl Upstream {
    /// Starts the upstream on a free loopback port.
    pub async fn start() -> Upstream {
        let seen = Log::default();
        let app = axum::Router::new()
            .route("/ref/{key}", get(reference))
            .route("/redirect", get(redirect))
            .route("/landed", get(|| async { "landed" }))
            .route("/bytes/{n}", get(bytes))
            .route("/slow", get(slow))
            .route("/echo", post(|body: Bytes| async move { body }))
            .layer(axum::middleware::from_fn_with_state(seen.clone(), record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Upstream {
            seen,
            url: format!("http://{address}"),
            address,
        }
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests received for `path`.
    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

async fn record(
    State(seen): State<Log>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let uri: &Uri = request.uri();
    seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        headers: request.headers().clone(),
    });
    next.run(request).await
}

async fn reference(Path(key): Path<String>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"key": key, "desk": "metals"}).to_string(),
    )
}

async fn redirect() -> impl IntoResponse {
    (StatusCode::FOUND, [(header::LOCATION, "/landed")], "")
}

async fn bytes(Path(n): Path<usize>) -> impl IntoResponse {
    "x".repeat(n)
}

async fn slow() -> impl IntoResponse {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}
