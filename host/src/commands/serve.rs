//! `wasmfn serve`: load configuration and modules, bind `$PORT`, serve until
//! SIGTERM (after a drain period) or Ctrl-C.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::ingress::{App, router, serve as serve_http};
use crate::outputs::SinkClient;
use crate::registry::Fetcher;
use crate::routing::{ConfigSource, Loader, Registry, Reloader, is_sourced, waiting};
use crate::sandbox::{MemoryReset, Sandbox};

/// Runs the server; returns when it has shut down cleanly.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let dir = &args.functions;
    let config = Config::load_dir(dir, &|var| std::env::var(var).ok())?;
    let sandbox = Sandbox::new(args.sandbox.to_sandbox_config(
        Some(args.cache_dir.clone()),
        config.first_with_fuel_limit().is_some(),
    )?)?;
    let poll = Duration::from_secs(args.poll_secs.max(1));
    let body_timeout = args.connection.read_timeout();
    let fetcher = args.registry.fetcher(Some(&args.cache_dir));
    let app = start(
        dir,
        &config,
        sandbox,
        poll,
        ConfigSource::InDir,
        body_timeout,
        fetcher,
    )
    .await?;
    let listener = TcpListener::bind(("0.0.0.0", args.port))
        .await
        .with_context(|| format!("cannot listen on port {}; set --port or PORT", args.port))?;
    let address = listener.local_addr()?;
    app.registry.set_ready(true);
    tracing::info!("listening on http://{address}");
    let drain = Duration::from_secs(args.drain_secs);
    let registry = app.registry.clone();
    let limits = args.connection.to_limits();
    if serve_http(
        listener,
        router(app),
        limits,
        shutdown_signal(registry, drain),
    )
    .await?
    {
        tracing::info!("stopped: every in-flight request finished");
    } else {
        tracing::info!("stopped: the shutdown timeout closed the connections still open");
    }
    Ok(())
}

/// What `serve` and `dev` share: loads the functions of `dir` with
/// `config` (pulling `oci://` sources with `fetcher`), logs the startup
/// summary, starts the hot-swap watcher (which reloads from `source`, and
/// retries failed pulls) and returns the request handlers' state, not yet
/// marked ready (nor ready before every registry source has loaded once).
pub(crate) async fn start(
    dir: &Path,
    config: &Config,
    sandbox: Arc<Sandbox>,
    poll: Duration,
    source: ConfigSource,
    body_timeout: Duration,
    fetcher: Fetcher,
) -> anyhow::Result<Arc<App>> {
    let sink = SinkClient::new(config.delivery.clone()).context("creating the sink HTTP client")?;
    let loader = Loader::new(dir.to_owned(), sandbox.clone()).with_fetcher(fetcher);
    let (table, issues) = loader.load(config).await?;
    for issue in &issues {
        tracing::error!(function = %issue.function, "not loaded (a registry source is retried with backoff; /readyz stays 503 until it loads): {}", issue.message);
    }
    let waiting = waiting(config, &table);
    if table.functions().is_empty() && waiting.is_empty() {
        tracing::warn!(dir = %dir.display(), "no .wasm files in the functions directory; every route answers 404");
    }
    crate::observability::log_summary(&table, dir);
    match sandbox.memory_reset() {
        MemoryReset::DirtyPages => tracing::info!(
            "instance memory: only written pages are reset between events (PAGEMAP_SCAN)"
        ),
        MemoryReset::Decommit => tracing::info!(
            "instance memory: decommitted between events (this kernel has no PAGEMAP_SCAN, Linux 6.7+, or --memory-reset decommit); expect fewer events/s"
        ),
    }

    let registry = Arc::new(Registry::new(table));
    registry.set_waiting(waiting);
    let retry = issues
        .iter()
        .any(|issue| is_sourced(config, &issue.function));
    registry.record_startup(issues);
    Arc::new(Reloader::new(loader, registry.clone(), config).with_config(source))
        .watch(poll, retry);
    Ok(Arc::new(App {
        registry,
        sandbox,
        sink,
        max_body_bytes: config.max_body_bytes,
        body_timeout,
    }))
}

/// Resolves when the server should stop accepting: after `drain` once SIGTERM
/// arrives (Knative may still route requests meanwhile; readiness fails at
/// once), or immediately on Ctrl-C.
pub(crate) async fn shutdown_signal(registry: Arc<Registry>, drain: Duration) {
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = sigterm.recv() => {
            registry.set_ready(false);
            tracing::info!(drain_secs = drain.as_secs(), "SIGTERM: still serving while the drain period runs");
            tokio::time::sleep(drain).await;
        }
        _ = tokio::signal::ctrl_c() => {
            registry.set_ready(false);
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
