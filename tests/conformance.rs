//! Every case in `../shared/conformance/cloudevents/`: valid events and
//! batches are accepted (2xx) in structured, batched and binary mode; invalid
//! ones are refused with a 4xx — never a 5xx, and the host stays up.

use crate::support;

use std::path::PathBuf;

use serde_json::Value;
use support::{FunctionsDir, Wasmfn, client};

fn cases(file: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/cloudevents")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err} (../shared must sit beside the repo)",
            path.display()
        )
    });
    let suite: Value = serde_json::from_str(&text).unwrap();
    suite["tests"].as_array().unwrap().clone()
}

async fn post(server: &Wasmfn, content_type: &str, body: String) -> u16 {
    client()
        .post(format!("{}/simple", server.url))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Binary mode of a structured event: attributes as `ce-` headers.
fn binary_request(server: &Wasmfn, event: &Value) -> reqwest::RequestBuilder {
    let mut request = client().post(format!("{}/simple", server.url));
    for (name, value) in event.as_object().unwrap() {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match name.as_str() {
            "data" | "data_base64" => {}
            "datacontenttype" => request = request.header("content-type", text),
            _ => request = request.header(format!("ce-{name}"), text),
        }
    }
    if let Some(data) = event.get("data") {
        request = request.body(match data {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    request
}

#[tokio::test]
async fn every_conformance_case_gets_the_right_class_of_status() {
    let dir = FunctionsDir::new(&["simple"], "");
    let server = Wasmfn::serve(dir.path(), &[]);
    let mut failures = Vec::new();
    let mut check = |case: &str, status: u16, valid: bool| {
        let ok = if valid {
            (200..300).contains(&status)
        } else {
            (400..500).contains(&status)
        };
        if !ok {
            failures.push(format!(
                "{case}: got {status}, expected {}",
                if valid { "2xx" } else { "4xx" }
            ));
        }
    };

    for (file, valid) in [("valid-events.json", true), ("invalid-events.json", false)] {
        for case in cases(file) {
            let id = case["id"].as_str().unwrap();
            let status = post(
                &server,
                "application/cloudevents+json",
                case["event"].to_string(),
            )
            .await;
            check(&format!("structured {id}"), status, valid);
        }
    }
    for case in cases("valid-events.json") {
        let id = case["id"].as_str().unwrap();
        let status = binary_request(&server, &case["event"])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        check(&format!("binary {id}"), status, true);
    }
    for (file, valid) in [
        ("valid-batches.json", true),
        ("invalid-batches.json", false),
    ] {
        for case in cases(file) {
            let id = case["id"].as_str().unwrap();
            let status = post(
                &server,
                "application/cloudevents-batch+json",
                case["batch"].to_string(),
            )
            .await;
            check(&format!("batch {id}"), status, valid);
        }
    }

    // The HTTP binding feature file's scenarios (binary and structured, with
    // and without a charset parameter).
    for content_type in ["application/json", "application/json; charset=utf-8"] {
        let status = client()
            .post(format!("{}/simple", server.url))
            .header("ce-specversion", "1.0")
            .header("ce-type", "com.example.someevent")
            .header("ce-time", "2018-04-05T03:56:24Z")
            .header("ce-id", "1234-1234-1234")
            .header("ce-source", "/mycontext/subcontext")
            .header("content-type", content_type)
            .body("{\n    \"message\": \"Hello World!\"\n}")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        check(&format!("feature binary {content_type}"), status, true);
    }
    for content_type in [
        "application/cloudevents+json",
        "application/cloudevents+json; charset=utf-8",
    ] {
        let body = r#"{"specversion":"1.0","type":"com.example.someevent","time":"2018-04-05T03:56:24Z",
            "id":"1234-1234-1234","source":"/mycontext/subcontext","datacontenttype":"application/json",
            "data":{"message":"Hello World!"}}"#;
        let status = post(&server, content_type, body.to_owned()).await;
        check(&format!("feature structured {content_type}"), status, true);
    }

    let health = client()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the host is still up");
    assert!(
        failures.is_empty(),
        "conformance failures:\n{}",
        failures.join("\n")
    );
}
