//! The README's "Your first function in 5 minutes", run as written: the
//! commands of its ```` ```sh tutorial ```` blocks, one step at a time, in a
//! scratch copy of the workspace with the built `wasmfn` on PATH, each
//! step's observable result checked. A step this test does not know fails
//! it, so the README and the test change together.
//!
//! The only liberty taken: the server's port 8080 becomes a free port.

use crate::support;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::workspace::{ScratchWorkspace, build_table};

/// The README, read at compile time so an edit rebuilds this test.
const README: &str = include_str!("../README.md");
/// The info string that marks a tutorial block.
const MARKER: &str = "```sh tutorial";
/// The port the tutorial serves on, replaced by a free one.
const TUTORIAL_PORT: &str = "8080";
/// Longest a step may run: a first build of the guest dependencies for
/// native tests takes minutes on a small machine; later runs take seconds.
const STEP_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The tutorial's commands: continuation lines joined, comments and blank
/// lines left out.
fn tutorial_steps(readme: &str) -> Vec<String> {
    let mut steps = Vec::new();
    let mut lines = readme.lines();
    while lines.any(|line| line.trim_end() == MARKER) {
        let mut pending = String::new();
        for line in lines.by_ref().take_while(|line| line.trim_end() != "```") {
            let line = line.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with('#')) {
                continue;
            }
            match line.strip_suffix('\\') {
                Some(start) => pending += start,
                None => steps.push(std::mem::take(&mut pending) + line),
            }
        }
    }
    steps
}

/// A step without its trailing `# comment`, for recognising it.
fn command_of(step: &str) -> &str {
    step.split("  #").next().unwrap().trim()
}

/// The single-quoted argument after `flag ` in `command`.
fn quoted_arg<'a>(command: &'a str, flag: &str) -> &'a str {
    let start = command.find(&format!("{flag} '")).expect(flag) + flag.len() + 2;
    let len = command[start..].find('\'').unwrap();
    &command[start..start + len]
}

/// The value of header `name` in a `-H 'name: value'` of `command`.
fn header<'a>(command: &'a str, name: &str) -> &'a str {
    let start = command.find(&format!("'{name}: ")).expect(name) + name.len() + 3;
    let len = command[start..].find('\'').unwrap();
    &command[start..start + len]
}

/// Runs `command` to completion, within [`STEP_TIMEOUT`].
fn run_bounded(mut command: Command, what: &str) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).unwrap();
        buf
    });
    let stderr = std::thread::spawn(move || {
        let mut buf = Vec::new();
        err.read_to_end(&mut buf).unwrap();
        buf
    });
    let deadline = Instant::now() + STEP_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("step `{what}` ran longer than {STEP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The server the tutorial starts in the background (`... &`), killed on drop.
struct Background {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Background {
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "the server never logged {needle:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the steps have established so far.
#[derive(Default)]
struct Tutorial {
    function: Option<String>,
    event_file: Option<String>,
    server: Option<Background>,
    seen: Vec<&'static str>,
}

impl Tutorial {
    fn function(&self) -> &str {
        self.function.as_deref().expect("`wasmfn new` comes first")
    }

    /// Runs `step` and checks what it should have done.
    fn step(&mut self, scratch: &ScratchWorkspace, step: &str) {
        let command = command_of(step);
        if let Some(background) = command.strip_suffix('&') {
            return self.start_background(scratch, background.trim());
        }
        if command == "kill $!" {
            let mut server = self.server.take().expect("a background server to kill");
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "the server exited before `kill $!`; its log:\n{}",
                server.log()
            );
            server.child.kill().unwrap();
            server.child.wait().unwrap();
            return self.seen.push("kill");
        }
        let mut bash = scratch.command("bash");
        bash.args(["-c", step]);
        let output = run_bounded(bash, command);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let server_log = self
            .server
            .as_ref()
            .map(Background::log)
            .unwrap_or_default();
        assert!(
            output.status.success(),
            "step `{command}` failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{server_log}",
            output.status
        );
        let words: Vec<&str> = command.split_whitespace().collect();
        match words[..] {
            ["wasmfn", "new", name, ..] => {
                let dir = scratch.path().join("functions").join(name);
                assert!(dir.join("Cargo.toml").is_file(), "{stdout}");
                assert!(dir.join("src/lib.rs").is_file(), "{stdout}");
                self.function = Some(name.to_owned());
                self.seen.push("new");
            }
            ["cargo", "test", ..] => {
                let passed = stdout.lines().any(|line| {
                    line.starts_with("test result: ok.") && !line.contains(" 0 passed")
                });
                assert!(passed, "no passing tests:\n{stdout}\n{stderr}");
                self.seen.push("test");
            }
            ["wasmfn", "build", ..] => {
                let table = build_table(&stdout);
                let module = scratch
                    .path()
                    .join(format!("target/functions/{}.wasm", self.function()));
                let bytes = std::fs::read(&module).unwrap();
                let row = table
                    .iter()
                    .find(|(name, ..)| name == self.function())
                    .unwrap_or_else(|| panic!("{} not in the table:\n{stdout}", self.function()));
                assert_eq!(row.1, bytes.len() as u64, "{stdout}");
                assert_eq!(row.2, wasmfn::routing::digest(&bytes), "{stdout}");
                self.seen.push("build");
            }
            ["echo", .., ">", file] => {
                let text = std::fs::read_to_string(scratch.path().join(file)).unwrap();
                let event: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(event["specversion"], "1.0", "{text}");
                self.event_file = Some(file.to_owned());
                self.seen.push("event");
            }
            ["wasmfn", "run", ..] => {
                let file = self.event_file.as_deref().expect("an event file first");
                let text = std::fs::read_to_string(scratch.path().join(file)).unwrap();
                let event: Value = serde_json::from_str(&text).unwrap();
                // The subscriber's log line, built from the event sent.
                let expected = format!(
                    "received {} from {}: {}",
                    event["type"].as_str().unwrap(),
                    event["source"].as_str().unwrap(),
                    event["data"]
                );
                assert!(stderr.contains(&expected), "{expected:?} not in:\n{stderr}");
                for line in stdout.lines() {
                    serde_json::from_str::<Value>(line).expect("output events are JSON lines");
                }
                self.seen.push("run");
            }
            ["curl", ..] if command.contains("/readyz") => {
                let ready: Value = serde_json::from_str(&stdout).unwrap();
                let listed = ready["functions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["name"] == self.function());
                assert!(listed, "{stdout}");
                self.seen.push("ready");
            }
            ["curl", ..] => {
                let status_line = stdout.lines().next().unwrap_or_default();
                assert!(status_line.contains(" 202"), "{stdout}");
                // The subscriber's log line, built from the request sent.
                let data: Value = serde_json::from_str(quoted_arg(command, "-d")).unwrap();
                let server = self.server.as_ref().expect("a server to POST to");
                server.wait_for_log(&format!(
                    "received {} from {}: {data}",
                    header(command, "ce-type"),
                    header(command, "ce-source")
                ));
                self.seen.push("post");
            }
            _ => panic!("tutorial step `{command}` has no check in tests/tutorial.rs: add one"),
        }
    }

    fn start_background(&mut self, scratch: &ScratchWorkspace, command: &str) {
        assert!(
            command.starts_with("wasmfn serve"),
            "unexpected background step `{command}`"
        );
        let mut bash = scratch.command("bash");
        bash.args(["-c", &format!("exec {command}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = bash.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        self.server = Some(Background { child, log });
        self.seen.push("serve");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_readme_tutorial_works_as_written() {
    let steps = tutorial_steps(README);
    assert!(!steps.is_empty(), "no {MARKER} block in README.md");
    let scratch = ScratchWorkspace::new();
    let port = free_port().to_string();
    let mut tutorial = Tutorial::default();
    let started = Instant::now();
    for step in &steps {
        let step = step.replace(TUTORIAL_PORT, &port);
        let began = Instant::now();
        tutorial.step(&scratch, &step);
        eprintln!("tutorial: {:>6.1?}  {}", began.elapsed(), command_of(&step));
    }
    eprintln!("tutorial: {:>6.1?}  total", started.elapsed());
    assert_eq!(
        tutorial.seen,
        [
            "new", "test", "build", "event", "run", "serve", "ready", "post", "kill"
        ],
        "the tutorial covers scaffold, test, build, run and serve, in that order"
    );
    assert!(
        !Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../functions")
            .join(tutorial.function())
            .exists(),
        "the tutorial ran in the real workspace"
    );
}

#[test]
fn steps_are_extracted_from_marked_blocks_only() {
    let readme = "intro\n```sh\nnot a step\n```\n```sh tutorial\n# comment\nfirst  # note\n\nsecond \\\n  continued\n```\ntext\n```sh tutorial\nthird\n```\n";
    assert_eq!(
        tutorial_steps(readme),
        ["first  # note", "second continued", "third"]
    );
    assert_eq!(command_of("first  # note"), "first");
    assert_eq!(quoted_arg("curl -d '{\"a\":1}' x", "-d"), "{\"a\":1}");
    assert_eq!(
        header("curl -H 'ce-type: greeting' -H 'ce-id: 2'", "ce-type"),
        "greeting"
    );
}
