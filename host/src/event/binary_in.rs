//! Binary content mode on the way in: an event read straight from a request's
//! `ce-*` headers and body (CloudEvents HTTP binding 1.0.2, §3.1), the mode
//! every Knative Broker/Trigger delivery uses.
//!
//! Hand-written rather than cloudevents-sdk's `to_event` + [`from_sdk`]: the
//! SDK built an event of its own (time as chrono, extensions typed in a
//! `HashMap`, a URI per `source`) that we then turned back into strings, 13.1k
//! instructions per event in `parse_request` (callgrind, `bench/instructions.sh`,
//! `simple`). This reads each header once, parses only `time` and `dataschema`
//! (to normalise them as the SDK did) and leaves every rule to [`validate`].
//!
//! [`from_sdk`]: super::from_sdk

use chrono::{SecondsFormat, Utc};
use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use super::{Event, InvalidEvent, SPEC_VERSION, percent_decode_attributes, validate};

/// Why a binary-mode request is not an event.
#[derive(Debug, thiserror::Error)]
pub enum BinaryModeError {
    /// A required attribute's header is absent.
    #[error("binary mode: missing header `ce-{0}`")]
    Missing(&'static str),
    /// A header value holds bytes outside visible ASCII; the binding has
    /// senders percent-encode them (§3.1.3.2).
    #[error("binary mode: header `{0}` is not visible ASCII (percent-encode it)")]
    NotAscii(String),
    /// An attribute breaks the CloudEvents 1.0 rules (named in it).
    #[error(transparent)]
    Invalid(#[from] InvalidEvent),
}

/// Builds the event a binary-mode request carries: `ce-<name>` headers become
/// attributes (`ce-` stripped; any name that is not a context attribute is an
/// extension), `Content-Type` (else `ce-datacontenttype`) becomes
/// `datacontenttype`, a non-empty body becomes `data`. `time` is normalised to
/// UTC (`2026-01-01T01:00:00+01:00` → `2026-01-01T00:00:00Z`), `dataschema` to
/// its URL serialisation, and `id`, `source`, `type`, `subject` and extension
/// values are percent-decoded. Of a repeated header, the first `ce-specversion`
/// and `Content-Type` count and the last of any other, each of which must be
/// readable; the event then passes [`validate`]. These are the decisions the
/// cloudevents-sdk path made.
pub fn decode_binary(headers: &HeaderMap, body: Vec<u8>) -> Result<Event, BinaryModeError> {
    let mut specversion = None;
    let mut content_type = None;
    let (mut id, mut source, mut type_) = (None, None, None);
    let (mut datacontenttype, mut subject, mut time, mut dataschema) = (None, None, None, None);
    let mut extensions: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        if *name == CONTENT_TYPE {
            if content_type.is_none() {
                content_type = Some(text(name, value)?);
            }
            continue;
        }
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        if attribute == "specversion" {
            specversion.get_or_insert((name, value));
            continue;
        }
        let value = text(name, value)?;
        match attribute {
            "id" => id = Some(value),
            "source" => source = Some(value),
            "type" => type_ = Some(value),
            "datacontenttype" => datacontenttype = Some(value),
            "subject" => subject = Some(value),
            "time" => time = Some(utc_time(value)?),
            "dataschema" => dataschema = Some(url(value)?),
            extension => match extensions.last_mut() {
                // A repeated header's values come one after another (one
                // `HeaderMap` entry), so comparing with the last suffices.
                Some((last, slot)) if last == extension => *slot = value.to_owned(),
                _ => extensions.push((extension.to_owned(), value.to_owned())),
            },
        }
    }
    let (name, value) = specversion.ok_or(BinaryModeError::Missing("specversion"))?;
    let specversion = text(name, value)?;
    if specversion != SPEC_VERSION {
        return Err(InvalidEvent::unsupported_specversion(specversion).into());
    }
    let required = |value: Option<&str>, name| {
        value
            .map(str::to_owned)
            .ok_or(BinaryModeError::Missing(name))
    };
    let mut event = Event {
        id: required(id, "id")?,
        type_: required(type_, "type")?,
        source: required(source, "source")?,
        specversion: SPEC_VERSION.to_owned(),
        datacontenttype: content_type.or(datacontenttype).map(str::to_owned),
        dataschema,
        subject: subject.map(str::to_owned),
        time,
        extensions,
        data: (!body.is_empty()).then_some(body),
    };
    percent_decode_attributes(&mut event)?;
    validate(&event)?;
    Ok(event)
}

/// A header's value as text: visible ASCII, as the binding sends it.
fn text<'a>(name: &HeaderName, value: &'a HeaderValue) -> Result<&'a str, BinaryModeError> {
    value
        .to_str()
        .map_err(|_| BinaryModeError::NotAscii(name.as_str().to_owned()))
}

/// `time` as RFC 3339 in UTC, to the precision it was given in (0, 3, 6 or 9
/// fractional digits).
fn utc_time(time: &str) -> Result<String, InvalidEvent> {
    let parsed = chrono::DateTime::parse_from_rfc3339(time)
        .map_err(|_| InvalidEvent::not_a_timestamp(time))?;
    Ok(parsed
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// `dataschema` as an absolute URL, serialised (`HTTP://A.example/x/../y` →
/// `http://a.example/y`).
fn url(dataschema: &str) -> Result<String, InvalidEvent> {
    url::Url::parse(dataschema)
        .map(String::from)
        .map_err(|_| InvalidEvent::not_an_absolute_uri())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The path this module replaced, kept as the reference: cloudevents-sdk's
    /// binding, then [`super::super::from_sdk`], percent-decoding, [`validate`].
    fn through_the_sdk(headers: &HeaderMap, body: Vec<u8>) -> Result<Event, String> {
        let event =
            cloudevents::binding::http::to_event(headers, body).map_err(|err| err.to_string())?;
        let mut event = super::super::from_sdk(event);
        percent_decode_attributes(&mut event).map_err(|err| err.to_string())?;
        validate(&event).map_err(|err| err.to_string())?;
        Ok(event)
    }

    /// The required headers, as `name: value` lines.
    const MINIMAL: &str = "ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t";

    /// Headers from `name: value` lines, in order, repeats appended.
    fn request(lines: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines.lines() {
            let (name, value) = line
                .split_once(": ")
                .unwrap_or((line.trim_end_matches(':'), ""));
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        headers
    }

    /// Both paths give the same event (extensions in any order: the SDK's
    /// came out of a `HashMap`) or both refuse; returns whether they accept.
    fn assert_same(label: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        let old = through_the_sdk(headers, body.to_vec());
        let new = decode_binary(headers, body.to_vec()).map_err(|err| err.to_string());
        match (&old, &new) {
            (Ok(old), Ok(new)) => {
                let mut old = old.clone();
                old.extensions.sort();
                let mut sorted = new.clone();
                sorted.extensions.sort();
                assert_eq!(sorted, old, "{label}: {headers:?}");
            }
            (Err(_), Err(_)) => {}
            _ => panic!("{label}: the SDK path gave {old:?}, the new one {new:?} for {headers:?}"),
        }
        new.is_ok()
    }

    /// Cases after [`MINIMAL`]: label, further header lines, body.
    const AFTER_MINIMAL: &[(&str, &str, &str)] = &[
        ("no body, no content type", "", ""),
        ("body, no content type", "", "raw"),
        ("content type, empty body", "content-type: text/plain", ""),
        (
            "Knative delivery",
            "ce-time: 2026-01-01T01:00:00+01:00\nce-knativearrivaltime: 2026-01-01T00:00:00.1Z\n\
             ce-traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n\
             ce-partitionkey: a%20b\ncontent-type: application/json; charset=utf-8\n\
             traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\nprefer: reply",
            "{}",
        ),
        // time: normalised to UTC at the given precision, or refused.
        ("time Z", "ce-time: 2018-04-05T17:31:00Z", ""),
        ("time lowercase", "ce-time: 2018-04-05t17:31:00z", ""),
        ("time space", "ce-time: 2018-04-05 17:31:00Z", ""),
        ("time .5", "ce-time: 2018-04-05T17:31:00.5-01:30", ""),
        ("time ns", "ce-time: 2018-04-05T17:31:00.000000001Z", ""),
        ("leap second", "ce-time: 2016-12-31T23:59:60Z", ""),
        ("year 0 to -1", "ce-time: 0000-01-01T00:00:00+01:00", ""),
        ("year 10000", "ce-time: 9999-12-31T23:30:00-01:00", ""),
        ("time garbage", "ce-time: lunchtime", ""),
        ("time to minute", "ce-time: 2018-04-05T18:31Z", ""),
        ("time percent", "ce-time: 2018-04-05T17%3A31:00Z", ""),
        ("time empty", "ce-time:", ""),
        // dataschema: an absolute URL, serialised.
        (
            "dataschema normalised",
            "ce-dataschema: HTTP://Example.COM/a/../s%7e?q",
            "",
        ),
        ("dataschema relative", "ce-dataschema: /s", ""),
        ("dataschema urn", "ce-dataschema: urn:x:y", ""),
        ("dataschema empty", "ce-dataschema:", ""),
        (
            "dataschema bad escape",
            "ce-dataschema: https://a.example/%zz",
            "",
        ),
        // datacontenttype: Content-Type over ce-datacontenttype.
        ("ce-datacontenttype", "ce-datacontenttype: text/plain", "x"),
        (
            "both media types",
            "ce-datacontenttype: text/plain\ncontent-type: application/json",
            "{}",
        ),
        ("media type xyz", "content-type: xyz", "x"),
        ("media type empty", "content-type:", "x"),
        // Extensions.
        ("extension", "ce-extint: 10", ""),
        ("extension dash", "ce-my-ext: v", ""),
        ("extension data", "ce-data: v", ""),
        ("extension data_base64", "ce-data_base64: v", ""),
        ("extension empty name", "ce-: v", ""),
        ("extension empty value", "ce-ext:", ""),
        ("many extensions", "ce-a: 1\nce-b: 2\nce-c: 3\nce-z9: 4", ""),
        ("not ce-", "ce_other: v\nx-ce-id: 2", ""),
        // Percent-decoding (§3.1.3.2).
        ("percent", "ce-subject: caf%C3%A9%20x\nce-ext: 100%25", ""),
        ("lone percent", "ce-subject: 100%", ""),
        ("percent not UTF-8", "ce-subject: %C3", ""),
        ("percent control", "ce-subject: x%C2%85y", ""),
        ("percent NUL extension", "ce-partitionkey: k%00", ""),
        // Bytes a header may carry but a string attribute may not.
        ("tab", "ce-subject: a\tb", ""),
        ("non-ASCII subject", "ce-subject: café", ""),
        ("non-ASCII extension", "ce-ext: café", ""),
        ("non-ASCII content type", "content-type: text/é", ""),
        ("non-ASCII unrelated header", "x-note: café", ""),
        ("empty subject", "ce-subject:", ""),
        // Repeated headers: the first specversion and Content-Type, the last
        // of the others, every one of which must be readable.
        ("two ids", "ce-id: 2\nce-subject: a\nce-subject: b", ""),
        ("two specversions", "ce-specversion: 0.3", ""),
        (
            "two specversions, second not ASCII",
            "ce-specversion: é",
            "",
        ),
        (
            "two content types",
            "content-type: text/plain\ncontent-type: xyz",
            "x",
        ),
        (
            "two content types, second not ASCII",
            "content-type: text/plain\ncontent-type: é",
            "x",
        ),
        ("two extensions", "ce-ext: 1\nce-other: x\nce-ext: 2", ""),
        (
            "two times, first bad",
            "ce-time: lunchtime\nce-time: 2018-04-05T17:31:00Z",
            "",
        ),
        (
            "two times, last bad",
            "ce-time: 2018-04-05T17:31:00Z\nce-time: lunchtime",
            "",
        ),
        (
            "two dataschemas, first bad",
            "ce-dataschema: /s\nce-dataschema: https://a.example",
            "",
        ),
        (
            "two subjects, first stray %",
            "ce-subject: 100%\nce-subject: ok",
            "",
        ),
        (
            "two subjects, first not ASCII",
            "ce-subject: é\nce-subject: ok",
            "",
        ),
    ];

    /// Cases with all their headers: label, header lines, body.
    const WHOLE: &[(&str, &str, &str)] = &[
        (
            "bench simple",
            "content-type: application/json\nce-specversion: 1.0\nce-id: ping-0001\n\
             ce-type: dev.knative.sources.ping\n\
             ce-source: /apis/v1/namespaces/default/pingsources/nightly",
            r#"{"job":"nightly"}"#,
        ),
        (
            "percent id",
            "ce-specversion: 1.0\nce-id: a%2Fb\nce-source: %2Fs\nce-type: t%2E",
            "",
        ),
        (
            "percent newline id",
            "ce-specversion: 1.0\nce-id: 1%0Af\nce-source: /s\nce-type: t",
            "",
        ),
        (
            "no id",
            "ce-specversion: 1.0\nce-source: /s\nce-type: t",
            "",
        ),
        ("no source", "ce-specversion: 1.0\nce-id: 1\nce-type: t", ""),
        (
            "no type",
            "ce-specversion: 1.0\nce-id: 1\nce-source: /s",
            "",
        ),
        (
            "empty id",
            "ce-specversion: 1.0\nce-id:\nce-source: /s\nce-type: t",
            "",
        ),
        (
            "empty source",
            "ce-specversion: 1.0\nce-id: 1\nce-source:\nce-type: t",
            "",
        ),
        (
            "specversion 0.3",
            "ce-specversion: 0.3\nce-id: 1\nce-source: /s\nce-type: t",
            "",
        ),
        (
            "specversion 0.9",
            "ce-specversion: 0.9\nce-id: 1\nce-source: /s\nce-type: t",
            "",
        ),
        (
            "specversion empty",
            "ce-specversion:\nce-id: 1\nce-source: /s\nce-type: t",
            "",
        ),
        (
            "specversion not ASCII",
            "ce-specversion: 1.0é\nce-id: 1\nce-source: /s\nce-type: t",
            "",
        ),
        (
            "specversion last",
            "ce-id: 1\nce-source: /s\nce-type: t\nce-specversion: 1.0",
            "",
        ),
    ];

    #[test]
    fn decides_as_the_sdk_path_did() {
        for (label, more, body) in AFTER_MINIMAL {
            let headers = request(&format!("{MINIMAL}\n{more}"));
            assert_same(label, &headers, body.as_bytes());
        }
        for (label, lines, body) in WHOLE {
            assert_same(label, &request(lines), body.as_bytes());
        }
    }

    /// Every case of the shared conformance suite, sent in binary mode as
    /// `tests/conformance.rs` sends it.
    #[test]
    fn decides_the_conformance_cases_as_the_sdk_path_did() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/conformance/cloudevents");
        for file in ["valid-events.json", "invalid-events.json"] {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            let suite: Value = serde_json::from_str(&text).unwrap();
            for case in suite["tests"].as_array().unwrap() {
                let label = format!("{file} {}", case["id"]);
                let mut headers = HeaderMap::new();
                let mut body = Vec::new();
                for (name, value) in case["event"].as_object().unwrap() {
                    let text = match value {
                        Value::Null => continue,
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let name = match name.as_str() {
                        "data" => {
                            body = text.into_bytes();
                            continue;
                        }
                        "data_base64" => continue,
                        "datacontenttype" => "content-type".to_owned(),
                        other => format!("ce-{other}"),
                    };
                    headers.append(
                        HeaderName::from_bytes(name.as_bytes()).unwrap(),
                        HeaderValue::from_str(&text).unwrap(),
                    );
                }
                if !headers.contains_key("ce-specversion") {
                    continue; // not binary mode: `parse_request` never calls us
                }
                let accepted = assert_same(&label, &headers, &body);
                // Header names are case-insensitive and every value is a
                // string, so some invalid JSON events are valid headers.
                assert!(accepted || file == "invalid-events.json", "{label}");
            }
        }
    }

    #[test]
    fn normalises_time_and_names_the_attribute_at_fault() {
        let time = "ce-time: 2026-01-01T01:00:00+01:00";
        let event = decode_binary(&request(&format!("{MINIMAL}\n{time}")), Vec::new()).unwrap();
        assert_eq!(event.time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(event.data, None);

        let refused = |lines: &str| decode_binary(&request(lines), Vec::new()).unwrap_err();
        let err = refused("ce-specversion: 1.0\nce-source: /s\nce-type: t");
        assert_eq!(err.to_string(), "binary mode: missing header `ce-id`");
        let err = refused(&format!("{MINIMAL}\nce-subject: café"));
        assert!(
            err.to_string()
                .starts_with("binary mode: header `ce-subject`"),
            "{err}"
        );
        for (lines, attribute) in [
            (format!("{MINIMAL}\nce-time: lunchtime"), "time"),
            (format!("{MINIMAL}\nce-dataschema: /s"), "dataschema"),
            (format!("{MINIMAL}\nce-subject: 100%"), "subject"),
            (MINIMAL.replace("1.0", "0.9"), "specversion"),
        ] {
            match refused(&lines) {
                BinaryModeError::Invalid(err) => assert_eq!(err.attribute, attribute, "{err}"),
                other => panic!("{lines}: {other}"),
            }
        }
    }
}
