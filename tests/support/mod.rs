//! Shared helpers for the end-to-end tests: the real `wasmfn` binary on a
//! loopback port, functions directories built from the real compiled
//! components, and a recording sink server.

#![allow(dead_code, unreachable_pub)]

pub mod faulty_sink;
pub mod kubelet;
pub mod registry;
pub mod sink;
pub mod token_service;
pub mod upstream;
pub mod workspace;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `wasmfn` binary cargo built for these tests.
pub const WASMFN: &str = env!("CARGO_BIN_EXE_wasmfn");

/// How long a server may take to print its address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The compiled component of `name`: an example function from
/// `target/functions` or a test guest from `target/test-guests`, as written by
/// `scripts/build-functions.sh` (which `scripts/test.sh` runs first).
pub fn module(name: &str) -> PathBuf {
    let root = workspace_root();
    for dir in ["target/functions", "target/test-guests"] {
        let path = root.join(dir).join(format!("{name}.wasm"));
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{name}.wasm is not built; run scripts/test.sh (or scripts/build-functions.sh and \
         CRATES_DIR=tests/guests scripts/build-functions.sh target/test-guests) first"
    );
}

/// A functions directory: copies of compiled modules plus a `wasmfn.toml`.
pub struct FunctionsDir {
    dir: tempfile::TempDir,
}

impl FunctionsDir {
    /// A directory holding `names` (.wasm copies) and `config` as wasmfn.toml.
    pub fn new(names: &[&str], config: &str) -> FunctionsDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::copy(module(name), dir.path().join(format!("{name}.wasm"))).unwrap();
        }
        if !config.is_empty() {
            std::fs::write(dir.path().join("wasmfn.toml"), config).unwrap();
        }
        FunctionsDir { dir }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A running `wasmfn serve`, killed on drop; its log is printed if the test
/// fails.
pub struct Wasmfn {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Wasmfn {
    /// Starts `wasmfn serve` on `dir` with `PORT=0` and extra `env`.
    pub fn serve(dir: &Path, env: &[(&str, &str)]) -> Wasmfn {
        Wasmfn::serve_via(&[], dir, env)
    }

    /// [`Wasmfn::serve`] started through `wrapper` (a program and its
    /// arguments, given `wasmfn serve` as its last arguments), e.g. to run
    /// the server in its own mount namespace.
    pub fn serve_via(wrapper: &[&str], dir: &Path, env: &[(&str, &str)]) -> Wasmfn {
        let mut command = match wrapper {
            [] => Command::new(WASMFN),
            [program, args @ ..] => {
                let mut command = Command::new(program);
                command.args(args).arg(WASMFN);
                command
            }
        };
        command
            .arg("serve")
            .env("PORT", "0")
            .env("WASMFN_FUNCTIONS", dir)
            .env("WASMFN_DRAIN_SECS", "0")
            .env("RUST_LOG", "info")
            .env_remove("WASMFN_LOG_FORMAT")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Wasmfn::spawn(command)
    }

    /// Spawns `command` (a serve command with piped stderr) and waits for it
    /// to print the address it listens on.
    pub fn spawn(mut command: Command) -> Wasmfn {
        let mut child = command.spawn().expect("starting wasmfn");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    // The address ends the text line, or a JSON string.
                    let address = rest.split(['"', ' ']).next().unwrap_or(rest);
                    let address: SocketAddr = address.trim().parse().unwrap();
                    let _ = address_tx.send(address.port());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let port = match address_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "wasmfn did not start (exit: {status:?}); its log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Wasmfn {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// The log lines printed so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a log line contains `needle` (the log is written by the
    /// host's log thread and read by another, so a line can trail the
    /// response it belongs to).
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_log_lines(needle, 1).remove(0)
    }

    /// Waits until at least `count` log lines contain `needle`; returns
    /// every such line.
    pub fn wait_for_log_lines(&self, needle: &str, count: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<String> = self
                .log()
                .into_iter()
                .filter(|l| l.contains(needle))
                .collect();
            if lines.len() >= count {
                return lines;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} of {count} log lines contain {needle:?}; log:\n{}",
                lines.len(),
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Wasmfn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- wasmfn log ---\n{}", self.log().join("\n"));
        }
    }
}

/// An HTTP client for tests (no proxies, short timeouts).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The body of `GET {url}{path}` as text, whatever its status (`/metrics`,
/// `/readyz`, `/functions`).
pub async fn get_text(url: &str, path: &str) -> String {
    client()
        .get(format!("{url}{path}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The body of `GET {url}{path}` as JSON, whatever its status.
pub async fn get_json(url: &str, path: &str) -> serde_json::Value {
    let text = get_text(url, path).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {text}"))
}

/// POSTs one small JSON event (`{"a":1}`, type `t`, id `1`) to
/// `{url}/{function}`: for tests that only look at the answer's status or
/// `wasmfn-module-digest`.
pub async fn post_event(url: &str, function: &str) -> reqwest::Response {
    binary_event(url, function, "t", "1")
        .header("content-type", "application/json")
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap()
}

/// A binary-mode CloudEvent POST to `{url}/{function}` of type `ty` with id
/// `id` from source `/tests`; add data with `.body(...)`.
pub fn binary_event(url: &str, function: &str, ty: &str, id: &str) -> reqwest::RequestBuilder {
    client()
        .post(format!("{url}/{function}"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/tests")
        .header("ce-type", ty)
}

/// Parses a response body as the host's JSON error and returns `error.type`.
pub async fn error_kind(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["success"], false, "{body}");
    (
        status,
        body["error"]["type"].as_str().unwrap().to_owned(),
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

/// The `wasmfn-module-digest` a function response names: the module that
/// handled it.
pub fn digest_of(response: &reqwest::Response) -> String {
    response.headers()["wasmfn-module-digest"]
        .to_str()
        .unwrap()
        .to_owned()
}
