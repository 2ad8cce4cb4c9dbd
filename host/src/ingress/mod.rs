//! Ingress: the HTTP server Knative drives — CloudEvent extraction (binary,
//! structured, batched and plain requests), body limits, health endpoints,
//! and the per-request data path through routing, sandbox and outputs.

mod admin;
mod extract;
mod handler;
#[cfg(test)]
mod properties;
mod server;
mod write_timeout;

pub use extract::{Incoming, parse_request};
pub use server::{App, ConnectionLimits, router, serve};
