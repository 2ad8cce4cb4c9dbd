//! Hot swap from a ConfigMap mount laid out exactly as the kubelet does:
//! an atomic `..data` swap under load fails no request, the new digest is
//! served within 2 s, a broken module leaves the old version serving, and a
//! removed module's route answers 404.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::kubelet::ConfigMapMount;
use support::{Wasmfn, digest_of, module, post_event};

/// The time the host has to serve a swapped-in module (issue 3).
const SWAP_DEADLINE: Duration = Duration::from_secs(2);
/// Generous bound for things with no latency promise.
const EVENTUALLY: Duration = Duration::from_secs(15);

async fn readyz(url: &str) -> Value {
    support::get_json(url, "/readyz").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_swap_under_load() {
    let v1 = std::fs::read(module("handler")).unwrap();
    let v2 = std::fs::read(module("simple")).unwrap();
    let v2_digest = wasmfn::routing::digest(&v2);
    let mut mount = ConfigMapMount::new(&[("fn.wasm", &v1), ("other.wasm", &v1)]);
    // A long poll interval: the swap must be seen through file events.
    let server = Wasmfn::serve(mount.path(), &[("WASMFN_POLL_SECS", "60")]);
    let url = server.url.clone();
    assert_eq!(
        digest_of(&post_event(&url, "fn").await),
        wasmfn::routing::digest(&v1)
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load: Vec<_> = (0..4)
        .map(|worker| {
            let (url, stop, sent, failed) =
                (url.clone(), stop.clone(), sent.clone(), failed.clone());
            tokio::spawn(async move {
                let function = if worker % 2 == 0 { "fn" } else { "other" };
                while !stop.load(Ordering::Relaxed) {
                    let status = post_event(&url, function).await.status();
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !status.is_success() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("load request to /{function} failed: {status}");
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    mount.update(&[("fn.wasm", &v2), ("other.wasm", &v1)]);
    let renamed = Instant::now();
    let swap_latency = loop {
        let response = post_event(&url, "fn").await;
        if digest_of(&response) == v2_digest {
            assert_eq!(
                response.status(),
                202,
                "the new module (simple) answers 202"
            );
            break renamed.elapsed();
        }
        assert!(
            renamed.elapsed() < SWAP_DEADLINE,
            "new digest not served within {SWAP_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    eprintln!("swap latency (rename → new digest served): {swap_latency:?}");
    // A reload reads every module; those reads must not trigger more reloads.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = readyz(&url).await["reloads"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        readyz(&url).await["reloads"],
        settled,
        "reloads continue without changes"
    );

    mount.update(&[("fn.wasm", b"not a wasm component"), ("other.wasm", &v1)]);
    let start = Instant::now();
    loop {
        let ready = readyz(&url).await;
        let issues = ready["issues"].as_array().unwrap();
        if issues.iter().any(|i| i["function"] == "fn") {
            assert_eq!(ready["ready"], true, "a failed reload keeps the host ready");
            assert!(ready["failed_reloads"].as_u64().unwrap() >= 1);
            break;
        }
        assert!(
            start.elapsed() < EVENTUALLY,
            "broken module never reported: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = post_event(&url, "fn").await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        digest_of(&response),
        v2_digest,
        "the previous version keeps serving"
    );
    server.wait_for_log("reload kept the previous version");

    stop.store(true, Ordering::Relaxed);
    for worker in load {
        worker.await.unwrap();
    }
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("load during swaps: {sent} requests, {failed} failed");
    assert!(sent > 0);
    assert_eq!(failed, 0, "no request fails during swaps");

    mount.update(&[("other.wasm", &v1)]);
    let start = Instant::now();
    while post_event(&url, "fn").await.status() != 404 {
        assert!(start.elapsed() < EVENTUALLY, "removed module still served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(post_event(&url, "other").await.status(), 200);
}

#[tokio::test]
async fn compiled_artifacts_are_cached_by_digest_across_restarts() {
    let handler = std::fs::read(module("handler")).unwrap();
    let mount = ConfigMapMount::new(&[("a.wasm", &handler), ("b.wasm", &handler)]);
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let env = [
        ("WASMFN_CACHE_DIR", cache_dir),
        ("RUST_LOG", "info,wasmfn::sandbox=debug"),
    ];
    {
        let _first = Wasmfn::serve(mount.path(), &env);
    }
    // `oci/` beside the artifacts is the registry's module cache (empty here).
    let artifacts: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "oci")
        .collect();
    assert!(
        artifacts.iter().all(|a| a.ends_with(".cwasm")) && !artifacts.is_empty(),
        "{artifacts:?}"
    );
    assert_eq!(
        artifacts.len(),
        1,
        "identical modules compile once: {artifacts:?}"
    );
    let second = Wasmfn::serve(mount.path(), &env);
    second.wait_for_log("compiled-artifact cache hit");
    assert_eq!(post_event(&second.url, "a").await.status(), 200);
}
