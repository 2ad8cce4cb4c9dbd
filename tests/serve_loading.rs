//! Loading the functions directory when it holds things that are not
//! functions (issue 16, items 3, 4, 5, 14): special files, text behind a
//! `.wasm` name, names the host owns, and a module built to make the compiler
//! slow. Each is refused by name while the other functions load and swap.
//! And what a function loads from outside the directory: its env files,
//! rewritten by rename while serving (item 11).

use crate::support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Wasmfn, binary_event, client, digest_of, module, post_event};

/// Generous bound for things with no latency promise.
const EVENTUALLY: Duration = Duration::from_secs(30);

async fn readyz(url: &str) -> Value {
    support::get_json(url, "/readyz").await
}

/// The issue `/readyz` reports for `function`, if any.
fn issue<'a>(ready: &'a Value, function: &str) -> Option<&'a str> {
    ready["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["function"] == function)
        .map(|i| i["message"].as_str().unwrap())
}

/// Waits until `/readyz` reports an issue for `function` and returns it.
async fn wait_for_issue(url: &str, function: &str) -> String {
    let start = Instant::now();
    loop {
        let ready = readyz(url).await;
        if let Some(message) = issue(&ready, function) {
            return message.to_owned();
        }
        assert!(
            start.elapsed() < EVENTUALLY,
            "{function} never reported: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn special_files_text_and_reserved_names_are_refused_by_name_while_the_others_serve() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::copy(module("handler"), path("handler.wasm")).unwrap();
    std::fs::copy(module("handler"), path("healthz.wasm")).unwrap();
    std::fs::copy(module("handler"), path("bad\nname.wasm")).unwrap();
    mkfifo(&path("fifo.wasm"));
    std::os::unix::fs::symlink("/dev/zero", path("zero.wasm")).unwrap();
    std::fs::create_dir(path("dir.wasm")).unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let env_file = secrets.path().join("app.env");
    std::fs::write(&env_file, "export DSN=postgres://app:PASSWORD@db/app\n").unwrap();
    std::os::unix::fs::symlink(&env_file, path("secret.wasm")).unwrap();

    // With a FIFO in the directory the port used to be never bound.
    let server = Wasmfn::serve(dir.path(), &[("WASMFN_POLL_SECS", "60")]);
    let ready = readyz(&server.url).await;
    assert_eq!(ready["ready"], true, "{ready}");
    let served: Vec<&str> = ready["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(served, ["handler"], "{ready}");
    for (function, says) in [
        ("fifo", "is a FIFO, not a regular file"),
        ("zero", "is a device, not a regular file"),
        ("dir", "is a directory, not a regular file"),
        ("secret", "is not a WebAssembly binary"),
        ("healthz.wasm", "the host serves this path itself"),
        ("bad\\nname.wasm", "not a plain function name"),
    ] {
        let message = issue(&ready, function).unwrap_or_else(|| panic!("{function}: {ready}"));
        assert!(message.contains(says), "{function}: {message}");
    }
    let text = ready.to_string();
    assert!(
        !text.contains("PASSWORD") && !text.contains("postgres"),
        "{text}"
    );
    assert_eq!(post_event(&server.url, "handler").await.status(), 200);
    // The summary is one block whose lines each start with two spaces.
    let summary = server.wait_for_log("serving 1 function(s)");
    assert!(!summary.contains("bad"), "{summary}");
    assert!(
        server.log().iter().all(|l| !l.starts_with("name.wasm")),
        "a file name broke a log line"
    );

    // A FIFO added while serving: the reload neither hangs nor blocks the
    // next one, and health answers meanwhile.
    mkfifo(&path("late.wasm"));
    let message = wait_for_issue(&server.url, "late").await;
    assert!(message.contains("is a FIFO"), "{message}");
    let health = client()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    std::fs::copy(module("simple"), path("simple.wasm")).unwrap();
    let start = Instant::now();
    while post_event(&server.url, "simple").await.status() == 404 {
        assert!(start.elapsed() < EVENTUALLY, "simple never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A component whose one core function is 20,000 nested `if`/`else`s with
/// a result: 220 KB of Wasm that took Cranelift 56 s and 2.8 GB unbounded.
fn slow_to_compile() -> Vec<u8> {
    let depth = 20_000;
    let mut body = String::new();
    for _ in 0..depth {
        body.push_str("local.get 0 if (result i32) local.get 0 i32.const 1 i32.add else ");
    }
    body.push_str("local.get 0 ");
    body.push_str(&"end ".repeat(depth));
    let wat =
        format!("(component (core module (func (export \"f\") (param i32) (result i32) {body})))");
    wat::parse_str(wat).unwrap()
}

#[tokio::test]
async fn a_module_past_the_compile_bounds_is_refused_and_delays_no_other_swap() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::copy(module("handler"), path("a.wasm")).unwrap();
    std::fs::copy(module("handler"), path("b.wasm")).unwrap();
    let server = Wasmfn::serve(
        dir.path(),
        &[
            ("WASMFN_POLL_SECS", "60"),
            ("WASMFN_COMPILE_TIMEOUT_SECS", "10"),
        ],
    );
    let simple = std::fs::read(module("simple")).unwrap();
    let simple_digest = wasmfn::routing::digest(&simple);

    // The slow module arrives first, then an update of b.
    std::fs::write(path("slow.wasm"), slow_to_compile()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(path("b.tmp"), &simple).unwrap();
    std::fs::rename(path("b.tmp"), path("b.wasm")).unwrap();

    let start = Instant::now();
    loop {
        let response = post_event(&server.url, "b").await;
        if digest_of(&response) == simple_digest {
            break;
        }
        assert!(start.elapsed() < EVENTUALLY, "b was never swapped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // b is served while the slow module is still compiling: neither served
    // nor reported yet (its compiler runs until a bound stops it, seconds
    // later). Before, a reload swapped nothing until every compile ended.
    let ready = readyz(&server.url).await;
    assert_eq!(issue(&ready, "slow"), None, "b waited for slow: {ready}");
    assert_eq!(post_event(&server.url, "slow").await.status(), 404);

    let message = wait_for_issue(&server.url, "slow").await;
    assert!(
        message.contains("slow.wasm")
            && (message.contains("more than 10 s of CPU time") || message.contains("more than 1024 MiB")),
        "{message}"
    );
    assert_eq!(post_event(&server.url, "slow").await.status(), 404);
    assert_eq!(post_event(&server.url, "a").await.status(), 200);
}

#[test]
fn each_compile_bound_is_reported_naming_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.wasm");
    std::fs::write(&slow, slow_to_compile()).unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#,
    )
    .unwrap();
    for (flags, says) in [
        (
            ["--compile-timeout-secs", "1", "--compile-memory-mb", "4096"],
            "compiling needed more than 1 s of CPU time, so the module is refused (--compile-timeout-secs",
        ),
        (
            ["--compile-timeout-secs", "60", "--compile-memory-mb", "256"],
            "compiling needed more than 256 MiB of memory, so the module is refused (--compile-memory-mb",
        ),
    ] {
        let output = std::process::Command::new(support::WASMFN)
            .arg("run")
            .arg(&slow)
            .arg("--event")
            .arg(&event)
            .args(flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
}

#[test]
fn the_compile_worker_runs_under_its_cpu_and_memory_limits() {
    // The worker sets its limits before reading the module, so while it
    // waits for stdin its /proc limits show them.
    let mut worker = std::process::Command::new(support::WASMFN)
        .args(["__compile", "--memory-bytes", "268435456", "--cpu-secs", "7"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let limits_path = format!("/proc/{}/limits", worker.id());
    let limit = |limits: &str, name: &str| -> Vec<String> {
        let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..]
            .split_whitespace()
            .take(2)
            .map(str::to_owned)
            .collect()
    };
    let start = Instant::now();
    let limits = loop {
        let limits = std::fs::read_to_string(&limits_path).unwrap();
        // The core limit is set last.
        if limit(&limits, "Max cpu time") != ["unlimited", "unlimited"]
            && limit(&limits, "Max core file size") == ["0", "0"]
        {
            break limits;
        }
        assert!(start.elapsed() < EVENTUALLY, "no limits set: {limits}");
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(worker.stdin.take());
    let _ = worker.wait();
    // SIGXCPU at the CPU bound (which names it), SIGKILL a second later.
    assert_eq!(limit(&limits, "Max cpu time"), ["7", "8"], "{limits}");
    assert_eq!(
        limit(&limits, "Max data size"),
        ["268435456", "268435456"],
        "{limits}"
    );
    assert_eq!(limit(&limits, "Max core file size"), ["0", "0"], "{limits}");
}

#[tokio::test]
async fn an_env_file_replaced_by_rename_outside_the_directory_reloads_the_settings() {
    let secrets = tempfile::tempdir().unwrap();
    let env_file = secrets.path().join("transformer.env");
    let write_env = |output_type: &str| {
        // As a Vault agent does: a new file renamed over the old one.
        let tmp = secrets.path().join(".transformer.env.tmp");
        std::fs::write(
            &tmp,
            format!("export mapping='{{\"id\":\"/id\"}}'\nexport output_type=\"{output_type}\"\n"),
        )
        .unwrap();
        std::fs::rename(&tmp, &env_file).unwrap();
    };
    write_env("trade.v1");
    let config = format!(
        "[functions.transformer]\nenv_files = [\"{}\"]\n",
        env_file.display()
    );
    let dir = support::FunctionsDir::new(&["transformer"], &config);
    // A poll slower than the test: the change must be seen by the watch.
    let server = Wasmfn::serve(dir.path(), &[("WASMFN_POLL_SECS", "600")]);
    let output_type = || async {
        let response = binary_event(&server.url, "transformer", "trade", "1")
            .header("content-type", "application/json")
            .body(r#"{"id":"T-1"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.headers()["ce-type"].to_str().unwrap().to_owned()
    };
    assert_eq!(output_type().await, "trade.v1");

    write_env("trade.v2");
    let start = Instant::now();
    while output_type().await != "trade.v2" {
        assert!(
            start.elapsed() < EVENTUALLY,
            "the env file change was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And again: the watch survives the rename of the file it follows.
    write_env("trade.v3");
    let start = Instant::now();
    while output_type().await != "trade.v3" {
        assert!(
            start.elapsed() < EVENTUALLY,
            "the second env file change was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
