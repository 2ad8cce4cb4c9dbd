//! The bodies between a guest's `wasi:http` streams and the pooled client:
//! the guest's request body made shareable for the client, and the
//! response body counted against the event's byte budget.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::{Error, WasiBody};

/// The guest's request body, `Sync` as the client requires: wasmtime's
/// body is only `Send`, and it is only ever polled through `&mut`, so the
/// mutex is never contended (`get_mut` does not lock).
pub(super) struct SyncBody(Mutex<WasiBody>);

impl SyncBody {
    pub(super) fn new(body: WasiBody) -> SyncBody {
        SyncBody(Mutex::new(body))
    }

    fn inner(self: Pin<&mut Self>) -> Pin<&mut WasiBody> {
        Pin::new(
            self.get_mut()
                .0
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl Body for SyncBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.inner().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .size_hint()
    }
}

/// Response body bytes one event may still receive, shared by all its
/// requests' bodies (each streams in its own task).
#[derive(Debug, Clone)]
pub(super) struct Budget {
    left: Arc<AtomicU64>,
    limit: u64,
}

impl Budget {
    /// `limit` bytes in all.
    pub(super) fn new(limit: u64) -> Budget {
        Budget {
            left: Arc::new(AtomicU64::new(limit)),
            limit,
        }
    }

    /// Takes `bytes` from the budget; `false` (and nothing taken) when
    /// fewer are left.
    fn take(&self, bytes: u64) -> bool {
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }
}

/// A response body that fails with `HTTP-response-body-size` once the
/// event's [`Budget`] is spent; the client's errors become `wasi:http`
/// error codes.
pub(super) struct BudgetBody {
    inner: reqwest::Body,
    budget: Budget,
    /// The function and URL, for the one log line when the budget runs out.
    what: Arc<str>,
}

impl BudgetBody {
    pub(super) fn new(inner: reqwest::Body, budget: Budget, what: Arc<str>) -> BudgetBody {
        BudgetBody {
            inner,
            budget,
            what,
        }
    }
}

impl Body for BudgetBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(err))) => {
                let code = if err.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::HttpResponseIncomplete
                };
                return Poll::Ready(Some(Err(code)));
            }
            other => return other.map(|_| None),
        };
        let bytes = frame.data_ref().map_or(0, |data| data.len() as u64);
        if self.budget.take(bytes) {
            Poll::Ready(Some(Ok(frame)))
        } else {
            tracing::warn!(
                request = %self.what,
                limit = self.budget.limit,
                "outbound response refused: the event's responses are over limits.max_outbound_response_bytes"
            );
            Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                self.budget.limit,
            )))))
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_never_overdrawn() {
        let budget = Budget::new(10);
        let other = budget.clone();
        assert!(budget.take(6));
        assert!(!other.take(5), "only 4 left");
        assert!(other.take(4));
        assert!(!budget.take(1));
        assert!(budget.take(0), "an empty frame always passes");
    }
}
