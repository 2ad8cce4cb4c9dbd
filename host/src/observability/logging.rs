//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as
//! text or, with `WASMFN_LOG_FORMAT=json`, as JSON lines that carry the fields
//! of the spans they happen in (an event's `function`, `digest`, `id`, `trace_id`).
//!
//! Lines are written by a background thread (`tracing-appender`), so a
//! request never waits on a `write(2)` to stderr, and under load many lines
//! go out in one write. It is not lossy: when its queue is full, the logging
//! request waits rather than dropping the line.

use std::io::IsTerminal;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Keep the returned guard until the
/// process ends: dropping it flushes the lines still queued.
#[must_use = "dropping the guard stops the log writer"]
pub fn init() -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        // The queue is allocated up front: the default 128,000 lines cost
        // ~3.5 MiB of idle RSS; 8,192 is still seconds of logging at load.
        .buffered_lines_limit(8192)
        .thread_name("wasmfn-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    if std::env::var("WASMFN_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}
