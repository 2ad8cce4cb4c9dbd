//! Functions in Python, JavaScript and C, served by the real binary from the
//! modules `scripts/test.sh` builds once (componentize-py, componentize-js,
//! a `build` script running clang): every path of each SDK (outputs, data
//! kinds, settings, logs, `invalid`, `failed`, an uncaught exception, a bad
//! return value) on the `probe-py` / `probe-js` test guests;
//! `transformer-py` answering as the Rust `transformer` does for every trade
//! of a corpus; `handler-js`; the C command `trade-check`; and `wasmfn new
//! --lang python|js` + `wasmfn build` in a scratch workspace.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::support;
use serde_json::{Value, json};
use support::sink::Sink;
use support::workspace::{ScratchWorkspace, assert_success, build_table};
use support::{FunctionsDir, Wasmfn, binary_event, error_kind};

/// The transformer's settings, the same for the Rust and the Python one.
const TRANSFORMER_SETTINGS: &str = r#"env = { mapping = '{"trade_id":"/id","price":"/px","venue":"/meta/venue"}', partition_key = "trade_id", output_type = "trade.booked" }"#;

/// A functions directory holding `name` twice: `name` replying, and
/// `name-sink` sending its outputs to `sink`.
fn probe_dir(name: &str, sink: &Sink) -> FunctionsDir {
    let config = format!(
        "[functions.{name}]\nenv = {{ desk = \"fx\" }}\n\n\
         [functions.{name}-sink]\noutput = \"sink\"\nsink = \"{}\"\n",
        sink.url
    );
    let dir = FunctionsDir::new(&[name], &config);
    std::fs::copy(
        support::module(name),
        dir.path().join(format!("{name}-sink.wasm")),
    )
    .unwrap();
    dir
}

/// A probe event of type `ty` (the probe to run) with JSON data `data`.
async fn probe(
    server: &Wasmfn,
    function: &str,
    ty: &str,
    id: &str,
    data: &str,
) -> reqwest::Response {
    binary_event(&server.url, function, ty, id)
        .header("content-type", "application/json")
        .body(data.to_owned())
        .send()
        .await
        .unwrap()
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", response.headers()))
        .to_str()
        .unwrap()
}

/// Every path of the SDK of `name` (`probe-py` or `probe-js`), whose
/// uncaught exception is `crash` (type and message).
async fn every_sdk_path(name: &str, crash: &str) {
    let sink = Sink::start().await;
    let dir = probe_dir(name, &sink);
    let server = Wasmfn::serve(dir.path(), &[]);

    // The input comes back with every attribute kept and the changes made.
    let response = binary_event(&server.url, name, "echo", "e-echo")
        .header("content-type", "application/json")
        .header("ce-subject", "sub")
        .header("ce-time", "2024-05-01T12:00:00Z")
        .header("ce-dataschema", "https://example.com/schema")
        .header("ce-myext", "v")
        .body(r#"{"a": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{name} echo");
    assert_eq!(header(&response, "ce-type"), "echoed");
    assert_eq!(header(&response, "ce-source"), "/tests");
    assert_eq!(header(&response, "ce-subject"), "sub");
    assert_eq!(header(&response, "ce-time"), "2024-05-01T12:00:00Z");
    assert_eq!(
        header(&response, "ce-dataschema"),
        "https://example.com/schema"
    );
    assert_eq!(header(&response, "ce-myext"), "v");
    assert_eq!(header(&response, "ce-seen"), "yes");
    assert_eq!(header(&response, "content-type"), "application/json");
    assert_ne!(
        header(&response, "ce-id"),
        "e-echo",
        "the host sets output ids"
    );
    assert_eq!(response.text().await.unwrap(), r#"{"a": 1}"#);

    let response = probe(&server, name, "none", "e-none", "{}").await;
    assert_eq!(response.status(), 202, "{name} none");

    let response = probe(&server, name, "text", "e-text", "{}").await;
    assert_eq!(response.status(), 200, "{name} text");
    assert_eq!(
        header(&response, "content-type"),
        "text/plain; charset=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), "héllo");

    let response = probe(&server, name, "bytes", "e-bytes", "{}").await;
    assert_eq!(response.status(), 200, "{name} bytes");
    assert_eq!(
        header(&response, "content-type"),
        "application/octet-stream"
    );
    assert_eq!(header(&response, "ce-subject"), "raw");
    assert_eq!(response.bytes().await.unwrap().as_ref(), [0u8, 255]);

    for (key, value) in [("desk", json!("fx")), ("nope", Value::Null)] {
        let data = json!({ "key": key }).to_string();
        let response = probe(&server, name, "config", "e-config", &data).await;
        assert_eq!(response.status(), 200, "{name} config {key}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ key: value }), "{name}");
    }

    let (status, kind, message) =
        error_kind(probe(&server, name, "require", "e-req", "{}").await).await;
    assert_eq!(
        (status, kind.as_str()),
        (500, "failed"),
        "{name}: {message}"
    );
    assert!(
        message.contains("setting `missing` is not configured"),
        "{message}"
    );

    let response = probe(&server, name, "log", "e-log", "{}").await;
    assert_eq!(response.status(), 202, "{name} log");
    for level in ["info", "warn", "error"] {
        let line = server.wait_for_log(&format!("{name} {level} e-log"));
        assert!(line.contains(&level.to_uppercase()), "{line}");
        assert!(
            line.contains(&format!("function=\"{name}\"")) || line.contains(name),
            "{line}"
        );
    }

    let (status, kind, message) =
        error_kind(probe(&server, name, "invalid", "e-inv", "{}").await).await;
    assert_eq!(
        (status, kind.as_str()),
        (422, "invalid"),
        "{name}: {message}"
    );
    assert!(
        message.contains(&format!("{name} refuses e-inv")),
        "{message}"
    );

    let (status, kind, message) =
        error_kind(probe(&server, name, "failed", "e-fail", "{}").await).await;
    assert_eq!(
        (status, kind.as_str()),
        (500, "failed"),
        "{name}: {message}"
    );
    assert!(
        message.contains(&format!("{name} failed on e-fail")),
        "{message}"
    );

    let (status, kind, message) =
        error_kind(probe(&server, name, "json", "e-json", "{nope").await).await;
    assert_eq!(
        (status, kind.as_str()),
        (422, "invalid"),
        "{name}: {message}"
    );
    assert!(
        message.contains("event e-json data is not JSON"),
        "{message}"
    );

    // An uncaught exception is `failed` naming it (not a trap), and its
    // stack goes to the log.
    let (status, kind, message) =
        error_kind(probe(&server, name, "crash", "e-crash", "{}").await).await;
    assert_eq!(
        (status, kind.as_str()),
        (500, "failed"),
        "{name}: {message}"
    );
    assert!(message.contains(&format!("uncaught {crash}")), "{message}");
    server.wait_for_log(&format!("uncaught {crash}"));

    let (status, kind, message) =
        error_kind(probe(&server, name, "bad-return", "e-ret", "{}").await).await;
    assert_eq!(
        (status, kind.as_str()),
        (500, "failed"),
        "{name}: {message}"
    );
    assert!(message.contains("handle returned"), "{message}");

    // Still serving after every failure.
    let response = probe(&server, name, "echo", "e-again", "[1]").await;
    assert_eq!(response.status(), 200, "{name} echo after failures");

    // A list of events: each one reaches the sink, in order.
    let response = probe(&server, &format!("{name}-sink"), "many", "e-many", "{}").await;
    assert_eq!(response.status(), 202, "{name} many");
    let received = sink.received();
    assert_eq!(received.len(), 3, "{received:?}");
    for (n, event) in received.iter().enumerate() {
        assert_eq!(event.header("ce-type"), Some("part"));
        let data: Value = serde_json::from_slice(&event.body).unwrap();
        assert_eq!(data, json!({ "n": n }));
    }
}

#[tokio::test]
async fn python_sdk_paths() {
    every_sdk_path("probe-py", "ZeroDivisionError: ").await;
}

#[tokio::test]
async fn javascript_sdk_paths() {
    every_sdk_path("probe-js", "TypeError: ").await;
}

/// The trades the two transformers must agree on: strings, numbers,
/// nesting, non-ASCII, null, a number or object as the key, extra fields,
/// and two inputs both refuse.
fn corpus() -> Vec<String> {
    [
        json!({"id": "T-1", "px": 101.5, "meta": {"venue": "LME"}}),
        json!({"id": "T-2", "px": 99, "qty": 5, "meta": {"venue": "CME", "desk": [1, 2]}}),
        json!({"id": 42, "px": -0.5, "meta": {"venue": "ICE"}}),
        json!({"id": "T-ü", "px": 1e-7, "meta": {"venue": "Zürich \"Börse\""}}),
        json!({"id": "T-5", "px": {"bid": 1, "ask": 2.25}, "meta": {"venue": null}}),
        json!({"id": true, "px": 0, "meta": {"venue": "X"}}),
        json!({"id": {"b": [2], "a": 1}, "px": 1, "meta": {"venue": "V"}}),
        json!({"id": "T-8", "meta": {"venue": "no price"}}),
    ]
    .iter()
    .map(Value::to_string)
    .chain(["not json".to_owned()])
    .collect()
}

#[tokio::test]
async fn transformer_py_answers_as_the_rust_transformer() {
    let config = format!(
        "[functions.transformer]\n{TRANSFORMER_SETTINGS}\n\n[functions.transformer-py]\n{TRANSFORMER_SETTINGS}\n"
    );
    let dir = FunctionsDir::new(&["transformer", "transformer-py"], &config);
    let server = Wasmfn::serve(dir.path(), &[]);
    let mut answered = 0;
    for (i, trade) in corpus().into_iter().enumerate() {
        let id = format!("trade-{i}");
        let mut answers = Vec::new();
        for function in ["transformer", "transformer-py"] {
            let response = binary_event(&server.url, function, "my-trade", &id)
                .header("content-type", "application/json")
                .body(trade.clone())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let headers = ["ce-type", "ce-partitionkey", "ce-id", "content-type"].map(|h| {
                response
                    .headers()
                    .get(h)
                    .map(|v| v.to_str().unwrap().to_owned())
            });
            let body = response.bytes().await.unwrap();
            let body: Value = if status == 200 {
                serde_json::from_slice(&body).unwrap()
            } else {
                // Errors: the kind must agree; the messages may differ.
                serde_json::from_slice::<Value>(&body).unwrap()["error"]["type"].clone()
            };
            answers.push((status, headers, body));
        }
        assert_eq!(answers[0], answers[1], "trade {i}: {trade}");
        if answers[0].0 == 200 {
            answered += 1;
        } else {
            assert_eq!(answers[0].0, 422, "trade {i}: {trade}");
        }
    }
    assert_eq!(answered, 7, "the corpus has 7 trades that map");
}

#[tokio::test]
async fn handler_js_sees_orders_and_refuses_bad_ones() {
    let dir = FunctionsDir::new(
        &["handler-js"],
        "[functions.handler-js]\nenv = { desk = \"fx\" }\n",
    );
    let server = Wasmfn::serve(dir.path(), &[]);
    let response = probe(
        &server,
        "handler-js",
        "order",
        "o-1",
        r#"{"sku":"A-1","qty":2}"#,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ce-type"), "order.seen");
    assert_eq!(header(&response, "ce-partitionkey"), "A-1");
    assert_eq!(header(&response, "ce-subject"), "A-1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"sku": "A-1", "qty": 2, "desk": "fx"}));
    server.wait_for_log("order o-1: 2 x A-1");

    for (data, why) in [
        (r#"{"qty":1}"#, "no sku"),
        (r#"{"sku":"A","qty":0}"#, "positive integer"),
        ("[]", "JSON object"),
    ] {
        let (status, kind, message) =
            error_kind(probe(&server, "handler-js", "order", "o-2", data).await).await;
        assert_eq!(
            (status, kind.as_str()),
            (422, "invalid"),
            "{data}: {message}"
        );
        assert!(message.contains(why), "{data}: {message}");
    }
}

const TRADE_CHECK: &str = r#"
[functions.trade-check]
env = { desk = "fx", max_notional = "1000000" }
"#;

/// A trade POSTed to `function` as JSON data (or as `content_type`).
async fn trade(server: &Wasmfn, function: &str, id: &str, content_type: &str, data: &str) -> reqwest::Response {
    binary_event(&server.url, function, "my-trade", id)
        .header("content-type", content_type)
        .body(data.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn trade_check_c_checks_and_enriches_trades() {
    let dir = FunctionsDir::new(&["trade-check"], TRADE_CHECK);
    // The same module without its settings.
    std::fs::copy(
        support::module("trade-check"),
        dir.path().join("trade-check-unset.wasm"),
    )
    .unwrap();
    let server = Wasmfn::serve(dir.path(), &[]);
    let json = "application/json";

    // Success: every member kept, notional and desk added, keyed by the id.
    let data = r#"{"id":"T-1001","px":101.25,"qty":5,"side":"buy","venue":{"mic":"XLME"},"desk":"old"}"#;
    let response = trade(&server, "trade-check", "t-1", json, data).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ce-type"), "trade.checked");
    assert_eq!(header(&response, "ce-source"), "wasmfn/trade-check");
    assert_eq!(header(&response, "ce-subject"), "T-1001");
    assert_eq!(header(&response, "ce-partitionkey"), "T-1001");
    assert_eq!(header(&response, "content-type"), json);
    assert_ne!(header(&response, "ce-id"), "t-1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"id": "T-1001", "px": 101.25, "qty": 5, "side": "buy", "venue": {"mic": "XLME"},
               "notional": 506.25, "desk": "fx"})
    );
    server.wait_for_log(r#"trade "T-1001" checked: notional 506.25"#);

    // Invalid: 422, the message is the last stderr line, naming the trade.
    for (data, content_type, why) in [
        (r#"{"id":"T-2","px":-1,"qty":5}"#, json, r#"trade "T-2": `px` must be a positive number"#),
        (r#"{"id":"T-3","px":1,"qty":2.5}"#, json, r#"trade "T-3": `qty` must be a positive integer"#),
        (r#"{"id":"T-4","px":1,"qty":1,"side":"short"}"#, json, r#"trade "T-4": `side` must be"#),
        (
            r#"{"id":"T-5","px":1e6,"qty":2}"#,
            json,
            r#"trade "T-5": notional 2000000 is over the limit of 1000000 (setting max_notional)"#,
        ),
        (r#"{"px":1,"qty":1}"#, json, "the trade has no `id` (a non-empty string)"),
        ("[1, 2]", json, "the trade must be a JSON object"),
        ("id=T-6", "text/plain", "the event has no JSON data"),
    ] {
        let (status, kind, message) =
            error_kind(trade(&server, "trade-check", "t-bad", content_type, data).await).await;
        assert_eq!((status, kind.as_str()), (422, "invalid"), "{data}: {message}");
        assert!(message.contains(why), "{data}: {message}");
    }

    // A missing setting is a failure (500, retried), not the trade's fault.
    let (status, kind, message) =
        error_kind(trade(&server, "trade-check-unset", "t-9", json, data).await).await;
    assert_eq!((status, kind.as_str()), (500, "failed"), "{message}");
    assert!(
        message.contains("exited with status 78: setting `desk` is not configured"),
        "{message}"
    );

    // Still serving.
    let response = trade(&server, "trade-check", "t-10", json, data).await;
    assert_eq!(response.status(), 200);
}

#[test]
fn build_runs_a_c_functions_build_script() {
    let scratch = ScratchWorkspace::new();
    let out = scratch.path().join("out");
    let output = scratch.wasmfn(&["build", "--out", out.to_str().unwrap(), "trade-check"]);
    assert_success("wasmfn build trade-check", &output);
    let table = build_table(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(table.len(), 1, "{table:?}");
    assert_eq!(table[0].0, "trade-check");

    let config = scratch.path().join("wasmfn.toml");
    std::fs::write(&config, TRADE_CHECK).unwrap();
    let event = json!({"specversion": "1.0", "id": "e-1", "source": "tests", "type": "trade",
                       "datacontenttype": "application/json",
                       "data": {"id": "T-1", "px": 2.5, "qty": 4}});
    let (code, events, stderr) = run_in(
        &scratch,
        &out.join("trade-check.wasm"),
        &event,
        &["--config", config.to_str().unwrap(), "--name", "trade-check"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(events.len(), 1, "{stderr}");
    assert_eq!(
        events[0]["data"],
        json!({"id": "T-1", "px": 2.5, "qty": 4, "notional": 10, "desk": "fx"})
    );
}

/// `wasmfn run MODULE ARGS` on `event` in the scratch workspace: (exit
/// code, output events, stderr).
fn run_in(
    scratch: &ScratchWorkspace,
    module: &Path,
    event: &Value,
    args: &[&str],
) -> (Option<i32>, Vec<Value>, String) {
    let mut child = scratch
        .command(support::WASMFN)
        .arg("run")
        .arg(module)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(event.to_string().as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (
        output.status.code(),
        events,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn new_python_and_js_functions_pass_their_tests_build_and_run() {
    let scratch = ScratchWorkspace::new();
    let manifest = std::fs::read_to_string(scratch.path().join("Cargo.toml")).unwrap();
    let output = scratch.wasmfn(&["new", "my-py", "--lang", "python", "--kind", "transformer"]);
    assert_success("wasmfn new --lang python", &output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("pytest"));
    let output = scratch.wasmfn(&["new", "my-js", "--lang", "js", "--kind", "subscriber"]);
    assert_success("wasmfn new --lang js", &output);
    for file in [
        "my-py/app.py",
        "my-py/test_app.py",
        "my-js/index.js",
        "my-js/index.test.js",
    ] {
        assert!(
            scratch.path().join("functions").join(file).is_file(),
            "{file}"
        );
    }
    let unchanged = std::fs::read_to_string(scratch.path().join("Cargo.toml")).unwrap();
    assert_eq!(
        manifest, unchanged,
        "only Rust functions join the workspace"
    );
    let output = scratch.wasmfn(&["new", "my-py", "--lang", "js"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));

    // Their unit tests pass as generated (the commands `wasmfn new` prints).
    let pytest = scratch.path().join("guest-sdk/python/.venv/bin/pytest");
    let output = scratch
        .command(pytest.to_str().unwrap())
        .arg("functions/my-py")
        .output()
        .unwrap();
    assert_success("pytest functions/my-py", &output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("2 passed"));
    let output = scratch
        .command("node")
        .args([
            "--import",
            "./guest-sdk/js/testing.js",
            "--test",
            "functions/my-js/",
        ])
        .output()
        .unwrap();
    assert_success("node --test functions/my-js/", &output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("# pass 2"));

    let out = scratch.path().join("out");
    let output = scratch.wasmfn(&["build", "--out", out.to_str().unwrap(), "my-py", "my-js"]);
    assert_success("wasmfn build my-py my-js", &output);
    let table = build_table(&String::from_utf8_lossy(&output.stdout));
    let listed: Vec<&str> = table.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(listed, ["my-js", "my-py"]);

    let trade = json!({"id": "T-1", "px": 101.5});
    let event = json!({"specversion": "1.0", "id": "e-1", "source": "tests", "type": "trade",
                       "datacontenttype": "application/json", "data": trade});
    let (code, events, stderr) = run_in(&scratch, &out.join("my-py.wasm"), &event, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(events.len(), 1, "{stderr}");
    assert_eq!(events[0]["type"], "my-py.transformed");
    assert_eq!(events[0]["partitionkey"], "T-1");
    assert_eq!(
        events[0]["data"],
        json!({"id": "T-1", "from": "tests", "data": trade})
    );
    let (code, events, stderr) = run_in(&scratch, &out.join("my-js.wasm"), &event, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(events.is_empty());
    assert!(
        stderr.contains(r#"received trade from tests: {"id":"T-1","px":101.5}"#),
        "{stderr}"
    );
}

#[test]
fn build_names_the_missing_toolchain_and_how_to_get_it() {
    let scratch = ScratchWorkspace::new();
    for link in ["guest-sdk/python/.venv", "guest-sdk/js/node_modules"] {
        let _ = std::fs::remove_file(scratch.path().join(link));
    }
    for (function, tool, install) in [
        (
            "transformer-py",
            "componentize-py is not installed",
            "pip install componentize-py==0.25.1",
        ),
        ("handler-js", "esbuild is not installed", "npm ci --prefix"),
    ] {
        // PATH as it is, less any directory holding componentize-py.
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::env::split_paths(&path).filter(|dir| !dir.join("componentize-py").exists()),
        )
        .unwrap();
        let output = scratch
            .command(support::WASMFN)
            .args(["build", function])
            .env("PATH", path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{function}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(tool), "{stderr}");
        assert!(stderr.contains("scripts/install-toolchains.sh"), "{stderr}");
        assert!(stderr.contains(install), "{stderr}");
    }
}
