//! Wiring the manifests to this process: the objects are built with every
//! destination resolved to a local URL ([`super::resolve`]), and the dev
//! routes are added to the host's own listener:
//!
//! - `POST /_dev/brokers/<namespace>/<name>`: a Broker's ingress;
//! - `POST /_dev/kafkasinks/<namespace>/<name>`: a KafkaSink.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::post;
use base64::Engine;
use chrono::Utc;
use reqwest::Url;

use super::broker::{Broker, Trigger};
use super::kafka_sink::{ContentMode, KafkaSink};
use super::manifests::{ManifestError, Manifests};
use super::ping::{PingSource, Schedule};
use super::resolve::Resolver;

/// Longest wait for one delivery's response (Knative's default has none;
/// a bound keeps a hung subscriber from holding a task forever).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The emulated eventing objects, resolved against this host's address.
#[derive(Debug)]
pub struct Pipeline {
    /// Brokers with their Triggers.
    pub brokers: Vec<Arc<Broker>>,
    /// KafkaSinks.
    pub kafka_sinks: Vec<Arc<KafkaSink>>,
    /// PingSources.
    pub ping_sources: Vec<PingSource>,
    /// The client every delivery uses.
    pub http: reqwest::Client,
}

impl Pipeline {
    /// Resolves `manifests` for a host at `base` (`http://127.0.0.1:<port>/`),
    /// with KafkaSink files in `out`.
    pub fn new(manifests: &Manifests, base: &Url, out: &Path) -> Result<Pipeline, ManifestError> {
        let resolver = Resolver::new(manifests, base);
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(DELIVERY_TIMEOUT)
            .build()
            .expect("a plain HTTP client builds");
        Ok(Pipeline {
            brokers: brokers(manifests, &resolver)?,
            kafka_sinks: kafka_sinks(manifests, &resolver, out)?,
            ping_sources: ping_sources(manifests, &resolver)?,
            http,
        })
    }

    /// The environment `wasmfn.toml` expands in dev: `BROKER_URL` and
    /// `KAFKA_SINK_URL` name the local endpoints when the manifests hold
    /// exactly one Broker / KafkaSink.
    pub fn env(&self) -> HashMap<String, String> {
        let mut env = HashMap::new();
        if let [broker] = self.brokers.as_slice() {
            env.insert("BROKER_URL".to_owned(), broker.url.to_string());
        }
        if let [sink] = self.kafka_sinks.as_slice() {
            env.insert("KAFKA_SINK_URL".to_owned(), sink.url.to_string());
        }
        env
    }

    /// Every destination of the manifests that is a function on the host at
    /// `base` (Trigger subscribers and dead-letter sinks, PingSource sinks),
    /// with the function's name (`""` for `POST /`, the default function).
    pub fn function_destinations(&self, base: &Url) -> Vec<(Url, String)> {
        self.brokers
            .iter()
            .flat_map(|b| b.triggers.iter())
            .flat_map(|t| std::iter::once(&t.subscriber).chain(t.policy.dead_letter.as_ref()))
            .chain(self.ping_sources.iter().map(|p| &p.sink))
            .filter(|url| url.origin() == base.origin() && !url.path().starts_with("/_dev/"))
            .map(|url| (url.clone(), url.path().trim_start_matches('/').to_owned()))
            .collect()
    }

    /// The dev routes: one per Broker ingress and per KafkaSink.
    pub fn router(&self) -> Router {
        let mut router = Router::new();
        for broker in &self.brokers {
            let (broker, http) = (broker.clone(), self.http.clone());
            let path = broker.url.path().to_owned();
            router = router.route(
                &path,
                post(move |request: Request| broker.clone().ingress(http.clone(), request)),
            );
        }
        for sink in &self.kafka_sinks {
            let sink = sink.clone();
            let path = sink.url.path().to_owned();
            router = router.route(
                &path,
                post(move |request: Request| sink.clone().ingress(request)),
            );
        }
        router
    }

    /// Starts every PingSource on its schedule (and, with `now`, fires each
    /// once at once).
    pub fn start_ping_sources(&self, now: bool) {
        for ping in &self.ping_sources {
            if now {
                let (ping, http) = (ping.clone(), self.http.clone());
                tokio::spawn(async move { ping.fire(&http).await });
            }
            ping.clone().spawn(self.http.clone());
        }
    }

    /// The startup block: what is emulated and where.
    pub fn summary(&self, base: &Url, out: &Path) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "wasmfn dev: a DEVELOPMENT EMULATION of the Knative eventing pipeline, in memory, in this process."
        );
        let _ = writeln!(
            text,
            "Nothing is durable and nothing is Kafka; production uses the real Broker, Triggers, PingSource and KafkaSink."
        );
        let _ = writeln!(
            text,
            "  functions        {base}<name>   (as `wasmfn serve`)"
        );
        for broker in &self.brokers {
            let _ = writeln!(
                text,
                "  broker           {}/{} at {}",
                broker.namespace, broker.name, broker.url
            );
            for trigger in &broker.triggers {
                let filter = if trigger.filter.is_empty() {
                    "every event".to_owned()
                } else {
                    trigger
                        .filter
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let retry = &trigger.policy;
                let dead = retry
                    .dead_letter
                    .as_ref()
                    .map_or("none".to_owned(), Url::to_string);
                let _ = writeln!(
                    text,
                    "    trigger        {}: {filter} → {}  (retry {}, {}, dead letter {dead})",
                    trigger.name, trigger.subscriber, retry.retry, retry.backoff
                );
            }
        }
        for sink in &self.kafka_sinks {
            let _ = writeln!(
                text,
                "  kafka sink       {}/{} at {} → {}",
                sink.namespace,
                sink.name,
                sink.url,
                out.join(format!("{}.jsonl", sink.topic)).display()
            );
        }
        for ping in &self.ping_sources {
            let next = ping
                .schedule
                .next_after(Utc::now())
                .map_or("never".to_owned(), |t| t.to_rfc3339());
            let _ = writeln!(
                text,
                "  pingsource       {}/{} `{}` ({}) → {}, next at {next}",
                ping.namespace, ping.name, ping.schedule.pattern, ping.schedule.timezone, ping.sink
            );
        }
        text
    }
}

/// The Brokers, each with its Triggers and their delivery (the Trigger's,
/// else the Broker's). A Trigger of no Broker is an error.
fn brokers(manifests: &Manifests, resolver: &Resolver) -> Result<Vec<Arc<Broker>>, ManifestError> {
    if let Some(orphan) = manifests
        .triggers
        .iter()
        .find(|t| resolver.broker(&t.namespace, &t.spec.broker).is_none())
    {
        return Err(orphan.unsupported(
            "Trigger",
            format!(
                "spec.broker `{}` is not a Broker of the manifests (namespace `{}`)",
                orphan.spec.broker, orphan.namespace
            ),
        ));
    }
    let mut brokers = Vec::new();
    for broker in &manifests.brokers {
        let owner = |m: String| broker.unsupported("Broker", m);
        let default = resolver
            .delivery(broker.spec.delivery.as_ref(), &broker.namespace, &owner)?
            .unwrap_or_default();
        let mut triggers = Vec::new();
        for trigger in manifests
            .triggers
            .iter()
            .filter(|t| t.namespace == broker.namespace && t.spec.broker == broker.name)
        {
            let owner = |m: String| trigger.unsupported("Trigger", m);
            if trigger.spec.filters.is_some() {
                return Err(owner("spec.filters (the CESQL-style filters) is not emulated by wasmfn dev; use spec.filter.attributes".into()));
            }
            triggers.push(Trigger {
                name: trigger.name.clone(),
                filter: trigger.spec.filter.clone().unwrap_or_default().attributes,
                subscriber: resolver.destination(
                    &trigger.spec.subscriber,
                    &trigger.namespace,
                    &owner,
                )?,
                policy: resolver
                    .delivery(trigger.spec.delivery.as_ref(), &trigger.namespace, &owner)?
                    .unwrap_or_else(|| default.clone()),
            });
        }
        brokers.push(Arc::new(Broker {
            namespace: broker.namespace.clone(),
            name: broker.name.clone(),
            url: resolver
                .broker(&broker.namespace, &broker.name)
                .expect("every Broker has an endpoint")
                .clone(),
            triggers,
        }));
    }
    Ok(brokers)
}

/// The KafkaSinks, writing to `out`.
fn kafka_sinks(
    manifests: &Manifests,
    resolver: &Resolver,
    out: &Path,
) -> Result<Vec<Arc<KafkaSink>>, ManifestError> {
    manifests
        .kafka_sinks
        .iter()
        .map(|sink| {
            let mode = match sink.spec.content_mode.as_deref() {
                None | Some("binary") => ContentMode::Binary,
                Some("structured") => ContentMode::Structured,
                Some(other) => {
                    return Err(sink.unsupported(
                        "KafkaSink",
                        format!("spec.contentMode `{other}` is neither binary nor structured"),
                    ));
                }
            };
            Ok(Arc::new(KafkaSink::new(
                sink.namespace.clone(),
                sink.name.clone(),
                sink.spec.topic.clone(),
                mode,
                resolver
                    .kafka_sink(&sink.namespace, &sink.name)
                    .expect("every KafkaSink has an endpoint")
                    .clone(),
                out,
            )))
        })
        .collect()
}

/// The PingSources, with their schedules parsed and data decoded.
fn ping_sources(
    manifests: &Manifests,
    resolver: &Resolver,
) -> Result<Vec<PingSource>, ManifestError> {
    manifests
        .ping_sources
        .iter()
        .map(|ping| {
            let owner = |m: String| ping.unsupported("PingSource", m);
            let schedule = Schedule::parse(&ping.spec.schedule, ping.spec.timezone.as_deref())
                .map_err(&owner)?;
            let data = match (&ping.spec.data, &ping.spec.data_base64) {
                (Some(_), Some(_)) => {
                    return Err(owner("set spec.data or spec.dataBase64, not both".into()));
                }
                (Some(text), None) => Some(text.clone().into_bytes()),
                (None, Some(b64)) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|err| owner(format!("spec.dataBase64 is not base64: {err}")))?,
                ),
                (None, None) => None,
            };
            Ok(PingSource {
                namespace: ping.namespace.clone(),
                name: ping.name.clone(),
                schedule,
                content_type: ping.spec.content_type.clone(),
                data,
                sink: resolver.destination(&ping.spec.sink, &ping.namespace, &owner)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(yaml: &str) -> Result<Pipeline, ManifestError> {
        let mut manifests = Manifests::default();
        manifests.add_file(Path::new("p.yaml"), yaml, "ns")?;
        let base = Url::parse("http://127.0.0.1:9/").unwrap();
        Pipeline::new(&manifests, &base, Path::new("/tmp"))
    }

    const BROKER: &str = "kind: Broker\nmetadata: {name: b}\nspec:\n  delivery: {retry: 4, deadLetterSink: {uri: 'http://dls.test/'}}\n";

    #[test]
    fn a_triggers_delivery_replaces_the_brokers() {
        let yaml = format!(
            "{BROKER}---\nkind: Trigger\nmetadata: {{name: own}}\nspec: {{broker: b, subscriber: {{uri: 'http://s.test/'}}, delivery: {{retry: 1}}}}\n---\nkind: Trigger\nmetadata: {{name: inherits}}\nspec: {{broker: b, subscriber: {{uri: 'http://s.test/'}}}}\n"
        );
        let pipeline = pipeline(&yaml).unwrap();
        let triggers = &pipeline.brokers[0].triggers;
        assert_eq!(triggers[0].policy.retry, 1);
        assert!(triggers[0].policy.dead_letter.is_none());
        assert_eq!(triggers[1].policy.retry, 4);
        assert_eq!(
            triggers[1].policy.dead_letter.as_ref().map(Url::as_str),
            Some("http://dls.test/")
        );
        let env = pipeline.env();
        assert_eq!(env["BROKER_URL"], "http://127.0.0.1:9/_dev/brokers/ns/b");
        assert!(!env.contains_key("KAFKA_SINK_URL"));
    }

    #[test]
    fn a_trigger_of_no_broker_is_named() {
        let yaml = format!(
            "{BROKER}---\nkind: Trigger\nmetadata: {{name: lost}}\nspec: {{broker: nope, subscriber: {{uri: 'http://s.test/'}}}}\n"
        );
        let err = pipeline(&yaml).unwrap_err().to_string();
        assert!(
            err.contains("Trigger `lost`") && err.contains("spec.broker `nope`"),
            "{err}"
        );
    }
}
