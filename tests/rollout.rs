//! Safe rollout of a function version (issue 14): a canary takes its weight
//! of the events by a stable hash of `source` + `id`, answers with its own
//! digest, is not served at its own route, and is rolled back by itself when
//! it fails — with no event lost or acknowledged without its outputs.

use std::collections::HashMap;

use serde_json::Value;

use crate::support;

use support::sink::Sink;
use support::{FunctionsDir, Wasmfn, binary_event, digest_of};

/// `svc` serves `handler` (forwards the event: 200, same type) with a canary
/// `svc-next.wasm`, a copy of `evil` (`ok` → 200 `evil.ok`, `panic` → 500
/// trap), configured by `rollout`.
fn start(rollout: &str) -> (FunctionsDir, Wasmfn) {
    let config = format!("[functions.svc]\n{rollout}");
    let dir = FunctionsDir::new(&[], &config);
    std::fs::copy(support::module("handler"), dir.path().join("svc.wasm")).unwrap();
    std::fs::copy(support::module("evil"), dir.path().join("svc-next.wasm")).unwrap();
    let server = Wasmfn::serve(dir.path(), &[]);
    (dir, server)
}

async fn send(server: &Wasmfn, ty: &str, id: &str) -> reqwest::Response {
    binary_event(&server.url, "svc", ty, id)
        .header("content-type", "application/json")
        .body(format!(r#"{{"id":"{id}"}}"#))
        .send()
        .await
        .unwrap()
}

/// `/functions`' versions of `svc`, by version label.
async fn versions(server: &Wasmfn) -> HashMap<String, Value> {
    let functions = support::get_json(&server.url, "/functions").await;
    let svc = functions
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "svc")
        .unwrap_or_else(|| panic!("svc is listed: {functions}"));
    svc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

async fn metrics(server: &Wasmfn) -> String {
    support::get_text(&server.url, "/metrics").await
}

fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.split(' ').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn a_canary_takes_its_weight_of_distinct_ids_and_an_id_sticks_to_its_version() {
    let (_dir, server) = start("canary = { source = \"svc-next.wasm\", weight = 25 }\n");
    let listed = versions(&server).await;
    let canary = listed["canary"]["digest"].as_str().unwrap().to_owned();
    let serving = listed["serving"]["digest"].as_str().unwrap().to_owned();
    assert_ne!(canary, serving);
    assert_eq!(
        (&listed["canary"]["weight"], &listed["canary"]["state"]),
        (&Value::from(25), &Value::from("active"))
    );
    assert_eq!(listed["serving"]["weight"], 75);

    const EVENTS: usize = 400;
    let mut chosen = HashMap::new();
    for i in 0..EVENTS {
        let id = format!("e-{i}");
        let response = send(&server, "ok", &id).await;
        assert_eq!(response.status(), 200, "{id}");
        let digest = digest_of(&response);
        // The digest names the version that answered: its output says so.
        let expected_type = if digest == canary { "evil.ok" } else { "ok" };
        assert!(digest == canary || digest == serving, "{digest}");
        assert_eq!(response.headers()["ce-type"], expected_type, "{id}");
        chosen.insert(id, digest);
    }
    let to_canary = chosen.values().filter(|d| **d == canary).count();
    // Binomial(400, 0.25): mean 100, standard deviation 8.7; 5 deviations.
    assert!(
        (57..=143).contains(&to_canary),
        "{to_canary} of {EVENTS} events went to the canary"
    );

    // A redelivery reaches the version its first delivery did.
    for i in 0..40 {
        let id = format!("e-{i}");
        let response = send(&server, "ok", &id).await;
        assert_eq!(digest_of(&response), chosen[&id], "{id} moved");
    }

    // The canary's file is not a function of its own.
    let response = binary_event(&server.url, "svc-next", "ok", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let text = metrics(&server).await;
    let canary_ok = sample(
        &text,
        r#"wasmfn_events_total{function="svc",version="canary",outcome="ok"}"#,
    );
    let serving_ok = sample(
        &text,
        r#"wasmfn_events_total{function="svc",version="serving",outcome="ok"}"#,
    );
    let redelivered = (0..40)
        .filter(|i| chosen[&format!("e-{i}")] == canary)
        .count();
    assert_eq!(canary_ok, Some((to_canary + redelivered) as f64), "{text}");
    assert_eq!(
        serving_ok,
        Some((EVENTS + 40 - to_canary - redelivered) as f64),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#"wasmfn_module_info{{function="svc",version="canary",digest="{canary}"}} 1"#
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_canary_that_traps_is_rolled_back_and_no_event_is_lost() {
    const MIN_EVENTS: usize = 10;
    let (_dir, server) = start(&format!(
        "canary = {{ source = \"svc-next.wasm\", weight = 50 }}\n\
         rollback = {{ max_error_rate = 0.05, min_events = {MIN_EVENTS}, window_s = 600 }}\n"
    ));
    let listed = versions(&server).await;
    let serving = listed["serving"]["digest"].as_str().unwrap().to_owned();
    let canary = listed["canary"]["digest"].as_str().unwrap().to_owned();

    // Every event either answers 200 with its output (the serving version
    // forwards it) or fails with a 5xx Knative retries; never a 2xx
    // without its output.
    let mut failed = Vec::new();
    for i in 0..200 {
        let id = format!("p-{i}");
        let response = send(&server, "panic", &id).await;
        match response.status().as_u16() {
            200 => {
                assert_eq!(digest_of(&response), serving, "{id}");
                assert_eq!(response.headers()["ce-type"], "panic", "{id}: its output");
            }
            500 => {
                assert_eq!(digest_of(&response), canary, "{id}");
                failed.push(id);
            }
            other => panic!("{id}: {other}"),
        }
    }
    // Cut off at the min_events-th canary failure, then given nothing.
    assert_eq!(failed.len(), MIN_EVENTS, "{failed:?}");

    // Knative's retry of each failed event now reaches the serving version.
    for id in &failed {
        let response = send(&server, "panic", id).await;
        assert_eq!(response.status(), 200, "retry of {id}");
        assert_eq!(digest_of(&response), serving, "retry of {id}");
        assert_eq!(response.headers()["ce-type"], "panic", "retry of {id}: its output");
    }

    let listed = versions(&server).await;
    assert_eq!(listed["canary"]["state"], "rolled_back", "{listed:?}");
    assert_eq!(listed["canary"]["weight"], 0);
    assert_eq!(listed["serving"]["weight"], 100);
    let ready = support::get_json(&server.url, "/readyz").await;
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["rolled_back"][0]["name"], "svc", "{ready}");
    assert_eq!(ready["rolled_back"][0]["canary"], canary.as_str(), "{ready}");
    let text = metrics(&server).await;
    assert_eq!(
        sample(&text, r#"wasmfn_rollbacks_total{function="svc"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"wasmfn_events_total{function="svc",version="canary",outcome="trap"}"#
        ),
        Some(MIN_EVENTS as f64),
        "{text}"
    );
    let warning = server.wait_for_log("canary rolled back");
    assert!(warning.contains("WARN") && warning.contains("svc"), "{warning}");
}

/// `svc` serves `handler` with the shadow `svc-next.wasm`, a copy of
/// `shadow_module`, configured by `config` (with `output`/`sink` keys);
/// `env` for the server.
fn start_shadow(shadow_module: &str, config: &str, env: &[(&str, &str)]) -> (FunctionsDir, Wasmfn) {
    let config = format!(
        "[functions.svc]\nshadow = {{ source = \"svc-next.wasm\", sample = 100 }}\n{config}"
    );
    let dir = FunctionsDir::new(&[], &config);
    std::fs::copy(support::module("handler"), dir.path().join("svc.wasm")).unwrap();
    std::fs::copy(
        support::module(shadow_module),
        dir.path().join("svc-next.wasm"),
    )
    .unwrap();
    let server = Wasmfn::serve(dir.path(), env);
    (dir, server)
}

/// The shadow's results in `/functions`, once they add up to `runs`
/// (shadow runs finish after the answer, on their own task).
async fn shadow_results(server: &Wasmfn, runs: u64) -> HashMap<String, u64> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let listed = versions(server).await;
        let results: HashMap<String, u64> = listed["shadow"]["results"]
            .as_object()
            .unwrap_or_else(|| panic!("a shadow lists its results: {listed:?}"))
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        if results.values().sum::<u64>() >= runs {
            return results;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "shadow runs still missing: {results:?} of {runs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn shadow_outputs_never_leave_the_host_and_differences_and_errors_are_counted() {
    let sink = Sink::start().await;
    let (_dir, server) = start_shadow(
        "evil",
        "output = \"sink\"\nsink = \"${SINK_URL}\"\n",
        &[("SINK_URL", &sink.url)],
    );
    let listed = versions(&server).await;
    assert_eq!(listed["shadow"]["sample"], 100, "{listed:?}");
    assert_eq!(listed["shadow"]["state"], "active");
    assert_eq!(listed["shadow"]["weight"], 0);
    assert_eq!(listed["serving"]["weight"], 100);
    let serving = listed["serving"]["digest"].as_str().unwrap().to_owned();
    let shadow = listed["shadow"]["digest"].as_str().unwrap().to_owned();
    assert_ne!(serving, shadow);

    // `ok`: the shadow answers `evil.ok` where the serving version forwards
    // `ok` (a mismatch); `panic`: the shadow traps (an error). Each event's
    // shadow run is awaited before the next, so none is shed.
    let mut runs = 0;
    for (ty, count) in [("ok", 20), ("panic", 10)] {
        for i in 0..count {
            let id = format!("{ty}-{i}");
            let response = send(&server, ty, &id).await;
            assert_eq!(response.status(), 202, "{id}: the real answer");
            assert_eq!(digest_of(&response), serving, "{id}");
            runs += 1;
            shadow_results(&server, runs).await;
        }
    }
    let results = shadow_results(&server, runs).await;
    assert_eq!(results["mismatch"], 20, "{results:?}");
    assert_eq!(results["error"], 10, "{results:?}");
    assert_eq!((results["match"], results["shed"]), (0, 0), "{results:?}");

    // Only the serving version's outputs reached the sink.
    let received = sink.received();
    assert_eq!(received.len(), 30, "{received:?}");
    for request in &received {
        let ty = request.header("ce-type").unwrap();
        assert!(ty == "ok" || ty == "panic", "a shadow output left the host: {ty}");
    }

    let text = metrics(&server).await;
    for (result, expected) in [("mismatch", 20.0), ("error", 10.0)] {
        assert_eq!(
            sample(
                &text,
                &format!(r#"wasmfn_shadow_runs_total{{function="svc",result="{result}"}}"#)
            ),
            Some(expected),
            "{text}"
        );
    }
    for (outcome, expected) in [("ok", 20.0), ("trap", 10.0)] {
        assert_eq!(
            sample(
                &text,
                &format!(
                    r#"wasmfn_events_total{{function="svc",version="shadow",outcome="{outcome}"}}"#
                )
            ),
            Some(expected),
            "{text}"
        );
    }
    assert_eq!(
        sample(
            &text,
            r#"wasmfn_events_total{function="svc",version="serving",outcome="ok"}"#
        ),
        Some(30.0),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#"wasmfn_module_info{{function="svc",version="shadow",digest="{shadow}"}} 1"#
        )),
        "{text}"
    );

    // A mismatch is logged naming what differs, never a value; only the
    // first few per minute.
    let lines = server.wait_for_log_lines("shadow output differs", 1);
    assert!(
        lines[0].contains("WARN") && lines[0].contains("output 0: type, source"),
        "{}",
        lines[0]
    );
    assert!(lines.len() <= 10, "every mismatch logged: {}", lines.len());

    // The shadow's file is not a function of its own.
    let response = binary_event(&server.url, "svc-next", "ok", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_shadow_of_the_same_module_matches() {
    let (_dir, server) = start_shadow("handler", "", &[]);
    for i in 0..10 {
        let id = format!("m-{i}");
        let response = send(&server, "ok", &id).await;
        assert_eq!(response.status(), 200, "{id}");
        assert_eq!(response.headers()["ce-type"], "ok", "{id}");
        shadow_results(&server, i + 1).await;
    }
    let results = shadow_results(&server, 10).await;
    assert_eq!(results["match"], 10, "{results:?}");
    let text = metrics(&server).await;
    assert_eq!(
        sample(
            &text,
            r#"wasmfn_shadow_runs_total{function="svc",result="match"}"#
        ),
        Some(10.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"wasmfn_shadow_runs_total{function="svc",result="mismatch"}"#),
        None,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_from_a_registry_takes_its_weight() {
    let registry = support::registry::Registry::start();
    let pushed = crate::registry::push(
        &support::module("evil"),
        &format!("{}/fns/svc-next:v2", registry.host),
        &[],
    );
    let dir = FunctionsDir::new(
        &[],
        &format!(
            "[functions.svc]\ncanary = {{ source = \"oci://{pushed}\", weight = 100 }}\n"
        ),
    );
    std::fs::copy(support::module("handler"), dir.path().join("svc.wasm")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = Wasmfn::serve(
        dir.path(),
        &[("WASMFN_CACHE_DIR", cache.path().to_str().unwrap())],
    );
    let evil = wasmfn::routing::digest(&std::fs::read(support::module("evil")).unwrap());
    let listed = versions(&server).await;
    assert_eq!(listed["canary"]["digest"], evil.as_str(), "{listed:?}");
    assert_eq!(listed["canary"]["weight"], 100);
    for i in 0..10 {
        let id = format!("o-{i}");
        let response = send(&server, "ok", &id).await;
        assert_eq!(response.status(), 200, "{id}");
        assert_eq!(digest_of(&response), evil, "{id}");
        assert_eq!(response.headers()["ce-type"], "evil.ok", "{id}");
    }
}
