//! Hostile and sloppy clients on the request path (issue 16): slow bodies
//! and batches against `max_concurrency`, control characters, loose
//! percent-encoding and HTTP framing, clients that never read, and errors
//! that are always JSON.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::{FunctionsDir, Wasmfn, binary_event, client, error_kind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a raw connection to `url` and sends `bytes`.
async fn raw(url: &str, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Sends one raw request (it must ask to close the connection) and returns
/// the whole answer.
async fn raw_exchange(url: &str, request: &[u8]) -> String {
    let mut stream = raw(url, request).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

fn structured(url: &str, event: serde_json::Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("{url}/evil"))
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_hold_no_permit_and_a_batch_counts_each_event() {
    let dir = FunctionsDir::new(&["evil"], "[functions.evil.limits]\nmax_concurrency = 3\n");
    let server = Wasmfn::serve(dir.path(), &[]);
    let url = server.url.clone();

    // Item 6: more slow bodies than permits; each sends 1 byte of 10.
    let mut slow = Vec::new();
    for i in 0..6 {
        let head = format!(
            "POST /evil HTTP/1.1\r\nhost: x\r\nce-specversion: 1.0\r\nce-id: slow-{i}\r\n\
             ce-type: ok\r\nce-source: t\r\ncontent-length: 10\r\n\r\nx"
        );
        slow.push(raw(&url, head.as_bytes()).await);
    }
    // Let the server take the heads in (it would admit them now, before).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ok = binary_event(&url, "evil", "ok", "real")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "slow bodies do not hold permits");
    drop(slow);

    // Item 13: a batch of three slow events holds three permits while it
    // runs, so a single event meanwhile is over the cap of 3.
    let batch_url = url.clone();
    let batch = tokio::spawn(async move {
        let events: Vec<_> = (0..3)
            .map(|i| json!({"specversion": "1.0", "id": format!("b{i}"), "source": "/t", "type": "sleep"}))
            .collect();
        client()
            .post(format!("{batch_url}/evil"))
            .header("content-type", "application/cloudevents-batch+json")
            .body(serde_json::Value::from(events).to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    // The batch runs for 3 × 400 ms; this lands early in it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, kind, _) = error_kind(
        binary_event(&url, "evil", "ok", "during")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, kind.as_str()), (429, "overload"));
    assert_eq!(batch.await.unwrap(), 202);

    // A batch larger than the cap still runs once the function is idle.
    let events: Vec<_> = (0..5)
        .map(|i| json!({"specversion": "1.0", "id": format!("w{i}"), "source": "/t", "type": "ok"}))
        .collect();
    let wide = client()
        .post(format!("{url}/evil"))
        .header("content-type", "application/cloudevents-batch+json")
        .body(serde_json::Value::from(events).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(wide.status(), 200);
}

#[tokio::test]
async fn control_characters_and_stray_percents_are_refused() {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(dir.path(), &[]);
    let url = &server.url;

    // Item 10: CloudEvents strings exclude U+0000-001F and U+007F-009F, in
    // every mode (percent-encoded in binary mode, escaped in JSON).
    let binary = [
        ("ce-id", "1%0A2026-12-01T00:00:00Z ERROR forged"),
        ("ce-source", "a%00b"),
        ("ce-subject", "x%C2%85y"),
        ("ce-partitionkey", "k%7F"),
    ];
    for (header, value) in binary {
        let response = binary_event(url, "evil", "ok", "1")
            .header(header, value)
            .send()
            .await
            .unwrap();
        let (status, kind, message) = error_kind(response).await;
        assert_eq!(
            (status, kind.as_str()),
            (400, "invalid_cloudevent"),
            "{header}"
        );
        assert!(message.contains("control character"), "{message}");
    }
    for (source, id) in [("a\u{0}b", "c"), ("a", "b\u{0}c"), ("/s", "tab\there")] {
        let response = structured(
            url,
            json!({"specversion": "1.0", "id": id, "source": source, "type": "ok"}),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 400, "{source:?} {id:?}");
    }

    // Item 15: a `%` that starts no `%XX` escape is refused, not passed on.
    for subject in ["100%", "%zz", "a%4"] {
        let response = binary_event(url, "evil", "ok", "1")
            .header("ce-subject", subject)
            .send()
            .await
            .unwrap();
        let (status, _, message) = error_kind(response).await;
        assert_eq!(status, 400, "{subject}");
        assert!(message.contains("`%XX`"), "{message}");
    }
    let ok = binary_event(url, "evil", "ok", "1")
        .header("ce-subject", "100%25")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn framing_decisions_and_every_error_is_json() {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(dir.path(), &[]);
    let url = &server.url;
    let event = "ce-specversion: 1.0\r\nce-id: 1\r\nce-type: ok\r\nce-source: t\r\n\
                 content-length: 0\r\nconnection: close\r\n";

    // HTTP/1.1 without Host: 400 (RFC 9112 §3.2 says MUST), as JSON.
    let answer = raw_exchange(
        url,
        format!("POST /evil HTTP/1.1\r\n{event}\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    assert!(
        answer.contains("`Host`") && answer.contains("\"bad_request\""),
        "{answer}"
    );
    // Two Host headers: the same.
    let answer = raw_exchange(
        url,
        format!("POST /evil HTTP/1.1\r\nhost: a\r\nhost: b\r\n{event}\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    // HTTP/1.0 has no Host requirement.
    let answer = raw_exchange(
        url,
        format!("POST /evil HTTP/1.0\r\n{event}\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    // Bare-LF line ends are kept (RFC 9112 §2.2: a recipient MAY accept them).
    let bare_lf = format!(
        "POST /evil HTTP/1.1\nhost: x\n{}\n",
        event.replace("\r\n", "\n")
    );
    let answer = raw_exchange(url, bare_lf.as_bytes()).await;
    assert_eq!(status_of(&answer), 200, "{answer}");

    // Every error the host answers has a JSON body, whatever layer refused.
    let answers = [
        raw_exchange(
            url,
            b"POST /%FF HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        )
        .await,
        raw_exchange(
            url,
            b"POST /%C3 HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        )
        .await,
        raw_exchange(
            url,
            b"GET /nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await,
        raw_exchange(
            url,
            b"PUT /evil HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        )
        .await,
        raw_exchange(
            url,
            b"POST /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        )
        .await,
    ];
    for answer in answers {
        assert!(status_of(&answer) >= 400, "{answer}");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{answer}"
        );
        let body: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert_eq!(body["success"], false, "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_cannot_hold_up_shutdown() {
    let dir = FunctionsDir::new(&["evil"], "");
    let mut server = Wasmfn::serve(dir.path(), &[("WASMFN_WRITE_TIMEOUT_MS", "500")]);
    // Item 7: 20,000 pipelined requests whose answers are never read, on a
    // socket with a small receive buffer so the server's writes stall soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address = server.url.trim_start_matches("http://").parse().unwrap();
    let stream = socket.connect(address).await.unwrap();
    let (_reader, mut writer) = stream.into_split();
    let pipelined = tokio::spawn(async move {
        let request = b"GET /functions HTTP/1.1\r\nhost: x\r\n\r\n";
        for _ in 0..20_000 {
            // The server stops reading once its writes stall.
            if writer.write_all(request).await.is_err() {
                break;
            }
        }
        writer
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server
        .wait(Duration::from_secs(30))
        .expect("shutdown ends although the client never reads");
    assert!(status.success(), "exit status {status:?}");
    pipelined.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_by_the_shutdown_timeout() {
    let dir = FunctionsDir::new(&["evil"], "");
    let mut server = Wasmfn::serve(dir.path(), &[("WASMFN_SHUTDOWN_TIMEOUT_SECS", "1")]);
    // An event that loops for the whole 10 s time limit is in flight.
    let url = server.url.clone();
    let looping = tokio::spawn(async move { binary_event(&url, "evil", "loop", "1").send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    server.wait_for_log("the shutdown timeout closed the connections still open");
    let status = server.wait(Duration::from_secs(30)).expect("exits");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        looping.await.unwrap().is_err(),
        "the cut request got no answer"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_read_timeout() {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(dir.path(), &[("WASMFN_READ_TIMEOUT_MS", "300")]);
    // The idle side of item 7: hyper's head timeout also runs while a
    // keep-alive connection waits for its next request.
    let mut stream = raw(&server.url, b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the idle connection is closed by the server")
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
}
