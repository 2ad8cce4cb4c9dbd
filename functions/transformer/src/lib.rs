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
    let output = transform(&event, &mapping, &output_type, partition_key.as_deref())?;
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

/// Builds the output event from `event`'s JSON data per `mapping`. Only the
/// fields the mapping names are read: the input's tree is never built
/// (`Event::json_pointers`: −61k of ~395k instructions per event,
/// bench/instructions.sh).
fn transform(
    event: &Event,
    mapping: &Map<String, Value>,
    output_type: &str,
    partition_key: Option<&str>,
) -> Result<Event, Error> {
    let pointers: Vec<&str> = mapping.values().filter_map(Value::as_str).collect();
    let mut found = event.json_pointers(&pointers)?.into_iter();
    // In the mapping's (sorted) order, serialised as the object it was.
    let mut mapped: Vec<(&String, Value)> = Vec::with_capacity(mapping.len());
    for (target, pointer) in mapping {
        let pointer = pointer.as_str().ok_or_else(|| {
            Error::failed(format!(
                "setting `mapping`: field `{target}` must map to a JSON Pointer string"
            ))
        })?;
        // `found` holds one value per string pointer, in this order.
        let value = found.next().flatten().ok_or_else(|| {
            Error::invalid(format!(
                "JSON Pointer `{pointer}` (for field `{target}`) does not resolve in the input data"
            ))
        })?;
        mapped.push((target, value));
    }
    let key = match partition_key {
        Some(field) => Some(
            match mapped.iter().find(|(t, _)| *t == field).map(|(_, v)| v) {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => {
                    return Err(Error::failed(format!(
                        "setting `partition_key` names `{field}`, which is not a field of `mapping`"
                    )));
                }
            },
        ),
        None => None,
    };
    let mut output = Event::new(output_type, SOURCE).with_json(&Object(&mapped))?;
    if let Some(key) = key {
        output = output.with_extension("partitionkey", key);
    }
    Ok(output)
}

/// Fields serialised as a JSON object, in their order: the same bytes as the
/// `Map` they come from, without copying its keys into a new one.
struct Object<'a>(&'a [(&'a String, Value)]);

impl serde::Serialize for Object<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

wasmfn_guest::function!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> Map<String, Value> {
        parse_mapping(r#"{"trade_id":"/id","price":"/px","venue":"/meta/venue"}"#).unwrap()
    }

    fn event_with(data: &[u8]) -> Event {
        let mut event = Event::new("trade", "test").with_data("application/json", data);
        event.id = "e-1".into();
        event
    }

    fn event_of(input: &Value) -> Event {
        event_with(input.to_string().as_bytes())
    }

    /// The transformer as it was before it read only the mapped fields: the
    /// whole input tree, then `pointer`. `transform` must answer the same,
    /// byte for byte and error for error.
    fn transform_by_tree(
        event: &Event,
        mapping: &Map<String, Value>,
        output_type: &str,
        partition_key: Option<&str>,
    ) -> Result<Event, Error> {
        let input: Value = event.json()?;
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

    #[test]
    fn maps_fields_and_sets_partition_key() {
        let input = json!({"id": "T-1", "px": 101.5, "meta": {"venue": "LME"}});
        let out = transform(
            &event_of(&input),
            &mapping(),
            "trade.transformed",
            Some("trade_id"),
        )
        .unwrap();
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
        match transform(&event_of(&input), &mapping(), "t", None) {
            Err(Error::Invalid(msg)) => assert!(msg.contains("`/px`"), "{msg}"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn bad_mapping_setting_fails() {
        assert!(matches!(parse_mapping("[]"), Err(Error::Failed(_))));
    }

    #[test]
    fn answers_as_the_whole_tree_did() {
        let trade = include_str!("../../../bench/payloads/trade.json");
        let inputs = [
            trade,
            r#"{"id": "T-1", "px": 101.50, "meta": {"venue": "LME"}}"#,
            r#"{"id": 42, "px": -0.5e3, "meta": {"venue": null, "x": [1]}}"#,
            r#"{"id": "a", "id": {"b": [2], "a": 1}, "px": 1e-7, "meta": {"venue": "Z\u00fcrich \"B\""}}"#,
            r#"{"id": "T-8", "meta": {"venue": "no price"}}"#,
            r#"{"id": true, "px": 0, "meta": 5}"#,
            r#"{"id": "T-9", "px": 1, "meta": {"venue": "V"}} trailing"#,
            r#"{"id": "T-9", "px": 1e400, "meta": {"venue": "V"}}"#,
            "not json",
        ];
        let bench: Map<String, Value> = serde_json::from_str(
            r#"{"trade_id":"/id","price":"/px","quantity":"/qty","side":"/side","symbol":"/symbol","currency":"/currency","account":"/account/id","desk":"/account/desk","venue":"/venue/mic","trader":"/trader/id","executed_at":"/ts","settle_date":"/settle_date"}"#,
        )
        .unwrap();
        let odd = parse_mapping(r#"{"a":"/meta","b":"/meta/venue","c":3,"d":"/id"}"#).unwrap();
        for input in inputs {
            for mapping in [&mapping(), &bench, &odd] {
                for key in [None, Some("trade_id"), Some("price"), Some("missing")] {
                    let event = event_with(input.as_bytes());
                    assert_eq!(
                        transform(&event, mapping, "t", key),
                        transform_by_tree(&event, mapping, "t", key),
                        "{input} {mapping:?} {key:?}"
                    );
                }
            }
        }
        let mut no_data = event_with(b"");
        no_data.data = None;
        assert_eq!(
            transform(&no_data, &mapping(), "t", None),
            transform_by_tree(&no_data, &mapping(), "t", None)
        );
    }
}
