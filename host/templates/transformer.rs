//! `{{name}}`: a transformer. It turns each event's JSON object into a new
//! event of type `output_type` (a setting in wasmfn.toml; default
//! `{{name}}.transformed`) that carries the object under `data` and the
//! input's source under `from`, keyed by the object's `id` (`partitionkey`:
//! a KafkaSink keys records by it).

use serde_json::{Value, json};
use wasmfn_guest::{Error, Event, config};

/// The output type when the `output_type` setting is not set.
const DEFAULT_OUTPUT_TYPE: &str = "{{name}}.transformed";
/// The source of every output event.
const SOURCE: &str = "wasmfn/{{name}}";

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    let output_type = config::get("output_type").unwrap_or_else(|| DEFAULT_OUTPUT_TYPE.into());
    Ok(vec![transform(&event, &output_type)?])
}

/// The output event for `event`.
fn transform(event: &Event, output_type: &str) -> Result<Event, Error> {
    let input: Value = event.json()?;
    let id = match input.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(id @ Value::Number(_)) => id.to_string(),
        _ => {
            return Err(Error::invalid(format!(
                "event {} data needs an `id` string or number",
                event.id
            )));
        }
    };
    let output = Event::new(output_type, SOURCE)
        .with_json(&json!({"id": id, "from": event.source, "data": input}))?;
    Ok(output.with_extension("partitionkey", id))
}

wasmfn_guest::function!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> Event {
        Event::new("trade", "my-exchange").with_data("application/json", data)
    }

    #[test]
    fn wraps_the_data_and_keys_by_id() {
        let output = transform(&event(r#"{"id":"T-1","px":101.5}"#), "trade.mapped").unwrap();
        assert_eq!(output.type_, "trade.mapped");
        assert_eq!(output.source, SOURCE);
        assert_eq!(output.extension("partitionkey"), Some("T-1"));
        let data: Value = output.json().unwrap();
        assert_eq!(
            data,
            json!({"id": "T-1", "from": "my-exchange", "data": {"id": "T-1", "px": 101.5}})
        );
    }

    #[test]
    fn data_without_an_id_is_invalid() {
        assert!(matches!(
            transform(&event(r#"{"px":1}"#), "t"),
            Err(Error::Invalid(_))
        ));
    }
}
