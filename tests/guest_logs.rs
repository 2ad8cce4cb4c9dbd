//! Guest logging cannot hurt the host (issue 16 items 8 and 10): records are
//! cut, counted per event and rate-limited per function with a dropped
//! counter in `/metrics`; a stuck stderr never blocks a request; control
//! characters cannot forge log lines.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{FunctionsDir, WASMFN, Wasmfn, binary_event};

async fn metrics(url: &str) -> String {
    support::get_text(url, "/metrics").await
}

/// The value of the first series of `metrics` whose line starts with `series`.
fn value(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
}

#[tokio::test]
async fn guest_records_are_cut_counted_and_escaped() {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(dir.path(), &[]);
    let url = &server.url;
    for ty in [
        "log-flood",
        "log-flood",
        "log-huge",
        "print-long",
        "log-forge",
    ] {
        let response = binary_event(url, "evil", ty, "1").send().await.unwrap();
        assert_eq!(response.status(), 202, "{ty}");
    }

    // Per event: at most 256 of the 10,000 records; the rest are counted.
    let summaries = server.wait_for_log_lines("log records of this event", 2);
    assert!(
        summaries[0].contains("9744 past 256 per event"),
        "{}",
        summaries[0]
    );
    let text = metrics(url).await;
    let dropped = value(
        &text,
        "wasmfn_guest_log_dropped_total{function=\"evil\",version=\"serving\",reason=\"per_event\"}",
    );
    assert_eq!(dropped, 2 * (10_000 - 256));
    let kept = server
        .log()
        .iter()
        .filter(|l| l.contains("flood record"))
        .count();
    assert!(kept <= 2 * 256, "{kept} records kept");
    assert!(
        !server.log().iter().any(|l| l.contains("quiet record")),
        "debug records are below RUST_LOG=info"
    );

    // One record is at most 4,096 bytes of message.
    let huge = server.wait_for_log("huge:");
    assert!(huge.len() < 4096 + 500, "{} bytes", huge.len());
    assert!(
        huge.contains("more bytes cut]"),
        "{}",
        &huge[huge.len() - 60..]
    );
    // A 10,000-byte stdout line comes out in pieces of 4,096 bytes.
    let pieces: Vec<usize> = server
        .wait_for_log_lines("sssss", 3)
        .iter()
        .map(|l| l.split(' ').find(|w| w.starts_with("sssss")).unwrap().len())
        .collect();
    assert_eq!(pieces, vec![4096, 4096, 1808]);

    // A newline in a guest message is escaped, so it forges no line.
    let forged = server.wait_for_log("benign");
    assert!(
        forged.contains("benign\\n2026-12-01T00:00:00Z ERROR"),
        "{forged}"
    );
    for line in server.log().iter().filter(|l| l.contains("FORGED")) {
        assert!(line.contains("benign"), "a forged line: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_stderr_reader_blocks_no_request() {
    let dir = FunctionsDir::new(&["evil"], "");
    // Trace level: plenty of host lines per request, none rate-limited.
    let mut child = Command::new(WASMFN)
        .arg("serve")
        .env("PORT", "0")
        .env("WASMFN_FUNCTIONS", dir.path())
        .env("WASMFN_DRAIN_SECS", "0")
        .env("RUST_LOG", "trace")
        .env_remove("WASMFN_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stderr up to the address, then never again (the pipe stays open).
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "wasmfn exited");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let address: std::net::SocketAddr = rest.trim().parse().unwrap();
            break format!("http://127.0.0.1:{}", address.port());
        }
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        // A hang detector, not a performance bound: before, requests hung
        // for as long as stderr was not read.
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut failures = Vec::new();
    for i in 0..3000 {
        let sent = http
            .post(format!("{url}/evil"))
            .header("ce-specversion", "1.0")
            .header("ce-id", i.to_string())
            .header("ce-source", "/t")
            .header("ce-type", "print")
            .send()
            .await;
        if let Err(err) = sent {
            failures.push(format!("#{i}: {err}"));
            break;
        }
    }
    let text = metrics(&url).await;
    let _ = child.kill();
    let _ = child.wait();
    drop(stderr);
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        value(&text, "wasmfn_log_lines_dropped_total") > 0,
        "the queue filled (the scenario happened):\n{text}"
    );
}

#[tokio::test]
async fn the_rate_limit_counts_what_it_drops() {
    let dir = FunctionsDir::new(&["evil"], "");
    let server = Wasmfn::serve(dir.path(), &[]);
    // 20 events × 256 records, far faster than 1,000 records/s: the bucket
    // (a burst of 1,000) runs dry.
    for i in 0..20 {
        let response = binary_event(&server.url, "evil", "log-flood", &i.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let text = metrics(&server.url).await;
    let rate = value(
        &text,
        "wasmfn_guest_log_dropped_total{function=\"evil\",version=\"serving\",reason=\"rate\"}",
    );
    assert!(rate > 0, "{text}");
}
