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

    /// A `specversion` other than [`SPEC_VERSION`].
    pub(crate) fn unsupported_specversion(found: &str) -> Self {
        InvalidEvent::new(
            "specversion",
            format!("is `{found}`; wasmfn accepts CloudEvents 1.0 only"),
        )
    }

    /// A `time` that is not an RFC 3339 timestamp.
    pub(crate) fn not_a_timestamp(time: &str) -> Self {
        InvalidEvent::new("time", format!("`{time}` is not an RFC 3339 timestamp"))
    }

    /// A `dataschema` that is not an absolute URI.
    pub(crate) fn not_an_absolute_uri() -> Self {
        InvalidEvent::new("dataschema", "is not an absolute URI (RFC 3986)")
    }
}

/// Checks `event` against the CloudEvents 1.0 rules the SDK does not enforce
/// on every path: required attributes present and non-empty, optional ones
/// non-empty when present, no control characters in any string, an absolute
/// URI as `dataschema`, a valid media type and timestamp, lowercase
/// alphanumeric extension names. Inputs and outputs (in every output mode)
/// pass the same checks.
pub fn validate(event: &Event) -> Result<(), InvalidEvent> {
    if event.specversion != SPEC_VERSION {
        return Err(InvalidEvent::unsupported_specversion(&event.specversion));
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
    let strings = [
        ("id", Some(&event.id)),
        ("source", Some(&event.source)),
        ("type", Some(&event.type_)),
        ("datacontenttype", event.datacontenttype.as_ref()),
        ("dataschema", event.dataschema.as_ref()),
        ("subject", event.subject.as_ref()),
        ("time", event.time.as_ref()),
    ];
    let extensions = event
        .extensions
        .iter()
        .map(|(name, value)| (name.as_str(), Some(value)));
    for (name, value) in strings.into_iter().chain(extensions) {
        if let Some(at) = value.and_then(|v| find_control(v.as_bytes())) {
            return Err(InvalidEvent::new(
                name,
                format!(
                    "holds a control character at byte {at}; CloudEvents strings exclude U+0000-001F and U+007F-009F"
                ),
            ));
        }
    }
    if let Some(schema) = &event.dataschema
        && url::Url::parse(schema).is_err()
    {
        return Err(InvalidEvent::not_an_absolute_uri());
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
        return Err(InvalidEvent::not_a_timestamp(time));
    }
    for (name, _) in &event.extensions {
        validate_extension_name(name)?;
    }
    Ok(())
}

/// The characters a CloudEvents String may not hold (spec §Type System):
/// U+0000-001F and U+007F-009F, which some protocols cannot carry and which
/// would forge lines in a text log.
pub fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// The byte offset of the first [`is_control`] character in `text` (UTF-8,
/// or bytes that may not be), as `str::find(is_control)` gives it. A byte
/// scan: U+0000-001F and U+007F are one byte each, U+0080-009F are `C2 80`
/// to `C2 9F`, and no other character's encoding holds those sequences;
/// decoding every character instead cost ~4x the instructions. Eight bytes
/// are ruled out at a time where none is below 0x20, 0x7F or 0xC2: a byte at
/// a time cost ~3k instructions for a 200-byte guest log line.
pub fn find_control(text: &[u8]) -> Option<usize> {
    let control_at = |i: usize| {
        let b = text[i];
        b < 0x20
            || b == 0x7f
            || (b == 0xc2 && text.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    };
    let mut at = 0;
    for word in text.chunks_exact(8) {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of 8 bytes"));
        if may_start_control(word)
            && let Some(i) = (at..at + 8).find(|&i| control_at(i))
        {
            return Some(i);
        }
        at += 8;
    }
    (at..text.len()).find(|&i| control_at(i))
}

/// Whether one of the 8 bytes of `word` is below 0x20, 0x7F or 0xC2 (the
/// bytes a control character starts with). Each test is the exact "some byte
/// is zero" word trick: false means none is.
fn may_start_control(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let below_0x20 = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
    let equals = |byte: u64| {
        let zero_where_equal = word ^ (ONES * byte);
        zero_where_equal.wrapping_sub(ONES) & !zero_where_equal & HIGH_BITS
    };
    below_0x20 | equals(0x7f) | equals(0xc2) != 0
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

    #[test]
    fn find_control_agrees_with_decoding_every_char() {
        for text in [
            "plain",
            "",
            "a\u{0}b",
            "tab\there",
            "\u{7f}",
            "é\u{80}x",
            "ü\u{9f}",
            "\u{a0}\u{c2}\u{ff} ok",
            "日本\u{85}",
            "x\u{1b}[2m",
        ] {
            assert_eq!(
                find_control(text.as_bytes()),
                text.find(is_control),
                "{text:?}"
            );
        }
        // Every position in and across 8-byte words, each kind of control,
        // and C2 followed by a control and a non-control continuation.
        for needle in [
            "\u{0}", "\u{1f}", "\u{7f}", "\u{85}", "\u{9f}", "\u{a3}", "\u{1b}",
        ] {
            for at in 0..20 {
                let text = format!("{}{needle}{}", "a".repeat(at), "b".repeat(20 - at));
                assert_eq!(
                    find_control(text.as_bytes()),
                    text.find(is_control),
                    "{text:?}"
                );
            }
        }
        // Not UTF-8: a lone C2 is no control.
        assert_eq!(find_control(b"\xc2"), None);
        assert_eq!(find_control(b"\xc2A\xc2\x85"), Some(2));
    }

    pub(crate) fn minimal() -> Event {
        crate::event::test_event("/s", "1")
    }

    #[test]
    fn accepts_a_minimal_event() {
        assert_eq!(validate(&minimal()), Ok(()));
        // Above the controls: Latin-1 letters, other scripts, tab-free text.
        let mut event = minimal();
        event.subject = Some("caf\u{e9} \u{a0}\u{65e5}\u{672c}".into());
        event.dataschema = Some("https://example.com/schema".into());
        assert_eq!(validate(&event), Ok(()));
    }

    #[test]
    fn names_the_attribute_at_fault() {
        type Breaker = Box<dyn Fn(&mut Event)>;
        let mut cases: Vec<(&str, Breaker)> = vec![
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
            (
                "dataschema",
                Box::new(|e| e.dataschema = Some("not a uri".into())),
            ),
        ];
        for (attribute, control) in [
            ("id", "a\u{0}b"),
            ("source", "a\nb"),
            ("type", "\u{7f}"),
            ("subject", "x\u{9f}"),
            ("partitionkey", "line\r\nforged"),
        ] {
            cases.push((
                attribute,
                Box::new(move |e: &mut Event| match attribute {
                    "id" => e.id = control.into(),
                    "source" => e.source = control.into(),
                    "type" => e.type_ = control.into(),
                    "subject" => e.subject = Some(control.into()),
                    _ => e.extensions.push((attribute.into(), control.into())),
                }),
            ));
        }
        for (attribute, break_it) in cases {
            let mut event = minimal();
            break_it(&mut event);
            let err = validate(&event).expect_err(attribute);
            assert_eq!(err.attribute, attribute, "{err}");
        }
    }
}
