//! The KafkaSink emulation: accepts a CloudEvent with 202 (400 for anything
//! else) and appends the Kafka record it would produce, as one JSON line, to
//! `<out>/<topic>.jsonl`:
//!
//! ```json
//! {"topic": "my-trades", "key": "T-1001",
//!  "headers": {"ce_specversion": "1.0", "ce_id": "…", "ce_type": "…", "content-type": "application/json", …},
//!  "value": {"trade_id": "T-1001", "price": 101.25}}
//! ```
//!
//! `key` is the `partitionkey` extension, or `null`. In `binary` content mode
//! (the default) `headers` holds the attributes as the KafkaSink writes them
//! (`ce_<name>`, plus `content-type`) and `value` the data; in `structured`
//! mode `headers` holds only `content-type` and `value` the whole event.
//! `value` is the data as JSON when it parses as JSON, else as a string; data
//! that is not UTF-8 is given as `"value_base64"` instead.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::StatusCode;
use reqwest::Url;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::ingress::read_cloudevent;
use crate::event::{Event, to_sdk};

/// How records carry the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentMode {
    /// Attributes as headers, data as the value.
    Binary,
    /// The structured JSON event as the value.
    Structured,
}

/// One KafkaSink, writing to a JSON-lines file.
#[derive(Debug)]
pub struct KafkaSink {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.topic`.
    pub topic: String,
    /// `spec.contentMode`.
    pub mode: ContentMode,
    /// Its local URL (what `${KAFKA_SINK_URL}` resolves to).
    pub url: Url,
    /// `<out>/<topic>.jsonl`.
    pub file: PathBuf,
    /// Serialises appends, one line per record.
    lock: Mutex<()>,
}

impl KafkaSink {
    /// A sink writing `topic` records to `<out>/<topic>.jsonl`.
    pub fn new(
        namespace: String,
        name: String,
        topic: String,
        mode: ContentMode,
        url: Url,
        out: &std::path::Path,
    ) -> KafkaSink {
        let file = out.join(format!("{topic}.jsonl"));
        KafkaSink {
            namespace,
            name,
            topic,
            mode,
            url,
            file,
            lock: Mutex::new(()),
        }
    }

    /// Accepts one event: 202 once its line is written, 400 for a request
    /// that is not a CloudEvent, 500 when the file cannot be written.
    pub async fn ingress(self: Arc<Self>, request: Request) -> Response {
        let event = match read_cloudevent(request).await {
            Ok(event) => event,
            Err(err) => return err.into_response(),
        };
        let line = match self.record(&event) {
            Ok(record) => record.to_string() + "\n",
            Err(err) => return crate::error::Error::InvalidEvent(err).into_response(),
        };
        let written = async {
            let _guard = self.lock.lock().await;
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.file)
                .await?;
            file.write_all(line.as_bytes()).await?;
            file.flush().await
        }
        .await;
        match written {
            Ok(()) => {
                tracing::info!(sink = %self.name, topic = %self.topic, file = %self.file.display(), id = %event.id, "kafka sink: record appended");
                StatusCode::ACCEPTED.into_response()
            }
            Err(err) => {
                tracing::error!(file = %self.file.display(), "kafka sink: cannot append the record: {err}");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    /// The record `event` becomes.
    pub fn record(&self, event: &Event) -> Result<Value, crate::event::InvalidEvent> {
        let key = event
            .extensions
            .iter()
            .find(|(name, _)| name == "partitionkey")
            .map(|(_, v)| Value::from(v.as_str()))
            .unwrap_or(Value::Null);
        let mut record = Map::new();
        record.insert("topic".into(), json!(self.topic));
        record.insert("key".into(), key);
        match self.mode {
            ContentMode::Binary => {
                let mut headers = Map::new();
                let mut put = |name: &str, value: Option<&str>| {
                    if let Some(value) = value {
                        headers.insert(format!("ce_{name}"), json!(value));
                    }
                };
                put("specversion", Some(&event.specversion));
                put("id", Some(&event.id));
                put("source", Some(&event.source));
                put("type", Some(&event.type_));
                put("subject", event.subject.as_deref());
                put("dataschema", event.dataschema.as_deref());
                put("time", event.time.as_deref());
                for (name, value) in &event.extensions {
                    put(name, Some(value));
                }
                if let Some(content_type) = &event.datacontenttype {
                    headers.insert("content-type".into(), json!(content_type));
                }
                record.insert("headers".into(), Value::Object(headers));
                let data = event.data.as_deref().unwrap_or_default();
                match serde_json::from_slice::<Value>(data) {
                    Ok(value) => record.insert("value".into(), value),
                    Err(_) => match std::str::from_utf8(data) {
                        Ok(text) => record.insert("value".into(), json!(text)),
                        Err(_) => record.insert(
                            "value_base64".into(),
                            json!(base64::engine::general_purpose::STANDARD.encode(data)),
                        ),
                    },
                };
            }
            ContentMode::Structured => {
                record.insert(
                    "headers".into(),
                    json!({"content-type": "application/cloudevents+json"}),
                );
                let value = serde_json::to_value(to_sdk(event)?).unwrap_or(Value::Null);
                record.insert("value".into(), value);
            }
        }
        Ok(Value::Object(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &[u8]) -> Event {
        Event {
            type_: "trade.transformed".into(),
            datacontenttype: Some("application/json".into()),
            extensions: vec![("partitionkey".into(), "T-1".into())],
            data: Some(data.to_vec()),
            ..crate::event::test_event("wasmfn/transformer", "1")
        }
    }

    fn sink(mode: ContentMode) -> KafkaSink {
        KafkaSink::new(
            "ns".into(),
            "s".into(),
            "my-trades".into(),
            mode,
            Url::parse("http://127.0.0.1/").unwrap(),
            std::path::Path::new("/tmp"),
        )
    }

    #[test]
    fn binary_records_key_headers_and_json_value() {
        let record = sink(ContentMode::Binary)
            .record(&event(br#"{"trade_id":"T-1"}"#))
            .unwrap();
        assert_eq!(record["key"], "T-1");
        assert_eq!(record["headers"]["ce_type"], "trade.transformed");
        assert_eq!(record["headers"]["ce_partitionkey"], "T-1");
        assert_eq!(record["headers"]["content-type"], "application/json");
        assert_eq!(record["value"], json!({"trade_id": "T-1"}));

        let text = sink(ContentMode::Binary).record(&event(b"plain")).unwrap();
        assert_eq!(text["value"], "plain");
        let bytes = sink(ContentMode::Binary)
            .record(&event(&[0xff, 0]))
            .unwrap();
        assert_eq!(bytes["value_base64"], "/wA=");
        let mut unkeyed = event(b"{}");
        unkeyed.extensions.clear();
        assert_eq!(
            sink(ContentMode::Binary).record(&unkeyed).unwrap()["key"],
            Value::Null
        );
    }

    #[test]
    fn structured_records_carry_the_whole_event() {
        let record = sink(ContentMode::Structured)
            .record(&event(br#"{"a":1}"#))
            .unwrap();
        assert_eq!(record["value"]["type"], "trade.transformed");
        assert_eq!(record["value"]["data"], json!({"a": 1}));
        assert_eq!(record["key"], "T-1");
    }
}
