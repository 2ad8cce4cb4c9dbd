//! Functions from an OCI registry, against a real `docker-registry` on
//! 127.0.0.1: `wasmfn push` then serve by digest, an artifact uploaded by
//! another tool, a kubelet digest swap under load, failed pulls that keep the
//! previous version (wrong digest, registry down, bad credentials over HTTP
//! Basic and over the token flow) and are retried, a restart served from the
//! cache with the registry down, a tampered blob refused, and references
//! without a digest refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;
use support::kubelet::ConfigMapMount;
use support::registry::Registry;
use support::token_service::TokenService;
use support::{WASMFN, Wasmfn, client, digest_of, error_kind, module, post_event};

/// Generous bound for things with no latency promise.
const EVENTUALLY: Duration = Duration::from_secs(30);

/// `wasmfn push FILE REF` with `args`; returns the last line of stdout
/// (also used by `rollout.rs`).
pub(crate) fn push(file: &Path, reference: &str, args: &[&str]) -> String {
    let output = Command::new(WASMFN)
        .arg("push")
        .arg(file)
        .arg(reference)
        .args(args)
        .env_remove("WASMFN_REGISTRY_AUTH")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "wasmfn push failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout.lines().last().unwrap().to_owned()
}

fn config(function: &str, pushed: &str) -> String {
    format!("[functions.{function}]\nsource = \"oci://{pushed}\"\n")
}

/// `wasmfn serve` on `dir` with its own cache directory.
fn serve(dir: &Path, cache: &Path, env: &[(&str, &str)]) -> Wasmfn {
    let cache = cache.to_str().unwrap();
    let mut all = vec![("WASMFN_CACHE_DIR", cache), ("WASMFN_POLL_SECS", "1")];
    all.extend_from_slice(env);
    Wasmfn::serve(dir, &all)
}

async fn readyz(url: &str) -> (u16, Value) {
    let response = client().get(format!("{url}/readyz")).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn metrics(url: &str) -> String {
    support::get_text(url, "/metrics").await
}

/// Waits until `/readyz` satisfies `check`; returns its body.
async fn wait_readyz(url: &str, what: &str, check: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let (status, body) = readyz(url).await;
        if check(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: /readyz is {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `/function` is served by the module with `digest`.
async fn wait_serving(url: &str, function: &str, digest: &str) {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let response = post_event(url, function).await;
        if response.status().is_success() && digest_of(&response) == digest {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/{function} is not served by {digest}: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn layer_digest(name: &str) -> String {
    wasmfn::routing::digest(&std::fs::read(module(name)).unwrap())
}

fn issue_of<'a>(readyz: &'a Value, function: &str) -> &'a str {
    readyz["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|issue| issue["function"] == function)
        .and_then(|issue| issue["message"].as_str())
        .unwrap_or_else(|| panic!("no issue for {function}: {readyz}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_serve_and_run_by_digest() {
    let registry = Registry::start();
    let target = format!("{}/fns/handler:v1", registry.host);
    let pushed = push(&module("handler"), &target, &[]);
    let prefix = format!("{}/fns/handler@sha256:", registry.host);
    assert!(pushed.starts_with(&prefix), "{pushed}");
    assert_eq!(
        push(&module("handler"), &target, &[]),
        pushed,
        "pushing the same bytes again gives the same digest"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmfn.toml"), config("handler", &pushed)).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), cache.path(), &[]);
    let (status, body) = readyz(&server.url).await;
    assert_eq!(status, 200, "{body}");
    let response = post_event(&server.url, "handler").await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(digest_of(&response), layer_digest("handler"));
    assert!(
        metrics(&server.url)
            .await
            .contains("wasmfn_registry_pulls_total{result=\"pulled\"} 1")
    );

    // `wasmfn run` takes the same reference.
    let output = Command::new(WASMFN)
        .args(["run", &format!("oci://{pushed}"), "--event", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(
                br#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"a":1}}"#,
            )?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        output.status.success(),
        "wasmfn run oci://…: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Uploads `blob` to `repository` as another tool would (a monolithic
/// upload: POST, then PUT with the digest).
async fn upload_blob(registry: &Registry, repository: &str, blob: &[u8]) {
    let base = format!("http://{}/v2/{repository}", registry.host);
    let started = client()
        .post(format!("{base}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status().as_u16(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("http://{}{location}", registry.host)
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let put = client()
        .put(format!(
            "{location}{separator}digest={}",
            wasmfn::routing::digest(blob)
        ))
        .header("content-type", "application/octet-stream")
        .body(blob.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201, "{}", put.text().await.unwrap());
}

/// PUTs `manifest` to `repository` by tag `v1`; returns its digest reference.
async fn put_manifest(registry: &Registry, repository: &str, manifest: &Value) -> String {
    let base = format!("http://{}/v2/{repository}", registry.host);
    let manifest = serde_json::to_vec_pretty(manifest).unwrap();
    let put = client()
        .put(format!("{base}/manifests/v1"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201, "{}", put.text().await.unwrap());
    format!(
        "{}/{repository}@{}",
        registry.host,
        wasmfn::routing::digest(&manifest)
    )
}

/// Uploads `module` in the CNCF layout with plain HTTP requests, as another
/// tool would (monolithic blob uploads, then the manifest by tag).
async fn upload_by_hand(registry: &Registry, repository: &str, module: &[u8]) -> String {
    use wasmfn::routing::digest;
    let config = br#"{"created":"2026-12-01T00:00:00Z","architecture":"wasm","os":"wasip2","layerDigests":[]}"#;
    for blob in [module, config.as_slice()] {
        upload_blob(registry, repository, blob).await;
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": digest(config), "size": config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": digest(module), "size": module.len(),
                    "annotations": {"org.opencontainers.image.title": "fn.wasm"}}],
        "annotations": {"org.opencontainers.image.created": "2026-12-01T00:00:00Z"}
    });
    put_manifest(registry, repository, &manifest).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_an_artifact_pushed_by_another_tool() {
    let registry = Registry::start();
    let bytes = std::fs::read(module("simple")).unwrap();
    let reference = upload_by_hand(&registry, "other/simple", &bytes).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmfn.toml"), config("simple", &reference)).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), cache.path(), &[]);
    let response = post_event(&server.url, "simple").await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(digest_of(&response), layer_digest("simple"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_swaps_under_load_and_failed_pulls_keep_the_previous_version() {
    let mut registry = Registry::start();
    let v1 = push(
        &module("handler"),
        &format!("{}/fns/f:v1", registry.host),
        &[],
    );
    let v2 = push(
        &module("simple"),
        &format!("{}/fns/f:v2", registry.host),
        &[],
    );
    let v3 = push(
        &module("subscriber"),
        &format!("{}/fns/f:v3", registry.host),
        &[],
    );
    let mut mount = ConfigMapMount::new(&[("wasmfn.toml", config("f", &v1).as_bytes())]);
    let cache = tempfile::tempdir().unwrap();
    let server = serve(mount.path(), cache.path(), &[("WASMFN_POLL_SECS", "60")]);
    let url = server.url.clone();
    assert_eq!(digest_of(&post_event(&url, "f").await), layer_digest("handler"));

    // v1 → v2 through a kubelet ..data swap while requests keep coming.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop, sent, failed) =
                (url.clone(), stop.clone(), sent.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let status = post_event(&url, "f").await.status();
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !status.is_success() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("load request failed: {status}");
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    mount.update(&[("wasmfn.toml", config("f", &v2).as_bytes())]);
    wait_serving(&url, "f", &layer_digest("simple")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(
        sent.load(Ordering::Relaxed) > 20,
        "too little load to mean anything"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the swap"
    );

    // A digest the registry does not have: v2 keeps serving.
    let missing = format!("{}/fns/f@sha256:{}", registry.host, "0".repeat(64));
    mount.update(&[("wasmfn.toml", config("f", &missing).as_bytes())]);
    let body = wait_readyz(&url, "the failed pull", |_, body| {
        body["issues"].as_array().is_some_and(|i| !i.is_empty())
    })
    .await;
    assert!(issue_of(&body, "f").contains(&"0".repeat(64)), "{body}");
    assert_eq!(
        body["ready"], true,
        "a failed reload does not take the host out: {body}"
    );
    assert_eq!(digest_of(&post_event(&url, "f").await), layer_digest("simple"));
    let text = metrics(&url).await;
    assert!(
        text.contains("wasmfn_registry_pulls_total{result=\"failed\"}"),
        "{text}"
    );
    assert!(!text.contains("wasmfn_failed_reloads_total 0"), "{text}");

    // Registry down: v3 cannot be pulled, v2 keeps serving; the pull is
    // retried with backoff and succeeds once the registry is back.
    registry.stop();
    mount.update(&[("wasmfn.toml", config("f", &v3).as_bytes())]);
    let body = wait_readyz(&url, "registry down", |_, body| {
        body["issues"].as_array().is_some_and(|i| {
            i.iter()
                .any(|i| i["message"].as_str().unwrap_or("").contains("/fns/f@"))
        }) && !body.to_string().contains(&"0".repeat(64))
    })
    .await;
    assert!(issue_of(&body, "f").contains("pulling oci://"), "{body}");
    assert_eq!(digest_of(&post_event(&url, "f").await), layer_digest("simple"));
    server.wait_for_log("retrying the registry pulls that failed");
    registry.restart();
    wait_serving(&url, "f", &layer_digest("subscriber")).await;
    wait_readyz(&url, "issues cleared after the retry", |_, body| {
        body["issues"].as_array().is_some_and(|i| i.is_empty())
    })
    .await;
}

const PASSWORD: &str = "s3cret-registry-pw";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_a_docker_config_and_never_show() {
    let registry = Registry::start_with_auth("alice", PASSWORD);
    pull_with_credentials_that_then_rotate(&registry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_flow_trades_the_credentials_for_a_bearer_token() {
    let tokens = TokenService::start("alice", PASSWORD).await;
    let registry = Registry::start_with_token_service(&tokens);
    pull_with_credentials_that_then_rotate(&registry).await;
    // Push and pull each asked the token service; the rotated password was
    // refused there, not by the registry.
    assert!(tokens.issued() >= 2, "{} tokens issued", tokens.issued());
    assert!(tokens.refused() >= 1, "no token request was refused");
}

/// Push and serve from `registry`, which wants alice's [`PASSWORD`]; then the
/// Secret rotates to a wrong password: the previous version keeps serving and
/// no password shows anywhere.
async fn pull_with_credentials_that_then_rotate(registry: &Registry) {
    let secrets = tempfile::tempdir().unwrap();
    let auth = registry.auth_file(secrets.path(), "alice", PASSWORD);
    let auth_arg = auth.to_str().unwrap();
    let target = format!("{}/private/f", registry.host);

    // Without credentials the push is refused.
    let anonymous = Command::new(WASMFN)
        .args(["push", module("handler").to_str().unwrap(), &target])
        .env_remove("WASMFN_REGISTRY_AUTH")
        .output()
        .unwrap();
    assert!(!anonymous.status.success());
    let v1 = push(&module("handler"), &target, &["--registry-auth", auth_arg]);
    let v2 = push(
        &module("simple"),
        &format!("{target}:v2"),
        &["--registry-auth", auth_arg],
    );

    let mut mount = ConfigMapMount::new(&[("wasmfn.toml", config("f", &v1).as_bytes())]);
    let cache = tempfile::tempdir().unwrap();
    let server = serve(
        mount.path(),
        cache.path(),
        &[("WASMFN_REGISTRY_AUTH", auth_arg)],
    );
    assert_eq!(
        digest_of(&post_event(&server.url, "f").await),
        layer_digest("handler")
    );

    // The Secret rotates to a wrong password, and v2 is asked for: v1 keeps serving.
    registry.auth_file(secrets.path(), "alice", "wrong-password");
    mount.update(&[("wasmfn.toml", config("f", &v2).as_bytes())]);
    let body = wait_readyz(&server.url, "the refused pull", |_, body| {
        body["issues"].as_array().is_some_and(|i| !i.is_empty())
    })
    .await;
    let message = issue_of(&body, "f").to_owned();
    assert!(message.contains("pulling oci://"), "{message}");
    assert_eq!(
        digest_of(&post_event(&server.url, "f").await),
        layer_digest("handler")
    );
    let functions = support::get_text(&server.url, "/functions").await;
    for text in [&body.to_string(), &functions, &server.log().join("\n")] {
        assert!(
            !text.contains(PASSWORD) && !text.contains("wrong-password"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_waits_for_pulls_and_a_restart_serves_from_the_cache() {
    let mut registry = Registry::start();
    let pushed = push(&module("handler"), &format!("{}/fns/f", registry.host), &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmfn.toml"), config("f", &pushed)).unwrap();
    let cache = tempfile::tempdir().unwrap();

    // Registry down at start: the host listens, is not ready, says why and retries.
    registry.stop();
    let server = serve(dir.path(), cache.path(), &[]);
    let (status, body) = readyz(&server.url).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["waiting"], serde_json::json!(["f"]), "{body}");
    assert!(issue_of(&body, "f").contains("pulling oci://"), "{body}");
    // An event that reaches it anyway is retried later, not dead-lettered.
    let (status, kind, message) = error_kind(post_event(&server.url, "f").await).await;
    assert_eq!((status, kind.as_str()), (503, "not_loaded"), "{message}");
    assert!(message.contains("`f`"), "{message}");
    server.wait_for_log("a registry source is retried with backoff");
    // The second retry waits 2 s, longer than the 1 s poll: the poll's
    // ticks must not keep postponing it.
    server.wait_for_log_lines("retrying the registry pulls that failed", 2);
    assert!(
        metrics(&server.url)
            .await
            .contains("wasmfn_functions_waiting 1")
    );
    registry.restart();
    wait_readyz(&server.url, "ready after the retry", |status, _| {
        status == 200
    })
    .await;
    assert_eq!(
        digest_of(&post_event(&server.url, "f").await),
        layer_digest("handler")
    );
    drop(server);

    // A restart with the registry down: served from the cache at once.
    registry.stop();
    let server = serve(dir.path(), cache.path(), &[]);
    let (status, body) = readyz(&server.url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        digest_of(&post_event(&server.url, "f").await),
        layer_digest("handler")
    );
    let text = metrics(&server.url).await;
    assert!(
        text.contains("wasmfn_registry_pulls_total{result=\"cached\"} 1"),
        "{text}"
    );
    assert!(!text.contains("result=\"pulled\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_blob_is_refused() {
    let registry = Registry::start();
    let pushed = push(&module("handler"), &format!("{}/fns/f", registry.host), &[]);
    let blob = registry.blob_path(&layer_digest("handler"));
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmfn.toml"), config("f", &pushed)).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), cache.path(), &[]);
    let (status, body) = readyz(&server.url).await;
    assert_eq!(status, 503, "{body}");
    let message = issue_of(&body, "f");
    assert!(message.contains("digest"), "{message}");
    assert_eq!(post_event(&server.url, "f").await.status().as_u16(), 503);
    let cached: Vec<PathBuf> = std::fs::read_dir(cache.path().join("oci/blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(cached.is_empty(), "a refused module was cached: {cached:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_references_and_a_source_beside_a_file_are_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wasmfn.toml"),
        "[functions.f]\nsource = \"oci://127.0.0.1:5000/fns/f:latest\"\n",
    )
    .unwrap();
    let output = Command::new(WASMFN)
        .args(["serve", "--port", "0", "--functions"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("functions.f.source") && stderr.contains("wasmfn push"),
        "{stderr}"
    );

    let digest = format!("sha256:{}", "1".repeat(64));
    std::fs::write(
        dir.path().join("wasmfn.toml"),
        format!("[functions.handler]\nsource = \"oci://127.0.0.1:5000/fns/f@{digest}\"\n"),
    )
    .unwrap();
    std::fs::copy(module("handler"), dir.path().join("handler.wasm")).unwrap();
    let output = Command::new(WASMFN)
        .args(["serve", "--port", "0", "--functions"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("functions.handler.source is set") && stderr.contains("handler.wasm"),
        "{stderr}"
    );
}

/// The manifest `pushed` (`REGISTRY/REPO@sha256:…`) names, from the registry.
async fn manifest_of(registry: &Registry, pushed: &str) -> Value {
    let (repository, digest) = pushed
        .strip_prefix(&format!("{}/", registry.host))
        .and_then(|rest| rest.split_once('@'))
        .unwrap();
    client()
        .get(format!(
            "http://{}/v2/{repository}/manifests/{digest}",
            registry.host
        ))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `wasmfn_module_loads_total{result=…}` in a `/metrics` text (0 if absent).
fn loads(metrics: &str, result: &str) -> u64 {
    let prefix = format!("wasmfn_module_loads_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |count| count.trim().parse().unwrap())
}

const TRUSTED: (&str, &str) = ("WASMFN_TRUST_PRECOMPILED", "true");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompiled_code_is_loaded_instead_of_compiling_only_when_trusted() {
    use wasmfn::registry::{COMPATIBILITY_ANNOTATION, PRECOMPILED_MEDIA_TYPE, SOURCE_ANNOTATION};
    let registry = Registry::start();
    let target = format!("{}/fns/handler", registry.host);
    let pushed = push(&module("handler"), &target, &["--precompile"]);
    let manifest = manifest_of(&registry, &pushed).await;
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{manifest}");
    assert_eq!(layers[0]["mediaType"], "application/wasm", "module layer first");
    assert_eq!(layers[0]["digest"], layer_digest("handler"));
    assert_eq!(layers[1]["mediaType"], PRECOMPILED_MEDIA_TYPE);
    let annotations = &layers[1]["annotations"];
    assert_eq!(annotations[SOURCE_ANNOTATION], layer_digest("handler"));
    assert_eq!(
        annotations[COMPATIBILITY_ANNOTATION]
            .as_str()
            .unwrap()
            .len(),
        64,
        "{manifest}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmfn.toml"), config("handler", &pushed)).unwrap();
    // Trusted, empty cache: the shipped code is loaded and nothing compiles.
    let cache = tempfile::tempdir().unwrap();
    {
        let server = serve(dir.path(), cache.path(), &[TRUSTED]);
        let response = post_event(&server.url, "handler").await;
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(digest_of(&response), layer_digest("handler"));
        let text = metrics(&server.url).await;
        assert_eq!(loads(&text, "precompiled"), 1, "{text}");
        assert_eq!(loads(&text, "compiled"), 0, "{text}");
        server.wait_for_log("loaded the artifact's precompiled code");
    }
    // The code stays in the compiled-artifact cache: a restart neither
    // pulls nor compiles.
    {
        let server = serve(dir.path(), cache.path(), &[TRUSTED]);
        let response = post_event(&server.url, "handler").await;
        assert!(response.status().is_success(), "{}", response.status());
        let text = metrics(&server.url).await;
        assert_eq!(loads(&text, "cached"), 1, "{text}");
        assert_eq!(loads(&text, "compiled") + loads(&text, "precompiled"), 0);
        assert!(text.contains("wasmfn_registry_pulls_total{result=\"cached\"} 1"));
    }
    // Not trusted (the default): the layer is ignored, the module compiled.
    let cache = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), cache.path(), &[]);
    let response = post_event(&server.url, "handler").await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(digest_of(&response), layer_digest("handler"));
    let text = metrics(&server.url).await;
    assert_eq!(loads(&text, "compiled"), 1, "{text}");
    assert_eq!(loads(&text, "precompiled"), 0, "{text}");
    let log = server.log();
    assert!(
        !log.iter().any(|line| line.contains("precompiled code")),
        "the layer was looked at without --trust-precompiled: {log:#?}"
    );

    // `wasmfn run` takes the flag too.
    let output = run_event(&format!("oci://{pushed}"), &["--trust-precompiled"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "wasmfn run: {stderr}");
    assert!(
        stderr.contains("loaded the artifact's precompiled code"),
        "{stderr}"
    );
}

/// `wasmfn run MODULE ARGS… --event -` on a small JSON event.
fn run_event(module: &str, args: &[&str]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(WASMFN)
        .args(["run", module, "--event", "-"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            br#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"a":1}}"#,
        )
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Uploads `module` with a precompiled layer of `code` annotated as made
/// by the engine `engine` from `module`, by hand.
async fn upload_with_code(
    registry: &Registry,
    repository: &str,
    module: &[u8],
    code: &[u8],
    engine: &str,
) -> String {
    use wasmfn::registry::{COMPATIBILITY_ANNOTATION, PRECOMPILED_MEDIA_TYPE, SOURCE_ANNOTATION};
    use wasmfn::routing::digest;
    let config = br#"{"created":"1970-01-01T00:00:00Z","architecture":"wasm","os":"wasip2","layerDigests":[]}"#;
    for blob in [module, code, config.as_slice()] {
        upload_blob(registry, repository, blob).await;
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": digest(config), "size": config.len()},
        "layers": [
            {"mediaType": "application/wasm", "digest": digest(module), "size": module.len()},
            {"mediaType": PRECOMPILED_MEDIA_TYPE, "digest": digest(code), "size": code.len(),
             "annotations": {COMPATIBILITY_ANNOTATION: engine, SOURCE_ANNOTATION: digest(module)}}
        ]
    });
    put_manifest(registry, repository, &manifest).await
}

/// Precompiled code made by another engine, tampered with in the registry,
/// or not loadable although it claims this engine, is never a failed load:
/// each is logged and its module compiled (the wasm layer is verified as
/// always). A tampered layer is refused by its digest, not loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompiled_code_that_does_not_fit_is_compiled_instead() {
    use wasmfn::registry::COMPATIBILITY_ANNOTATION;
    let registry = Registry::start();
    let host = registry.host.clone();
    // Made by a differently configured engine (one that meters fuel).
    let other_engine = push(
        &module("handler"),
        &format!("{host}/fns/fuel"),
        &["--precompile", "--fuel"],
    );
    // The code's bytes changed in the registry's storage.
    let tampered = push(
        &module("simple"),
        &format!("{host}/fns/tampered"),
        &["--precompile"],
    );
    let manifest = manifest_of(&registry, &tampered).await;
    let code = registry.blob_path(manifest["layers"][1]["digest"].as_str().unwrap());
    let mut bytes = std::fs::read(&code).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&code, &bytes).unwrap();
    // This engine's hash on bytes that are not code wasmtime can load.
    let engine = manifest["layers"][1]["annotations"][COMPATIBILITY_ANNOTATION]
        .as_str()
        .unwrap()
        .to_owned();
    let junk = upload_with_code(
        &registry,
        "fns/junk",
        &std::fs::read(module("transformer")).unwrap(),
        b"\x7fELF but not a wasmtime artifact",
        &engine,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wasmfn.toml"),
        format!(
            "{}{}{}env = {{ mapping = '{{\"a\":\"/a\"}}' }}\n",
            config("fuel", &other_engine),
            config("tampered", &tampered),
            config("junk", &junk)
        ),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), cache.path(), &[TRUSTED]);
    let (status, body) = readyz(&server.url).await;
    assert_eq!(status, 200, "{body}");
    for (function, name) in [
        ("fuel", "handler"),
        ("tampered", "simple"),
        ("junk", "transformer"),
    ] {
        let response = post_event(&server.url, function).await;
        assert!(
            response.status().is_success(),
            "{function}: {}",
            response.status()
        );
        assert_eq!(digest_of(&response), layer_digest(name), "{function}");
    }
    let text = metrics(&server.url).await;
    assert_eq!(loads(&text, "compiled"), 3, "{text}");
    assert_eq!(loads(&text, "precompiled"), 0, "{text}");
    server.wait_for_log("precompiled code is for another engine");
    let refused = server.wait_for_log("precompiled code is refused");
    assert!(refused.contains("digest"), "{refused}");
    server.wait_for_log("precompiled code does not load in this engine");
}
