//! Output identity: ids derived from the input, so a redelivered input yields
//! the same output ids and downstream can de-duplicate.

use uuid::Uuid;

use crate::event::{Event, InvalidEvent, SPEC_VERSION, identity, validate};

/// Namespace of the name-based (v5) UUIDs wasmfn gives output events.
const OUTPUT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_0b2a_7c1e_4f0a_9a53_3e8c_5b7d_2f41);

/// Gives each output its deterministic id and `specversion`, then checks it
/// is a valid CloudEvent. The error names the output's position.
pub fn prepare(input: &Event, outputs: &mut [Event]) -> Result<(), String> {
    for (index, output) in outputs.iter_mut().enumerate() {
        output.id = output_id(input, index);
        output.specversion = SPEC_VERSION.to_owned();
        validate(output).map_err(|InvalidEvent { attribute, problem }| {
            format!("output event #{index} of the function is not a valid CloudEvent: attribute `{attribute}` {problem}")
        })?;
    }
    Ok(())
}

/// UUIDv5 of the input's identity ([`identity`]: `source` and `id`,
/// unambiguously joined) and the output's index.
pub fn output_id(input: &Event, index: usize) -> String {
    use std::fmt::Write;
    let mut name = identity(&input.source, &input.id);
    name.push('\0');
    // Written in place, and the UUID hyphenated into a stack buffer: no
    // temporary strings, one allocation for the id.
    write!(name, "{index}").expect("writing to a String");
    let uuid = Uuid::new_v5(&OUTPUT_ID_NAMESPACE, name.as_bytes());
    uuid.hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::event::test_event as event;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let input = event("/exchange", "42");
        let mut first = vec![event("/o", ""), event("/o", "")];
        let mut again = first.clone();
        prepare(&input, &mut first).unwrap();
        prepare(&input, &mut again).unwrap();
        assert_eq!(first, again);
        assert_ne!(first[0].id, first[1].id);
        assert_eq!(first[0].specversion, "1.0");
        let mut other = vec![event("/o", "")];
        prepare(&event("/exchange", "43"), &mut other).unwrap();
        assert_ne!(other[0].id, first[0].id);
        // The separator keeps ("a", "bc") and ("ab", "c") apart, and the
        // escapes keep ("a\0b", "c") and ("a", "b\0c") apart.
        assert_ne!(
            output_id(&event("a", "bc"), 0),
            output_id(&event("ab", "c"), 0)
        );
        assert_ne!(
            output_id(&event("a\u{0}b", "c"), 0),
            output_id(&event("a", "b\u{0}c"), 0)
        );
    }

    #[test]
    fn ids_of_ordinary_events_are_unchanged() {
        // Pinned from the release before the identity escapes: a redelivery
        // across the upgrade keeps its output ids.
        assert_eq!(
            output_id(&event("/exchange", "42"), 0),
            "dc8ea09c-2b9a-5b90-9774-1dbf923b728f"
        );
    }

    #[test]
    fn invalid_outputs_are_named() {
        let mut outputs = vec![event("/o", ""), event("", "")];
        let err = prepare(&event("/s", "1"), &mut outputs).unwrap_err();
        assert!(err.contains("#1") && err.contains("`source`"), "{err}");
    }
}
