//! Delivery without loss: a stream of events through `transformer` in sink
//! mode while the sink misbehaves in each way a KafkaSink or Broker can
//! (503s, 429 + Retry-After, slow answers past the host's request timeout,
//! connection resets, down then up, 400s). The test client plays the
//! Broker: it retries an event on 5xx/429/408 and gives up on other 4xx.
//!
//! For every phase it counts sent, acknowledged (2xx from the host),
//! delivered (distinct trade ids the sink stored and answered 202 for),
//! duplicates (extra stored copies, allowed: they share the deterministic
//! id) and lost (acknowledged but not delivered — must be 0), and checks
//! that an input whose function failed forwarded nothing. Run with
//! `--nocapture` to see the table (docs/RELIABILITY.md quotes it).

use crate::support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use support::faulty_sink::{Fault, FaultySink, Plan};
use support::{FunctionsDir, Wasmfn, client};

/// Events per phase; every tenth is poison for the function (no `px`).
const EVENTS: u64 = 60;
/// Events the test client keeps in flight.
const CONCURRENCY: usize = 8;
/// Tries per event by the client, as a Broker's `retry` would bound them.
const CLIENT_TRIES: u32 = 40;

const CONFIG: &str = r#"
[delivery]
attempts = 3
initial_backoff_ms = 10
connect_timeout_ms = 200
request_timeout_ms = 300
[functions.transformer]
output = "sink"
sink = "${KAFKA_SINK_URL}"
env = { mapping = '{"trade_id":"/id","price":"/px"}', partition_key = "trade_id" }
"#;

/// What one phase did.
#[derive(Debug, Default)]
struct Tally {
    sent: usize,
    acked: usize,
    delivered: usize,
    duplicates: usize,
    lost: usize,
    refused: usize,
    poison: usize,
    client_retries: u32,
}

/// The last status and the number of tries of one event.
struct Outcome {
    id: String,
    poison: bool,
    status: u16,
    tries: u32,
}

fn is_retryable(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// Sends one event like a Broker: retries while the answer is retryable.
async fn deliver_like_a_broker(url: String, id: String, poison: bool) -> Outcome {
    let body = if poison {
        serde_json::json!({ "id": id })
    } else {
        serde_json::json!({ "id": id, "px": 101.25 })
    };
    let mut tries = 0;
    loop {
        tries += 1;
        let status = client()
            .post(format!("{url}/transformer"))
            .header("ce-specversion", "1.0")
            .header("ce-id", &id)
            .header("ce-source", "my-exchange")
            .header("ce-type", "my-trade")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if (!is_retryable(status) && status != 0) || tries == CLIENT_TRIES {
            return Outcome {
                id,
                poison,
                status,
                tries,
            };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Streams [`EVENTS`] events named `<phase>-<n>` and checks the promises.
async fn stream(server: &Wasmfn, sink: &FaultySink, phase: &str) -> Tally {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..EVENTS {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let url = server.url.clone();
        let id = format!("{phase}-{n}");
        tasks.spawn(async move {
            let outcome = deliver_like_a_broker(url, id, n % 10 == 9).await;
            drop(permit);
            outcome
        });
    }
    let outcomes: Vec<Outcome> = tasks.join_all().await;

    let mut copies: HashMap<String, usize> = HashMap::new();
    for (_, body) in sink.stored() {
        let record: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let trade = record["trade_id"].as_str().unwrap().to_owned();
        if trade.starts_with(&format!("{phase}-")) {
            *copies.entry(trade).or_default() += 1;
        }
    }
    let delivered: BTreeSet<&str> = copies.keys().map(String::as_str).collect();
    let mut tally = Tally {
        sent: outcomes.len(),
        delivered: delivered.len(),
        duplicates: copies.values().map(|c| c - 1).sum(),
        ..Tally::default()
    };
    for outcome in &outcomes {
        tally.client_retries += outcome.tries - 1;
        let at_sink = delivered.contains(outcome.id.as_str());
        if outcome.poison {
            tally.poison += 1;
            assert_eq!(outcome.status, 422, "{phase}: poison {} ", outcome.id);
            assert!(!at_sink, "{phase}: a failed input forwarded output");
            continue;
        }
        if (200..300).contains(&outcome.status) {
            tally.acked += 1;
            if !at_sink {
                tally.lost += 1;
            }
        } else {
            tally.refused += 1;
            assert!(
                !at_sink || is_retryable(outcome.status),
                "{phase}: {} refused with {} yet stored",
                outcome.id,
                outcome.status
            );
            assert!(
                is_retryable(outcome.status) || outcome.status == 422,
                "{phase}: {} ended with {}",
                outcome.id,
                outcome.status
            );
        }
    }
    tally
}

fn every(k: u64, fault: Fault) -> Plan {
    Box::new(move |n, _| if n % k == 0 { fault } else { Fault::Accept })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_event_is_lost_whatever_the_sink_does() {
    let sink = FaultySink::start(Box::new(|_, _| Fault::Accept)).await;
    let dir = FunctionsDir::new(&["transformer"], CONFIG);
    let server = Wasmfn::serve(dir.path(), &[("KAFKA_SINK_URL", &sink.url)]);

    let mut report = Vec::new();
    let phases: Vec<(&str, Plan)> = vec![
        ("healthy", Box::new(|_, _| Fault::Accept)),
        ("503-every-3rd", every(3, Fault::Refuse(503))),
        ("429-retry-after", every(4, Fault::TooMany(1))),
        (
            "slow-500ms",
            every(5, Fault::Slow(Duration::from_millis(500))),
        ),
        ("reset-every-3rd", every(3, Fault::Reset)),
        (
            "400-for-ids-ending-3",
            Box::new(|_, body: &[u8]| {
                let record: serde_json::Value = serde_json::from_slice(body).unwrap();
                if record["trade_id"].as_str().unwrap().ends_with('3') {
                    Fault::Refuse(400)
                } else {
                    Fault::Accept
                }
            }),
        ),
        (
            "mixed",
            Box::new(|n, _| {
                // A fixed pseudo-random mix (splitmix64 of the request number).
                let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                match (z ^ (z >> 31)) % 10 {
                    0 => Fault::Refuse(503),
                    1 => Fault::TooMany(0),
                    2 => Fault::Slow(Duration::from_millis(400)),
                    3 => Fault::Reset,
                    _ => Fault::Accept,
                }
            }),
        ),
    ];
    for (phase, plan) in phases {
        sink.set_plan(plan);
        let tally = stream(&server, &sink, phase).await;
        report.push((phase, tally));
    }

    // Down for 600 ms, then up again on the same port.
    sink.set_plan(Box::new(|_, _| Fault::Accept));
    sink.down();
    let comeback = {
        tokio::time::sleep(Duration::from_millis(10)).await;
        async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            sink.up().await;
        }
    };
    let (tally, ()) = tokio::join!(stream(&server, &sink, "down-600ms-then-up"), comeback);
    report.push(("down-600ms-then-up", tally));

    println!(
        "\n| sink fault | sent | acked | delivered | duplicates | lost | refused (422) | poison (422, not forwarded) | client retries |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (phase, t) in &report {
        println!(
            "| {phase} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.sent,
            t.acked,
            t.delivered,
            t.duplicates,
            t.lost,
            t.refused,
            t.poison,
            t.client_retries
        );
    }
    let (requests, faults) = sink.counts();
    println!("sink requests: {requests}, by answer: {faults:?}");

    for (phase, t) in &report {
        assert_eq!(t.lost, 0, "{phase}: acknowledged events were lost: {t:?}");
        if *phase == "400-for-ids-ending-3" {
            // ids 3, 13, 23, 33, 43, 53: none of them poison (n % 10 == 9).
            assert_eq!(t.refused, 6, "{phase}: {t:?}");
        } else {
            assert_eq!(t.refused, 0, "{phase}: {t:?}");
        }
        assert_eq!(
            t.acked + t.refused + t.poison,
            t.sent,
            "{phase}: every event ends acknowledged or refused: {t:?}"
        );
        assert_eq!(t.delivered, t.acked, "{phase}: {t:?}");
    }
    let retried = |phase: &str| {
        report
            .iter()
            .find(|(p, _)| *p == phase)
            .unwrap()
            .1
            .client_retries
    };
    assert!(retried("down-600ms-then-up") > 0, "the outage was felt");
    assert!(faults["reset"] > 0 && faults["slow"] > 0 && faults["429"] > 0);
}
