//! Guest stdout and stderr, turned into `tracing` records line by line and
//! tagged with the function's name (stdout at info, stderr at warn — where a
//! Rust guest's panic message lands).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest line kept before it is logged in pieces.
const MAX_LINE: usize = 4096;

/// A guest output stream (`stdout` or `stderr`) that logs what it receives.
pub(super) struct GuestOutput {
    function: Arc<str>,
    stream: &'static str,
}

impl GuestOutput {
    pub(super) fn new(function: Arc<str>, stream: &'static str) -> Self {
        GuestOutput { function, stream }
    }

    fn writer(&self) -> LineLogger {
        LineLogger {
            function: self.function.clone(),
            stream: self.stream,
            pending: BytesMut::new(),
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

/// Buffers bytes until a newline, then logs the line.
struct LineLogger {
    function: Arc<str>,
    stream: &'static str,
    pending: BytesMut,
}

impl LineLogger {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line = self.pending.split_to(end + 1);
            self.emit(&line[..end]);
        }
        if self.pending.len() > MAX_LINE {
            let line = self.pending.split();
            self.emit(&line);
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        let function = &*self.function;
        if self.stream == "stderr" {
            tracing::warn!(target: "wasmfn::guest", function, stream = self.stream, "{line}");
        } else {
            tracing::info!(target: "wasmfn::guest", function, stream = self.stream, "{line}");
        }
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
