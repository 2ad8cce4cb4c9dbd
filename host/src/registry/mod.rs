//! Functions from OCI registries: `oci://REGISTRY/REPO@sha256:<digest>`
//! sources pulled (verified by digest, size-bounded, cached on disk by
//! digest) at load and reload, and `wasmfn push` in the CNCF Wasm OCI
//! artifact layout, optionally with code precompiled for the serving engine
//! (`--precompile`), loaded only by hosts that opt in (`--trust-precompiled`).

mod artifact;
mod auth;
mod cache;
mod client;
mod fetch;
mod reference;

pub use artifact::{
    Artifact, COMPATIBILITY_ANNOTATION, PRECOMPILED_MEDIA_TYPE, Precompiled, SOURCE_ANNOTATION,
    WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, build as build_artifact,
};
pub use auth::{AuthError, Credentials, credentials_for};
pub use cache::ModuleCache;
pub use client::{RegistryError, RegistryOptions};
pub use fetch::{DEFAULT_MAX_ARTIFACT_MB, Fetched, Fetcher};
pub use reference::{OciSource, ReferenceError, SCHEME, is_loopback, parse_push_target};
