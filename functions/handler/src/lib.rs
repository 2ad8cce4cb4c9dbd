//! `handler`: accepts a JSON object and sends it on unchanged (same type,
//! source and data), so the host forwards it to the Broker.

use wasmfn_guest::{Error, Event};

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    let payload: serde_json::Value = event.json()?;
    if !payload.is_object() {
        return Err(Error::invalid(format!(
            "event {} data must be a JSON object, got {}",
            event.id,
            json_kind(&payload)
        )));
    }
    Ok(vec![event])
}

/// The JSON kind of `value`, for error messages.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

wasmfn_guest::function!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &[u8]) -> Event {
        Event::new("t", "s").with_data("application/json", data)
    }

    #[test]
    fn passes_objects_through_unchanged() {
        let input = event(br#"{"a":1}"#);
        assert_eq!(handle(input.clone()).unwrap(), vec![input]);
    }

    #[test]
    fn refuses_non_objects_naming_the_kind() {
        match handle(event(b"[1]")) {
            Err(Error::Invalid(msg)) => assert!(msg.contains("an array"), "{msg}"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }
}
