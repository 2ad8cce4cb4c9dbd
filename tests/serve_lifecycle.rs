//! Serving-runtime contract: on SIGTERM the host fails readiness, keeps
//! serving through the drain period, finishes in-flight events, exits 0.

use crate::support;

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

/// Opens a raw connection to the server behind `url` and sends `bytes`.
async fn raw_connection(url: &str, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Reads what the server sends until it closes the connection (bounded).
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("the server closes a slow connection by itself")
        .ok();
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_oversized_requests_are_cut_while_others_are_served() {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(
        dir.path(),
        &[
            ("WASMFN_READ_TIMEOUT_MS", "300"),
            ("WASMFN_MAX_HEADER_BYTES", "16384"),
        ],
    );
    let url = server.url.clone();

    // Slowloris: a request head that never ends is dropped.
    let mut slow_head =
        raw_connection(&url, b"POST /evil HTTP/1.1\r\nhost: x\r\nce-id: 1\r\n").await;
    // A body that stalls half-way is answered 408 (Knative retries it).
    let mut slow_body = raw_connection(
        &url,
        b"POST /evil HTTP/1.1\r\nhost: x\r\nce-specversion: 1.0\r\nce-id: 1\r\nce-type: ok\r\n\
          ce-source: t\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nonly ten b",
    )
    .await;
    // Meanwhile a normal client is served.
    let ok = binary_event(&url, "evil", "ok", "normal")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let answer = read_until_closed(&mut slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    let answer = read_until_closed(&mut slow_head).await;
    assert!(
        !answer.starts_with("HTTP/1.1 2"),
        "an incomplete head is never handled: {answer:?}"
    );

    // Too many header fields, or too many head bytes: 431 without running
    // the function.
    let mut request = client().post(format!("{url}/evil"));
    for i in 0..120 {
        request = request.header(format!("x-filler-{i}"), "x");
    }
    assert_eq!(request.send().await.unwrap().status(), 431);
    let huge = "x".repeat(20 * 1024);
    let response = client()
        .post(format!("{url}/evil"))
        .header("x-huge", huge)
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), 431),
        // hyper may close the connection before the client finishes writing.
        Err(err) => assert!(err.is_request() || err.is_body(), "{err:?}"),
    }

    let ok = binary_event(&url, "evil", "ok", "after")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the host still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_waits_for_sink_deliveries_in_flight() {
    use support::faulty_sink::{Fault, FaultySink};
    let sink = FaultySink::start(Box::new(|_, _| Fault::Slow(Duration::from_millis(700)))).await;
    let dir = FunctionsDir::new(
        &["transformer"],
        "[functions.transformer]\noutput = \"sink\"\nsink = \"${KAFKA_SINK_URL}\"\n\
         env = { mapping = '{\"trade_id\":\"/id\"}' }\n",
    );
    let mut server = Wasmfn::serve(
        dir.path(),
        &[("WASMFN_DRAIN_SECS", "0"), ("KAFKA_SINK_URL", &sink.url)],
    );
    let in_flight: Vec<_> = (0..4)
        .map(|i| {
            let url = server.url.clone();
            tokio::spawn(async move {
                binary_event(&url, "transformer", "my-trade", &format!("T-{i}"))
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"id":"T-{i}"}}"#))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    // Every event is now waiting on the slow sink.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.counts().0, 4, "all four deliveries are in flight");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for request in in_flight {
        assert_eq!(request.await.unwrap(), 202, "the delivery finished first");
    }
    let status = server
        .wait(Duration::from_secs(20))
        .expect("exits after draining");
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(sink.stored().len(), 4);
}
