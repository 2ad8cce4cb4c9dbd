//! CloudEvents 1.0 rules an event must satisfy, on the way in (from any
//! producer) and on the way out (from any function).

use super::{Event, SPEC_VERSION};

/// Attribute names that may not be used as extensions.
const CONTEXT_ATTRIBUTES: &[&str] = &[
    "id",
    "source",
    "type",
    "specversion",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    "data",
    "data_base64",
];

/// An event that breaks the CloudEvents 1.0 spec, naming the attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute `{attribute}` {problem}")]
pub struct InvalidEvent {
    /// The attribute at fault.
    pub attribute: String,
    /// What is wrong with it.
    pub problem: String,
}

impl InvalidEvent {
    pub(crate) fn new(attribute: impl Into<String>, problem: impl Into<String>) -> Self {
        InvalidEvent {
            attribute: attribute.into(),
            problem: problem.into(),
        }
    }
}

/// Checks `event` against the CloudEvents 1.0 rules the SDK does not enforce
/// on every path: required attributes present and non-empty, optional ones
/// non-empty when present, a valid media type and timestamp, lowercase
/// alphanumeric extension names.
pub fn validate(event: &Event) -> Result<(), InvalidEvent> {
    if event.specversion != SPEC_VERSION {
        return Err(InvalidEvent::new(
            "specversion",
            format!(
                "is `{}`; wasmfn accepts CloudEvents 1.0 only",
                event.specversion
            ),
        ));
    }
    for (name, value) in [
        ("id", &event.id),
        ("source", &event.source),
        ("type", &event.type_),
    ] {
        if value.is_empty() {
            return Err(InvalidEvent::new(name, "must be a non-empty string"));
        }
    }
    for (name, value) in [
        ("datacontenttype", &event.datacontenttype),
        ("dataschema", &event.dataschema),
        ("subject", &event.subject),
        ("time", &event.time),
    ] {
        if value.as_deref() == Some("") {
            return Err(InvalidEvent::new(name, "must not be empty when present"));
        }
    }
    if let Some(media_type) = &event.datacontenttype
        && media_type.parse::<mime::Mime>().is_err()
    {
        return Err(InvalidEvent::new(
            "datacontenttype",
            format!("`{media_type}` is not an RFC 2046 media type (type/subtype)"),
        ));
    }
    if let Some(time) = &event.time
        && chrono::DateTime::parse_from_rfc3339(time).is_err()
    {
        return Err(InvalidEvent::new(
            "time",
            format!("`{time}` is not an RFC 3339 timestamp"),
        ));
    }
    for (name, _) in &event.extensions {
        validate_extension_name(name)?;
    }
    Ok(())
}

/// Extension names are lowercase ASCII letters and digits and do not reuse a
/// context attribute's name.
pub(crate) fn validate_extension_name(name: &str) -> Result<(), InvalidEvent> {
    let well_formed = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !well_formed {
        return Err(InvalidEvent::new(
            name,
            "is not a valid extension name (lowercase letters and digits only)",
        ));
    }
    if CONTEXT_ATTRIBUTES.contains(&name) {
        return Err(InvalidEvent::new(
            name,
            "is a context attribute and cannot be an extension",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn minimal() -> Event {
        crate::event::test_event("/s", "1")
    }

    #[test]
    fn accepts_a_minimal_event() {
        assert_eq!(validate(&minimal()), Ok(()));
    }

    #[test]
    fn names_the_attribute_at_fault() {
        type Breaker = Box<dyn Fn(&mut Event)>;
        let cases: Vec<(&str, Breaker)> = vec![
            ("specversion", Box::new(|e| e.specversion = "0.3".into())),
            ("id", Box::new(|e| e.id.clear())),
            ("type", Box::new(|e| e.type_.clear())),
            ("source", Box::new(|e| e.source.clear())),
            ("subject", Box::new(|e| e.subject = Some(String::new()))),
            (
                "datacontenttype",
                Box::new(|e| e.datacontenttype = Some("xyz".into())),
            ),
            (
                "time",
                Box::new(|e| e.time = Some("2018-04-05T18:31Z".into())),
            ),
            (
                "MyExt",
                Box::new(|e| e.extensions.push(("MyExt".into(), "v".into()))),
            ),
            (
                "id",
                Box::new(|e| e.extensions.push(("id".into(), "v".into()))),
            ),
        ];
        for (attribute, break_it) in cases {
            let mut event = minimal();
            break_it(&mut event);
            let err = validate(&event).expect_err(attribute);
            assert_eq!(err.attribute, attribute, "{err}");
        }
    }
}
