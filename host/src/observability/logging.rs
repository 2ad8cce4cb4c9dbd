//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as
//! text or, with `WASMFN_LOG_FORMAT=json`, as JSON lines that carry the fields
//! of the spans they happen in (an event's `function`, `digest`, `id`, `trace_id`).
//!
//! Lines are written by a background thread (`tracing-appender`), so a
//! request never waits on a `write(2)` to stderr, and under load many lines
//! go out in one write. When its queue is full — stderr is not being read
//! fast enough, or not at all — new lines are dropped and counted
//! (`wasmfn_log_lines_dropped_total`) rather than making requests wait:
//! before, a stuck stderr reader blocked every request that logged.
//!
//! In text, control characters inside a line are escaped (`\n`, `\u{1b}`…),
//! so a value from a request or a guest can never start a forged line.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::event::is_control;

/// What the writer dropped, once [`init`] ran.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Log lines dropped so far because the queue to stderr was full.
pub(super) fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// Installs the global subscriber. Keep the returned guard until the
/// process ends: dropping it flushes the lines still queued.
#[must_use = "dropping the guard stops the log writer"]
pub fn init() -> WorkerGuard {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // WASI preview 1 opens an info span per host call of a command
    // (`fd_write{fd=Fd(2) ...}`): noise on every guest log line, and work on
    // every call. Shown only when asked for by name.
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("wasmtime_wasi")) {
        filter = filter.add_directive("wasmtime_wasi=warn".parse().expect("a valid directive"));
    }
    // oci-client logs registry bearer tokens at debug level; credentials
    // must never reach a log line, whatever RUST_LOG says.
    let filter = filter.add_directive("oci_client=info".parse().expect("a valid directive"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        // The queue is allocated up front: the default 128,000 lines cost
        // ~3.5 MiB of idle RSS; 8,192 is still seconds of logging at load.
        .buffered_lines_limit(8192)
        .thread_name("wasmfn-log")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    if std::env::var("WASMFN_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        // JSON strings escape control characters themselves.
        builder.with_writer(writer).json().init();
    } else {
        builder
            .with_writer(Escaping {
                inner: writer,
                ansi,
            })
            .init();
    }
    guard
}

/// A [`MakeWriter`] whose writers escape control characters in each line.
/// The text formatter writes one whole line (its final `\n` included) per
/// `write`, so every other control character is inside a line.
#[derive(Clone)]
struct Escaping<W> {
    inner: W,
    /// Colours are on: ESC starts their sequences and stays.
    ansi: bool,
}

impl<'a> MakeWriter<'a> for Escaping<NonBlocking> {
    type Writer = Escaping<NonBlocking>;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = buf.strip_suffix(b"\n").unwrap_or(buf);
        let text = String::from_utf8_lossy(line);
        if !text.contains(|c| self.escapes(c)) {
            self.inner.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut escaped = String::with_capacity(buf.len() + 16);
        for c in text.chars() {
            match c {
                '\n' => escaped.push_str("\\n"),
                '\r' => escaped.push_str("\\r"),
                '\t' => escaped.push_str("\\t"),
                c if self.escapes(c) => escaped.push_str(&c.escape_unicode().to_string()),
                c => escaped.push(c),
            }
        }
        if line.len() < buf.len() {
            escaped.push('\n');
        }
        self.inner.write_all(escaped.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Escaping<W> {
    fn escapes(&self, c: char) -> bool {
        is_control(c) && !(self.ansi && c == '\u{1b}')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(line: &str, ansi: bool) -> String {
        let mut writer = Escaping {
            inner: Vec::new(),
            ansi,
        };
        write!(writer, "{line}").unwrap();
        String::from_utf8(writer.inner).unwrap()
    }

    #[test]
    fn controls_inside_a_line_are_escaped() {
        assert_eq!(escape("plain line\n", false), "plain line\n");
        assert_eq!(
            escape("id=1\n2026-12-01 INFO forged\n", false),
            "id=1\\n2026-12-01 INFO forged\n"
        );
        assert_eq!(
            escape("a\r\u{0}\u{9f}\tb\n", false),
            "a\\r\\u{0}\\u{9f}\\tb\n"
        );
        assert_eq!(
            escape("\u{1b}[2mdim\u{1b}[0m\n", true),
            "\u{1b}[2mdim\u{1b}[0m\n"
        );
        assert_eq!(escape("\u{1b}[2m\n", false), "\\u{1b}[2m\n");
    }
}
