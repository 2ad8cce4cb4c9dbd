//! `wasmfn dev`: the Knative eventing pipeline the manifests describe
//! (Broker, Trigger, PingSource, KafkaSink), emulated in memory beside the
//! functions, so the whole path runs on one machine. A development aid: no
//! durability, no Kafka; production uses the real Knative objects.
//!
//! [`manifests`] reads the YAML, [`resolve`] maps its destinations to this
//! host's address, [`pipeline`] builds the objects and adds the dev routes; [`broker`], [`delivery`],
//! [`kafka_sink`] and [`ping`] play each object.

pub mod broker;
pub mod delivery;
mod ingress;
pub mod kafka_sink;
pub mod manifests;
pub mod ping;
pub mod pipeline;
pub mod resolve;

pub use manifests::{ManifestError, Manifests};
pub use pipeline::Pipeline;
