//! A write timeout for client connections: hyper has none, so a client that
//! pipelines requests and never reads its responses held its connection —
//! and held up shutdown — for as long as it stayed (40 s observed, issue 16
//! #7). Here a write that cannot make progress for the timeout fails the
//! connection; any progress restarts the clock. Hand-written: tokio-io-timeout
//! would be a crate for these forty lines.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A stream whose writes fail with `TimedOut` after stalling for `timeout`.
pub(super) struct WriteTimeout<S> {
    inner: S,
    timeout: Duration,
    /// The deadline of the write stalled now, if one is.
    stalled: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<S> WriteTimeout<S> {
    pub(super) fn new(inner: S, timeout: Duration) -> Self {
        WriteTimeout {
            inner,
            timeout,
            stalled: None,
            armed: false,
        }
    }

    /// After the inner stream returned `Pending`: arms the deadline on the
    /// first stall, and fails once it passes.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let deadline = Instant::now() + self.timeout;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client did not read the response within the write timeout",
        ))
    }

    /// Passes a write-side poll through, timing it out when it stalls.
    fn timed<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>>
    where
        S: Unpin,
    {
        match poll(Pin::new(&mut self.inner), cx) {
            Poll::Pending => self.poll_stall(cx).map(Err),
            done => {
                self.armed = false;
                done
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().timed(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut()
            .timed(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().timed(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().timed(cx, |s, cx| s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_write_the_peer_never_reads_fails() {
        // A 1 KiB pipe the other end never reads.
        let (client, _server) = tokio::io::duplex(1024);
        let mut stream = WriteTimeout::new(client, Duration::from_millis(50));
        let err = stream.write_all(&[0; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_peer_that_reads_is_never_cut() {
        let (client, mut server) = tokio::io::duplex(1024);
        let reader = tokio::spawn(async move {
            let mut received = 0;
            let mut chunk = [0; 512];
            loop {
                // Slow but steady: far under the timeout between reads.
                tokio::time::sleep(Duration::from_millis(5)).await;
                match server.read(&mut chunk).await.unwrap() {
                    0 => return received,
                    n => received += n,
                }
            }
        });
        let mut stream = WriteTimeout::new(client, Duration::from_secs(10));
        stream.write_all(&[0; 8192]).await.unwrap();
        stream.shutdown().await.unwrap();
        drop(stream);
        assert_eq!(reader.await.unwrap(), 8192);
    }
}
