//! `transformer`: maps a trade from an exchange's shape into ours.
//!
//! Settings: `mapping`, a JSON object `{"<target field>": "<JSON Pointer into
//! the input data>"}`; `output_type` (default `trade.transformed`);
//! `partition_key`, a target field whose value becomes the `partitionkey`
//! extension (KafkaSink keys records by it).

use serde_json::{Map, Value};
use wasmfn_guest::{Error, Event, config};

/// The output type when `output_type` is not set.
const DEFAULT_OUTPUT_TYPE: &str = "trade.transformed";
/// The source of every output event.
const SOURCE: &str = "wasmfn/transformer";

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    let mapping = parse_mapping(&config::require("mapping")?)?;
    let output_type = config::get("output_type").unwrap_or_else(|| DEFAULT_OUTPUT_TYPE.into());
    let partition_key = config::get("partition_key");
    let input: Value = event.json()?;
    let output = transform(&input, &mapping, &output_type, partition_key.as_deref())?;
    Ok(vec![output])
}

/// Parses the `mapping` setting. A bad mapping is an operator mistake, so it
/// fails (retryable) rather than dead-lettering every event.
fn parse_mapping(text: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str(text) {
        Ok(Value::Object(mapping)) => Ok(mapping),
        _ => Err(Error::failed(format!(
            "setting `mapping` must be a JSON object of target field -> JSON Pointer, got {text}"
        ))),
    }
}

/// Builds the output event from `input` data per `mapping`.
fn transform(
    input: &Value,
    mapping: &Map<String, Value>,
    output_type: &str,
    partition_key: Option<&str>,
) -> Result<Event, Error> {
    let mut mapped = Map::with_capacity(mapping.len());
    for (target, pointer) in mapping {
        let pointer = pointer.as_str().ok_or_else(|| {
            Error::failed(format!(
                "setting `mapping`: field `{target}` must map to a JSON Pointer string"
            ))
        })?;
        let value = input.pointer(pointer).ok_or_else(|| {
            Error::invalid(format!(
                "JSON Pointer `{pointer}` (for field `{target}`) does not resolve in the input data"
            ))
        })?;
        mapped.insert(target.clone(), value.clone());
    }
    let key = match partition_key {
        Some(field) => Some(match mapped.get(field) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => {
                return Err(Error::failed(format!(
                    "setting `partition_key` names `{field}`, which is not a field of `mapping`"
                )));
            }
        }),
        None => None,
    };
    let mut output = Event::new(output_type, SOURCE).with_json(&mapped)?;
    if let Some(key) = key {
        output = output.with_extension("partitionkey", key);
    }
    Ok(output)
}

wasmfn_guest::function!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> Map<String, Value> {
        parse_mapping(r#"{"trade_id":"/id","price":"/px","venue":"/meta/venue"}"#).unwrap()
    }

    #[test]
    fn maps_fields_and_sets_partition_key() {
        let input = json!({"id": "T-1", "px": 101.5, "meta": {"venue": "LME"}});
        let out = transform(&input, &mapping(), "trade.transformed", Some("trade_id")).unwrap();
        assert_eq!(out.type_, "trade.transformed");
        assert_eq!(out.source, SOURCE);
        assert_eq!(out.extension("partitionkey"), Some("T-1"));
        let data: Value = out.json().unwrap();
        assert_eq!(
            data,
            json!({"trade_id": "T-1", "price": 101.5, "venue": "LME"})
        );
    }

    #[test]
    fn unresolved_pointer_is_invalid_and_named() {
        let input = json!({"id": "T-1"});
        match transform(&input, &mapping(), "t", None) {
            Err(Error::Invalid(msg)) => assert!(msg.contains("`/px`"), "{msg}"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn bad_mapping_setting_fails() {
        assert!(matches!(parse_mapping("[]"), Err(Error::Failed(_))));
    }
}
