//! Observability: what an operator sees without reading code — logs
//! ([`logging`]), Prometheus metrics ([`metrics`]), W3C trace context
//! ([`trace`]), and the description of what is loaded ([`functions`]: the
//! startup summary and `GET /functions`).

mod event_span;
pub mod functions;
mod log_writer;
mod logging;
pub mod metrics;
pub mod trace;

pub use event_span::event_span;
pub use functions::{describe, log_summary};
pub use log_writer::LogGuard;
pub use logging::init;
pub use metrics::{FunctionMetrics, Metrics};
pub use trace::{TraceContext, TraceParent};
