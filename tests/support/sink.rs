//! A recording sink: a real HTTP server on 127.0.0.1 that stores every request
//! it receives and answers with scripted statuses (then 202).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
}

impl Received {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    script: VecDeque<(u16, String)>,
}

/// A running sink; stops when dropped with the test's runtime.
#[derive(Clone)]
pub struct Sink {
    shared: Arc<Mutex<Shared>>,
    /// `http://127.0.0.1:<port>/`.
    pub url: String,
    /// The bound address.
    pub address: SocketAddr,
}

impl Sink {
    /// Starts a sink on a free loopback port.
    pub async fn start() -> Sink {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Sink {
            shared,
            url: format!("http://{address}/"),
            address,
        }
    }

    /// Answers the next requests with these statuses and bodies, in order.
    pub fn script(&self, responses: &[(u16, &str)]) {
        let mut shared = self.shared.lock().unwrap();
        shared
            .script
            .extend(responses.iter().map(|(s, b)| (*s, (*b).to_owned())));
    }

    /// Every request received so far (including refused ones).
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }
}

async fn record(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut shared = shared.lock().unwrap();
    shared.received.push(Received { headers, body });
    let (status, body) = shared.script.pop_front().unwrap_or((202, String::new()));
    (StatusCode::from_u16(status).unwrap(), body)
}
