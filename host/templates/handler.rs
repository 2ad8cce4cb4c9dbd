//! `{{name}}`: a handler. It accepts a JSON object and sends it on
//! unchanged, so the host replies with it or forwards it to the sink.

use wasmfn_guest::{Error, Event};

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    // Data that is not JSON is `invalid` (422): Knative dead-letters it.
    let payload: serde_json::Value = event.json()?;
    if !payload.is_object() {
        return Err(Error::invalid(format!(
            "event {} data must be a JSON object, got {payload}",
            event.id
        )));
    }
    Ok(vec![event])
}

wasmfn_guest::function!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> Event {
        Event::new("greeting", "tests").with_data("application/json", data)
    }

    #[test]
    fn passes_objects_through_unchanged() {
        let input = event(r#"{"hello":"world"}"#);
        assert_eq!(handle(input.clone()).unwrap(), vec![input]);
    }

    #[test]
    fn refuses_other_json_as_invalid() {
        assert!(matches!(handle(event("[1, 2]")), Err(Error::Invalid(_))));
    }
}
