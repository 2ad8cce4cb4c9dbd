//! Outbound HTTP requests, over `wasi:http/outgoing-handler`.
//!
//! ```ignore
//! use wasmfn_guest::{Error, Event, config, http};
//!
//! fn handle(event: Event) -> Result<Vec<Event>, Error> {
//!     let url = config::require("refdata_url")?;
//!     let reference = http::get(&url)?;          // a refused request → Error::Failed
//!     wasmfn_guest::info!("refdata answered {}", reference.status);
//!     Ok(vec![])
//! }
//! ```
//!
//! The host sends a request only to a host the function's
//! `allowed_outbound_hosts` in `wasmfn.toml` lists (none by default):
//!
//! ```toml
//! [functions.enricher]
//! allowed_outbound_hosts = ["https://refdata.example.com", "http://127.0.0.1:8081"]
//! ```
//!
//! Any other request fails with a [`RequestError`] saying "denied" and
//! naming the URL, as do requests past `limits.max_outbound_requests` (10 per
//! event), response bodies past `limits.max_outbound_response_bytes` (4 MiB
//! per event) and requests still running at the event's time limit.
//! Redirects are returned as they are (a 3xx [`Response`]), not followed.
//! The event's trace context goes with every request.
//!
//! Blocking calls: an instance runs one event at a time, so there is
//! nothing else to run while a request is in flight.

use std::fmt;

use crate::wasi_bindings::wasi::http::outgoing_handler;
use crate::wasi_bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::wasi_bindings::wasi::io::streams::StreamError;

/// Bytes written to a request body per call: `blocking-write-and-flush`
/// takes at most 4096.
const WRITE_CHUNK: usize = 4096;
/// Bytes read from a response body per call.
const READ_CHUNK: u64 = 64 * 1024;

/// An HTTP response, its body read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. 200 (a redirect's 3xx is returned as it is).
    pub status: u16,
    /// The header fields in the order received; names are lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::Error> {
        serde_json::from_slice(&self.body).map_err(|err| {
            crate::Error::failed(format!(
                "HTTP {} response is not the expected JSON: {err}",
                self.status
            ))
        })
    }
}

/// Why a request got no response: refused by the host, or failed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    url: String,
    reason: Reason,
}

/// What went wrong, as the host reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reason {
    /// Not in `allowed_outbound_hosts`.
    Denied,
    /// A link-local or cloud metadata address.
    Prohibited,
    /// Past `limits.max_outbound_requests`.
    TooMany,
    /// Past `limits.max_outbound_response_bytes`.
    TooLarge,
    /// The event's time ran out.
    Timeout,
    /// The URL is not `http(s)://host[:port][/path]`.
    BadUrl(&'static str),
    /// Any other `wasi:http` error.
    Other(String),
}

impl RequestError {
    fn new(url: &str, reason: Reason) -> RequestError {
        RequestError {
            url: url.to_owned(),
            reason,
        }
    }

    fn from_code(url: &str, code: ErrorCode) -> RequestError {
        let reason = match code {
            ErrorCode::HttpRequestDenied => Reason::Denied,
            ErrorCode::DestinationIpProhibited => Reason::Prohibited,
            ErrorCode::ConnectionLimitReached => Reason::TooMany,
            ErrorCode::HttpResponseBodySize(_) => Reason::TooLarge,
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::HttpResponseTimeout => Reason::Timeout,
            other => Reason::Other(format!("{other:?}")),
        };
        RequestError::new(url, reason)
    }

    /// Whether the host refused the request (a host not allowed, or a
    /// link-local or metadata address): retrying will not help.
    pub fn is_denied(&self) -> bool {
        matches!(self.reason, Reason::Denied | Reason::Prohibited)
    }

    /// The URL requested.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.url;
        match &self.reason {
            Reason::Denied => write!(
                f,
                "request to {url} denied: its host is not in this function's allowed_outbound_hosts (wasmfn.toml)"
            ),
            Reason::Prohibited => write!(
                f,
                "request to {url} denied: it resolves to a link-local or metadata address"
            ),
            Reason::TooMany => write!(
                f,
                "request to {url} refused: this event made limits.max_outbound_requests requests already"
            ),
            Reason::TooLarge => write!(
                f,
                "response from {url} refused: this event's responses are over limits.max_outbound_response_bytes"
            ),
            Reason::Timeout => write!(
                f,
                "request to {url} timed out (the event's time limit bounds each request)"
            ),
            Reason::BadUrl(why) => write!(f, "cannot request {url}: {why}"),
            Reason::Other(code) => write!(f, "request to {url} failed: {code}"),
        }
    }
}

impl std::error::Error for RequestError {}

impl From<RequestError> for crate::Error {
    /// A failed request fails the event (retried): the upstream may be back
    /// by then, or the allow-list fixed.
    fn from(err: RequestError) -> crate::Error {
        crate::Error::failed(err.to_string())
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, RequestError> {
    send(url, Method::Get, None)
}

/// `POST url` with `body` of media type `content_type`.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Result<Response, RequestError> {
    send(url, Method::Post, Some((content_type, body)))
}

/// The parts of an `http(s)://authority[/path][?query]` URL `wasi:http`
/// takes separately.
#[derive(Debug, PartialEq, Eq)]
struct Parts<'a> {
    https: bool,
    authority: &'a str,
    path_with_query: &'a str,
}

fn split(url: &str) -> Result<Parts<'_>, &'static str> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("not an absolute URL (http:// or https://)")?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => return Err("only http:// and https:// URLs are sent"),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err("the URL has no host");
    }
    if authority.contains('@') {
        return Err("credentials in the URL are not sent; use a header");
    }
    let path = path.split('#').next().unwrap_or_default();
    let path_with_query = if path.is_empty() { "/" } else { path };
    Ok(Parts {
        https,
        authority,
        path_with_query,
    })
}

fn send(url: &str, method: Method, body: Option<(&str, &[u8])>) -> Result<Response, RequestError> {
    let parts = split(url).map_err(|why| RequestError::new(url, Reason::BadUrl(why)))?;
    let bad = |why| RequestError::new(url, Reason::BadUrl(why));
    let headers = Fields::new();
    if let Some((content_type, _)) = body {
        headers
            .append("content-type", content_type.as_bytes())
            .map_err(|_| bad("the content type is not a valid header value"))?;
    }
    let request = OutgoingRequest::new(headers);
    let scheme = if parts.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_method(&method)
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .map_err(|()| bad("the method or scheme was refused"))?;
    request
        .set_authority(Some(parts.authority))
        .map_err(|()| bad("the host is not a valid authority"))?;
    // A path starting with `?` is a query on the root path.
    let path = if parts.path_with_query.starts_with('?') {
        format!("/{}", parts.path_with_query)
    } else {
        parts.path_with_query.to_owned()
    };
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| bad("the path is not valid"))?;
    let outgoing = request
        .body()
        .map_err(|()| bad("the request body is unavailable"))?;

    // Sent first, then the body is written: the host streams it out as the
    // guest writes, so a large body never has to fit a buffer.
    let future = outgoing_handler::handle(request, None)
        .map_err(|code| RequestError::from_code(url, code))?;
    if let Some((_, bytes)) = body {
        let stream = outgoing
            .write()
            .map_err(|()| bad("the request body is unavailable"))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|err| stream_error(url, err))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|code| RequestError::from_code(url, code))?;

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(RequestError::from_code(url, code)),
        Some(Err(())) | None => {
            return Err(RequestError::new(
                url,
                Reason::Other("the response was lost".to_owned()),
            ));
        }
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| bad("the response body is unavailable"))?;
    let body = read_body(url, &incoming)?;
    let _trailers = IncomingBody::finish(incoming);
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn read_body(url: &str, incoming: &IncomingBody) -> Result<Vec<u8>, RequestError> {
    let stream = incoming
        .stream()
        .map_err(|()| RequestError::new(url, Reason::BadUrl("the response body is unavailable")))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(bytes) => body.extend_from_slice(&bytes),
            Err(StreamError::Closed) => return Ok(body),
            Err(err) => return Err(stream_error(url, err)),
        }
    }
}

/// A body stream's failure, with the `wasi:http` error code behind it.
/// wasmtime 48 hands a response body's error to the guest as text only (no
/// code), so its text is read for the two limits a body can hit.
fn stream_error(url: &str, err: StreamError) -> RequestError {
    match err {
        StreamError::LastOperationFailed(error) => {
            match crate::wasi_bindings::wasi::http::types::http_error_code(&error) {
                Some(code) => RequestError::from_code(url, code),
                None => {
                    let text = error.to_debug_string();
                    let reason = if text.contains("body size exceeds limit") {
                        Reason::TooLarge
                    } else if text.contains("timeout") {
                        Reason::Timeout
                    } else {
                        Reason::Other(text)
                    };
                    RequestError::new(url, reason)
                }
            }
        }
        StreamError::Closed => {
            RequestError::new(url, Reason::Other("the stream closed".to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let parts = split("https://refdata.example.com/v1/lookup?sku=A-1#frag").unwrap();
        assert_eq!(
            parts,
            Parts {
                https: true,
                authority: "refdata.example.com",
                path_with_query: "/v1/lookup?sku=A-1"
            }
        );
        let bare = split("http://127.0.0.1:8081").unwrap();
        assert_eq!(
            (bare.authority, bare.path_with_query),
            ("127.0.0.1:8081", "/")
        );
        assert_eq!(split("http://h?x=1").unwrap().path_with_query, "?x=1");
        assert!(split("ftp://h/").is_err());
        assert!(split("h/x").is_err());
        assert!(split("http:///x").is_err());
        assert!(split("http://u:p@h/").is_err());
    }

    #[test]
    fn a_denied_request_says_so_and_names_the_url() {
        let err = RequestError::from_code("http://evil.example/x", ErrorCode::HttpRequestDenied);
        let message = err.to_string();
        assert!(
            message.contains("denied") && message.contains("http://evil.example/x"),
            "{message}"
        );
        assert!(err.is_denied());
        assert!(
            RequestError::from_code("http://a/", ErrorCode::DestinationIpProhibited).is_denied()
        );
        let limit = RequestError::from_code("http://a/", ErrorCode::ConnectionLimitReached);
        assert!(!limit.is_denied());
        assert!(limit.to_string().contains("max_outbound_requests"));
        match crate::Error::from(err) {
            crate::Error::Failed(message) => assert!(message.contains("denied")),
            other => panic!("{other:?}"),
        }
    }
}
