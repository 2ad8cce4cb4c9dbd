//! Faults inside a function: its own verdicts, traps and panics, bad outputs
//! and attempts to reach outside the sandbox — each gets the right status and
//! the host keeps serving.

use crate::support;

use support::{FunctionsDir, Wasmfn, binary_event, error_kind};

async fn ask(server: &Wasmfn, what: &str) -> reqwest::Response {
    binary_event(&server.url, "evil", what, what)
        .send()
        .await
        .unwrap()
}

fn start() -> (FunctionsDir, Wasmfn) {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(
        dir.path(),
        &[("WASMFN_TIMEOUT_MS", "500"), ("WASMFN_MEMORY_MB", "32")],
    );
    (dir, server)
}

#[tokio::test]
async fn verdicts_traps_and_limits_map_to_statuses_and_the_host_survives() {
    let (_dir, server) = start();
    let expectations = [
        ("invalid", 422, "invalid"),
        ("fail", 500, "failed"),
        ("panic", 500, "trap"),
        ("two-events", 422, "output"),
        ("bad-output", 422, "output"),
        ("loop", 503, "timeout"),
        ("alloc", 422, "memory"),
        ("recurse", 422, "stack"),
    ];
    for (what, status, kind) in expectations {
        let (got_status, got_kind, message) = error_kind(ask(&server, what).await).await;
        assert_eq!(
            (got_status, got_kind.as_str()),
            (status, kind),
            "{what}: {message}"
        );
        let ok = ask(&server, "ok").await;
        assert_eq!(ok.status(), 200, "the host still serves after `{what}`");
    }
    server.wait_for_log("asked to panic");
}

#[tokio::test]
async fn nothing_an_event_leaves_in_memory_reaches_the_next() {
    // Sequential events reuse the same pooled slot, so this checks the
    // slot's reset (only written pages are restored) as well as isolation.
    let (_dir, server) = start();
    for event in 0..20 {
        let response = ask(&server, "remember").await;
        assert_eq!(response.status(), 200, "event {event}");
        assert_eq!(
            response.headers()["ce-subject"],
            "calls=1%20data=initial!%20zeroed=true",
            "event {event} saw what an earlier one left"
        );
    }
}

#[tokio::test]
async fn the_sandbox_denies_files_environment_and_sockets() {
    let (_dir, server) = start();
    for what in ["open-file", "socket"] {
        let response = ask(&server, what).await;
        assert_eq!(response.status(), 200, "{what}");
        assert_eq!(response.headers()["ce-type"], "denied", "{what}");
    }
    let response = ask(&server, "read-env").await;
    assert_eq!(response.status(), 200);
    let subject = response.headers()["ce-subject"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        subject, "0%20vars,%20HOME=None",
        "no host environment is inherited"
    );

    let response = ask(&server, "print").await;
    assert_eq!(response.status(), 202);
    let line = server.wait_for_log("evil says hello on stdout");
    assert!(
        line.contains("function=\"evil\""),
        "tagged with the function: {line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_function_limits_bound_outputs_time_and_concurrency() {
    let dir = FunctionsDir::new(&["evil"], "");
    for copy in ["evil-strict", "evil-metered"] {
        std::fs::copy(
            support::module("evil"),
            dir.path().join(format!("{copy}.wasm")),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("wasmfn.toml"),
        "[functions.evil.limits]\nmax_output_bytes = 1048576\nmax_concurrency = 2\n\
         [functions.evil-strict.limits]\ntimeout_ms = 100\nmax_output_events = 1\n\
         [functions.evil-metered.limits]\nfuel = 20000000\n",
    )
    .unwrap();
    let server = Wasmfn::serve(dir.path(), &[]);

    let (status, kind, message) = error_kind(ask(&server, "many-events").await).await;
    assert_eq!((status, kind.as_str()), (422, "output"), "{message}");
    assert!(
        message.contains("10000 events") && message.contains("max_output_events"),
        "{message}"
    );
    let (status, kind, message) = error_kind(ask(&server, "big-payload").await).await;
    assert_eq!((status, kind.as_str()), (422, "output"), "{message}");
    assert!(message.contains("max_output_bytes"), "{message}");

    let strict = |what: &'static str| binary_event(&server.url, "evil-strict", what, what).send();
    let (status, kind, message) = error_kind(strict("loop").await.unwrap()).await;
    assert_eq!((status, kind.as_str()), (503, "timeout"), "{message}");
    assert!(
        message.contains("100 ms"),
        "the function's own limit applies: {message}"
    );
    let (status, kind, _) = error_kind(strict("two-events").await.unwrap()).await;
    assert_eq!((status, kind.as_str()), (422, "output"));

    // Fuel: a deterministic cut-off (poison, 422) long before the 10 s
    // timeout, while a well-behaved event fits in the same budget.
    let metered = |what: &'static str| binary_event(&server.url, "evil-metered", what, what).send();
    let (status, kind, message) = error_kind(metered("loop").await.unwrap()).await;
    assert_eq!((status, kind.as_str()), (422, "fuel"), "{message}");
    assert!(message.contains("20000000"), "{message}");
    assert_eq!(metered("ok").await.unwrap().status(), 200);

    // max_concurrency = 2: of four simultaneous slow events, the excess gets
    // 429 with Retry-After and the admitted ones finish.
    let url = server.url.clone();
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                binary_event(&url, "evil", "sleep", "s")
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        let response = request.await.unwrap();
        if response.status() == 429 {
            assert_eq!(response.headers()["retry-after"], "1");
        }
        statuses.push(response.status().as_u16());
    }
    statuses.sort();
    assert!(
        statuses.iter().all(|s| *s == 202 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 202).count() <= 2,
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn secret_values_never_reach_logs_or_error_bodies() {
    const SECRET: &str = "tok-4f9a-very-secret";
    let secrets = tempfile::tempdir().unwrap();
    let env_file = secrets.path().join("my-secrets.env");
    std::fs::write(
        &env_file,
        format!("export API_TOKEN=\"{SECRET}\"\nexport mapping='{{\"id\":\"/id\"}}'\n"),
    )
    .unwrap();
    let config = format!(
        "[functions.transformer]\nenv_files = [\"{}\"]\n",
        env_file.display()
    );
    let dir = FunctionsDir::new(&["transformer"], &config);
    let server = Wasmfn::serve(dir.path(), &[("RUST_LOG", "debug")]);

    let mut bodies = Vec::new();
    for data in [r#"{"id":"T-1"}"#, r#"{"no_id":1}"#, "not json"] {
        let response = binary_event(&server.url, "transformer", "my-trade", "1")
            .header("content-type", "application/json")
            .body(data)
            .send()
            .await
            .unwrap();
        bodies.push(response.text().await.unwrap());
    }
    assert!(
        bodies[0].contains("T-1") && bodies[1].contains("/id"),
        "{bodies:?}"
    );

    // A broken env file on reload: the error names the file and line only.
    std::fs::write(&env_file, format!("export API_TOKEN=\"{SECRET}\n")).unwrap();
    std::fs::write(
        dir.path().join("wasmfn.toml"),
        format!("{config}# touched\n"),
    )
    .unwrap();
    server.wait_for_log("reload failed");
    let ready = support::get_text(&server.url, "/readyz").await;
    assert!(ready.contains("line 1"), "{ready}");
    bodies.push(ready);

    let log = server.log().join("\n");
    assert!(
        log.contains("API_TOKEN"),
        "keys are listed at start-up: {log}"
    );
    for text in bodies.iter().chain([&log]) {
        assert!(!text.contains(SECRET), "secret leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_function_does_not_starve_others() {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(dir.path(), &[("WASMFN_TIMEOUT_MS", "3000")]);
    // More spinning guests than the host has runtime threads.
    let loops: Vec<_> = (0..4)
        .map(|i| {
            let url = server.url.clone();
            tokio::spawn(async move {
                binary_event(&url, "evil", "loop", &format!("loop-{i}"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for _ in 0..5 {
        assert_eq!(ask(&server, "ok").await.status(), 200);
    }
    // Guests yield at every epoch tick, so the good events were answered
    // while every loop was still running (not after their timeouts).
    assert!(
        loops.iter().all(|l| !l.is_finished()),
        "the loops ended before the good events were served"
    );
    for looping in loops {
        assert_eq!(looping.await.unwrap(), 503);
    }
}

#[tokio::test]
async fn a_fuel_limit_needs_a_metering_host() {
    // Started without any fuel limit (and without --fuel): no metering, so
    // a reload that adds one is refused, naming the flag, and the previous
    // table keeps serving.
    let (dir, server) = start();
    std::fs::write(
        dir.path().join("wasmfn.toml"),
        "[functions.evil.limits]\nfuel = 1000\n",
    )
    .unwrap();
    let line = server.wait_for_log("restart it with --fuel");
    assert!(line.contains("functions.evil.limits.fuel"), "{line}");
    assert_eq!(ask(&server, "ok").await.status(), 200);
}
