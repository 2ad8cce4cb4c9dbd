//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as
//! text or, with `WASMFN_LOG_FORMAT=json`, as JSON lines that carry the fields
//! of the spans they happen in (an event's `function`, `digest`, `id`, `trace_id`).
//!
//! Lines are written by a background thread ([`log_writer`](super::log_writer)),
//! so a request never waits on a `write(2)` to stderr, and under load many
//! lines go out in one write. When its queue is full — stderr is not being
//! read fast enough, or not at all — new lines are dropped and counted
//! (`wasmfn_log_lines_dropped_total`) rather than making requests wait:
//! before, a stuck stderr reader blocked every request that logged.
//!
//! In text, control characters inside a line are escaped (`\n`, `\u{1b}`…),
//! so a value from a request or a guest can never start a forged line.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::event_span::LazyFields;
use super::log_writer::{LogGuard, LogQueue};
use crate::event::{find_control, is_control};

/// Installs the global subscriber. Keep the returned guard until the
/// process ends: dropping it flushes the lines still queued.
#[must_use = "dropping the guard stops the log writer"]
pub fn init() -> LogGuard {
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
    let (writer, guard) = super::log_writer::spawn(std::io::stderr());
    let ansi = std::io::stderr().is_terminal();
    // LazyFields below the formatter: an event's span fields are formatted
    // only for the lines written inside it (`event_span`).
    let json = std::env::var("WASMFN_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let plain_text = !json && !ansi;
    let below = tracing_subscriber::registry()
        .with(filter)
        .with(LazyFields { plain_text });
    // Text off a terminal: `Escaping` escapes every control character of a
    // line, so the formatter's own per-character pass over each message
    // (~2k instructions per guest log line) is not needed; on a terminal,
    // where `Escaping` lets ESC through for colours, it stays.
    let format = tracing_subscriber::fmt::layer()
        .with_timer(LineTime)
        .with_ansi(ansi)
        .with_ansi_sanitization(ansi);
    if json {
        // JSON strings escape control characters themselves.
        below
            .with(
                format
                    .with_ansi_sanitization(true)
                    .json()
                    .with_writer(writer),
            )
            .init();
    } else {
        below
            .with(format.with_writer(Escaping {
                inner: writer,
                ansi,
            }))
            .init();
    }
    guard
}

/// The time at the start of a line, as tracing-subscriber's own `SystemTime`
/// writes it (`2026-12-02T11:53:50.123456Z`, UTC), with the part up to the
/// second formatted once a second per thread: formatting the whole date for
/// every line cost 2.4k instructions per guest log line.
struct LineTime;

impl FormatTime for LineTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        thread_local! {
            static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs();
        SECOND.with_borrow_mut(|(second, prefix)| {
            if *second != secs {
                let at = i64::try_from(secs)
                    .ok()
                    .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                    .unwrap_or_default();
                prefix.clear();
                write!(prefix, "{}", at.format("%Y-%m-%dT%H:%M:%S"))?;
                *second = secs;
            }
            w.write_str(prefix)
        })?;
        let mut fraction = *b".000000Z";
        let mut micros = now.subsec_micros();
        for digit in fraction[1..7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        w.write_str(std::str::from_utf8(&fraction).expect("ASCII digits"))
    }
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

impl<'a> MakeWriter<'a> for Escaping<LogQueue> {
    type Writer = Escaping<LogQueue>;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = buf.strip_suffix(b"\n").unwrap_or(buf);
        if !self.needs_escaping(line) {
            self.inner.write_all(buf)?;
            return Ok(buf.len());
        }
        let text = String::from_utf8_lossy(line);
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

    /// Whether `line` holds a character [`Self::escapes`] would change: a
    /// byte scan, as most lines hold none (decoding every char of every
    /// line first cost ~6k instructions per guest log line).
    fn needs_escaping(&self, line: &[u8]) -> bool {
        let mut rest = line;
        while let Some(at) = find_control(rest) {
            if !(self.ansi && rest[at] == 0x1b) {
                return true;
            }
            rest = &rest[at + 1..];
        }
        false
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

    fn time_of(timer: &dyn FormatTime) -> String {
        let mut line = String::new();
        timer.format_time(&mut Writer::new(&mut line)).unwrap();
        line
    }

    #[test]
    fn line_time_is_written_as_tracing_subscriber_writes_it() {
        let stock = tracing_subscriber::fmt::time::SystemTime;
        // Twice: the second line takes the cached second.
        for _ in 0..2 {
            let (before, ours, after) = (time_of(&stock), time_of(&LineTime), time_of(&stock));
            assert_eq!(ours.len(), before.len(), "{ours} vs {before}");
            // Up to the second, it equals one of the stock lines around it.
            let second = |t: &str| t[..t.find('.').unwrap()].to_owned();
            assert!(
                second(&ours) == second(&before) || second(&ours) == second(&after),
                "{ours} vs {before}/{after}"
            );
            assert!(
                ours.ends_with('Z') && ours.as_bytes()[ours.len() - 8] == b'.',
                "{ours}"
            );
            assert!(
                before <= ours && ours <= after,
                "{before} <= {ours} <= {after}"
            );
        }
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
