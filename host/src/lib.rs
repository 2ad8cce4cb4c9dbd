//! wasmfn: a WebAssembly function runtime for Knative.
//!
//! The modules follow the data path: [`ingress`] receives CloudEvents over
//! HTTP, [`routing`] picks the loaded function, [`sandbox`] runs it in a fresh
//! Wasm instance, [`outputs`] replies or forwards its events; [`registry`]
//! pulls `oci://` modules and pushes them. [`config`] and
//! [`cli`] sit at the edges; `dev` (feature "dev", on by default) emulates
//! the Knative eventing around the host for `wasmfn dev`; [`error`] maps every
//! outcome to the status Knative acts on.

pub mod cli;
pub mod commands;
pub mod config;
#[cfg(feature = "dev")]
pub mod dev;
pub mod error;
pub mod event;
pub mod ingress;
pub mod observability;
pub mod outputs;
pub mod registry;
pub mod regular_file;
pub mod routing;
pub mod sandbox;
