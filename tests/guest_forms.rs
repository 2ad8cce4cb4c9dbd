//! Guest forms beyond the SDK component: any wasm32-wasi (preview 1)
//! program run as a command per event (`evil-c`, a C program built by its
//! `build` script), components with many core instances, and instances kept
//! warm between events (`instances = "reused"`).

use crate::support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{FunctionsDir, Wasmfn, binary_event, error_kind};

async fn ask(server: &Wasmfn, function: &str, what: &str) -> reqwest::Response {
    binary_event(&server.url, function, what, &format!("{what}-1"))
        .send()
        .await
        .unwrap()
}

const COMMAND_CONFIG: &str = r#"
[functions.evil-c]
env = { desk = "fx-desk", token = "s3cr3t" }
[functions.evil-c.limits]
timeout_ms = 400
max_output_bytes = 1024
"#;

fn serve_command() -> (FunctionsDir, Wasmfn) {
    let dir = FunctionsDir::new(&["evil-c"], COMMAND_CONFIG);
    let server = Wasmfn::serve(dir.path(), &[("WASMFN_MEMORY_MB", "32")]);
    (dir, server)
}

#[tokio::test]
async fn a_wasi_command_gets_the_event_on_stdin_and_answers_on_stdout() {
    let (_dir, server) = serve_command();

    // JSON data arrives as `data`; the output line becomes the reply, with
    // the host's id and specversion.
    let response = binary_event(&server.url, "evil-c", "ok", "trade-7")
        .header("content-type", "application/json")
        .header("ce-subject", "in")
        .body(r#"{"price": 10}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["ce-type"], "evil-c.ok");
    assert_eq!(headers["ce-source"], "wasmfn/evil-c");
    assert_eq!(headers["ce-subject"], "fx-desk", "the `desk` setting");
    assert_eq!(headers["ce-partitionkey"], "k");
    assert_eq!(headers["ce-specversion"], "1.0");
    let id = headers["ce-id"].to_str().unwrap().to_owned();
    assert!(!id.is_empty() && id != "trade-7", "{id}");
    let stdin: serde_json::Value = response.json().await.unwrap();
    assert_eq!(stdin["data"], serde_json::json!({"price": 10}));
    assert_eq!(stdin["id"], "trade-7");
    assert_eq!(stdin["type"], "ok");
    assert_eq!(stdin["source"], "/tests");
    assert_eq!(stdin["subject"], "in");
    assert_eq!(stdin["specversion"], "1.0");

    // The same input again: the same output id.
    let again = binary_event(&server.url, "evil-c", "ok", "trade-7")
        .header("content-type", "application/json")
        .body(r#"{"price": 10}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["ce-id"].to_str().unwrap(), id);

    // Other data arrives as `data_base64`.
    let response = binary_event(&server.url, "evil-c", "ok", "text-1")
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    let stdin: serde_json::Value = response.json().await.unwrap();
    assert_eq!(stdin["data_base64"], "aGk=");
    assert!(stdin.get("data").is_none(), "{stdin}");

    // No output line: 202.
    assert_eq!(ask(&server, "evil-c", "none").await.status(), 202);

    // Stderr lines are the function's log records.
    let line = server.wait_for_log("evil-c got a ok event");
    assert!(line.contains("evil-c"), "{line}");
}

#[tokio::test]
async fn a_command_sees_only_its_settings_and_no_args_files_or_sockets() {
    let (_dir, server) = serve_command();
    let response = ask(&server, "evil-c", "env").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["ce-subject"],
        "argc=0;desk=fx-desk;token=s3cr3t"
    );
    let response = ask(&server, "evil-c", "open-file").await;
    assert_eq!(response.status(), 200);
    assert_ne!(response.headers()["ce-subject"], "opened");
}

#[tokio::test]
async fn exit_codes_traps_and_limits_of_a_command_map_to_statuses() {
    let (_dir, server) = serve_command();
    let expectations = [
        ("invalid", 422, "invalid", "the trade has no id"),
        (
            "fail",
            500,
            "failed",
            "exited with status 3: the database is down",
        ),
        ("trap", 500, "trap", "unreachable"),
        ("bad-output", 422, "output", "stdout line 1"),
        ("two", 422, "output", "2 "),
        ("loop", 503, "timeout", "400 ms"),
        ("alloc", 422, "memory", "32 MiB"),
        ("flood", 422, "output", "stdout"),
    ];
    for (what, status, kind, message) in expectations {
        let (got_status, got_kind, got_message) =
            error_kind(ask(&server, "evil-c", what).await).await;
        assert_eq!(
            (got_status, got_kind.as_str()),
            (status, kind),
            "{what}: {got_message}"
        );
        assert!(got_message.contains(message), "{what}: {got_message}");
        let ok = ask(&server, "evil-c", "none").await;
        assert_eq!(ok.status(), 202, "the host still serves after `{what}`");
    }
    // Every stderr line is logged, not only the last.
    server.wait_for_log("looking at the trade");
    assert!(
        !server.log().iter().any(|line| line.contains("s3cr3t")),
        "a setting's value reached the log"
    );
}

#[tokio::test]
async fn a_memory_limit_below_a_modules_minimum_is_a_load_error() {
    // evil-c's memory starts at 4 MiB (its build script asks for it).
    let dir = FunctionsDir::new(&["evil-c"], "[functions.evil-c.limits]\nmemory_mb = 2\n");
    let output = serve_until_exit(dir.path(), &[]);
    assert!(
        output.contains("functions.evil-c.limits.memory_mb = 2") && output.contains("at least 4"),
        "{output}"
    );
    let dir = FunctionsDir::new(&["evil-c"], "");
    let output = serve_until_exit(dir.path(), &[("WASMFN_MEMORY_MB", "2")]);
    assert!(output.contains("--memory-mb"), "{output}");
}

#[tokio::test]
async fn anything_but_a_component_or_a_command_is_refused_naming_the_forms() {
    let dir = FunctionsDir::new(&[], "");
    std::fs::write(dir.path().join("text.wasm"), "(module)").unwrap();
    // Reported for that name only; the host serves the rest.
    let server = Wasmfn::serve(dir.path(), &[]);
    let output = server.wait_for_log("not a WebAssembly binary");
    assert!(
        output.contains("Rust SDK")
            && output.contains("Python or JavaScript")
            && output.contains("`_start`"),
        "{output}"
    );
    assert!(!output.contains("(module)"), "quotes the file: {output}");
}

/// Runs `wasmfn serve` on `dir`, which must fail to start; returns its log.
fn serve_until_exit(dir: &std::path::Path, env: &[(&str, &str)]) -> String {
    let mut child = Command::new(support::WASMFN)
        .arg("serve")
        .env("PORT", "0")
        .env("WASMFN_FUNCTIONS", dir)
        .env_remove("WASMFN_LOG_FORMAT")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("wasmfn serve started although it should not have");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A `wasmfn:function` component, written in WAT, whose `handle` answers
/// with no output events and which instantiates `extra` more (empty) core
/// modules: a stand-in for interpreters (a componentize-py guest
/// instantiates 15 core instances per event).
fn many_instances_component(extra: usize) -> Vec<u8> {
    component_with(&"(core instance (instantiate $empty))\n".repeat(extra))
}

/// A `wasmfn:function` component like [`many_instances_component`] whose
/// nested component, of `inner` (empty) core instances, is instantiated
/// twice: each instantiation creates its own, though the instance sections
/// list them once.
fn nested_twice_component(inner: usize) -> Vec<u8> {
    let instances = "(core instance (instantiate $m))\n".repeat(inner);
    component_with(&format!(
        "(component $nested (core module $m) {instances})\n\
         (instance (instantiate $nested))\n(instance (instantiate $nested))"
    ))
}

/// The answering `wasmfn:function` component with `extra` WAT inside it.
fn component_with(extra: &str) -> Vec<u8> {
    const EVENT: &str = r#"(record
        (field "id" string) (field "source" string) (field "type" string)
        (field "specversion" string) (field "datacontenttype" (option string))
        (field "dataschema" (option string)) (field "subject" (option string))
        (field "time" (option string)) (field "extensions" (list (tuple string string)))
        (field "data" (option (list u8))))"#;
    const ERROR: &str = r#"(variant (case "invalid" string) (case "failed" string))"#;
    let wat = format!(
        r#"(component
          (import "wasmfn:function/types@0.1.0" (instance $types
            (type $e {EVENT}) (export "event" (type (eq $e)))
            (type $r {ERROR}) (export "error" (type (eq $r)))))
          (alias export $types "event" (type $event))
          (alias export $types "error" (type $error))
          (core module $m
            (memory (export "memory") 1)
            (global $next (mut i32) (i32.const 4096))
            (func (export "realloc") (param i32 i32 i32 i32) (result i32)
              (local $at i32)
              (local.set $at (i32.and (i32.add (global.get $next) (i32.const 7)) (i32.const -8)))
              (global.set $next (i32.add (local.get $at) (local.get 3)))
              (local.get $at))
            (func (export "handle") (param i32) (result i32)
              (i32.store8 (i32.const 1024) (i32.const 0))
              (i32.store (i32.const 1028) (i32.const 0))
              (i32.store (i32.const 1032) (i32.const 0))
              (i32.const 1024)))
          (core module $empty)
          (core instance $i (instantiate $m))
          {extra}
          (type $out (result (list $event) (error $error)))
          (func (export "handle") (param "event" $event) (result $out)
            (canon lift (core func $i "handle") (memory (core memory $i "memory"))
              (realloc (core func $i "realloc")))))"#
    );
    wat::parse_str(wat).expect("the test component is valid WAT")
}

#[tokio::test]
async fn a_component_with_many_core_instances_runs_in_a_one_instance_host() {
    let dir = FunctionsDir::new(&[], "");
    std::fs::write(dir.path().join("big.wasm"), many_instances_component(20)).unwrap();
    let server = Wasmfn::serve(dir.path(), &[("WASMFN_MAX_INSTANCES", "1")]);
    for event in 0..3 {
        let response = ask(&server, "big", "t").await;
        assert_eq!(response.status(), 202, "event {event}");
    }
    drop(server);

    // More core instances than one instance slot has room for: refused at
    // load, naming the count, instead of answering every event 503.
    std::fs::write(dir.path().join("big.wasm"), many_instances_component(70)).unwrap();
    let output = serve_until_exit(dir.path(), &[]);
    assert!(
        output.contains("71 core module instances"),
        "{output}"
    );
}

/// Moves a module into the watched `dir` under `name` in one rename, as a
/// deployment would.
fn deploy(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let staged = tempfile::NamedTempFile::new_in(dir.parent().unwrap()).unwrap();
    std::fs::write(staged.path(), bytes).unwrap();
    staged.persist(dir.join(name)).unwrap();
}

#[tokio::test]
async fn a_reload_cannot_add_a_guest_bigger_than_an_instance_slot() {
    // One instance slot: the pool holds exactly one instance's budget.
    let dir = FunctionsDir::new(&[], "");
    std::fs::write(dir.path().join("small.wasm"), many_instances_component(2)).unwrap();
    let server = Wasmfn::serve(dir.path(), &[("WASMFN_MAX_INSTANCES", "1")]);
    assert_eq!(ask(&server, "small", "t").await.status(), 202);

    // A reload adds a guest that fills its slot (63 core instances): served.
    deploy(dir.path(), "big.wasm", &many_instances_component(62));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ask(&server, "big", "t").await.status() != 202 {
        assert!(std::time::Instant::now() < deadline, "big never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Then one that needs 81 (a nested component of 40, instantiated twice):
    // refused at load, naming the count, instead of taking more than its
    // share of the pool on every event (here: failing every event).
    deploy(dir.path(), "twice.wasm", &nested_twice_component(40));
    let message = loop {
        let ready = support::get_json(&server.url, "/readyz").await;
        let issue = ready["issues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|issue| issue["function"] == "twice")
            .cloned();
        if let Some(issue) = issue {
            break issue["message"].as_str().unwrap().to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "twice never refused: {ready}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(message.contains("81 core module instances"), "{message}");
    assert_eq!(ask(&server, "twice", "t").await.status(), 404);
    for function in ["small", "big"] {
        assert_eq!(ask(&server, function, "t").await.status(), 202, "{function}");
    }
}

const REUSED: &str = r#"
[functions.evil]
instances = "reused"
max_events_per_instance = 4
"#;

/// `calls=N` of evil's `remember`: how many events its instance has seen.
async fn calls(server: &Wasmfn) -> String {
    let response = ask(server, "evil", "remember").await;
    assert_eq!(response.status(), 200);
    let subject = response.headers()["ce-subject"]
        .to_str()
        .unwrap()
        .to_owned();
    // `calls=N data=... zeroed=...`, percent-encoded in the header.
    subject.split("%20").next().unwrap().to_owned()
}

#[tokio::test]
async fn reused_instances_keep_state_until_a_failure_or_their_last_event() {
    let dir = FunctionsDir::new(&["evil"], REUSED);
    let server = Wasmfn::serve(dir.path(), &[("WASMFN_TIMEOUT_MS", "500")]);
    // One event at a time: the same warm instance each time.
    assert_eq!(calls(&server).await, "calls=1");
    assert_eq!(calls(&server).await, "calls=2");
    // `invalid` keeps the instance.
    assert_eq!(ask(&server, "evil", "invalid").await.status(), 422);
    assert_eq!(calls(&server).await, "calls=3");
    // Its 4th event was its last (`max_events_per_instance = 4`).
    assert_eq!(calls(&server).await, "calls=1");
    assert_eq!(calls(&server).await, "calls=2");
    // A trap, a failure and a timeout each discard it.
    for what in ["panic", "fail", "loop"] {
        assert!(ask(&server, "evil", what).await.status().is_server_error());
        assert_eq!(calls(&server).await, "calls=1", "after {what}");
    }
}

#[tokio::test]
async fn fresh_instances_are_the_default() {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(dir.path(), &[]);
    for _ in 0..3 {
        assert_eq!(calls(&server).await, "calls=1");
    }
}

/// A reused Rust function's heap starts over between events (the SDK's
/// bump allocator): one instance of the transformer, held to 2 MiB of
/// memory, answers 3,000 trades. Before, each event kept what it allocated
/// and the instance hit its memory limit at its 118th event.
#[tokio::test]
async fn a_reused_rust_instance_does_not_grow_event_after_event() {
    let config = r#"
[functions.transformer]
instances = "reused"
max_events_per_instance = 100000
env = { mapping = '{"trade_id":"/id","price":"/px","account":"/account/id"}', partition_key = "trade_id" }

[functions.transformer.limits]
memory_mb = 2
"#;
    let dir = FunctionsDir::new(&["transformer"], config);
    let server = Wasmfn::serve(dir.path(), &[]);
    let trade = include_str!("../bench/payloads/trade.json");
    for i in 0..3000 {
        let response = binary_event(&server.url, "transformer", "trade", &format!("t-{i}"))
            .header("content-type", "application/json")
            .body(trade)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(status, 200, "event {i}: {}", response.text().await.unwrap());
    }
    let metrics = support::get_text(&server.url, "/metrics").await;
    let instantiations = r#"wasmfn_instantiation_duration_seconds_count{function="transformer",version="serving"} 1"#;
    assert!(
        metrics.lines().any(|line| line == instantiations),
        "one instance answered every event: {metrics}"
    );
}
