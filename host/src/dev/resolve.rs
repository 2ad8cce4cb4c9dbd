//! Destinations to URLs, as this host plays every addressable object: a
//! `ref` to a Knative Service is this host, a `ref` to a Broker or KafkaSink
//! is its dev endpoint, a `uri` is resolved against the `ref` (or used as it
//! is when absolute and alone).

use std::collections::HashMap;

use reqwest::Url;

use super::delivery::RetryPolicy;
use super::manifests::{DeliverySpec, Destination, ManifestError, Manifests};

/// Path prefix of the Broker ingresses.
pub const BROKERS_PATH: &str = "/_dev/brokers";
/// Path prefix of the KafkaSinks.
pub const KAFKA_SINKS_PATH: &str = "/_dev/kafkasinks";

/// Makes an error naming the object being resolved.
pub type Owner<'a> = &'a dyn Fn(String) -> ManifestError;

/// The local address of every addressable object of the manifests.
pub struct Resolver {
    base: Url,
    brokers: HashMap<(String, String), Url>,
    kafka_sinks: HashMap<(String, String), Url>,
}

impl Resolver {
    /// A resolver for a host at `base` (`http://127.0.0.1:<port>/`).
    pub fn new(manifests: &Manifests, base: &Url) -> Resolver {
        let endpoints = |prefix: &str, objects: Vec<(&String, &String)>| {
            objects
                .into_iter()
                .map(|(namespace, name)| {
                    let url = base
                        .join(&format!("{prefix}/{namespace}/{name}"))
                        .expect("a path joins an http URL");
                    ((namespace.clone(), name.clone()), url)
                })
                .collect()
        };
        Resolver {
            base: base.clone(),
            brokers: endpoints(
                BROKERS_PATH,
                manifests
                    .brokers
                    .iter()
                    .map(|b| (&b.namespace, &b.name))
                    .collect(),
            ),
            kafka_sinks: endpoints(
                KAFKA_SINKS_PATH,
                manifests
                    .kafka_sinks
                    .iter()
                    .map(|s| (&s.namespace, &s.name))
                    .collect(),
            ),
        }
    }

    /// The ingress URL of Broker `namespace/name`.
    pub fn broker(&self, namespace: &str, name: &str) -> Option<&Url> {
        self.brokers.get(&(namespace.to_owned(), name.to_owned()))
    }

    /// The URL of KafkaSink `namespace/name`.
    pub fn kafka_sink(&self, namespace: &str, name: &str) -> Option<&Url> {
        self.kafka_sinks
            .get(&(namespace.to_owned(), name.to_owned()))
    }

    /// The URL of `dest`, written in an object of `namespace`.
    pub fn destination(
        &self,
        dest: &Destination,
        namespace: &str,
        owner: Owner<'_>,
    ) -> Result<Url, ManifestError> {
        let target = match &dest.reference {
            None => None,
            Some(r) => {
                let namespace = r.namespace.as_deref().unwrap_or(namespace);
                let missing = |kind: &str| {
                    owner(format!(
                        "refers to {kind} `{namespace}/{}`, which is not in the manifests",
                        r.name
                    ))
                };
                Some(match r.kind.as_str() {
                    // The one Knative Service is this host.
                    "Service" => self.base.clone(),
                    "Broker" => self
                        .broker(namespace, &r.name)
                        .cloned()
                        .ok_or_else(|| missing("Broker"))?,
                    "KafkaSink" => self
                        .kafka_sink(namespace, &r.name)
                        .cloned()
                        .ok_or_else(|| missing("KafkaSink"))?,
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
    }

    /// The retry policy of `spec`, if set, with its dead-letter sink resolved.
    pub fn delivery(
        &self,
        spec: Option<&DeliverySpec>,
        namespace: &str,
        owner: Owner<'_>,
    ) -> Result<Option<RetryPolicy>, ManifestError> {
        spec.map(|spec| {
            RetryPolicy::from_spec(spec, owner, |dest| self.destination(dest, namespace, owner))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn resolver() -> Resolver {
        let mut manifests = Manifests::default();
        manifests
            .add_file(
                Path::new("m.yaml"),
                "kind: Broker\nmetadata: {name: default}\n---\nkind: KafkaSink\nmetadata: {name: out}\nspec: {topic: t}\n",
                "ns",
            )
            .unwrap();
        Resolver::new(&manifests, &Url::parse("http://127.0.0.1:9/").unwrap())
    }

    fn resolve(yaml: &str) -> Result<String, String> {
        let dest: Destination = serde_yaml_ng::from_str(yaml).unwrap();
        let owner = |m: String| ManifestError::Parse {
            path: "t.yaml".into(),
            message: m,
        };
        resolver()
            .destination(&dest, "ns", &owner)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn refs_resolve_to_this_host_and_its_endpoints() {
        assert_eq!(
            resolve(
                "{ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: wasmfn}, uri: /dead-letter}"
            ),
            Ok("http://127.0.0.1:9/dead-letter".into())
        );
        assert_eq!(
            resolve("{ref: {kind: Broker, name: default}}"),
            Ok("http://127.0.0.1:9/_dev/brokers/ns/default".into())
        );
        assert_eq!(
            resolve("{ref: {kind: KafkaSink, name: out, namespace: ns}}"),
            Ok("http://127.0.0.1:9/_dev/kafkasinks/ns/out".into())
        );
        assert_eq!(
            resolve("{uri: 'http://example.test/x'}"),
            Ok("http://example.test/x".into())
        );
    }

    #[test]
    fn unresolvable_destinations_are_named() {
        let err = resolve("{ref: {kind: Broker, name: other}}").unwrap_err();
        assert!(err.contains("Broker `ns/other`"), "{err}");
        let err = resolve("{ref: {apiVersion: v1, kind: Pod, name: p}}").unwrap_err();
        assert!(err.contains("a Pod (v1)"), "{err}");
        let err = resolve("{uri: /relative}").unwrap_err();
        assert!(err.contains("must be an absolute URL"), "{err}");
        let err = resolve("{}").unwrap_err();
        assert!(err.contains("needs a ref, a uri or both"), "{err}");
    }
}
