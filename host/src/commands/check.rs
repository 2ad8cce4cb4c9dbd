//! `wasmfn check`: a deployment's configuration and manifests read by the
//! code that will serve them (the host's own `wasmfn.toml` parser, `dev`'s
//! manifest reader), with every problem reported at once, so that CI stops
//! a bad ConfigMap before the kubelet swaps it in.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::ExitCode;

use reqwest::Url;

use crate::cli::CheckArgs;
use crate::config::Config;
use crate::dev::{Manifests, Pipeline};
use crate::routing::list_modules;

/// The host the manifests' destinations are resolved against; only its
/// origin matters (a destination there is one of the host's functions).
const HOST_BASE: &str = "http://127.0.0.1:8080/";

/// Checks what `args` names; prints one line per problem (stderr) or per
/// file that passed (stdout). Exit 1 when there is any problem.
pub fn check(args: CheckArgs) -> ExitCode {
    let mut report = Report::default();
    if args.config.is_empty() && args.manifests.is_none() {
        report.problem(
            "nothing to check: give --config FILE (repeatable) and/or --manifests DIR".to_owned(),
        );
    }
    let base = Url::parse(HOST_BASE).expect("HOST_BASE is a URL");
    let pipeline = args
        .manifests
        .as_deref()
        .and_then(|dir| read_manifests(dir, &base, &mut report));
    let modules = args
        .functions
        .as_deref()
        .and_then(|dir| read_modules(dir, &mut report));
    let dev_env = pipeline.as_ref().map(Pipeline::env).unwrap_or_default();
    for path in &args.config {
        let Some(config) = read_config(path, &dev_env, &mut report) else {
            continue;
        };
        if let Some(modules) = &modules {
            check_names(
                path,
                &config,
                modules,
                pipeline.as_ref(),
                &base,
                &mut report,
            );
        }
    }
    report.finish()
}

/// The manifests in `dir` as `dev` reads them, or `None` after reporting why not.
fn read_manifests(dir: &Path, base: &Url, report: &mut Report) -> Option<Pipeline> {
    let manifests = match Manifests::load(dir) {
        Ok(manifests) => manifests,
        Err(err) => {
            report.problem(format!("--manifests {}: {err}", dir.display()));
            return None;
        }
    };
    // `dev` writes KafkaSink records under its `--out`; nothing is written here.
    match Pipeline::new(&manifests, base, Path::new("dev-out")) {
        Ok(pipeline) => {
            report.passed(format!(
                "{}: {} Broker(s) with {} Trigger(s), {} KafkaSink(s), {} PingSource(s)",
                dir.display(),
                pipeline.brokers.len(),
                pipeline
                    .brokers
                    .iter()
                    .map(|b| b.triggers.len())
                    .sum::<usize>(),
                pipeline.kafka_sinks.len(),
                pipeline.ping_sources.len()
            ));
            Some(pipeline)
        }
        Err(err) => {
            report.problem(format!("--manifests {}: {err}", dir.display()));
            None
        }
    }
}

/// The module names in the functions directory `dir`.
fn read_modules(dir: &Path, report: &mut Report) -> Option<BTreeSet<String>> {
    match list_modules(dir) {
        Ok(listing) => {
            for refused in listing.refused {
                report.problem(format!(
                    "--functions {}: {}",
                    dir.display(),
                    refused.message
                ));
            }
            Some(listing.modules.into_iter().map(|(name, _)| name).collect())
        }
        Err(err) => {
            report.problem(format!("--functions {}: {err}", dir.display()));
            None
        }
    }
}

/// `path` parsed and validated by the host's parser; `${VAR}`s expand from
/// `dev_env` (the manifests' Broker and KafkaSink), then the environment.
fn read_config(
    path: &Path,
    dev_env: &HashMap<String, String>,
    report: &mut Report,
) -> Option<Config> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            report.problem(format!(
                "--config {}: cannot read it: {err}",
                path.display()
            ));
            return None;
        }
    };
    let env = |var: &str| {
        dev_env
            .get(var)
            .cloned()
            .or_else(|| std::env::var(var).ok())
    };
    match Config::check(path, &text, &env) {
        Ok(config) => {
            let mut names: Vec<&str> = config.functions.keys().map(String::as_str).collect();
            names.sort_unstable();
            report.passed(format!(
                "{}: parses; default {}; settings for {}",
                path.display(),
                config.default_function.as_deref().unwrap_or("none"),
                if names.is_empty() {
                    "no function".to_owned()
                } else {
                    names.join(", ")
                }
            ));
            Some(config)
        }
        Err(err) => {
            report.problem(err.to_string());
            None
        }
    }
}

/// Every function `config` and the manifests name is served: a module in
/// the functions directory (`modules`) or an `oci://` source.
fn check_names(
    path: &Path,
    config: &Config,
    modules: &BTreeSet<String>,
    pipeline: Option<&Pipeline>,
    base: &Url,
    report: &mut Report,
) {
    let sourced: BTreeSet<String> = config.sources().into_iter().map(|(n, _)| n).collect();
    let served = |name: &str| modules.contains(name) || sourced.contains(name);
    let file = path.display();
    let available = || {
        let all: Vec<&str> = modules.iter().chain(&sourced).map(String::as_str).collect();
        if all.is_empty() {
            "none".to_owned()
        } else {
            all.join(", ")
        }
    };
    if let Some(default) = &config.default_function
        && !served(default)
    {
        report.problem(format!(
            "{file}: `default = \"{default}\"` names no module in --functions and no oci:// source (served: {})",
            available()
        ));
    }
    for name in sourced.intersection(modules) {
        report.problem(format!(
            "{file}: functions.{name}.source is set and {name}.wasm is in --functions too; remove one of them (the host refuses both)"
        ));
    }
    let mut configured: Vec<&String> = config.functions.keys().collect();
    configured.sort();
    for name in configured {
        if !served(name) {
            report.problem(format!(
                "{file}: [functions.{name}] has no {name}.wasm in --functions and no source (served: {}); its settings would apply to nothing",
                available()
            ));
        }
    }
    let mut destinations = pipeline.map_or_else(Vec::new, |p| p.function_destinations(base));
    destinations.sort_by(|a, b| a.1.cmp(&b.1));
    destinations.dedup_by(|a, b| a.1 == b.1);
    for (url, name) in destinations {
        let found = if name.is_empty() {
            config.default_function.as_deref().is_some_and(served)
                || (config.default_function.is_none() && modules.len() + sourced.len() == 1)
        } else {
            served(&name)
        };
        if !found {
            report.problem(format!(
                "{file}: the manifests deliver to {} on the host, which no function serves (served: {}); those deliveries would answer 404 and be dead-lettered",
                url.path(),
                available()
            ));
        }
    }
}

/// What the check found.
#[derive(Default)]
struct Report {
    problems: usize,
}

impl Report {
    fn problem(&mut self, message: String) {
        self.problems += 1;
        eprintln!("error: {message}");
    }

    fn passed(&self, message: String) {
        println!("ok    {message}");
    }

    fn finish(self) -> ExitCode {
        if self.problems == 0 {
            println!("wasmfn check: no problems");
            ExitCode::SUCCESS
        } else {
            eprintln!("wasmfn check: {} problem(s)", self.problems);
            ExitCode::FAILURE
        }
    }
}
