//! `wasmfn serve` in reply mode: every CloudEvents HTTP mode, the plain
//! seed-style request, routing, health endpoints, status codes, and
//! deterministic output ids — against the real binary and real components.

use crate::support;

use serde_json::{Value, json};
use support::{FunctionsDir, Wasmfn, client, error_kind};

const TRANSFORMER_CONFIG: &str = r#"
default = "handler"
max_body_bytes = 65536
[functions.transformer]
env = { mapping = '{"trade_id":"/id","price":"/px","qty":"/qty"}', partition_key = "trade_id" }
"#;

fn start() -> (FunctionsDir, Wasmfn) {
    let dir = FunctionsDir::new(
        &[
            "simple",
            "handler",
            "subscriber",
            "transformer",
            "dead-letter",
        ],
        TRANSFORMER_CONFIG,
    );
    let server = Wasmfn::serve(dir.path(), &[]);
    (dir, server)
}

fn trade() -> Value {
    json!({"id": "T-1001", "px": 101.25, "qty": 5, "venue": "my-exchange"})
}

#[tokio::test]
async fn transformer_replies_in_binary_mode_with_deterministic_ids() {
    let (_dir, server) = start();
    let http = client();
    let send = || {
        http.post(format!("{}/transformer", server.url))
            .header("ce-specversion", "1.0")
            .header("ce-id", "trade-1")
            .header("ce-source", "my-exchange")
            .header("ce-type", "my-trade")
            .header("content-type", "application/json")
            .body(trade().to_string())
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 200);
    let headers = first.headers().clone();
    assert_eq!(headers["ce-type"], "trade.transformed");
    assert_eq!(headers["ce-source"], "wasmfn/transformer");
    assert_eq!(headers["ce-specversion"], "1.0");
    assert_eq!(headers["ce-partitionkey"], "T-1001");
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        headers["wasmfn-module-digest"]
            .to_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let body: Value = first.json().await.unwrap();
    assert_eq!(
        body,
        json!({"trade_id": "T-1001", "price": 101.25, "qty": 5})
    );

    let again = send().await.unwrap();
    assert_eq!(
        again.headers()["ce-id"],
        headers["ce-id"],
        "redelivery must yield the same id"
    );
}

#[tokio::test]
async fn structured_mode_and_plain_seed_request_reach_the_handler() {
    let (_dir, server) = start();
    let http = client();
    let structured = json!({
        "specversion": "1.0", "id": "s-1", "source": "my-exchange", "type": "my-trade",
        "datacontenttype": "application/json", "data": trade(),
    });
    let response = http
        .post(format!("{}/handler", server.url))
        .header("content-type", "application/cloudevents+json")
        .body(structured.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["ce-type"], "my-trade");
    assert_eq!(response.headers()["ce-source"], "my-exchange");
    assert_eq!(response.json::<Value>().await.unwrap(), trade());

    // Today's producers: a JSON body with underscore `ce_` headers, to POST /.
    let response = http
        .post(&server.url)
        .header("ce_type", "my-trade")
        .header("ce_source", "my-exchange")
        .header("content-type", "application/json")
        .body(trade().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "POST / serves `default = \"handler\"`"
    );
    assert_eq!(response.headers()["ce-type"], "my-trade");
    assert_eq!(response.json::<Value>().await.unwrap(), trade());
}

#[tokio::test]
async fn batched_mode_runs_every_event_and_replies_with_a_batch() {
    let (_dir, server) = start();
    let event = |id: &str, px: f64| {
        json!({"specversion": "1.0", "id": id, "source": "my-exchange", "type": "my-trade",
               "datacontenttype": "application/json", "data": {"id": id, "px": px, "qty": 1}})
    };
    let response = client()
        .post(format!("{}/transformer", server.url))
        .header("content-type", "application/cloudevents-batch+json")
        .body(json!([event("a", 1.0), event("b", 2.0)]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/cloudevents-batch+json"
    );
    let batch: Vec<Value> = response.json().await.unwrap();
    let ids: Vec<&Value> = batch.iter().map(|e| &e["data"]["trade_id"]).collect();
    assert_eq!(ids, vec!["a", "b"]);
    assert_ne!(batch[0]["id"], batch[1]["id"]);

    let empty = client()
        .post(format!("{}/simple", server.url))
        .header("content-type", "application/cloudevents-batch+json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 202);
}

#[tokio::test]
async fn no_output_is_202_with_an_empty_body() {
    let (_dir, server) = start();
    for function in ["simple", "subscriber", "dead-letter"] {
        let response = client()
            .post(format!("{}/{function}", server.url))
            .header("ce-specversion", "1.0")
            .header("ce-id", "1")
            .header("ce-source", "/test")
            .header("ce-type", "t")
            .header("ce-knativeerrorcode", "500")
            .header("ce-knativeerrordata", "Ym9vbQ==")
            .header("content-type", "application/json")
            .body(r#"{"hello":"world"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{function}");
        assert!(response.bytes().await.unwrap().is_empty(), "{function}");
    }
    server.wait_for_log("scheduled job ran");
    let line = server.wait_for_log(r#"{"hello":"world"}"#);
    assert!(
        line.contains("INFO") && line.contains("function=\"subscriber\""),
        "{line}"
    );
    let line = server.wait_for_log("with status 500: boom");
    assert!(
        line.contains("WARN") && line.contains("function=\"dead-letter\""),
        "{line}"
    );
}

#[tokio::test]
async fn status_codes_for_bad_requests() {
    let (_dir, server) = start();
    let http = client();
    let binary = |function: &str, body: &str| {
        http.post(format!("{}/{function}", server.url))
            .header("ce-specversion", "1.0")
            .header("ce-id", "1")
            .header("ce-source", "/test")
            .header("ce-type", "t")
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };

    let (status, kind, message) = error_kind(binary("handler", "[1,2]").await.unwrap()).await;
    assert_eq!((status, kind.as_str()), (422, "invalid"));
    assert!(message.contains("JSON object"), "{message}");

    let (status, kind, message) =
        error_kind(binary("transformer", r#"{"id":"x"}"#).await.unwrap()).await;
    assert_eq!((status, kind.as_str()), (422, "invalid"));
    assert!(message.contains("`/px`"), "names the pointer: {message}");

    let (status, kind, _) = error_kind(binary("nope", "{}").await.unwrap()).await;
    assert_eq!((status, kind.as_str()), (404, "not_found"));

    let not_event = http
        .post(format!("{}/handler", server.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, kind, message) = error_kind(not_event).await;
    assert_eq!((status, kind.as_str()), (400, "not_a_cloudevent"));
    assert!(message.contains("ce-type"), "{message}");

    let get = http
        .get(format!("{}/handler", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_kind(get).await.0, 405);

    let big = binary(
        "handler",
        &format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)),
    )
    .await
    .unwrap();
    let (status, kind, _) = error_kind(big).await;
    assert_eq!((status, kind.as_str()), (413, "payload_too_large"));
}

#[tokio::test]
async fn health_and_readiness() {
    let (_dir, server) = start();
    let http = client();
    let health = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = http
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["default"], "handler");
    let names: Vec<&str> = body["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "dead-letter",
            "handler",
            "simple",
            "subscriber",
            "transformer"
        ]
    );
}

#[tokio::test]
async fn only_function_is_the_default_route() {
    let dir = FunctionsDir::new(&["handler"], "");
    let server = Wasmfn::serve(dir.path(), &[]);
    let response = client()
        .post(&server.url)
        .header("ce-type", "t")
        .header("ce-source", "s")
        .header("content-type", "application/json")
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
