//! [`Destination`]: the one place that decides where a function's output
//! events go — back in the reply or POSTed to its sink — and how the answer
//! to the request is formed from them. The ingress, `/functions` and the
//! startup summary ask it; a version whose outputs must not leave the host
//! (a shadow) simply never calls [`Destination::send`].

use std::fmt;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::reply::{reply_batch, reply_single};
use super::sink::SinkClient;
use crate::config::{Output, SinkUrl};
use crate::error::Error;
use crate::event::Event;
use crate::observability::{FunctionMetrics, TraceContext};

/// Where one function's output events go: its validated `output` (and
/// `sink`) setting, made into behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination(Output);

impl Destination {
    /// The destination `output` configures.
    pub fn new(output: Output) -> Destination {
        Destination(output)
    }

    /// `reply` or `sink`, as `/functions` shows it.
    pub fn mode(&self) -> &'static str {
        match self.0 {
            Output::Reply => "reply",
            Output::Sink(_) => "sink",
        }
    }

    /// The sink, in sink mode (its `Display` is redacted).
    pub fn sink(&self) -> Option<&SinkUrl> {
        match &self.0 {
            Output::Reply => None,
            Output::Sink(url) => Some(url),
        }
    }

    /// Sends one event's `outputs` on. In sink mode each is delivered in
    /// order (as a child of `trace`, counted in `metrics`) and none is left;
    /// in reply mode they are all left, for the reply.
    pub async fn send(
        &self,
        client: &SinkClient,
        outputs: Vec<Event>,
        trace: &TraceContext,
        metrics: &FunctionMetrics,
    ) -> Result<Vec<Event>, Error> {
        match &self.0 {
            Output::Reply => Ok(outputs),
            Output::Sink(url) => {
                for output in &outputs {
                    client.deliver(url, output, trace, metrics).await?;
                }
                Ok(Vec::new())
            }
        }
    }

    /// The answer to a request of one event, from what [`Self::send`] left:
    /// in sink mode 202 (its outputs were delivered), in reply mode the reply.
    pub fn answer_single(&self, left: Vec<Event>) -> Result<Response, Error> {
        match self.0 {
            Output::Reply => reply_single(left),
            Output::Sink(_) => Ok(StatusCode::ACCEPTED.into_response()),
        }
    }

    /// The answer to a batch, from what [`Self::send`] left of every event:
    /// 202 when nothing is left (always in sink mode), else the outputs as a
    /// batched reply.
    pub fn answer_batch(&self, left: Vec<Event>) -> Result<Response, Error> {
        reply_batch(left)
    }
}

impl fmt::Display for Destination {
    /// `reply`, or `sink <URL>` with the URL redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Output::Reply => f.write_str("reply"),
            Output::Sink(url) => write!(f, "sink {url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_event;

    #[test]
    fn reply_mode_leaves_outputs_for_the_reply_and_sink_mode_answers_202() {
        let reply = Destination::new(Output::Reply);
        let sink = Destination::new(Output::Sink(
            "http://u:pw@sink.example/x?sig=t".parse().unwrap(),
        ));
        assert_eq!((reply.mode(), reply.to_string()), ("reply", "reply".into()));
        assert_eq!(sink.mode(), "sink");
        assert_eq!(
            sink.to_string(),
            "sink http://redacted@sink.example/x?redacted"
        );
        assert!(reply.sink().is_none() && sink.sink().is_some());

        let one = || vec![test_event("/s", "1")];
        assert_eq!(reply.answer_single(one()).unwrap().status(), StatusCode::OK);
        assert_eq!(
            reply.answer_single(Vec::new()).unwrap().status(),
            StatusCode::ACCEPTED
        );
        assert_eq!(
            sink.answer_single(Vec::new()).unwrap().status(),
            StatusCode::ACCEPTED
        );
        assert_eq!(
            sink.answer_batch(Vec::new()).unwrap().status(),
            StatusCode::ACCEPTED
        );
        assert_eq!(reply.answer_batch(one()).unwrap().status(), StatusCode::OK);
    }
}
