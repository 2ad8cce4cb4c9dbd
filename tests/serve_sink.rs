//! `wasmfn serve` in sink mode: outputs POSTed in binary mode to a real
//! recording sink on 127.0.0.1, retries on transient failures, and the
//! statuses Knative acts on when the sink refuses or stays down.

use crate::support;

use serde_json::{Value, json};
use support::sink::Sink;
use support::{FunctionsDir, Wasmfn, client, error_kind};

fn config() -> &'static str {
    r#"
[delivery]
attempts = 4
initial_backoff_ms = 10
[functions.handler]
output = "sink"
sink = "${BROKER_URL}"
[functions.transformer]
output = "sink"
sink = "${KAFKA_SINK_URL}"
env = { mapping = '{"trade_id":"/id","price":"/px"}', partition_key = "trade_id", output_type = "my-trades" }
"#
}

fn start(broker: &str, kafka: &str) -> (FunctionsDir, Wasmfn) {
    let dir = FunctionsDir::new(&["handler", "transformer"], config());
    let server = Wasmfn::serve(
        dir.path(),
        &[("BROKER_URL", broker), ("KAFKA_SINK_URL", kafka)],
    );
    (dir, server)
}

async fn send_trade(server: &Wasmfn, function: &str, id: &str) -> reqwest::Response {
    client()
        .post(format!("{}/{function}", server.url))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "my-exchange")
        .header("ce-type", "my-trade")
        .header("content-type", "application/json")
        .body(json!({"id": id, "px": 99.5}).to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn outputs_reach_the_sinks_in_binary_mode() {
    let broker = Sink::start().await;
    let kafka = Sink::start().await;
    let (_dir, server) = start(&broker.url, &kafka.url);

    let response = send_trade(&server, "transformer", "T-7").await;
    assert_eq!(response.status(), 202);
    assert!(response.bytes().await.unwrap().is_empty());
    let received = kafka.received();
    assert_eq!(received.len(), 1);
    let record = &received[0];
    assert_eq!(record.header("ce-type"), Some("my-trades"));
    assert_eq!(
        record.header("ce-partitionkey"),
        Some("T-7"),
        "KafkaSink keys by partitionkey"
    );
    assert_eq!(record.header("ce-specversion"), Some("1.0"));
    assert_eq!(record.header("content-type"), Some("application/json"));
    let data: Value = serde_json::from_slice(&record.body).unwrap();
    assert_eq!(data, json!({"trade_id": "T-7", "price": 99.5}));

    // The seed-style request into the handler goes on to the Broker unchanged.
    let response = client()
        .post(format!("{}/handler", server.url))
        .header("ce_type", "my-trade")
        .header("ce_source", "my-exchange")
        .header("content-type", "application/json")
        .body(r#"{"id":"T-8","px":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let forwarded = broker.received();
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].header("ce-type"), Some("my-trade"));
    assert_eq!(forwarded[0].header("ce-source"), Some("my-exchange"));
    assert_eq!(&forwarded[0].body[..], br#"{"id":"T-8","px":1}"#);
}

#[tokio::test]
async fn a_sink_that_fails_then_recovers_gets_the_event_once_acknowledged() {
    let broker = Sink::start().await;
    let kafka = Sink::start().await;
    kafka.script(&[(503, ""), (429, ""), (500, "")]);
    let (_dir, server) = start(&broker.url, &kafka.url);

    let response = send_trade(&server, "transformer", "T-9").await;
    assert_eq!(response.status(), 202);
    let received = kafka.received();
    assert_eq!(received.len(), 4, "three refusals, then delivered");
    let ids: Vec<_> = received
        .iter()
        .map(|r| r.header("ce-id").unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "retries resend the same id: {ids:?}"
    );
}

#[tokio::test]
async fn a_sink_that_stays_down_is_503_and_a_refusal_is_422() {
    let broker = Sink::start().await;
    let kafka = Sink::start().await;
    kafka.script(&[(503, ""); 4]);
    kafka.script(&[(400, "bad record: missing key")]);
    let (_dir, server) = start(&broker.url, &kafka.url);

    let response = send_trade(&server, "transformer", "T-10").await;
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, kind, message) = error_kind(response).await;
    assert_eq!((status, kind.as_str()), (503, "sink_unavailable"));
    assert!(message.contains("after 4 tries"), "{message}");

    let (status, kind, message) =
        error_kind(send_trade(&server, "transformer", "T-11").await).await;
    assert_eq!((status, kind.as_str()), (422, "sink_rejected"));
    assert!(
        message.contains("400") && message.contains("missing key"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unreachable_sink_is_503() {
    // Bind and drop a listener to get a loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let kafka = format!("http://{closed}/");
    let (_dir, server) = start(&kafka, &kafka);
    let (status, kind, _) = error_kind(send_trade(&server, "transformer", "T-12").await).await;
    assert_eq!((status, kind.as_str()), (503, "sink_unavailable"));
}

#[tokio::test]
async fn sink_credentials_never_reach_the_answer_or_the_log() {
    // A refused connection (reqwest's error text quotes the URL) and a sink
    // that stays 503, each with a password and a signed query: Knative copies
    // a failed answer's body into `knativeerrordata`, on to the dead-letter sink.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = Sink::start().await;
    down.script(&[(503, ""); 4]);
    let secret = |base: &str| {
        base.replacen("http://", "http://app:PASSWORD@", 1) + "x?sig=TOKEN"
    };
    let dir = FunctionsDir::new(&["handler", "transformer"], config());
    let server = Wasmfn::serve(
        dir.path(),
        &[
            ("BROKER_URL", &secret(&format!("http://{closed}/"))),
            ("KAFKA_SINK_URL", &secret(&down.url)),
            ("RUST_LOG", "debug"),
        ],
    );
    for function in ["handler", "transformer"] {
        let response = send_trade(&server, function, "T-13").await;
        let (status, kind, message) = error_kind(response).await;
        assert_eq!((status, kind.as_str()), (503, "sink_unavailable"), "{message}");
        assert!(
            !message.contains("PASSWORD") && !message.contains("TOKEN"),
            "{function}: {message}"
        );
    }
    let functions = support::get_json(&server.url, "/functions").await.to_string();
    assert!(functions.contains("redacted@"), "{functions}");
    let log = server.log().join("\n");
    assert!(log.contains("?redacted"), "the URL is named, redacted: {log}");
    assert!(
        !log.contains("PASSWORD") && !log.contains("TOKEN") && !functions.contains("TOKEN"),
        "{log}\n{functions}"
    );
}

#[tokio::test]
async fn a_missing_sink_variable_stops_the_load_naming_it() {
    let dir = FunctionsDir::new(&["handler"], config());
    let output = std::process::Command::new(support::WASMFN)
        .arg("serve")
        .env("PORT", "0")
        .env("WASMFN_FUNCTIONS", dir.path())
        .env_remove("BROKER_URL")
        .env_remove("KAFKA_SINK_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("wasmfn.toml"), "{stderr}");
    assert!(stderr.contains("functions.handler.sink"), "{stderr}");
    assert!(stderr.contains("BROKER_URL"), "{stderr}");
}

#[tokio::test]
async fn a_dedup_window_acknowledges_redeliveries_without_running_again() {
    let kafka = Sink::start().await;
    let dir = FunctionsDir::new(
        &["transformer", "handler"],
        r#"
[functions.transformer]
output = "sink"
sink = "${KAFKA_SINK_URL}"
env = { mapping = '{"trade_id":"/id"}' }
dedup = { window_s = 60 }
[functions.handler]
dedup = { window_s = 60 }
"#,
    );
    let server = Wasmfn::serve(dir.path(), &[("KAFKA_SINK_URL", &kafka.url)]);

    // Sink mode: the redelivery is acknowledged, the sink sees one record.
    kafka.script(&[(503, "down")]);
    let first = send_trade(&server, "transformer", "T-1").await;
    assert_eq!(first.status(), 202, "delivered on the retry");
    for _ in 0..3 {
        assert_eq!(
            send_trade(&server, "transformer", "T-1").await.status(),
            202
        );
    }
    assert_eq!(
        send_trade(&server, "transformer", "T-2").await.status(),
        202
    );
    let ids: Vec<_> = kafka
        .received()
        .iter()
        .map(|r| r.header("ce-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "T-1 twice (503 then 202), T-2 once: {ids:?}");
    assert_eq!(ids[0], ids[1], "the retry carries the same id");

    // A failed first delivery is not remembered: its redelivery runs again.
    kafka.script(&[(400, "bad"), (400, "bad")]);
    assert_eq!(
        send_trade(&server, "transformer", "T-3").await.status(),
        422
    );
    assert_eq!(
        send_trade(&server, "transformer", "T-3").await.status(),
        422
    );
    assert_eq!(
        send_trade(&server, "transformer", "T-3").await.status(),
        202
    );
    assert_eq!(kafka.received().len(), 6);

    // Reply mode: a redelivery gets the first delivery's reply again.
    let first = send_trade(&server, "handler", "H-1").await;
    let again = send_trade(&server, "handler", "H-1").await;
    assert_eq!(
        (first.status().as_u16(), again.status().as_u16()),
        (200, 200)
    );
    assert_eq!(first.headers()["ce-id"], again.headers()["ce-id"]);
    assert_eq!(first.bytes().await.unwrap(), again.bytes().await.unwrap());
    let duplicates = server
        .wait_for_log_lines("duplicate of an event already handled", 4)
        .len();
    assert_eq!(duplicates, 4, "three for T-1, one for H-1");
}
