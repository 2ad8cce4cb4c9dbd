//! `{{name}}`: a subscriber. It logs the JSON payload of each event it
//! receives and sends nothing on (the host answers 202).

use wasmfn_guest::{Error, Event};

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    // Data that is not JSON is `invalid` (422): Knative dead-letters it.
    let payload: serde_json::Value = event.json()?;
    wasmfn_guest::info!("{}", describe(&event, &payload));
    Ok(Vec::new())
}

/// The log line for `event`, whose data is `payload`.
fn describe(event: &Event, payload: &serde_json::Value) -> String {
    format!("received {} from {}: {payload}", event.type_, event.source)
}

wasmfn_guest::function!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_type_source_and_payload() {
        let event = Event::new("greeting", "tests");
        let payload = serde_json::json!({"hello": "world"});
        assert_eq!(
            describe(&event, &payload),
            r#"received greeting from tests: {"hello":"world"}"#
        );
    }

    #[test]
    fn refuses_data_that_is_not_json_as_invalid() {
        let event = Event::new("greeting", "tests").with_data("text/plain", "hello");
        assert!(matches!(handle(event), Err(Error::Invalid(_))));
    }
}
