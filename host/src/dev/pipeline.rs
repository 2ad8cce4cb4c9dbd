//! Wiring the manifests to this process: every destination resolves to a
//! local URL (a Knative Service ref → this host, a Broker or KafkaSink ref →
//! its dev endpoint, a `uri` resolved against the ref), and the dev routes
//! are added to the host's own listener:
//!
//! - `POST /_dev/brokers/<namespace>/<name>`: a Broker's ingress;
//! - `POST /_dev/kafkasinks/<namespace>/<name>`: a KafkaSink.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::routing::post;
use base64::Engine;
use chrono::Utc;
use reqwest::Url;

use super::broker::{Broker, Trigger};
use super::delivery::RetryPolicy;
use super::kafka_sink::{ContentMode, KafkaSink};
use super::manifests::{DeliverySpec, Destination, ManifestError, Manifests};
use super::ping::{PingSource, Schedule};

/// Path prefix of the Broker ingresses.
pub const BROKERS_PATH: &str = "/_dev/brokers";
/// Path prefix of the KafkaSinks.
pub const KAFKA_SINKS_PATH: &str = "/_dev/kafkasinks";

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
        let endpoint = |prefix: &str, namespace: &str, name: &str| {
            base.join(&format!("{prefix}/{namespace}/{name}"))
                .expect("a path joins an http URL")
        };
        let broker_urls: HashMap<(String, String), Url> = manifests
            .brokers
            .iter()
            .map(|b| {
                (
                    (b.namespace.clone(), b.name.clone()),
                    endpoint(BROKERS_PATH, &b.namespace, &b.name),
                )
            })
            .collect();
        let sink_urls: HashMap<(String, String), Url> = manifests
            .kafka_sinks
            .iter()
            .map(|s| {
                (
                    (s.namespace.clone(), s.name.clone()),
                    endpoint(KAFKA_SINKS_PATH, &s.namespace, &s.name),
                )
            })
            .collect();
        let resolve = |dest: &Destination,
                       namespace: &str,
                       owner: &dyn Fn(String) -> ManifestError| {
            let target = match &dest.reference {
                None => None,
                Some(r) => {
                    let key = (
                        r.namespace.clone().unwrap_or_else(|| namespace.to_owned()),
                        r.name.clone(),
                    );
                    Some(match r.kind.as_str() {
                        // The one Knative Service is this host.
                        "Service" => base.clone(),
                        "Broker" => broker_urls.get(&key).cloned().ok_or_else(|| {
                            owner(format!(
                                "refers to Broker `{}/{}`, which is not in the manifests",
                                key.0, key.1
                            ))
                        })?,
                        "KafkaSink" => sink_urls.get(&key).cloned().ok_or_else(|| {
                            owner(format!(
                                "refers to KafkaSink `{}/{}`, which is not in the manifests",
                                key.0, key.1
                            ))
                        })?,
                        other => {
                            return Err(owner(format!(
                                "refers to a {other} ({}), which wasmfn dev cannot emulate; use a Service, Broker or KafkaSink ref, or an absolute uri",
                                r.api_version
                            )));
                        }
                    })
                }
            };
            match (target, dest.uri.as_deref()) {
                (Some(target), None) => Ok(target),
                (Some(target), Some(uri)) => target.join(uri).map_err(|err| {
                    owner(format!(
                        "uri `{uri}` does not resolve against its ref: {err}"
                    ))
                }),
                (None, Some(uri)) => Url::parse(uri).map_err(|err| {
                    owner(format!(
                        "uri `{uri}` without a ref must be an absolute URL: {err}"
                    ))
                }),
                (None, None) => Err(owner("a destination needs a ref, a uri or both".into())),
            }
        };
        let delivery = |spec: Option<&DeliverySpec>,
                        namespace: &str,
                        owner: &dyn Fn(String) -> ManifestError| {
            spec.map(|spec| {
                RetryPolicy::from_spec(spec, owner, |dest| resolve(dest, namespace, owner))
            })
            .transpose()
        };

        let mut brokers = Vec::new();
        for broker in &manifests.brokers {
            let owner = |m: String| broker.unsupported("Broker", m);
            let default = delivery(broker.spec.delivery.as_ref(), &broker.namespace, &owner)?
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
                    subscriber: resolve(&trigger.spec.subscriber, &trigger.namespace, &owner)?,
                    policy: delivery(trigger.spec.delivery.as_ref(), &trigger.namespace, &owner)?
                        .unwrap_or_else(|| default.clone()),
                });
            }
            brokers.push(Arc::new(Broker {
                namespace: broker.namespace.clone(),
                name: broker.name.clone(),
                url: broker_urls[&(broker.namespace.clone(), broker.name.clone())].clone(),
                triggers,
            }));
        }
        if let Some(orphan) = manifests.triggers.iter().find(|t| {
            !manifests
                .brokers
                .iter()
                .any(|b| b.namespace == t.namespace && b.name == t.spec.broker)
        }) {
            return Err(orphan.unsupported(
                "Trigger",
                format!(
                    "spec.broker `{}` is not a Broker of the manifests (namespace `{}`)",
                    orphan.spec.broker, orphan.namespace
                ),
            ));
        }

        let mut kafka_sinks = Vec::new();
        for sink in &manifests.kafka_sinks {
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
            kafka_sinks.push(Arc::new(KafkaSink::new(
                sink.namespace.clone(),
                sink.name.clone(),
                sink.spec.topic.clone(),
                mode,
                sink_urls[&(sink.namespace.clone(), sink.name.clone())].clone(),
                out,
            )));
        }

        let mut ping_sources = Vec::new();
        for ping in &manifests.ping_sources {
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
            ping_sources.push(PingSource {
                namespace: ping.namespace.clone(),
                name: ping.name.clone(),
                schedule,
                content_type: ping.spec.content_type.clone(),
                data,
                sink: resolve(&ping.spec.sink, &ping.namespace, &owner)?,
            });
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("a plain HTTP client builds");
        Ok(Pipeline {
            brokers,
            kafka_sinks,
            ping_sources,
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
