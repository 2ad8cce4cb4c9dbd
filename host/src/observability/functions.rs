//! What is loaded, described for operators: the startup summary log block and
//! the body of `GET /functions`. Settings and secrets show as keys only, and
//! sink URLs lose their userinfo and query (`SinkUrl`'s `Display`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::routing::{FunctionTable, LoadedFunction};
use crate::sandbox::Sandbox;

/// One loaded function as `GET /functions` shows it.
#[derive(Debug, Serialize)]
pub struct FunctionInfo {
    /// Its name (the `.wasm` file stem).
    pub name: String,
    /// Where it is served, e.g. `POST /handler`.
    pub route: String,
    /// Whether it is also served at `POST /`.
    pub default: bool,
    /// `sha256:<hex>` of the `.wasm` file.
    pub digest: String,
    /// Size of the `.wasm` file in bytes.
    pub size: usize,
    /// When this version started serving (RFC 3339, UTC).
    pub loaded_at: Option<String>,
    /// `reply` or `sink`.
    pub output: &'static str,
    /// The sink URL, redacted, in sink mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    /// The limits in force (function settings or the host's defaults).
    pub limits: LimitsInfo,
    /// The names of its settings (`env` and `env_files`); never the values.
    pub settings: Vec<String>,
    /// Requests handled so far, by outcome.
    pub events: BTreeMap<&'static str, u64>,
    /// Its versions: the serving one and, when configured, its canary or
    /// its shadow.
    pub versions: Vec<VersionInfo>,
}

/// One version of a function (issue 14).
#[derive(Debug, Serialize)]
pub struct VersionInfo {
    /// `serving`, `canary` or `shadow`.
    pub version: &'static str,
    /// `sha256:<hex>` of its module.
    pub digest: String,
    /// Percent of the events it is given now (a shadow answers none).
    pub weight: u8,
    /// Percent of the events copied to it (a shadow only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<u8>,
    /// `serving`, `active` (a canary taking its weight, a shadow sampling),
    /// `rolled_back`, or `off` (a shadow with `sample = 0`).
    pub state: &'static str,
    /// When a canary was rolled back (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_at: Option<String>,
    /// Events it handled so far, by outcome.
    pub events: BTreeMap<&'static str, u64>,
    /// A shadow's sampled events so far by result: `match`, `mismatch`,
    /// `error`, `shed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<BTreeMap<&'static str, u64>>,
}

/// The limits a function runs with.
#[derive(Debug, Serialize)]
pub struct LimitsInfo {
    /// Time limit per event.
    pub timeout_ms: u128,
    /// Linear memory per instance.
    pub memory_mb: usize,
    /// Output events per input event.
    pub max_output_events: usize,
    /// Total output data bytes per input event.
    pub max_output_bytes: usize,
    /// Events in flight at once.
    pub max_concurrency: usize,
}

/// Describes every function of `table`, sorted by name.
pub fn describe(table: &FunctionTable, sandbox: &Sandbox) -> Vec<FunctionInfo> {
    table
        .functions()
        .into_iter()
        .map(|function| describe_one(table, sandbox, function))
        .collect()
}

fn describe_one(table: &FunctionTable, sandbox: &Sandbox, f: &LoadedFunction) -> FunctionInfo {
    let (timeout, memory) = sandbox.limits_of(&f.context);
    let metrics = f.metrics();
    FunctionInfo {
        name: f.name().to_owned(),
        route: format!("POST /{}", f.name()),
        default: table.default_name() == Some(f.name()),
        digest: f.digest.clone(),
        size: f.size,
        loaded_at: metrics.module().map(|m| rfc3339(m.loaded_at)),
        output: f.destination.mode(),
        sink: f.destination.sink().map(ToString::to_string),
        limits: LimitsInfo {
            timeout_ms: timeout.as_millis(),
            memory_mb: memory >> 20,
            max_output_events: f.limits().max_output_events,
            max_output_bytes: f.limits().max_output_bytes,
            max_concurrency: f.limits().max_concurrency,
        },
        settings: f
            .context
            .settings
            .keys()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        events: metrics.events(),
        versions: versions(f),
    }
}

/// The versions of `f`: serving (its weight what the canary leaves), then
/// its canary or its shadow.
fn versions(f: &LoadedFunction) -> Vec<VersionInfo> {
    let canary_weight = f.rollout.as_ref().map_or(0, |r| r.effective_weight());
    let mut versions = vec![VersionInfo {
        version: f.version.label(),
        digest: f.digest.clone(),
        weight: 100 - canary_weight,
        sample: None,
        state: "serving",
        rolled_back_at: None,
        events: f.metrics().events(),
        results: None,
    }];
    if let Some(rollout) = &f.rollout {
        let rolled_back = rollout.rolled_back();
        versions.push(VersionInfo {
            version: rollout.canary.version.label(),
            digest: rollout.canary.digest.clone(),
            weight: canary_weight,
            sample: None,
            state: if rolled_back.is_some() {
                "rolled_back"
            } else {
                "active"
            },
            rolled_back_at: rolled_back.map(rfc3339),
            events: rollout.canary.metrics().events(),
            results: None,
        });
    }
    if let Some(shadow) = &f.shadow {
        versions.push(VersionInfo {
            version: shadow.module.version.label(),
            digest: shadow.module.digest.clone(),
            weight: 0,
            sample: Some(shadow.sample),
            state: if shadow.sample > 0 { "active" } else { "off" },
            rolled_back_at: None,
            events: shadow.module.metrics().events(),
            results: Some(shadow.results().into_iter().collect()),
        });
    }
    versions
}

fn rfc3339(time: std::time::SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Logs one block listing what `table` serves from `dir`: per function its
/// route, output (sink URL redacted), digest, size and setting names.
pub fn log_summary(table: &FunctionTable, dir: &Path) {
    let functions = table.functions();
    let mut block = format!(
        "serving {} function(s) from {}; default (POST /): {}",
        functions.len(),
        dir.display(),
        table.default_name().unwrap_or("none"),
    );
    for f in functions {
        let _ = write!(
            block,
            "\n  {:<16} POST /{:<16} {:<40} {} {:>9} bytes  settings {:?}",
            f.name(),
            f.name(),
            f.destination.to_string(),
            f.digest,
            f.size,
            f.context.settings.keys(),
        );
    }
    tracing::info!("{block}");
}
