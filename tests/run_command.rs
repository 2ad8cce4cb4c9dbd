//! `wasmfn run`: one event through one module from the command line, with the
//! documented exit codes.

use crate::support;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{WASMFN, module};

fn run(args: &[&str], event: &Value) -> (i32, String, String) {
    let mut child = Command::new(WASMFN)
        .arg("run")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn trade_event(data: Value) -> Value {
    json!({"specversion": "1.0", "id": "1", "source": "my-exchange", "type": "my-trade",
           "datacontenttype": "application/json", "data": data})
}

#[test]
fn prints_outputs_as_structured_json_lines() {
    let handler = module("handler");
    let (code, stdout, stderr) = run(&[handler.to_str().unwrap()], &trade_event(json!({"a": 1})));
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["type"], "my-trade");
    assert_eq!(lines[0]["data"], json!({"a": 1}));
}

#[test]
fn uses_the_functions_settings_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wasmfn.toml");
    std::fs::write(
        &config,
        "[functions.mapper]\nenv = { mapping = '{\"trade_id\":\"/id\"}', partition_key = \"trade_id\" }\n",
    )
    .unwrap();
    let transformer = module("transformer");
    let args = [
        transformer.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--name",
        "mapper",
    ];
    let (code, stdout, stderr) = run(&args, &trade_event(json!({"id": "T-1"})));
    assert_eq!(code, 0, "{stderr}");
    let output: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(output["data"], json!({"trade_id": "T-1"}));
    assert_eq!(output["partitionkey"], "T-1");
}

#[test]
fn exit_code_2_for_invalid_and_1_for_failures() {
    let handler = module("handler");
    let (code, _, stderr) = run(&[handler.to_str().unwrap()], &trade_event(json!([1])));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("JSON object"), "{stderr}");

    // No `mapping` setting: the transformer fails (retryable), exit 1.
    let transformer = module("transformer");
    let (code, _, stderr) = run(&[transformer.to_str().unwrap()], &trade_event(json!({})));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("mapping"), "{stderr}");

    let (code, _, stderr) = run(
        &[handler.to_str().unwrap()],
        &json!({"id": "no specversion"}),
    );
    assert_eq!(code, 1, "{stderr}");
}
