//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as
//! text or, with `WASMFN_LOG_FORMAT=json`, as JSON lines that carry the fields
//! of the spans they happen in (an event's `function`, `digest`, `id`, `trace_id`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("WASMFN_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}
