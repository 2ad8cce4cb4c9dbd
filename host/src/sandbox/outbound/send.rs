//! Sending one guest request: wasmtime-wasi-http's `send_request` hook,
//! where the checks of `outbound/mod.rs` run in order and the request goes
//! out on the function's pooled client.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use http::HeaderMap;
use http_body_util::BodyExt;
use url::{Host, Url};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::address::{Prohibited, is_prohibited};
use super::body::{Budget, BudgetBody, SyncBody};
use super::{EventUse, OutboundHooks};
use crate::config::{AllowedHosts, Destination, canonical, redacted};
use crate::observability::FunctionMetrics;

/// The `host` label of a request refused for its host: any other value
/// would let a guest add series at will.
const REFUSED_HOST: &str = "-";

/// What `send_request` hands back: the response and a future for the
/// connection's own errors (none: the client drives its connections).
type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

impl WasiHttpHooks for OutboundHooks {
    // The client writes `Host` from the URL it sends to, so a guest's own
    // `Host` header cannot name another host than the one checked.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let metrics = self.context.metrics.clone();
        let function = self.context.name.clone();
        match self.admit(&request) {
            Ok(admitted) => {
                let budget = self
                    .event
                    .budget
                    .get_or_insert_with(|| Budget::new(self.context.outbound.max_response_bytes))
                    .clone();
                let client = self
                    .context
                    .outbound
                    .client
                    .clone()
                    .expect("a request is admitted only when hosts are allowed");
                let event = &self.event;
                let prepared = prepare(request, &admitted.url, event);
                Box::new(send(client, prepared, admitted, budget, metrics, function))
            }
            Err(refusal) => {
                metrics.record_outbound(refusal.host, refusal.status, None);
                Box::new(async move { Err(refusal.error) })
            }
        }
    }
}

/// A request that passed the checks made before sending.
struct Admitted {
    url: Url,
    /// The host, as labelled in metrics.
    host: String,
    /// The function and URL (no query), for log lines.
    what: Arc<str>,
    deadline: Instant,
}

/// Why a request was refused before it was sent.
struct Refusal {
    error: Error,
    host: &'static str,
    status: &'static str,
}

impl Refusal {
    fn denied(error: Error) -> Refusal {
        Refusal {
            error,
            host: REFUSED_HOST,
            status: "denied",
        }
    }
}

/// Why [`check`] refuses a URL.
#[derive(Debug, PartialEq, Eq)]
enum Denial {
    /// It has no host.
    Unaddressed,
    /// Its scheme, host and port match no entry of the list.
    NotListed,
    /// Its host is a link-local or metadata address the list does not name.
    Prohibited,
}

/// Checks 2 and 3 of the module docs for `url`, as the client will send it
/// (a name's addresses are screened again after resolution).
fn check(allowed: &AllowedHosts, url: &Url) -> Result<(), Denial> {
    let (destination, ip) = match url.host() {
        Some(Host::Domain(name)) => (Destination::Name(name), None),
        Some(Host::Ipv4(v4)) => (Destination::Ip(v4.into()), Some(v4.into())),
        Some(Host::Ipv6(v6)) => {
            let ip = canonical(v6.into());
            (Destination::Ip(ip), Some(ip))
        }
        None => return Err(Denial::Unaddressed),
    };
    let port = url.port_or_known_default().unwrap_or(0);
    if !allowed.allows(url.scheme(), destination, port) {
        return Err(Denial::NotListed);
    }
    match ip {
        Some(ip) if is_prohibited(ip) && !allowed.names_ip(ip) => Err(Denial::Prohibited),
        _ => Ok(()),
    }
}

impl OutboundHooks {
    /// Checks 1 to 3 of the module docs, and the time left.
    fn admit(&mut self, request: &http::Request<WasiBody>) -> Result<Admitted, Refusal> {
        let outbound = &self.context.outbound;
        let function = &self.context.name;
        // Every attempt counts, refused ones too: so a guest that loops on
        // a refused URL logs at most this many lines per event.
        self.event.requests = self.event.requests.saturating_add(1);
        if self.event.requests > outbound.max_requests {
            if self.event.requests == outbound.max_requests + 1 {
                tracing::warn!(
                    function = %function,
                    limit = outbound.max_requests,
                    "outbound request refused: the event is over limits.max_outbound_requests"
                );
            }
            return Err(Refusal {
                error: Error::ConnectionLimitReached,
                host: REFUSED_HOST,
                status: "limit",
            });
        }
        let url = Url::parse(&request.uri().to_string())
            .map_err(|_| Refusal::denied(Error::HttpRequestUriInvalid))?;
        let what: Arc<str> = format!("{function} {}", redacted(&url)).into();
        match check(&outbound.allowed, &url) {
            Ok(()) => {}
            Err(Denial::Unaddressed) => return Err(Refusal::denied(Error::HttpRequestUriInvalid)),
            Err(Denial::NotListed) => {
                tracing::warn!(
                    function = %function,
                    url = %redacted(&url),
                    "outbound request denied: the host is not in this function's allowed_outbound_hosts"
                );
                return Err(Refusal::denied(Error::HttpRequestDenied));
            }
            Err(Denial::Prohibited) => {
                tracing::warn!(
                    function = %function,
                    url = %redacted(&url),
                    "outbound request denied: a link-local or metadata address, not itself listed in allowed_outbound_hosts"
                );
                return Err(Refusal::denied(Error::DestinationIpProhibited));
            }
        }
        if Instant::now() >= self.event.deadline {
            return Err(Refusal {
                error: Error::ConnectionTimeout,
                host: REFUSED_HOST,
                status: "timeout",
            });
        }
        Ok(Admitted {
            host: url.host_str().unwrap_or_default().to_owned(),
            url,
            what,
            deadline: self.event.deadline,
        })
    }
}

/// The client's request: the guest's method, headers and body, to `url`,
/// continuing the event's trace, bounded by the time the event has left.
fn prepare(request: http::Request<WasiBody>, url: &Url, event: &EventUse) -> reqwest::Request {
    let (parts, body) = request.into_parts();
    let mut outgoing = reqwest::Request::new(parts.method, url.clone());
    let mut headers: HeaderMap = parts.headers;
    if let Some(trace) = &event.trace {
        trace.write_child(&mut headers);
    }
    *outgoing.headers_mut() = headers;
    *outgoing.body_mut() = Some(reqwest::Body::wrap(SyncBody::new(body)));
    *outgoing.timeout_mut() = Some(event.deadline.saturating_duration_since(Instant::now()));
    outgoing
}

/// Sends `request`; the response body is counted against `budget`. Its
/// outcome is counted in `metrics`.
async fn send(
    client: reqwest::Client,
    request: reqwest::Request,
    admitted: Admitted,
    budget: Budget,
    metrics: Arc<FunctionMetrics>,
    function: Arc<str>,
) -> Sent {
    let started = Instant::now();
    let result = client.execute(request).await;
    let elapsed = Some(started.elapsed());
    match result {
        Ok(response) => {
            metrics.record_outbound(&admitted.host, response.status().as_str(), elapsed);
            let response: http::Response<reqwest::Body> = response.into();
            let response =
                response.map(|body| BudgetBody::new(body, budget, admitted.what).boxed_unsync());
            Ok((response, Box::new(async { Ok(()) })))
        }
        Err(err) => {
            let (status, error) = classify(&err, &function, &admitted);
            metrics.record_outbound(&admitted.host, status, elapsed);
            Err(error)
        }
    }
}

/// The metric status and `wasi:http` error of a request that got no response.
fn classify(err: &reqwest::Error, function: &str, admitted: &Admitted) -> (&'static str, Error) {
    if let Some(prohibited) = source_of::<Prohibited>(err) {
        tracing::warn!(
            function = %function,
            url = %redacted(&admitted.url),
            "outbound request denied: {prohibited}"
        );
        return ("denied", Error::DestinationIpProhibited);
    }
    if err.is_timeout() || Instant::now() >= admitted.deadline {
        return ("timeout", Error::ConnectionTimeout);
    }
    if err.is_connect() {
        return ("error", Error::ConnectionRefused);
    }
    ("error", Error::HttpProtocolError)
}

/// The first error of type `E` in `err`'s chain of sources.
fn source_of<E: std::error::Error + 'static>(err: &reqwest::Error) -> Option<&E> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref::<E>() {
            return Some(found);
        }
        source = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &str) -> AllowedHosts {
        crate::config::Config::parse(
            std::path::Path::new("wasmfn.toml"),
            &format!("[functions.f]\nallowed_outbound_hosts = [{entries}]\n"),
            &|_| None,
        )
        .unwrap()
        .function("f")
        .allowed_outbound_hosts
    }

    fn checked(allowed: &AllowedHosts, url: &str) -> Result<(), Denial> {
        check(allowed, &Url::parse(url).unwrap())
    }

    #[test]
    fn metadata_addresses_are_refused_in_every_spelling_even_under_a_wildcard() {
        let any = allowed(r#""http://*:*""#);
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://169.254.169.254./",
            "http://[fe80::1]/",
        ] {
            assert_eq!(checked(&any, url), Err(Denial::Prohibited), "{url}");
        }
        assert_eq!(checked(&any, "http://127.0.0.1:8081/"), Ok(()));
        assert_eq!(
            checked(&any, "http://metadata.example/"),
            Ok(()),
            "screened at resolution"
        );

        let named = allowed(r#""http://169.254.169.254""#);
        assert_eq!(
            checked(&named, "http://169.254.169.254/"),
            Ok(()),
            "listed itself"
        );
        assert_eq!(checked(&named, "http://[::ffff:169.254.169.254]/"), Ok(()));
    }

    #[test]
    fn only_the_listed_scheme_host_and_port_pass() {
        let list = allowed(r#""http://127.0.0.1:8081", "https://refdata.example.com""#);
        assert_eq!(checked(&list, "http://127.0.0.1:8081/ref?x=1"), Ok(()));
        assert_eq!(
            checked(&list, "http://127.0.0.1:8082/"),
            Err(Denial::NotListed)
        );
        assert_eq!(
            checked(&list, "http://localhost:8081/"),
            Err(Denial::NotListed)
        );
        assert_eq!(checked(&list, "https://REFDATA.example.com/a"), Ok(()));
        assert_eq!(
            checked(&list, "http://refdata.example.com/"),
            Err(Denial::NotListed)
        );
        assert_eq!(
            checked(&AllowedHosts::none(), "https://refdata.example.com/"),
            Err(Denial::NotListed)
        );
    }
}
