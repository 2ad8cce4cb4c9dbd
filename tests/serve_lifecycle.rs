//! Serving-runtime contract: on SIGTERM the host fails readiness, keeps
//! serving through the drain period, finishes in-flight events, exits 0.

mod support;

use std::time::Duration;

use support::{FunctionsDir, Wasmfn, binary_event, client};

async fn sleepy(url: &str) -> u16 {
    binary_event(url, "evil", "sleep", "1")
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_events_then_exits_zero() {
    let dir = FunctionsDir::new(&["evil"], "");
    let mut server = Wasmfn::serve(dir.path(), &[("WASMFN_DRAIN_SECS", "1")]);
    let url = server.url.clone();
    let in_flight: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { sleepy(&url).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    server.wait_for_log("SIGTERM");

    // During the drain period: not ready, but still serving new events.
    let ready = client().get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        sleepy(&url).await,
        202,
        "a request during the drain period is served"
    );

    for request in in_flight {
        assert_eq!(
            request.await.unwrap(),
            202,
            "every in-flight event finishes"
        );
    }
    let status = server
        .wait(Duration::from_secs(20))
        .expect("exits after draining");
    assert!(status.success(), "exit status {status:?}");
    server.wait_for_log("stopped: every in-flight request finished");
}
