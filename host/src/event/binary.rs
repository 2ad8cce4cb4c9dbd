//! Binary content mode: an event's attributes as `ce-*` HTTP headers and its
//! data as the body (CloudEvents HTTP binding 1.0.2, §3.1), plus the plain
//! requests today's producers send (`ce_type`/`ce_source` headers and a body).

use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use super::validate::validate_extension_name;
use super::{Event, InvalidEvent, SPEC_VERSION};

/// Characters a binary-mode header value must percent-encode (§3.1.3.2):
/// space, `"`, `%` and everything outside printable ASCII.
const HEADER_UNSAFE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%');

/// The `ce-*` header names of the context attributes, made at compile time:
/// `HeaderName::from_static` at run time looks each name up again (~3k
/// instructions per reply, callgrind).
const CE_SPECVERSION: HeaderName = HeaderName::from_static("ce-specversion");
const CE_ID: HeaderName = HeaderName::from_static("ce-id");
const CE_SOURCE: HeaderName = HeaderName::from_static("ce-source");
const CE_TYPE: HeaderName = HeaderName::from_static("ce-type");
const CE_SUBJECT: HeaderName = HeaderName::from_static("ce-subject");
const CE_TIME: HeaderName = HeaderName::from_static("ce-time");
const CE_DATASCHEMA: HeaderName = HeaderName::from_static("ce-dataschema");
/// `specversion` as a header value, likewise.
const SPEC_VERSION_VALUE: HeaderValue = HeaderValue::from_static(SPEC_VERSION);

/// Writes `event`'s attributes as `ce-*` headers and its media type as
/// `Content-Type`, percent-encoding values where the binding requires it.
pub fn write_headers(event: &Event, headers: &mut HeaderMap) {
    // Room for all of them at once rather than growing the map twice.
    headers.reserve(6 + event.extensions.len());
    headers.insert(CE_SPECVERSION, SPEC_VERSION_VALUE);
    let mut put = |name: HeaderName, value: &str| {
        let encoded: std::borrow::Cow<'_, str> = utf8_percent_encode(value, HEADER_UNSAFE).into();
        // Only visible ASCII remains after encoding, so this cannot fail.
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            headers.insert(name, value);
        }
    };
    put(CE_ID, &event.id);
    put(CE_SOURCE, &event.source);
    put(CE_TYPE, &event.type_);
    let optional = [
        (CE_SUBJECT, &event.subject),
        (CE_TIME, &event.time),
        (CE_DATASCHEMA, &event.dataschema),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            put(name, value);
        }
    }
    for (name, value) in &event.extensions {
        if let Ok(name) = HeaderName::try_from(format!("ce-{name}")) {
            put(name, value);
        }
    }
    if let Some(media_type) = &event.datacontenttype
        && let Ok(value) = HeaderValue::from_str(media_type)
    {
        headers.insert(CONTENT_TYPE, value);
    }
}

/// Percent-decodes the string attributes of an event read from binary-mode
/// (or plain) headers, which carry them percent-encoded (§3.1.3.2).
pub fn percent_decode_attributes(event: &mut Event) -> Result<(), InvalidEvent> {
    fn decode(name: &str, value: &mut String) -> Result<(), InvalidEvent> {
        if value.contains('%') {
            // A binding-conformant sender writes `%` itself as `%25`, so a
            // `%` that starts no `%XX` escape is refused, not passed on.
            let bytes = value.as_bytes();
            let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
                b != b'%'
                    || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                        && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            });
            if !well_formed {
                return Err(InvalidEvent::new(
                    name,
                    "is not percent-encoded: `%` must start a `%XX` escape (write `%25` for `%`)",
                ));
            }
            *value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| InvalidEvent::new(name, "is not percent-encoded UTF-8"))?
                .into_owned();
        }
        Ok(())
    }
    decode("id", &mut event.id)?;
    decode("source", &mut event.source)?;
    decode("type", &mut event.type_)?;
    if let Some(subject) = &mut event.subject {
        decode("subject", subject)?;
    }
    for (name, value) in &mut event.extensions {
        decode(name, value)?;
    }
    Ok(())
}

/// Why a plain request is not an event.
#[derive(Debug, thiserror::Error)]
pub enum PlainRequestError {
    /// `type` or `source` is missing.
    #[error(
        "not a CloudEvent: missing header `ce-{0}` (or `ce_{0}`); send a CloudEvent (binary, structured or batched mode) or at least `ce-type` and `ce-source` headers"
    )]
    Missing(&'static str),
    /// An attribute is present but not acceptable.
    #[error(transparent)]
    Invalid(#[from] InvalidEvent),
}

/// Builds an event from a plain request: a body plus `ce_<attr>` (or
/// `ce-<attr>`) headers without `ce-specversion`. `type` and `source` are
/// required; `id` defaults to a new UUID; `datacontenttype` comes from
/// `Content-Type`; other `ce_` headers become extensions.
pub fn decode_plain(headers: &HeaderMap, body: Vec<u8>) -> Result<Event, PlainRequestError> {
    let mut event = Event {
        id: String::new(),
        source: String::new(),
        type_: String::new(),
        specversion: SPEC_VERSION.to_owned(),
        datacontenttype: None,
        dataschema: None,
        subject: None,
        time: None,
        extensions: Vec::new(),
        data: (!body.is_empty()).then_some(body),
    };
    for (name, value) in headers {
        let Some(attribute) = name
            .as_str()
            .strip_prefix("ce_")
            .or_else(|| name.as_str().strip_prefix("ce-"))
        else {
            continue;
        };
        let value = value
            .to_str()
            .map_err(|_| InvalidEvent::new(attribute, "header is not visible ASCII"))?
            .to_owned();
        match attribute {
            "id" => event.id = value,
            "source" => event.source = value,
            "type" => event.type_ = value,
            "subject" => event.subject = Some(value),
            "time" => event.time = Some(value),
            "dataschema" => event.dataschema = Some(value),
            "specversion" => {}
            extension => {
                validate_extension_name(extension)?;
                event.extensions.push((extension.to_owned(), value));
            }
        }
    }
    if event.type_.is_empty() {
        return Err(PlainRequestError::Missing("type"));
    }
    if event.source.is_empty() {
        return Err(PlainRequestError::Missing("source"));
    }
    if event.id.is_empty() {
        event.id = uuid::Uuid::new_v4().to_string();
    }
    if let Some(media_type) = headers.get(CONTENT_TYPE) {
        let media_type = media_type.to_str().map_err(|_| {
            InvalidEvent::new("datacontenttype", "Content-Type is not visible ASCII")
        })?;
        event.datacontenttype = Some(media_type.to_owned());
    }
    percent_decode_attributes(&mut event)?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_percent_encoded_and_decode_back() {
        let mut event = decode_plain(
            &HeaderMap::from_iter([
                (
                    HeaderName::from_static("ce_type"),
                    HeaderValue::from_static("t"),
                ),
                (
                    HeaderName::from_static("ce_source"),
                    HeaderValue::from_static("/s"),
                ),
            ]),
            b"{}".to_vec(),
        )
        .unwrap();
        event.subject = Some("100% \"café\" now".into());
        event.extensions.push(("partitionkey".into(), "a b".into()));
        let mut headers = HeaderMap::new();
        write_headers(&event, &mut headers);
        let subject = headers["ce-subject"].to_str().unwrap();
        assert_eq!(subject, "100%25%20%22caf%C3%A9%22%20now");
        assert_eq!(headers["ce-partitionkey"], "a%20b");
        assert_eq!(headers["ce-specversion"], "1.0");

        let mut back = event.clone();
        back.subject = Some(subject.to_owned());
        back.extensions[0].1 = "a%20b".into();
        percent_decode_attributes(&mut back).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn a_percent_that_starts_no_escape_is_refused() {
        for bad in ["100%", "%zz", "a%2", "%%41"] {
            let mut event = crate::event::test_event("/s", "1");
            event.subject = Some(bad.into());
            let err = percent_decode_attributes(&mut event).expect_err(bad);
            assert_eq!(err.attribute, "subject", "{bad}");
        }
        let mut event = crate::event::test_event("/s", "1");
        event.subject = Some("100%25 %41".into());
        percent_decode_attributes(&mut event).unwrap();
        assert_eq!(event.subject.as_deref(), Some("100% A"));
    }

    #[test]
    fn plain_requests_need_type_and_source() {
        let headers = HeaderMap::from_iter([(
            HeaderName::from_static("ce-type"),
            HeaderValue::from_static("t"),
        )]);
        let err = decode_plain(&headers, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("`ce-source`"), "{err}");
    }

    #[test]
    fn plain_requests_get_an_id_and_content_type() {
        let headers = HeaderMap::from_iter([
            (
                HeaderName::from_static("ce_type"),
                HeaderValue::from_static("my-trade"),
            ),
            (
                HeaderName::from_static("ce_source"),
                HeaderValue::from_static("my-exchange"),
            ),
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                HeaderName::from_static("ce_partitionkey"),
                HeaderValue::from_static("k"),
            ),
        ]);
        let event = decode_plain(&headers, b"{\"a\":1}".to_vec()).unwrap();
        assert!(uuid::Uuid::parse_str(&event.id).is_ok(), "{}", event.id);
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(event.extensions, vec![("partitionkey".into(), "k".into())]);
    }
}
