//! Reading the pipeline manifests: the same Knative YAML that goes to the
//! cluster (`deploy/pipeline`), parsed into the few fields `wasmfn dev`
//! emulates. With a `kustomization.yaml` its `resources` and `namespace` are
//! used; without one, every `*.yaml`/`*.yml` file of the directory. Kinds
//! other than Broker, Trigger, PingSource and KafkaSink (ConfigMaps, …) are
//! skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The namespace of objects that name none (and no kustomization sets one).
const DEFAULT_NAMESPACE: &str = "default";

/// Why the manifests cannot be emulated; names the file and object at fault.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file or the directory cannot be read.
    #[error("cannot read {path}: {source}; pass the pipeline manifests with --manifests DIR")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A document is not the YAML shape its kind has.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the field.
        message: String,
    },
    /// An object is well-formed but cannot be emulated.
    #[error("{path}: {kind} `{name}`: {message}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// The eventing objects of a manifests directory.
#[derive(Debug, Default, Clone)]
pub struct Manifests {
    /// Brokers.
    pub brokers: Vec<Object<BrokerSpec>>,
    /// Triggers.
    pub triggers: Vec<Object<TriggerSpec>>,
    /// PingSources.
    pub ping_sources: Vec<Object<PingSourceSpec>>,
    /// KafkaSinks.
    pub kafka_sinks: Vec<Object<KafkaSinkSpec>>,
}

/// One object: where it came from, its namespace and name, its spec.
#[derive(Debug, Clone)]
pub struct Object<S> {
    /// The file it was read from.
    pub path: PathBuf,
    /// `metadata.namespace`, else the kustomization's, else `default`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec`.
    pub spec: S,
}

impl<S> Object<S> {
    /// An [`ManifestError::Unsupported`] about this object.
    pub fn unsupported(&self, kind: &str, message: impl Into<String>) -> ManifestError {
        ManifestError::Unsupported {
            path: self.path.clone(),
            kind: kind.to_owned(),
            name: self.name.clone(),
            message: message.into(),
        }
    }
}

/// A Broker's `spec` (eventing.knative.dev/v1).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerSpec {
    /// The default delivery of its Triggers.
    pub delivery: Option<DeliverySpec>,
}

/// A Trigger's `spec` (eventing.knative.dev/v1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpec {
    /// The Broker's name, in the Trigger's namespace.
    pub broker: String,
    /// Exact-match attribute filter; absent or empty matches every event.
    #[serde(default)]
    pub filter: Option<TriggerFilter>,
    /// The newer `filters` (CESQL dialects): not emulated.
    #[serde(default)]
    pub filters: Option<serde_yaml_ng::Value>,
    /// Where matching events go.
    pub subscriber: Destination,
    /// Overrides the Broker's delivery.
    pub delivery: Option<DeliverySpec>,
}

/// `spec.filter` of a Trigger.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TriggerFilter {
    /// Attribute name → required value.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// A PingSource's `spec` (sources.knative.dev/v1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PingSourceSpec {
    /// Cron schedule (5 fields, or `@hourly`-style).
    pub schedule: String,
    /// IANA time zone the schedule is read in; UTC when absent.
    pub timezone: Option<String>,
    /// The event's `datacontenttype`.
    pub content_type: Option<String>,
    /// The event's data, as text.
    pub data: Option<String>,
    /// The event's data, base64-encoded (instead of `data`).
    pub data_base64: Option<String>,
    /// Where the events go.
    pub sink: Destination,
}

/// A KafkaSink's `spec` (eventing.knative.dev/v1alpha1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSinkSpec {
    /// The topic records are written to.
    pub topic: String,
    /// `binary` (default: attributes as headers, data as value) or
    /// `structured` (the whole event as the value).
    pub content_mode: Option<String>,
}

/// A Knative `Destination`: a reference to an addressable object, a URI, or
/// a reference plus a URI resolved against it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Destination {
    /// The addressable object.
    #[serde(rename = "ref")]
    pub reference: Option<Reference>,
    /// An absolute URI, or a path relative to `ref`'s address.
    pub uri: Option<String>,
}

/// `Destination.ref`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// e.g. `serving.knative.dev/v1`.
    #[serde(default)]
    pub api_version: String,
    /// e.g. `Service`, `Broker`, `KafkaSink`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The object's namespace (default: the referrer's).
    pub namespace: Option<String>,
}

/// `spec.delivery` of a Broker or Trigger (duck DeliverySpec).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverySpec {
    /// Retries after the first try.
    pub retry: Option<u32>,
    /// `linear` or `exponential`.
    pub backoff_policy: Option<String>,
    /// ISO-8601 duration, e.g. `PT0.5S`.
    pub backoff_delay: Option<String>,
    /// Where events go once every try failed.
    pub dead_letter_sink: Option<Destination>,
}

/// The parts of a document every kind has.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: serde_yaml_ng::Value,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    name: String,
    namespace: Option<String>,
}

/// The parts of a `kustomization.yaml` that pick the files and namespace.
#[derive(Deserialize, Default)]
struct Kustomization {
    namespace: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
}

impl Manifests {
    /// Reads the manifests of `dir`.
    pub fn load(dir: &Path) -> Result<Manifests, ManifestError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let kustomization = ["kustomization.yaml", "kustomization.yml"]
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file());
        let (namespace, files) = match kustomization {
            Some(path) => {
                let k: Kustomization =
                    serde_yaml_ng::from_str(&read(&path)?).map_err(|err| ManifestError::Parse {
                        path: path.clone(),
                        message: err.to_string(),
                    })?;
                let files = k.resources.iter().map(|r| dir.join(r)).collect();
                (k.namespace, files)
            }
            None => {
                let entries = std::fs::read_dir(dir).map_err(|source| ManifestError::Read {
                    path: dir.to_owned(),
                    source,
                })?;
                let mut files: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension()
                            .is_some_and(|ext| ext == "yaml" || ext == "yml")
                    })
                    .collect();
                files.sort();
                (None, files)
            }
        };
        let namespace = namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let mut manifests = Manifests::default();
        for path in files {
            if path.is_dir() {
                return Err(ManifestError::Unsupported {
                    path,
                    kind: "Kustomization".into(),
                    name: "resources".into(),
                    message: "a directory resource is not read by wasmfn dev; list the files"
                        .into(),
                });
            }
            manifests.add_file(&path, &read(&path)?, &namespace)?;
        }
        Ok(manifests)
    }

    /// Adds the documents of one (multi-document) YAML file.
    pub fn add_file(
        &mut self,
        path: &Path,
        text: &str,
        namespace: &str,
    ) -> Result<(), ManifestError> {
        let parse_error = |message: String| ManifestError::Parse {
            path: path.to_owned(),
            message,
        };
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let value = serde_yaml_ng::Value::deserialize(document)
                .map_err(|err| parse_error(err.to_string()))?;
            if value.is_null() {
                continue;
            }
            let header: Header =
                serde_yaml_ng::from_value(value).map_err(|err| parse_error(err.to_string()))?;
            let spec = header.spec;
            let namespace = header
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| namespace.to_owned());
            fn object<S>(path: &Path, namespace: &str, name: &str, spec: S) -> Object<S> {
                Object {
                    path: path.to_owned(),
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    spec,
                }
            }
            let name = header.metadata.name.as_str();
            let typed = |kind: &'static str| {
                let name = header.metadata.name.clone();
                move |err: serde_yaml_ng::Error| {
                    parse_error(format!("{kind} `{name}`: spec: {err}"))
                }
            };
            match header.kind.as_str() {
                "Broker" => {
                    let spec = if spec.is_null() {
                        BrokerSpec::default()
                    } else {
                        serde_yaml_ng::from_value(spec).map_err(typed("Broker"))?
                    };
                    self.brokers.push(object(path, &namespace, name, spec));
                }
                "Trigger" => self.triggers.push(object(
                    path,
                    &namespace,
                    name,
                    serde_yaml_ng::from_value(spec).map_err(typed("Trigger"))?,
                )),
                "PingSource" => self.ping_sources.push(object(
                    path,
                    &namespace,
                    name,
                    serde_yaml_ng::from_value(spec).map_err(typed("PingSource"))?,
                )),
                "KafkaSink" => self.kafka_sinks.push(object(
                    path,
                    &namespace,
                    name,
                    serde_yaml_ng::from_value(spec).map_err(typed("KafkaSink"))?,
                )),
                other => {
                    tracing::debug!(path = %path.display(), kind = other, "not emulated, skipped")
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multi_document_files_and_skips_other_kinds() {
        let mut manifests = Manifests::default();
        let text = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t1, namespace: other}
spec:
  broker: default
  filter: {attributes: {type: a}}
  subscriber: {uri: http://example/x}
---
kind: Trigger
metadata: {name: t2}
spec:
  broker: default
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: wasmfn}
    uri: /y
"#;
        manifests
            .add_file(Path::new("t.yaml"), text, "wasmfn")
            .unwrap();
        assert_eq!(manifests.triggers.len(), 2);
        assert_eq!(manifests.triggers[0].namespace, "other");
        assert_eq!(manifests.triggers[1].namespace, "wasmfn");
        assert_eq!(
            manifests.triggers[0]
                .spec
                .filter
                .as_ref()
                .unwrap()
                .attributes["type"],
            "a"
        );
        assert!(manifests.triggers[1].spec.filter.is_none());
    }

    #[test]
    fn a_bad_spec_names_the_file_and_object() {
        let mut manifests = Manifests::default();
        let err = manifests
            .add_file(
                Path::new("p.yaml"),
                "kind: PingSource\nmetadata: {name: p}\nspec: {timezone: UTC}\n",
                "ns",
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.yaml") && err.contains("PingSource `p`") && err.contains("schedule"),
            "{err}"
        );
    }

    #[test]
    fn loads_the_repository_pipeline() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/pipeline");
        let manifests = Manifests::load(&dir).unwrap();
        assert_eq!(manifests.brokers.len(), 1);
        assert_eq!(manifests.brokers[0].namespace, "wasmfn");
        assert_eq!(manifests.triggers.len(), 2);
        assert_eq!(manifests.ping_sources.len(), 1);
        assert_eq!(manifests.kafka_sinks[0].spec.topic, "my-trades");
    }
}
