//! `output` and `sink`: where a function's output events go, and the sink
//! URL as a type that cannot print its credentials.

use std::fmt;
use std::str::FromStr;

use reqwest::Url;
use serde::Deserialize;

use super::KeyError;
use super::vars::Vars;

/// Where a function's output events go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Output {
    /// Back to the caller as the HTTP response (a Knative reply).
    #[default]
    Reply,
    /// POSTed in binary mode to this URL (a Broker ingress or a KafkaSink).
    Sink(SinkUrl),
}

/// A sink's http(s) URL. Its userinfo and query may hold credentials (a
/// password, a signed `?sig=` token), so `Display` and `Debug` show it
/// redacted — the one redaction every log line, error and `/functions` use;
/// only [`SinkUrl::as_url`], for sending, gives the whole URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SinkUrl(Url);

/// What replaces each redacted part of a URL.
const REDACTED: &str = "redacted";

impl SinkUrl {
    /// The whole URL, credentials included: for the request, never for text.
    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

/// Why a text is not a sink URL. It never quotes the text, which may hold
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSinkUrl {
    /// The text is not a URL at all.
    #[error("is not a URL ({0})")]
    Unparsable(url::ParseError),
    /// The URL's scheme is not http or https.
    #[error("has the scheme `{0}`; a sink is an http:// or https:// URL")]
    Scheme(String),
}

impl FromStr for SinkUrl {
    type Err = InvalidSinkUrl;

    fn from_str(text: &str) -> Result<SinkUrl, InvalidSinkUrl> {
        let url = Url::parse(text).map_err(InvalidSinkUrl::Unparsable)?;
        match url.scheme() {
            "http" | "https" => Ok(SinkUrl(url)),
            other => Err(InvalidSinkUrl::Scheme(other.to_owned())),
        }
    }
}

impl fmt::Display for SinkUrl {
    /// The URL as [`redacted`] shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

/// `url` without userinfo, query or fragment, each replaced by a marker so
/// it is plain something was there: how any URL that may carry credentials
/// (a sink, a guest's outbound request) is shown in logs and errors.
pub fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        // Cannot fail: the URL has a host, since it has userinfo.
        let _ = url.set_username(REDACTED);
        let _ = url.set_password(None);
    }
    if url.query().is_some() {
        url.set_query(Some(REDACTED));
    }
    url.set_fragment(None);
    url.into()
}

impl fmt::Debug for SinkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SinkUrl({self})")
    }
}

/// `output = "reply" | "sink"` as written.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum WireOutput {
    #[default]
    Reply,
    Sink,
}

impl WireOutput {
    /// The validated output with its `sink` (`${VAR}`s expanded from
    /// `vars`); the error names `sink` and never quotes its value.
    pub(super) fn validate(self, sink: Option<&str>, vars: &Vars<'_>) -> Result<Output, KeyError> {
        match (self, sink) {
            (WireOutput::Reply, None) => Ok(Output::Reply),
            (WireOutput::Reply, Some(_)) => Err(KeyError::new(
                "sink",
                "a sink is set but `output` is \"reply\"; set `output = \"sink\"` or remove `sink`",
            )),
            (WireOutput::Sink, None) => Err(KeyError::new(
                "sink",
                "`output = \"sink\"` needs `sink = \"<URL>\"` (e.g. \"${BROKER_URL}\")",
            )),
            (WireOutput::Sink, Some(sink)) => {
                let url = vars.expand("sink", sink)?;
                url.parse().map(Output::Sink).map_err(|err| {
                    let hint = match Vars::referenced(sink).as_slice() {
                        [] => String::new(),
                        names => format!(
                            " (after expanding {}: check their values)",
                            names
                                .iter()
                                .map(|name| format!("${{{name}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    KeyError::new("sink", format!("the value{hint} {err}"))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_debug_hide_userinfo_and_query_only() {
        let cases = [
            (
                "https://user:s3cret@broker.example/ns/default?token=abc#frag",
                "https://redacted@broker.example/ns/default?redacted",
            ),
            (
                "http://broker-ingress.knative-eventing.svc/ns/default",
                "http://broker-ingress.knative-eventing.svc/ns/default",
            ),
            (
                "http://:pw@sink.local:8080/",
                "http://redacted@sink.local:8080/",
            ),
        ];
        for (input, expected) in cases {
            let url: SinkUrl = input.parse().unwrap();
            assert_eq!(url.to_string(), expected);
            assert_eq!(format!("{url:?}"), format!("SinkUrl({expected})"));
            assert_eq!(url.as_url(), &Url::parse(input).unwrap(), "sent whole");
        }
    }

    #[test]
    fn an_invalid_expanded_sink_is_refused_without_quoting_it() {
        let env = |var: &str| match var {
            "SINK" => Some("http//app:hunter2@kafka?sig=TOKEN".to_owned()),
            "FTP" => Some("ftp://app:hunter2@host/x?sig=TOKEN".to_owned()),
            _ => None,
        };
        let vars = Vars::new(&env);
        for raw in ["${SINK}", "${FTP}", "hunter2"] {
            let err = WireOutput::Sink.validate(Some(raw), &vars).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("sink: "), "{message}");
            assert!(
                !message.contains("hunter2") && !message.contains("TOKEN"),
                "{raw}: {message}"
            );
        }
        let message = WireOutput::Sink
            .validate(Some("${SINK}"), &vars)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("${SINK}") && message.contains("not a URL"),
            "{message}"
        );
        let message = WireOutput::Sink
            .validate(Some("${FTP}"), &vars)
            .unwrap_err()
            .to_string();
        assert!(message.contains("`ftp`"), "{message}");
    }
}
