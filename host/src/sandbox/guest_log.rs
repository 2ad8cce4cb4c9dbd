//! Guest logs: `log` calls and stdout/stderr lines, turned into `tracing`
//! records tagged with the function's name (stdout at info, stderr at warn —
//! where a Rust guest's panic message lands).
//!
//! A guest cannot make logging cost the host or other functions much: a
//! record is cut at [`MAX_RECORD_BYTES`], one event keeps at most
//! [`MAX_RECORDS_PER_EVENT`] records, and a function logs at most
//! [`RECORDS_PER_SECOND`] records a second on average (a token bucket with a
//! burst of as many). What is dropped is counted in
//! `wasmfn_guest_log_dropped_total` and summed up in one warning per event.
//! (Measured before these bounds: two guests logging in a loop wrote 505 MB
//! in 5 s and raised another function's p99 from 0.41 ms to 410 ms.)
//! Records never wait for stderr: the writer drops lines when its queue is
//! full (`observability::logging`).

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tracing::Level;
use tracing::level_filters::LevelFilter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::context::GuestContext;

/// Bytes of one record: a longer `log` message is cut there (marked with
/// how much was cut), a longer stdout/stderr line is logged in pieces of
/// this size.
pub const MAX_RECORD_BYTES: usize = 4096;
/// Records one event may log; later ones are dropped and counted.
pub const MAX_RECORDS_PER_EVENT: u32 = 256;
/// Records a function may log per second on average, all its events
/// together; also the burst it may log at once.
pub const RECORDS_PER_SECOND: u32 = 1000;

/// A function's log rate limit: a token bucket shared by all its events.
#[derive(Debug)]
pub struct LogRate {
    bucket: Mutex<(f64, Instant)>,
}

impl Default for LogRate {
    fn default() -> Self {
        LogRate {
            bucket: Mutex::new((f64::from(RECORDS_PER_SECOND), Instant::now())),
        }
    }
}

impl LogRate {
    /// Takes one record's token, if the function has one left.
    fn take(&self) -> bool {
        let mut bucket = self.bucket.lock().expect("log rate lock");
        let (tokens, last) = &mut *bucket;
        let now = Instant::now();
        let rate = f64::from(RECORDS_PER_SECOND);
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The log of one event: every record of its `log` calls and output
/// streams passes here, under the per-event and per-function bounds.
pub(super) struct EventLog {
    context: Arc<GuestContext>,
    records: AtomicU32,
    over_event: AtomicU64,
    over_rate: AtomicU64,
}

impl EventLog {
    pub(super) fn new(context: Arc<GuestContext>) -> Arc<EventLog> {
        Arc::new(EventLog {
            context,
            records: AtomicU32::new(0),
            over_event: AtomicU64::new(0),
            over_rate: AtomicU64::new(0),
        })
    }

    /// Starts the per-event bound afresh for the next event of a warm
    /// instance (what was dropped is still summed up when it goes).
    pub(super) fn next_event(&self) {
        self.records.store(0, Ordering::Relaxed);
    }

    /// Logs `message` at `level` (from `stream`, for stdout/stderr), unless
    /// a bound drops it.
    pub(super) fn record(&self, level: Level, stream: Option<&'static str>, message: &str) {
        // A record no subscriber would print (a guest's debug lines at
        // `RUST_LOG=info`) costs nothing and counts toward no bound.
        if level > LevelFilter::current() {
            return;
        }
        if self.records.fetch_add(1, Ordering::Relaxed) >= MAX_RECORDS_PER_EVENT {
            self.over_event.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !self.context.log_rate.take() {
            self.over_rate.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let function = &*self.context.name;
        let message = cut(message);
        macro_rules! emit {
            ($level:expr) => {
                match stream {
                    Some(stream) => {
                        tracing::event!(target: "wasmfn::guest", $level, function, stream, "{message}")
                    }
                    None => tracing::event!(target: "wasmfn::guest", $level, function, "{message}"),
                }
            };
        }
        match level {
            Level::TRACE => emit!(Level::TRACE),
            Level::DEBUG => emit!(Level::DEBUG),
            Level::INFO => emit!(Level::INFO),
            Level::WARN => emit!(Level::WARN),
            Level::ERROR => emit!(Level::ERROR),
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        let over_event = *self.over_event.get_mut();
        let over_rate = *self.over_rate.get_mut();
        if over_event + over_rate == 0 {
            return;
        }
        let metrics = &self.context.metrics;
        metrics.record_guest_log_dropped("per_event", over_event);
        metrics.record_guest_log_dropped("rate", over_rate);
        tracing::warn!(
            target: "wasmfn::guest",
            function = &*self.context.name,
            "dropped {} log records of this event: {over_event} past {MAX_RECORDS_PER_EVENT} per event, {over_rate} past {RECORDS_PER_SECOND} per second for the function",
            over_event + over_rate,
        );
    }
}

/// `message` cut to [`MAX_RECORD_BYTES`] (at a character boundary), saying
/// how much was cut.
fn cut(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_RECORD_BYTES {
        return message.into();
    }
    let end = (0..=MAX_RECORD_BYTES)
        .rev()
        .find(|&i| message.is_char_boundary(i))
        .unwrap_or(0);
    format!(
        "{}… [{} more bytes cut]",
        &message[..end],
        message.len() - end
    )
    .into()
}

/// A guest output stream (`stdout` or `stderr`) that logs what it receives.
pub(super) struct GuestOutput {
    log: Arc<EventLog>,
    stream: &'static str,
    last_line: Option<Arc<Mutex<String>>>,
}

impl GuestOutput {
    pub(super) fn new(log: Arc<EventLog>, stream: &'static str) -> Self {
        GuestOutput {
            log,
            stream,
            last_line: None,
        }
    }

    /// Also keeps the last non-empty line in `last_line` (a command's
    /// message when it exits as invalid).
    pub(super) fn keeping_last_line(mut self, last_line: Arc<Mutex<String>>) -> Self {
        self.last_line = Some(last_line);
        self
    }

    fn writer(&self) -> LineLogger {
        LineLogger {
            log: self.log.clone(),
            stream: self.stream,
            pending: BytesMut::new(),
            last_line: self.last_line.clone(),
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }
}

/// Buffers bytes until a newline, then logs the line; a line longer than
/// [`MAX_RECORD_BYTES`] is logged in pieces of that size.
struct LineLogger {
    log: Arc<EventLog>,
    stream: &'static str,
    pending: BytesMut,
    last_line: Option<Arc<Mutex<String>>>,
}

impl LineLogger {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        loop {
            let window = &self.pending[..self.pending.len().min(MAX_RECORD_BYTES + 1)];
            match window.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let line = self.pending.split_to(end + 1);
                    self.emit(&line[..end]);
                }
                None if self.pending.len() > MAX_RECORD_BYTES => {
                    let piece = self.pending.split_to(MAX_RECORD_BYTES);
                    self.emit(&piece);
                }
                None => break,
            }
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        if let Some(last) = &self.last_line
            && !line.trim().is_empty()
        {
            line.clone_into(&mut last.lock().expect("last line lock"));
        }
        let level = if self.stream == "stderr" {
            Level::WARN
        } else {
            Level::INFO
        };
        self.log.record(level, Some(self.stream), line);
    }
}

impl Drop for LineLogger {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let rest = self.pending.split();
            self.emit(&rest);
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineLogger {
    async fn ready(&mut self) {}
}

impl OutputStream for LineLogger {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LineLogger {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_and_say_so() {
        let long = "é".repeat(MAX_RECORD_BYTES);
        let cut = cut(&long);
        assert!(cut.len() < MAX_RECORD_BYTES + 40, "{}", cut.len());
        assert!(
            cut.ends_with("more bytes cut]"),
            "{}",
            &cut[cut.len() - 30..]
        );
        assert_eq!(super::cut("short"), "short");
    }

    #[test]
    fn the_rate_allows_a_burst_then_refuses() {
        let rate = LogRate::default();
        let allowed = (0..RECORDS_PER_SECOND * 2).filter(|_| rate.take()).count();
        // The burst, plus what refilled while the loop ran (a few at most).
        assert!(
            (RECORDS_PER_SECOND as usize..RECORDS_PER_SECOND as usize + 100).contains(&allowed),
            "{allowed}"
        );
    }
}
