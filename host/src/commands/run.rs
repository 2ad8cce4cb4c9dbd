//! `wasmfn run`: one event through one module, outputs on stdout — the loop
//! a function author uses before any cluster exists.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::RunArgs;
use crate::config::{Config, FunctionConfig};
use crate::error::Error;
use crate::event::{from_sdk, to_sdk, validate};
use crate::observability::TraceContext;
use crate::registry::{OciSource, SCHEME};
use crate::routing::{LoadedFunction, Version};
use crate::sandbox::Sandbox;

/// Exit code when the function says the event is `invalid`.
const EXIT_INVALID: u8 = 2;

/// Runs the event; the exit code says how it went.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let oci = match args.module.to_str() {
        Some(text) if text.starts_with(SCHEME) => Some(OciSource::parse(text)?),
        _ => None,
    };
    let name = match (&args.name, &oci) {
        (Some(name), _) => name.clone(),
        (None, Some(source)) => source.repository_name().to_owned(),
        (None, None) => args
            .module
            .file_stem()
            .and_then(|s| s.to_str())
            .context("the module path has no file name")?
            .to_owned(),
    };
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --config {}", path.display()))?;
            Config::parse(path, &text, &|var| std::env::var(var).ok())?.function(&name)
        }
        None => FunctionConfig::default(),
    };
    let sandbox = Sandbox::new(
        args.sandbox
            .to_sandbox_config(None, config.limits.fuel.is_some())?,
    )?;
    let (bytes, shipped) = match &oci {
        Some(source) => {
            let fetched = args
                .registry
                .fetcher(None)
                .fetch(source, sandbox.compatibility_hash())
                .await?;
            (fetched.module, fetched.precompiled)
        }
        None => (
            std::fs::read(&args.module)
                .with_context(|| format!("cannot read module {}", args.module.display()))?,
            None,
        ),
    };
    let digest = crate::routing::digest(&bytes);
    let function = sandbox
        .compile_with(&bytes, &digest, shipped.as_deref())
        .and_then(|module| {
            LoadedFunction::new(&name, Version::Serving, digest, bytes.len(), module, config)
        })
        .with_context(|| format!("{}", args.module.display()))?;

    let text = read_event(&args.event)?;
    let event: cloudevents::Event = serde_json::from_str(&text).with_context(|| {
        format!(
            "--event {}: not a structured-mode CloudEvent (JSON)",
            args.event.display()
        )
    })?;
    let event = from_sdk(event);
    validate(&event).with_context(|| format!("--event {}", args.event.display()))?;

    // The event's own `traceparent` extension, if any, continues on its
    // outbound requests, as when it is served.
    let trace = TraceContext::continue_from(&http::HeaderMap::new(), &event);
    match function.execute(&sandbox, &event, &trace).await {
        Ok(outputs) => {
            for output in &outputs {
                println!("{}", serde_json::to_string(&to_sdk(output)?)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("{name}: {} ({}): {err}", err.status(), err.kind());
            Ok(match err {
                Error::FunctionInvalid(_) => ExitCode::from(EXIT_INVALID),
                _ => ExitCode::FAILURE,
            })
        }
    }
}

fn read_event(path: &std::path::Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the event from stdin")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --event {}", path.display()))
    }
}
