//! `wasmfn new` and `wasmfn build` in a scratch copy of the workspace: every
//! template kind scaffolds a crate that passes its own tests, builds to a
//! component the host runs, and bad input gets an error naming it.

use crate::support;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{Value, json};
use support::workspace::{ScratchWorkspace, assert_success, build_table};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `wasmfn run MODULE` on `event` in the scratch workspace.
fn run(scratch: &ScratchWorkspace, module: &Path, event: &Value) -> Output {
    let mut child = scratch
        .command(support::WASMFN)
        .arg("run")
        .arg(module)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(event.to_string().as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn event(data: Value) -> Value {
    json!({"specversion": "1.0", "id": "e-1", "source": "tests", "type": "trade",
           "datacontenttype": "application/json", "data": data})
}

fn output_events(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn every_kind_scaffolds_a_crate_that_tests_builds_and_runs() {
    let scratch = ScratchWorkspace::new();
    let kinds = ["handler", "subscriber", "transformer"];
    for kind in kinds {
        let output = scratch.wasmfn(&["new", &format!("my-{kind}"), "--kind", kind]);
        assert_success(&format!("wasmfn new my-{kind}"), &output);
        let lib = scratch
            .path()
            .join(format!("functions/my-{kind}/src/lib.rs"));
        let source = std::fs::read_to_string(&lib).unwrap();
        assert!(
            source.contains(&format!("`my-{kind}`: a {kind}")),
            "{source}"
        );
    }

    let mut cargo_test = scratch.command("cargo");
    cargo_test.args(["test", "--release"]);
    for kind in kinds {
        cargo_test.args(["-p", &format!("my-{kind}")]);
    }
    let output = cargo_test.output().unwrap();
    assert_success("cargo test of the new crates", &output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let passing_suites = stdout
        .lines()
        .filter(|l| l.starts_with("test result: ok.") && !l.contains(" 0 passed"))
        .count();
    assert_eq!(passing_suites, kinds.len(), "{stdout}");

    let out = scratch.path().join("out");
    let mut build = vec!["build", "--out", out.to_str().unwrap(), "handler"];
    let names: Vec<String> = kinds.iter().map(|k| format!("my-{k}")).collect();
    build.extend(names.iter().map(String::as_str));
    let output = scratch.wasmfn(&build);
    assert_success("wasmfn build", &output);
    let table = build_table(&String::from_utf8_lossy(&output.stdout));
    let listed: Vec<&str> = table.iter().map(|(name, ..)| name.as_str()).collect();
    for kind in kinds {
        assert!(
            listed.contains(&format!("my-{kind}").as_str()),
            "{listed:?}"
        );
    }
    assert!(
        listed.contains(&"handler"),
        "the example named is built too: {listed:?}"
    );
    assert_eq!(listed.len(), 4, "only the functions named: {listed:?}");
    for (name, size, digest) in &table {
        let bytes = std::fs::read(out.join(format!("{name}.wasm"))).unwrap();
        assert_eq!(*size, bytes.len() as u64, "{name}");
        assert_eq!(*digest, wasmfn::routing::digest(&bytes), "{name}");
    }

    let trade = json!({"id": "T-1", "px": 101.5});
    let output = run(
        &scratch,
        &out.join("my-handler.wasm"),
        &event(trade.clone()),
    );
    assert_success("run my-handler", &output);
    let events = output_events(&output);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"], trade);
    let output = run(&scratch, &out.join("my-handler.wasm"), &event(json!([1])));
    assert_eq!(
        output.status.code(),
        Some(2),
        "invalid: {}",
        stderr(&output)
    );

    let output = run(
        &scratch,
        &out.join("my-subscriber.wasm"),
        &event(trade.clone()),
    );
    assert_success("run my-subscriber", &output);
    assert!(output_events(&output).is_empty());
    assert!(stderr(&output).contains(r#"received trade from tests: {"id":"T-1","px":101.5}"#));

    let output = run(
        &scratch,
        &out.join("my-transformer.wasm"),
        &event(trade.clone()),
    );
    assert_success("run my-transformer", &output);
    let events = output_events(&output);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "my-transformer.transformed");
    assert_eq!(events[0]["partitionkey"], "T-1");
    assert_eq!(
        events[0]["data"],
        json!({"id": "T-1", "from": "tests", "data": trade})
    );
}

#[test]
fn new_refuses_bad_and_taken_names_and_non_members() {
    let scratch = ScratchWorkspace::new();
    let output = scratch.wasmfn(&["new", "My_Fn"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(r#""My_Fn""#),
        "{}",
        stderr(&output)
    );

    let output = scratch.wasmfn(&["new", "handler"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("already has a crate named `handler`"),
        "{}",
        stderr(&output)
    );

    // A crate joins the workspace by a line in `members`, written by
    // `wasmfn new` with the manifest's comments kept.
    assert_success("wasmfn new greeter", &scratch.wasmfn(&["new", "greeter"]));
    let manifest = std::fs::read_to_string(scratch.path().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("\n    \"functions/greeter\",\n"),
        "{manifest}"
    );
    assert!(
        manifest.contains("# The Rust function crates"),
        "{manifest}"
    );
    let output = scratch.wasmfn(&["new", "greeter"]);
    assert!(
        stderr(&output).contains("already has a crate named `greeter`"),
        "{}",
        stderr(&output)
    );

    let output = scratch.wasmfn(&["new", "nowhere", "--dir", "no-such-dir"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--dir no-such-dir"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn build_fails_with_the_compiler_errors_of_a_broken_function() {
    let scratch = ScratchWorkspace::new();
    assert_success("wasmfn new", &scratch.wasmfn(&["new", "broken"]));
    let lib = scratch.path().join("functions/broken/src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source += "\nfn oops() -> u32 { \"not a number\" }\n";
    std::fs::write(&lib, source).unwrap();

    let output = scratch.wasmfn(&["build"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(stderr.contains("mismatched types"), "{stderr}");
    assert!(stderr.contains("functions/broken/src/lib.rs"), "{stderr}");
    assert!(stderr.contains("`cargo build` failed"), "{stderr}");
    assert!(stderr.contains("could not compile `broken`"), "{stderr}");
}

#[test]
fn build_says_how_to_install_a_missing_wasm_target() {
    let scratch = ScratchWorkspace::new();
    // A toolchain whose wasm32-wasip2 library directory does not exist.
    let rustc = scratch.path().join("rustc-without-wasm");
    std::fs::write(
        &rustc,
        "#!/bin/sh\necho /nonexistent/lib/rustlib/wasm32-wasip2/lib\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&rustc).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&rustc, perms).unwrap();

    let output = scratch
        .command(support::WASMFN)
        .arg("build")
        .env("RUSTC", &rustc)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("rustup target add wasm32-wasip2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/nonexistent/lib/rustlib/wasm32-wasip2/lib"),
        "{stderr}"
    );
}
