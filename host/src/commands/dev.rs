//! `wasmfn dev`: the functions served exactly as `wasmfn serve` serves them
//! (same loading, router, registry, sandbox and hot swap), plus the Knative
//! eventing the pipeline manifests describe, emulated in memory on the same
//! listener (`/_dev/...` routes, see [`crate::dev::pipeline`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::Url;
use tokio::net::TcpListener;

use super::serve::{shutdown_signal, start};
use crate::cli::DevArgs;
use crate::config::Config;
use crate::dev::{Manifests, Pipeline};
use crate::ingress::{router, serve as serve_http};
use crate::routing::{ConfigSource, EnvLookup};
use crate::sandbox::Sandbox;

/// How often the functions directory and `--config` are polled for changes
/// (file events on the functions directory reload at once).
const DEV_POLL: Duration = Duration::from_secs(2);

/// Runs the development pipeline until Ctrl-C or SIGTERM.
pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let manifests = Manifests::load(&args.manifests)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create --out {}", args.out.display()))?;
    // Bound first: every local endpoint's URL needs the port.
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}; set --port", args.port))?;
    let address = listener.local_addr()?;
    let base = Url::parse(&format!("http://{address}/"))?;
    let pipeline = Pipeline::new(&manifests, &base, &args.out)?;

    // The dev endpoints win over the shell's values (which may name the
    // cluster's); any other variable comes from the environment.
    let dev_env: HashMap<String, String> = pipeline.env();
    let env: EnvLookup = Arc::new(move |var: &str| {
        dev_env
            .get(var)
            .cloned()
            .or_else(|| std::env::var(var).ok())
    });
    let source = ConfigSource::File {
        path: args.config.clone(),
        env,
    };
    let config: Config = source
        .load(&args.functions)
        .with_context(|| format!("--config {}", args.config.display()))?;
    let sandbox = Sandbox::new(args.sandbox.to_sandbox_config(
        Some(args.cache_dir.clone()),
        config.first_with_fuel_limit().is_some(),
    )?)?;
    let body_timeout = args.connection.read_timeout();
    let fetcher = args.registry.fetcher(Some(&args.cache_dir));
    let app = start(
        &args.functions,
        &config,
        sandbox,
        DEV_POLL,
        source,
        body_timeout,
        fetcher,
    )
    .await?;
    warn_missing_routes(&pipeline, &app.registry.snapshot(), &base);

    let registry = app.registry.clone();
    let routes = pipeline.router().merge(router(app));
    registry.set_ready(true);
    println!("{}", pipeline.summary(&base, &args.out));
    println!(
        "Try it:\n  curl -i {base}handler -H 'ce_type: my-trade' -H 'ce_source: my-exchange' \\\n    -H 'content-type: application/json' -d '{{\"id\":\"T-1001\",\"px\":101.25,\"qty\":5}}'\n  tail -f {}/*.jsonl\n",
        args.out.display()
    );
    pipeline.start_ping_sources(args.ping_now);
    tracing::info!("listening on http://{address}");
    serve_http(
        listener,
        routes,
        args.connection.to_limits(),
        shutdown_signal(registry, Duration::ZERO),
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Warns about destinations on this host whose function is not loaded:
/// their deliveries would answer 404 (and be retried, then dead-lettered).
fn warn_missing_routes(pipeline: &Pipeline, table: &crate::routing::FunctionTable, base: &Url) {
    for (url, name) in pipeline.function_destinations(base) {
        let found = if name.is_empty() {
            table.default_function().is_ok()
        } else {
            table.find(&name).is_some()
        };
        if !found {
            tracing::warn!(destination = %url, "no function is loaded for this destination of the manifests; its deliveries will answer 404");
        }
    }
}
