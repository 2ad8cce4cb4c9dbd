//! Conversions between the host's [`Event`] and cloudevents-sdk's, which
//! parses structured and batched JSON and binary-mode headers for us.

use cloudevents::event::{Data, ExtensionValue};
use cloudevents::{AttributesReader, AttributesWriter, EventBuilder, EventBuilderV10};

use super::{Event, InvalidEvent};

/// Converts a parsed SDK event into the host's event record. Times become
/// RFC 3339 in UTC; extension values their canonical string form; data its
/// bytes (JSON data re-serialised compactly).
pub fn from_sdk(mut event: cloudevents::Event) -> Event {
    let (datacontenttype, dataschema, data) = event.take_data();
    let data = data.map(|data| match data {
        Data::Binary(bytes) => bytes,
        Data::String(text) => text.into_bytes(),
        Data::Json(value) => serde_json::to_vec(&value).unwrap_or_default(),
    });
    Event {
        id: event.id().to_owned(),
        source: event.source().to_string(),
        type_: event.ty().to_owned(),
        specversion: event.specversion().to_string(),
        datacontenttype,
        dataschema: dataschema.map(String::from),
        subject: event.subject().map(str::to_owned),
        time: event
            .time()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        extensions: event
            .iter_extensions()
            .map(|(name, value)| (name.to_owned(), value.to_string()))
            .collect(),
        data,
    }
}

/// Converts the host's event into an SDK event, for structured JSON output.
/// JSON data (by media type) is embedded as JSON, other UTF-8 text as a
/// string, anything else as `data_base64`.
pub fn to_sdk(event: &Event) -> Result<cloudevents::Event, InvalidEvent> {
    let mut builder = EventBuilderV10::new()
        .id(event.id.as_str())
        .source(event.source.as_str())
        .ty(event.type_.as_str());
    if let Some(subject) = &event.subject {
        builder = builder.subject(subject.as_str());
    }
    if let Some(time) = &event.time {
        builder = builder.time(time.as_str());
    }
    for (name, value) in &event.extensions {
        builder = builder.extension(name, ExtensionValue::String(value.clone()));
    }
    if let Some(bytes) = &event.data {
        let content_type = event
            .datacontenttype
            .as_deref()
            .unwrap_or("application/octet-stream");
        builder = builder.data(content_type, data_for(content_type, bytes));
    }
    let mut sdk = builder
        .build()
        .map_err(|err| InvalidEvent::new("event", err.to_string()))?;
    if event.data.is_none() {
        sdk.set_datacontenttype(event.datacontenttype.clone());
    }
    if let Some(schema) = &event.dataschema {
        let url = schema
            .parse::<url::Url>()
            .map_err(|err| InvalidEvent::new("dataschema", format!("`{schema}`: {err}")))?;
        sdk.set_dataschema(Some(url));
    }
    Ok(sdk)
}

fn data_for(content_type: &str, bytes: &[u8]) -> Data {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let is_json = essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json");
    if is_json && let Ok(value) = serde_json::from_slice(bytes) {
        return Data::Json(value);
    }
    let is_text = essence.to_ascii_lowercase().starts_with("text/") || is_json;
    match std::str::from_utf8(bytes) {
        Ok(text) if is_text => Data::String(text.to_owned()),
        _ => Data::Binary(bytes.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_json_round_trips() {
        let json = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t",
            "datacontenttype":"application/json","subject":"sub",
            "time":"2018-04-05T18:31:00+01:00","partitionkey":"k","extint":10,
            "data":{"a":1}}"#;
        let event = from_sdk(serde_json::from_str(json).unwrap());
        assert_eq!(event.time.as_deref(), Some("2018-04-05T17:31:00Z"));
        assert_eq!(event.data.as_deref(), Some(&br#"{"a":1}"#[..]));
        let mut extensions = event.extensions.clone();
        extensions.sort();
        assert_eq!(
            extensions,
            vec![
                ("extint".into(), "10".into()),
                ("partitionkey".into(), "k".into())
            ]
        );
        let back = serde_json::to_value(to_sdk(&event).unwrap()).unwrap();
        assert_eq!(back["data"], serde_json::json!({"a": 1}));
        assert_eq!(back["partitionkey"], "k");
        assert_eq!(back["subject"], "sub");
    }

    #[test]
    fn binary_data_becomes_base64() {
        let mut event = from_sdk(
            serde_json::from_str(r#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#)
                .unwrap(),
        );
        event.data = Some(vec![0xff, 0x00]);
        event.datacontenttype = Some("application/octet-stream".into());
        let json = serde_json::to_value(to_sdk(&event).unwrap()).unwrap();
        assert_eq!(json["data_base64"], "/wA=");
    }
}
