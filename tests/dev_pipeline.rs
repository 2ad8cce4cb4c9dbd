//! `wasmfn dev`: the real binary on a loopback port, with the repository's
//! own `deploy/pipeline` manifests and the built functions — the seed trade
//! travels /handler → Broker → Trigger → /transformer → KafkaSink file — and
//! a test pipeline whose Trigger points at the `evil` guest, for retries and
//! dead letters.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{FunctionsDir, Wasmfn, binary_event, client};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Starts `wasmfn dev` on port 0 with `args`.
fn dev(functions: &Path, manifests: &Path, config: &Path, out: &Path, extra: &[&str]) -> Wasmfn {
    let mut command = Command::new(support::WASMFN);
    command
        .arg("dev")
        .arg("--port=0")
        .arg("--functions")
        .arg(functions)
        .arg("--manifests")
        .arg(manifests)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("RUST_LOG", "info")
        .env_remove("WASMFN_LOG_FORMAT")
        .env_remove("PORT")
        // The dev endpoints must win over whatever the shell has.
        .env("BROKER_URL", "http://cluster.invalid/wasmfn/default")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Wasmfn::spawn(command)
}

/// Waits until `path` has a line, and returns the lines.
fn wait_for_lines(path: &Path, server: &Wasmfn) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "nothing was written to {}; log:\n{}",
            path.display(),
            server.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn the_seed_trade_reaches_the_kafka_sink_transformed_and_the_ping_fires() {
    let functions = FunctionsDir::new(
        &[
            "handler",
            "transformer",
            "subscriber",
            "simple",
            "dead-letter",
        ],
        "",
    );
    let out = tempfile::tempdir().unwrap();
    let server = dev(
        functions.path(),
        &repo("deploy/pipeline"),
        &repo("deploy/base/wasmfn.toml"),
        out.path(),
        &["--ping-now"],
    );

    // The README's request: the plain ce_type/ce_source form into /handler.
    let response = client()
        .post(format!("{}/handler", server.url))
        .header("ce_type", "my-trade")
        .header("ce_source", "my-exchange")
        .header("content-type", "application/json")
        .body(r#"{"id":"T-1001","px":101.25,"qty":5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "handler posts to the dev Broker");

    let records = wait_for_lines(&out.path().join("my-trades.jsonl"), &server);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["topic"], "my-trades");
    assert_eq!(record["key"], "T-1001", "key = partitionkey");
    assert_eq!(
        record["value"],
        json!({"trade_id": "T-1001", "price": 101.25})
    );
    assert_eq!(record["headers"]["ce_type"], "trade.transformed");
    assert_eq!(record["headers"]["ce_source"], "wasmfn/transformer");
    assert_eq!(record["headers"]["ce_partitionkey"], "T-1001");
    assert_eq!(record["headers"]["content-type"], "application/json");

    // --ping-now: the PingSource fired once at startup, into /simple.
    let line = server.wait_for_log("scheduled job ran");
    assert!(
        line.contains("/apis/v1/namespaces/wasmfn/pingsources/wasmfn-ping"),
        "{line}"
    );

    // The KafkaSink refuses what is not a CloudEvent.
    let sink = format!("{}/_dev/kafkasinks/wasmfn/my-trades", server.url);
    let refused = client().post(&sink).body("{}").send().await.unwrap();
    assert_eq!(refused.status(), 400);
}

/// A pipeline whose first Trigger sends everything from `/tests` to the evil
/// guest; the Broker retries twice, 10 ms apart, then dead-letters. The
/// second catches the evil guest's replies (`evil.ok`), which re-enter the
/// Broker, and shows them on the dead-letter function's log.
const FAILING_PIPELINE: &str = r#"
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
spec:
  delivery:
    retry: 2
    backoffPolicy: exponential
    backoffDelay: PT0.01S
    deadLetterSink:
      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: wasmfn}
      uri: /dead-letter
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: to-evil
spec:
  broker: default
  filter:
    attributes:
      source: /tests
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: wasmfn}
    uri: /evil
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: replies
spec:
  broker: default
  filter:
    attributes:
      type: evil.ok
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: wasmfn}
    uri: /dead-letter
"#;

#[tokio::test]
async fn deliveries_are_retried_then_dead_lettered_and_replies_reenter_the_broker() {
    let functions = FunctionsDir::new(&["evil", "dead-letter"], "");
    let manifests = tempfile::tempdir().unwrap();
    std::fs::write(manifests.path().join("pipeline.yaml"), FAILING_PIPELINE).unwrap();
    let config = manifests.path().join("wasmfn.toml.dev");
    std::fs::write(&config, "").unwrap();
    let out = tempfile::tempdir().unwrap();
    let server = dev(functions.path(), manifests.path(), &config, out.path(), &[]);
    let broker = "_dev/brokers/default/default";

    // `fail` → 500, which Knative retries: 1 try + 2 retries, then dead letter.
    let accepted = binary_event(&server.url, broker, "fail", "fail-1")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let dead = server.wait_for_log("dead letter: event fail-1");
    let evil = format!("{}/evil", server.url);
    assert!(
        dead.contains(&format!("failed at {evil} with status 500")),
        "knativeerrordest/knativeerrorcode: {dead}"
    );
    assert!(
        dead.contains(r#""type":"failed""#) && dead.contains("asked to fail"),
        "knativeerrordata is the base64 of the subscriber's body: {dead}"
    );
    let log = server.log();
    let retries = log
        .iter()
        .filter(|l| l.contains("delivery failed; retrying") && l.contains("id=fail-1"))
        .count();
    assert_eq!(
        retries,
        2,
        "retry: 2 means two retries; log:\n{}",
        log.join("\n")
    );
    let handoff = log
        .iter()
        .find(|l| {
            l.contains("sending the event to the dead-letter sink") && l.contains("id=fail-1")
        })
        .expect("the hand-off to the dead-letter sink is logged before the dead letter arrives");
    assert!(handoff.contains("attempts=3"), "{handoff}");

    // `invalid` → 422, which Knative does not retry: straight to dead letter.
    let accepted = binary_event(&server.url, broker, "invalid", "inv-1")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let dead = server.wait_for_log("dead letter: event inv-1");
    assert!(dead.contains("with status 422"), "{dead}");
    assert!(
        !server
            .log()
            .iter()
            .any(|l| l.contains("delivery failed; retrying") && l.contains("id=inv-1")),
        "a 422 must not be retried"
    );

    // `ok` → 200 with a reply event, which re-enters the Broker and matches
    // the second Trigger.
    let accepted = binary_event(&server.url, broker, "ok", "ok-1")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let reply = server.wait_for_log("(type evil.ok, source wasmfn/evil)");
    assert!(
        reply.contains("<no status>"),
        "a reply, not a dead letter: {reply}"
    );

    // Not a CloudEvent: the Broker answers 400 and delivers nothing.
    let refused = client()
        .post(format!("{}/{broker}", server.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn dev_serves_connections_with_the_limits_of_serve() {
    // `wasmfn dev` shares serve's connection loop: --max-header-bytes holds
    // (it was accepted and ignored when dev ran its own server).
    let functions = FunctionsDir::new(&["handler", "transformer", "simple"], "");
    let out = tempfile::tempdir().unwrap();
    let server = dev(
        functions.path(),
        &repo("deploy/pipeline"),
        &repo("deploy/base/wasmfn.toml"),
        out.path(),
        &["--max-header-bytes=8192"],
    );
    let response = client()
        .post(format!("{}/simple", server.url))
        .header("x-large", "x".repeat(16 * 1024))
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), 431),
        // hyper may close the connection before the client finishes writing.
        Err(err) => assert!(err.is_request() || err.is_body(), "{err:?}"),
    }
    let ok = binary_event(&server.url, "simple", "greeting", "after")
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
}
