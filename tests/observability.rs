//! What an operator sees of a running `wasmfn serve`: `GET /metrics` counts
//! real requests by outcome, their latency and instantiation, sink retries
//! and the module version; a W3C `traceparent` is continued to the sink and
//! tags the event's JSON log lines; `GET /functions` describes what is loaded
//! without secret values; functions named like the endpoints stay reachable.

use crate::support;

use serde_json::{Value, json};
use support::sink::Sink;
use support::{FunctionsDir, Wasmfn, binary_event, client, error_kind};

/// The trace the caller is in (the W3C spec's example).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const TRACESTATE: &str = "congo=t61rcWkgMzE";

fn traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-{PARENT_ID}-01")
}

/// The value of one series (`name{labels}`) in a metrics exposition.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.split(' ').next().unwrap().parse().unwrap())
}

async fn get_metrics(server: &Wasmfn) -> String {
    let response = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The JSON log line of the event whose trace-id is `trace_id` and whose
/// message contains `needle` (waiting for it: the log is read by a thread).
fn json_log(server: &Wasmfn, trace_id: &str, needle: &str) -> Value {
    server.wait_for_log(trace_id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = server
            .log()
            .into_iter()
            .find(|l| l.contains(trace_id) && l.contains(needle));
        if let Some(line) = found {
            let record: Value = serde_json::from_str(&line).expect("a JSON log line");
            assert_eq!(record["span"]["trace_id"], trace_id, "{record}");
            return record;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line of trace {trace_id} contains {needle:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test]
async fn metrics_and_trace_context_follow_real_requests() {
    let sink = Sink::start().await;
    // The first delivery fails transiently and is retried.
    sink.script(&[(503, "busy")]);
    let dir = FunctionsDir::new(
        &["evil", "handler"],
        "[delivery]\nattempts = 3\ninitial_backoff_ms = 10\n\
         [functions.handler]\noutput = \"sink\"\nsink = \"${BROKER_URL}\"\n",
    );
    let server = Wasmfn::serve(
        dir.path(),
        &[
            ("BROKER_URL", sink.url.as_str()),
            ("WASMFN_LOG_FORMAT", "json"),
            ("RUST_LOG", "info,wasmfn=debug"),
        ],
    );

    // ok, invalid, failed (the last with a trace to find its error log by).
    let ok = binary_event(&server.url, "evil", "ok", "e-1")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let digest = ok.headers()["wasmfn-module-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let invalid = binary_event(&server.url, "evil", "invalid", "e-2");
    assert_eq!(error_kind(invalid.send().await.unwrap()).await.1, "invalid");
    let failed_trace = "0af7651916cd43dd8448eb211c80319c";
    let failed = binary_event(&server.url, "evil", "fail", "e-3")
        .header("traceparent", traceparent(failed_trace))
        .send()
        .await
        .unwrap();
    assert_eq!(error_kind(failed).await.1, "failed");

    // A traced event into the sink-mode handler: 503, then 202.
    let response = binary_event(&server.url, "handler", "my-trade", "T-1")
        .header("traceparent", traceparent(TRACE_ID))
        .header("tracestate", TRACESTATE)
        .header("content-type", "application/json")
        .body(r#"{"id":"T-1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let received = sink.received();
    assert_eq!(received.len(), 2, "one retry");
    for try_ in &received {
        let sent = try_.header("traceparent").expect("a traceparent");
        let parts: Vec<&str> = sent.split('-').collect();
        assert_eq!(parts.len(), 4, "{sent}");
        assert_eq!(parts[1], TRACE_ID, "same trace: {sent}");
        assert_ne!(parts[2], PARENT_ID, "a new parent-id for the hop: {sent}");
        assert_eq!(parts[2].len(), 16, "{sent}");
        assert_eq!(try_.header("tracestate"), Some(TRACESTATE));
    }

    // Structured mode: the CloudEvents traceparent extension is continued.
    let structured_trace = "11112222333344445555666677778888";
    let response = client()
        .post(format!("{}/handler", server.url))
        .header("content-type", "application/cloudevents+json")
        .body(
            json!({"specversion": "1.0", "id": "T-2", "source": "/tests", "type": "my-trade",
                   "traceparent": traceparent(structured_trace), "data": {"id": "T-2"}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let sent = sink.received()[2].header("traceparent").unwrap().to_owned();
    assert!(
        sent.starts_with(&format!("00-{structured_trace}-")),
        "{sent}"
    );

    // A malformed traceparent is ignored: a new trace starts.
    let response = binary_event(&server.url, "handler", "my-trade", "T-3")
        .header("traceparent", "00-not-a-trace")
        .header("content-type", "application/json")
        .body(r#"{"id":"T-3"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let sent = sink.received()[3].header("traceparent").unwrap().to_owned();
    assert_eq!(sent.len(), 55, "{sent}");
    assert!(!sent.contains(TRACE_ID) && !sent.contains(structured_trace));

    let metrics = get_metrics(&server).await;
    let expect = [
        (r#"wasmfn_events_total{function="evil",version="serving",outcome="ok"}"#, 1.0),
        (
            r#"wasmfn_events_total{function="evil",version="serving",outcome="invalid"}"#,
            1.0,
        ),
        (
            r#"wasmfn_events_total{function="evil",version="serving",outcome="failed"}"#,
            1.0,
        ),
        (
            r#"wasmfn_events_total{function="handler",version="serving",outcome="ok"}"#,
            3.0,
        ),
        (
            r#"wasmfn_event_duration_seconds_count{function="evil",version="serving"}"#,
            3.0,
        ),
        (
            r#"wasmfn_event_duration_seconds_count{function="handler",version="serving"}"#,
            3.0,
        ),
        (
            r#"wasmfn_instantiation_duration_seconds_count{function="evil",version="serving"}"#,
            3.0,
        ),
        (
            r#"wasmfn_sink_retries_total{function="handler",version="serving",status="503"}"#,
            1.0,
        ),
        (
            r#"wasmfn_sink_deliveries_total{function="handler",version="serving",status="202"}"#,
            3.0,
        ),
        (
            &format!(r#"wasmfn_module_info{{function="evil",version="serving",digest="{digest}"}}"#),
            1.0,
        ),
        ("wasmfn_reloads_total", 0.0),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&metrics, series), Some(value), "{series}\n{metrics}");
    }
    let loaded = sample(
        &metrics,
        r#"wasmfn_module_loaded_timestamp_seconds{function="evil",version="serving"}"#,
    )
    .unwrap();
    assert!(loaded > 1.7e9, "a Unix time: {loaded}");

    // Every log line of a traced event carries its trace-id and span fields.
    let retry = json_log(&server, TRACE_ID, "retrying sink delivery");
    assert_eq!(retry["span"]["function"], "handler", "{retry}");
    assert_eq!(retry["span"]["id"], "T-1", "{retry}");
    assert!(
        retry["span"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    json_log(&server, TRACE_ID, "event handled");
    let error = json_log(&server, failed_trace, "asked to fail");
    assert_eq!(error["span"]["function"], "evil", "{error}");
    assert_eq!(error["fields"]["kind"], "failed", "{error}");
}

#[tokio::test]
async fn functions_describes_what_is_loaded_without_secret_values() {
    const SECRET: &str = "tok-77c1-very-secret";
    let secrets = tempfile::tempdir().unwrap();
    let env_file = secrets.path().join("my-secrets.env");
    std::fs::write(&env_file, format!("export API_TOKEN=\"{SECRET}\"\n")).unwrap();
    let config = format!(
        "default = \"handler\"\n\
         [functions.handler]\nenv = {{ desk = \"fx\" }}\nenv_files = [\"{}\"]\n\
         [functions.evil]\noutput = \"sink\"\nsink = \"http://user:pw-secret@127.0.0.1:9/in?token=qs-secret\"\n\
         [functions.evil.limits]\ntimeout_ms = 1500\nmax_concurrency = 7\n",
        env_file.display()
    );
    let dir = FunctionsDir::new(&["evil", "handler"], &config);
    // A function named like an endpoint.
    std::fs::copy(support::module("evil"), dir.path().join("metrics.wasm")).unwrap();
    let server = Wasmfn::serve(dir.path(), &[]);

    // POST reaches the function `metrics`; GET stays the host's.
    let response = binary_event(&server.url, "metrics", "ok", "m-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["ce-type"], "evil.ok");
    let digest = response.headers()["wasmfn-module-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, kind, _) = error_kind(
        binary_event(&server.url, "functions", "ok", "f-1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, kind.as_str()), (404, "not_found"));
    let metrics = get_metrics(&server).await;
    assert_eq!(
        sample(
            &metrics,
            r#"wasmfn_events_total{function="metrics",version="serving",outcome="ok"}"#
        ),
        Some(1.0)
    );

    let response = client()
        .get(format!("{}/functions", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(SECRET), "secret leaked: {text}");
    assert!(
        !text.contains("pw-secret") && !text.contains("qs-secret"),
        "{text}"
    );
    let functions: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = functions
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["evil", "handler", "metrics"]);

    let evil = &functions[0];
    assert_eq!(evil["route"], "POST /evil");
    assert_eq!(evil["output"], "sink");
    assert_eq!(evil["sink"], "http://redacted@127.0.0.1:9/in?redacted");
    assert_eq!(evil["limits"]["timeout_ms"], 1500);
    assert_eq!(evil["limits"]["max_concurrency"], 7);
    assert_eq!(evil["limits"]["memory_mb"], 64, "the host default");
    assert_eq!(evil["default"], false);

    let handler = &functions[1];
    assert_eq!(handler["default"], true);
    assert_eq!(handler["output"], "reply");
    assert!(handler.get("sink").is_none(), "{handler}");
    assert_eq!(handler["settings"], json!(["API_TOKEN", "desk"]));
    assert_eq!(handler["events"], json!({"ok": 0}));
    let size = std::fs::metadata(support::module("handler")).unwrap().len();
    assert_eq!(handler["size"], size);

    let named_metrics = &functions[2];
    assert_eq!(named_metrics["digest"], digest.as_str());
    assert_eq!(named_metrics["events"], json!({"ok": 1}));
    let loaded_at = named_metrics["loaded_at"].as_str().unwrap();
    assert!(
        loaded_at.ends_with('Z') && loaded_at.len() == 24,
        "{loaded_at}"
    );

    // The startup summary: one block naming every function, redacted.
    server.wait_for_log("serving 3 function(s)");
    let log = server.log().join("\n");
    assert!(
        log.contains("sink http://redacted@127.0.0.1:9/in?redacted"),
        "{log}"
    );
    assert!(log.contains(&digest), "{log}");
    assert!(log.contains("POST /handler"), "{log}");
    assert!(!log.contains(SECRET) && !log.contains("pw-secret"), "{log}");
}

/// Polls `/metrics` until `done` holds for it (reloads run in the background).
async fn metrics_until(server: &Wasmfn, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let metrics = get_metrics(server).await;
        if done(&metrics) {
            return metrics;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {what}:\n{metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Sends `request` and returns the digest of the module that served it.
async fn served_digest(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().headers()["wasmfn-module-digest"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn reloads_move_module_info_and_are_counted() {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(dir.path(), &[("WASMFN_POLL_SECS", "1")]);
    let old = served_digest(binary_event(&server.url, "evil", "ok", "r-1")).await;
    let old_info = format!(r#"wasmfn_module_info{{function="evil",version="serving",digest="{old}"}}"#);
    assert_eq!(sample(&get_metrics(&server).await, &old_info), Some(1.0));

    // A new version, renamed into place so no reload sees half a file: the
    // info series moves to its digest.
    let target = dir.path().join("evil.wasm");
    let staged = dir.path().join(".evil.wasm.tmp");
    std::fs::copy(support::module("handler"), &staged).unwrap();
    std::fs::rename(&staged, &target).unwrap();
    let metrics = metrics_until(&server, "the new version", |m| {
        !m.contains(&old_info) && m.contains(r#"wasmfn_module_info{function="evil",version="serving""#)
    })
    .await;
    assert!(sample(&metrics, "wasmfn_reloads_total").unwrap() >= 1.0);
    assert_eq!(sample(&metrics, "wasmfn_failed_reloads_total"), Some(0.0));

    // A broken version is a failed reload; the previous version stays.
    std::fs::write(&target, b"not a component").unwrap();
    let metrics = metrics_until(&server, "a failed reload", |m| {
        sample(m, "wasmfn_failed_reloads_total").is_some_and(|n| n >= 1.0)
    })
    .await;
    let new = served_digest(
        binary_event(&server.url, "evil", "ok", "r-2")
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    assert_ne!(new, old);
    let new_info = format!(r#"wasmfn_module_info{{function="evil",version="serving",digest="{new}"}}"#);
    assert_eq!(sample(&metrics, &new_info), Some(1.0), "{metrics}");
}
