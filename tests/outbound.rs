//! Outbound HTTP from guests (`wasi:http`), against a real upstream on
//! 127.0.0.1: an allowed request succeeds and continues the event's trace;
//! anything the allow-list does not name, link-local and metadata
//! addresses, redirects, and requests past the per-event count, size and time
//! limits fail inside the guest while the event itself succeeds; outcomes
//! are counted in the metrics.

use crate::support;

use serde_json::{Value, json};
use support::upstream::Upstream;
use support::{FunctionsDir, Wasmfn, binary_event};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// `fetcher` served with `config` appended to its `[functions.fetcher]`.
fn serve(config: &str) -> (FunctionsDir, Wasmfn) {
    let dir = FunctionsDir::new(&["fetcher"], &format!("[functions.fetcher]\n{config}\n"));
    let server = Wasmfn::serve(dir.path(), &[]);
    (dir, server)
}

/// Has `fetcher` request each URL (a GET, or a POST of the given body) and
/// returns the event's status and what each request got.
async fn fetch(server: &Wasmfn, requests: Value) -> (u16, Vec<Value>) {
    let response = binary_event(&server.url, "fetcher", "fetch", "1")
        .header("traceparent", TRACEPARENT)
        .header("content-type", "application/json")
        .body(json!({ "requests": requests }).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let outcomes = body.as_array().cloned().unwrap_or_else(|| vec![body]);
    (status, outcomes)
}

fn get(url: String) -> Value {
    json!({ "url": url })
}

async fn metrics(server: &Wasmfn) -> String {
    support::get_text(&server.url, "/metrics").await
}

#[tokio::test]
async fn an_allowed_request_succeeds_and_continues_the_trace() {
    let upstream = Upstream::start().await;
    let (_dir, server) = serve(&format!(
        "allowed_outbound_hosts = [\"http://127.0.0.1:{}\"]",
        upstream.address.port()
    ));

    let (status, outcomes) = fetch(
        &server,
        json!([
            get(format!("{}/ref/A-1", upstream.url)),
            { "url": format!("{}/echo", upstream.url), "post": "hello upstream" },
        ]),
    )
    .await;
    assert_eq!(status, 200, "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], 200, "{outcomes:?}");
    let reference: Value = serde_json::from_str(outcomes[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(reference, json!({"key": "A-1", "desk": "metals"}));
    assert_eq!(outcomes[1]["body"], "hello upstream", "{outcomes:?}");

    let seen = upstream.seen_at("/ref/A-1");
    assert_eq!(seen.len(), 1);
    let traceparent = seen[0].header("traceparent").expect("a traceparent");
    assert_eq!(&traceparent[..36], &TRACEPARENT[..36], "same trace-id");
    assert_ne!(traceparent, TRACEPARENT, "a new parent-id for the hop");

    let text = metrics(&server).await;
    for series in [
        r#"wasmfn_outbound_requests_total{function="fetcher",version="serving",host="127.0.0.1",status="200"} 2"#,
        r#"wasmfn_outbound_request_duration_seconds_count{function="fetcher",version="serving",host="127.0.0.1"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == series), "{series}\n{text}");
    }
}

#[tokio::test]
async fn a_host_not_listed_is_denied_in_the_guest_and_logged() {
    let upstream = Upstream::start().await;
    // Another port of the same address is another host.
    let (_dir, server) = serve("allowed_outbound_hosts = [\"http://127.0.0.1:1\"]");

    let url = format!("{}/ref/secret?token=hunter2", upstream.url);
    let (status, outcomes) = fetch(&server, json!([get(url.clone())])).await;
    assert_eq!(status, 200, "the event succeeds: {outcomes:?}");
    assert_eq!(outcomes[0]["denied"], true, "{outcomes:?}");
    let error = outcomes[0]["error"].as_str().unwrap();
    assert!(
        error.contains("denied") && error.contains(&url),
        "the guest's error names the URL: {error}"
    );
    assert!(upstream.seen().is_empty(), "nothing reached the upstream");

    let line = server.wait_for_log("outbound request denied");
    assert!(
        line.contains("fetcher")
            && line.contains(&format!("{}/ref/secret?redacted", upstream.url)),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "the query is not logged: {line}");
    let text = metrics(&server).await;
    let series = r#"wasmfn_outbound_requests_total{function="fetcher",version="serving",host="-",status="denied"} 1"#;
    assert!(text.lines().any(|l| l == series), "{text}");
}

#[tokio::test]
async fn without_a_list_nothing_is_allowed() {
    let upstream = Upstream::start().await;
    let (_dir, server) = serve("");
    let (status, outcomes) = fetch(&server, json!([get(format!("{}/ref/x", upstream.url))])).await;
    assert_eq!(status, 200);
    assert_eq!(outcomes[0]["denied"], true, "{outcomes:?}");
    assert!(upstream.seen().is_empty());
}

#[tokio::test]
async fn link_local_and_metadata_addresses_are_refused_even_under_a_wildcard() {
    // Each is refused before any connection is attempted: no packet leaves.
    let (_dir, server) = serve("allowed_outbound_hosts = [\"http://*:*\"]");
    let urls = [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        // 169.254.169.254 written as one number: the URL parser reads it as
        // that address, and so does the check.
        "http://2852039166/",
        "http://[fe80::1]/",
    ];
    let (status, outcomes) = fetch(
        &server,
        Value::Array(urls.iter().map(|u| get((*u).to_owned())).collect()),
    )
    .await;
    assert_eq!(status, 200, "{outcomes:?}");
    for (url, outcome) in urls.iter().zip(&outcomes) {
        assert_eq!(outcome["denied"], true, "{url}: {outcome}");
    }
    server.wait_for_log_lines("a link-local or metadata address", urls.len());
}

/// `fetcher` served with `config`, its `getaddrinfo` reading `hosts` as
/// `/etc/hosts`: the server runs in its own user and mount namespace with a
/// file bind-mounted there, so real names resolve to chosen addresses
/// without a DNS server and without touching the machine's own file.
fn serve_with_hosts(config: &str, hosts: &str) -> (FunctionsDir, tempfile::NamedTempFile, Wasmfn) {
    let dir = FunctionsDir::new(&["fetcher"], &format!("[functions.fetcher]\n{config}\n"));
    let hosts_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(hosts_file.path(), hosts).unwrap();
    let path = hosts_file.path().to_str().unwrap();
    let wrapper = [
        "unshare",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        r#"mount --bind "$0" /etc/hosts || { echo "cannot bind-mount $0 over /etc/hosts: this test needs unprivileged user namespaces (unshare -rm)" >&2; exit 1; }; exec "$@""#,
        path,
    ];
    let server = Wasmfn::serve_via(&wrapper, dir.path(), &[]);
    (dir, hosts_file, server)
}

#[tokio::test]
async fn a_name_resolving_to_a_metadata_address_is_refused() {
    let upstream = Upstream::start().await;
    let port = upstream.address.port();
    // Every name is allowed; what they resolve to is not. `refdata.test`
    // resolving to the real upstream shows the hosts file is in effect.
    let (_dir, _hosts, server) = serve_with_hosts(
        "allowed_outbound_hosts = [\"http://*:*\"]",
        "127.0.0.1 refdata.test\n169.254.169.254 metadata.test\nfd00:ec2::254 metadata6.test\n",
    );
    let (status, outcomes) = fetch(
        &server,
        json!([
            get(format!("http://refdata.test:{port}/ref/A-1")),
            get(format!("http://metadata.test:{port}/latest/meta-data/")),
            get(format!("http://metadata6.test:{port}/latest/meta-data/")),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], 200, "the name resolved: {outcomes:?}");
    for (name, outcome) in [("metadata.test", &outcomes[1]), ("metadata6.test", &outcomes[2])] {
        assert_eq!(outcome["denied"], true, "{name}: {outcome}");
    }
    let line = server.wait_for_log("metadata.test resolves to 169.254.169.254");
    assert!(line.contains("fetcher"), "{line}");
    server.wait_for_log("metadata6.test resolves to fd00:ec2::254");
    assert_eq!(upstream.seen().len(), 1, "only refdata.test was reached");
}

#[tokio::test]
async fn redirects_are_returned_to_the_guest_not_followed() {
    let upstream = Upstream::start().await;
    let (_dir, server) = serve(&format!(
        "allowed_outbound_hosts = [\"http://127.0.0.1:{}\"]",
        upstream.address.port()
    ));
    let (_, outcomes) = fetch(&server, json!([get(format!("{}/redirect", upstream.url))])).await;
    assert_eq!(outcomes[0]["status"], 302, "{outcomes:?}");
    assert_eq!(outcomes[0]["location"], "/landed");
    assert!(upstream.seen_at("/landed").is_empty(), "not followed");
}

#[tokio::test]
async fn the_count_and_size_limits_fail_the_request_not_the_event() {
    let upstream = Upstream::start().await;
    let (_dir, server) = serve(&format!(
        "allowed_outbound_hosts = [\"http://127.0.0.1:{}\"]\n\
         limits = {{ max_outbound_requests = 3, max_outbound_response_bytes = 1000 }}",
        upstream.address.port()
    ));
    let (status, outcomes) = fetch(
        &server,
        json!([
            get(format!("{}/bytes/600", upstream.url)),
            get(format!("{}/bytes/600", upstream.url)),
            get(format!("{}/bytes/10", upstream.url)),
            get(format!("{}/bytes/10", upstream.url)),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{outcomes:?}");
    assert_eq!(outcomes[0]["length"], 600, "{outcomes:?}");
    let size = outcomes[1]["error"].as_str().unwrap();
    assert!(size.contains("max_outbound_response_bytes"), "{size}");
    assert_eq!(outcomes[2]["length"], 10, "{outcomes:?}");
    let count = outcomes[3]["error"].as_str().unwrap();
    assert!(count.contains("max_outbound_requests"), "{count}");
    assert_eq!(upstream.seen().len(), 3, "the fourth was never sent");
    server.wait_for_log("limits.max_outbound_requests");
    server.wait_for_log("limits.max_outbound_response_bytes");

    // The next event has its own count and budget.
    let (_, outcomes) = fetch(&server, json!([get(format!("{}/bytes/600", upstream.url))])).await;
    assert_eq!(outcomes[0]["length"], 600, "{outcomes:?}");
}

#[tokio::test]
async fn a_slow_upstream_cannot_hold_the_event_past_its_time_limit() {
    let upstream = Upstream::start().await;
    let (_dir, server) = serve(&format!(
        "allowed_outbound_hosts = [\"http://127.0.0.1:{}\"]\nlimits = {{ timeout_ms = 1000 }}",
        upstream.address.port()
    ));
    // `/slow` answers after 30 s, as long as the test client waits: an
    // answer at all means the host cut the request at the event's limit.
    let response = binary_event(&server.url, "fetcher", "fetch", "1")
        .header("content-type", "application/json")
        .body(json!({"requests": [get(format!("{}/slow", upstream.url))]}).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    match status {
        // The request timed out in the guest, which answered in time.
        200 => assert!(body.contains("timed out"), "{body}"),
        // The event's own limit came first.
        503 => assert!(body.contains("\"timeout\""), "{body}"),
        other => panic!("{other}: {body}"),
    }
    assert!(!body.contains("late"), "{body}");
}

/// `function`'s reply to a `type` event with JSON `data`: its status and data.
async fn reply(server: &Wasmfn, function: &str, ty: &str, data: Value) -> (u16, Value) {
    let response = binary_event(&server.url, function, ty, "1")
        .header("traceparent", TRACEPARENT)
        .header("content-type", "application/json")
        .body(data.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn python_and_javascript_guests_reach_allowed_hosts_only() {
    let upstream = Upstream::start().await;
    let allowed = format!(
        "allowed_outbound_hosts = [\"http://127.0.0.1:{}\"]",
        upstream.address.port()
    );
    let dir = FunctionsDir::new(
        &["probe-py", "probe-js"],
        &format!("[functions.probe-py]\n{allowed}\n[functions.probe-js]\n{allowed}\n"),
    );
    let server = Wasmfn::serve(dir.path(), &[]);
    for function in ["probe-py", "probe-js"] {
        let url = format!("{}/ref/{function}", upstream.url);
        let (status, data) = reply(&server, function, "fetch", json!({ "url": url })).await;
        assert_eq!((status, &data["status"]), (200, &json!(200)), "{function}: {data}");
        let body: Value = serde_json::from_str(data["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, json!({"key": function, "desk": "metals"}));
        let seen = upstream.seen_at(&format!("/ref/{function}"));
        let traceparent = seen[0].header("traceparent").expect("a traceparent");
        assert_eq!(&traceparent[..36], &TRACEPARENT[..36], "{function}: same trace");

        let denied = format!("http://127.0.0.1:1/ref/{function}");
        let (status, data) = reply(&server, function, "fetch", json!({ "url": denied })).await;
        assert_eq!(status, 200, "{function}: {data}");
        assert!(data["error"].is_string(), "{function}: {data}");
        let line = server.wait_for_log(&format!("url={denied}"));
        assert!(
            line.contains("outbound request denied") && line.contains(function),
            "{line}"
        );
    }
    let py_error = reply(&server, "probe-py", "fetch", json!({"url": "http://127.0.0.1:1/"}))
        .await
        .1;
    assert!(
        py_error["error"].as_str().unwrap().contains("denied") && py_error["denied"] == true,
        "{py_error}"
    );
}

#[tokio::test]
async fn the_enricher_adds_reference_data_from_an_allowed_service() {
    let upstream = Upstream::start().await;
    let dir = FunctionsDir::new(
        &["enricher"],
        &format!(
            "[functions.enricher]\nenv = {{ refdata_url = \"{}/ref\" }}\n\
             allowed_outbound_hosts = [\"http://127.0.0.1:{}\"]\n",
            upstream.url,
            upstream.address.port()
        ),
    );
    let server = Wasmfn::serve(dir.path(), &[]);
    let (status, trade) = reply(
        &server,
        "enricher",
        "my-trade",
        json!({"id": "T-1", "commodity": "copper", "qty": 5}),
    )
    .await;
    assert_eq!(status, 200, "{trade}");
    assert_eq!(
        trade,
        json!({"id": "T-1", "commodity": "copper", "qty": 5,
               "reference": {"key": "copper", "desk": "metals"}})
    );
}
