//! A fault-injecting sink: a real HTTP/1.1 server on 127.0.0.1 that answers
//! each request as a [`Plan`] says: store and 202, refuse with a status,
//! 429 with `Retry-After`, answer slowly, reset the connection, or be down
//! altogether for a while. It records what it stored (acknowledged with
//! 202), so a test can count deliveries and duplicates by id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

/// What the sink does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Store the record and answer 202.
    Accept,
    /// Answer this status without storing (503, 400...).
    Refuse(u16),
    /// Answer 429 with `Retry-After: <secs>` without storing.
    TooMany(u64),
    /// Store the record, then answer 202 after this delay (a client that
    /// gave up meanwhile retries: a duplicate).
    Slow(Duration),
    /// Close the connection without an answer, without storing.
    Reset,
}

/// Chooses the fault for request number `n` (from 0) with this body.
pub type Plan = Box<dyn Fn(u64, &[u8]) -> Fault + Send + Sync>;

struct Shared {
    plan: Plan,
    requests: u64,
    /// Stored bodies in arrival order, with their `ce-id`.
    stored: Vec<(String, Bytes)>,
    faults: HashMap<&'static str, u64>,
}

/// A running faulty sink.
pub struct FaultySink {
    shared: Arc<Mutex<Shared>>,
    /// `http://127.0.0.1:<port>/`.
    pub url: String,
    address: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl FaultySink {
    /// Starts a sink following `plan` on a free loopback port.
    pub async fn start(plan: Plan) -> FaultySink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let sink = FaultySink {
            shared: Arc::new(Mutex::new(Shared {
                plan,
                requests: 0,
                stored: Vec::new(),
                faults: HashMap::new(),
            })),
            url: format!("http://{address}/"),
            address,
            tasks: Arc::default(),
        };
        sink.accept(listener);
        sink
    }

    /// Replaces the plan (request numbering goes on).
    pub fn set_plan(&self, plan: Plan) {
        self.shared.lock().unwrap().plan = plan;
    }

    /// Goes down: closes the listener and every open connection, so
    /// connections are refused until [`FaultySink::up`].
    pub fn down(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Comes back up on the same port.
    pub async fn up(&self) {
        let listener = TcpListener::bind(self.address).await.unwrap();
        self.accept(listener);
    }

    /// `(ce-id, body)` of every record stored, in arrival order.
    pub fn stored(&self) -> Vec<(String, Bytes)> {
        self.shared.lock().unwrap().stored.clone()
    }

    /// Requests received, and how many got each kind of fault.
    pub fn counts(&self) -> (u64, HashMap<&'static str, u64>) {
        let shared = self.shared.lock().unwrap();
        (shared.requests, shared.faults.clone())
    }

    fn accept(&self, listener: TcpListener) {
        let shared = self.shared.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                let service = service_fn(move |request| answer(shared.clone(), request));
                let connection = tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                tasks.lock().unwrap().push(connection.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
    }
}

/// Stands for a connection reset: hyper closes the connection unanswered.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reset by the faulty sink")
    }
}

impl std::error::Error for ResetConnection {}

async fn answer(
    shared: Arc<Mutex<Shared>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ResetConnection> {
    let id = request
        .headers()
        .get("ce-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(|_| ResetConnection)?;
    let body = body.to_bytes();
    let fault = {
        let mut shared = shared.lock().unwrap();
        let fault = (shared.plan)(shared.requests, &body);
        shared.requests += 1;
        let name = match fault {
            Fault::Accept => "accept",
            Fault::Refuse(_) => "refuse",
            Fault::TooMany(_) => "429",
            Fault::Slow(_) => "slow",
            Fault::Reset => "reset",
        };
        *shared.faults.entry(name).or_default() += 1;
        if matches!(fault, Fault::Accept | Fault::Slow(_)) {
            shared.stored.push((id, body));
        }
        fault
    };
    let status = |code: u16| {
        Response::builder()
            .status(code)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    match fault {
        Fault::Accept => Ok(status(202)),
        Fault::Refuse(code) => Ok(status(code)),
        Fault::TooMany(secs) => {
            let mut response = status(429);
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            Ok(response)
        }
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            Ok(status(202))
        }
        Fault::Reset => Err(ResetConnection),
    }
}
