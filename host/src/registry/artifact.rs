//! The CNCF Wasm OCI artifact layout (the one Spin, wasmCloud and runwasi
//! read and write): an OCI image manifest whose config has media type
//! `application/vnd.wasm.config.v0+json` and whose one layer, of media type
//! `application/wasm`, is the `.wasm` file byte for byte.
//!
//! `wasmfn push --precompile` adds a second layer, of media type
//! [`PRECOMPILED_MEDIA_TYPE`]: the module compiled by the serving engine,
//! annotated with that engine's compatibility hash and the digest of the
//! `application/wasm` layer it was compiled from. What the layout says about
//! it (its page at tag-runtime.cncf.io, "Wasm OCI Artifact layout"): its
//! goal is a single layer type, `application/wasm`, so that tools need not
//! know other layer types; other media types are not part of it. Readers
//! built on Bytecode Alliance's `oci-wasm` (`WasmClient::pull`,
//! `pull_manifest_and_config`) refuse a manifest with more than one layer.
//! So the extra layer is opt-in: without `--precompile` an artifact is
//! exactly the layout; with it, the `application/wasm` layer stays first and
//! unchanged (tools that take the first layer, registries, `crane`/`oras`
//! still work) and the config's `layerDigests` lists both layers in order.
//!
//! The config is written here rather than with `oci-wasm`: the release of
//! that crate on our oci-client pulls a second `wit-component` and
//! `wasmparser` only to list the component's WIT world, an optional field.

use std::collections::BTreeMap;

use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use serde::Serialize;

use crate::routing::digest;

/// Media type of the artifact's config blob.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the artifact's module layer.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Media type of the optional layer of precompiled code (`wasmfn push
/// --precompile`): what wasmtime's `Engine::precompile_component` (or
/// `precompile_module`) wrote for the serving engine.
pub const PRECOMPILED_MEDIA_TYPE: &str = "application/vnd.wasmfn.precompiled.v1";
/// Annotation of the precompiled layer: the compiling engine's
/// compatibility hash (64 hex digits). No domain of ours to reverse, so the
/// keys are prefixed with the product's name.
pub const COMPATIBILITY_ANNOTATION: &str = "wasmfn.precompiled.compatibility-hash";
/// Annotation of the precompiled layer: the `sha256:` digest of the
/// `application/wasm` layer it was compiled from.
pub const SOURCE_ANNOTATION: &str = "wasmfn.precompiled.source-digest";

/// `application/vnd.wasm.config.v0+json`: the required fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    created: String,
    architecture: &'static str,
    os: &'static str,
    layer_digests: Vec<&'a str>,
}

/// Code precompiled for one engine, to ship beside the module.
#[derive(Debug, Clone)]
pub struct Precompiled {
    /// What `Engine::precompile_component`/`precompile_module` returned.
    pub code: Vec<u8>,
    /// That engine's compatibility hash, hex.
    pub compatibility_hash: String,
}

/// A pushable artifact: config, manifest and the digests naming them.
pub struct Artifact {
    /// The config blob (JSON).
    pub config: Vec<u8>,
    /// The manifest as pushed (its digest is the artifact's identity).
    pub manifest: Vec<u8>,
    /// `sha256:` of [`Self::manifest`].
    pub manifest_digest: String,
    /// `sha256:` of the layer, i.e. of the module bytes.
    pub layer_digest: String,
    /// The precompiled layer's bytes and `sha256:` digest, if any.
    pub precompiled: Option<(Vec<u8>, String)>,
}

/// The artifact for `module` (and its `precompiled` code, if any), created
/// at `created` (RFC 3339). The same bytes and time give the same manifest
/// digest: `wasmfn push` uses `SOURCE_DATE_EPOCH`, else the Unix epoch, so
/// pushing a file twice does not make a new version.
pub fn build(module: &[u8], created: String, precompiled: Option<Precompiled>) -> Artifact {
    let layer_digest = digest(module);
    let precompiled = precompiled.map(|p| {
        let code_digest = digest(&p.code);
        (p, code_digest)
    });
    let mut layer_digests = vec![layer_digest.as_str()];
    layer_digests.extend(precompiled.as_ref().map(|(_, d)| d.as_str()));
    let config = serde_json::to_vec(&WasmConfig {
        created,
        architecture: "wasm",
        os: if is_component(module) {
            "wasip2"
        } else {
            "wasip1"
        },
        layer_digests,
    })
    .expect("the config serialises");
    let mut layers = vec![OciDescriptor {
        media_type: WASM_LAYER_MEDIA_TYPE.to_owned(),
        digest: layer_digest.clone(),
        size: module.len() as i64,
        ..Default::default()
    }];
    layers.extend(precompiled.as_ref().map(|(p, code_digest)| OciDescriptor {
        media_type: PRECOMPILED_MEDIA_TYPE.to_owned(),
        digest: code_digest.clone(),
        size: p.code.len() as i64,
        annotations: Some(BTreeMap::from([
            (
                COMPATIBILITY_ANNOTATION.to_owned(),
                p.compatibility_hash.clone(),
            ),
            (SOURCE_ANNOTATION.to_owned(), layer_digest.clone()),
        ])),
        ..Default::default()
    }));
    let manifest = OciImageManifest {
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        config: OciDescriptor {
            media_type: WASM_CONFIG_MEDIA_TYPE.to_owned(),
            digest: digest(&config),
            size: config.len() as i64,
            ..Default::default()
        },
        layers,
        ..Default::default()
    };
    let manifest = serde_json::to_vec(&manifest).expect("the manifest serialises");
    Artifact {
        manifest_digest: digest(&manifest),
        config,
        manifest,
        layer_digest,
        precompiled: precompiled.map(|(p, code_digest)| (p.code, code_digest)),
    }
}

/// A component (layer 1 of the binary format) rather than a core module.
fn is_component(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00])
}

/// The layers of a pulled artifact that wasmfn reads.
#[derive(Debug)]
pub(super) struct Layers {
    /// The `application/wasm` layer: the module.
    pub wasm: OciDescriptor,
    /// The precompiled layer, if the artifact has one.
    pub precompiled: Option<PrecompiledLayer>,
}

/// A layer of [`PRECOMPILED_MEDIA_TYPE`] and what its annotations say.
#[derive(Debug)]
pub(super) struct PrecompiledLayer {
    /// The layer.
    pub descriptor: OciDescriptor,
    /// The compiling engine's compatibility hash (empty when missing).
    pub compatibility_hash: String,
    /// The digest of the module it was compiled from (empty when missing).
    pub source_digest: String,
}

/// The layers of a pulled manifest, checked to be the CNCF Wasm layout
/// (plus at most one precompiled layer) with a module layer of at most
/// `max_bytes`; `Err` says what differs.
pub(super) fn layers(manifest: &[u8], max_bytes: u64) -> Result<Layers, String> {
    let manifest: OciImageManifest = serde_json::from_slice(manifest)
        .map_err(|err| format!("the manifest is not an OCI image manifest: {err}"))?;
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "not a Wasm artifact: its config is `{}`, not `{WASM_CONFIG_MEDIA_TYPE}` (push modules with `wasmfn push`)",
            manifest.config.media_type
        ));
    }
    let count = manifest.layers.len();
    let (mut wasm, mut precompiled) = (Vec::new(), Vec::new());
    for layer in manifest.layers {
        match layer.media_type.as_str() {
            WASM_LAYER_MEDIA_TYPE => wasm.push(layer),
            PRECOMPILED_MEDIA_TYPE => precompiled.push(layer),
            other => {
                return Err(format!(
                    "a layer is `{other}`, not `{WASM_LAYER_MEDIA_TYPE}` (nor wasmfn's `{PRECOMPILED_MEDIA_TYPE}`)"
                ));
            }
        }
    }
    if wasm.len() != 1 || precompiled.len() > 1 {
        return Err(format!(
            "a Wasm artifact has one `{WASM_LAYER_MEDIA_TYPE}` layer (and at most one `{PRECOMPILED_MEDIA_TYPE}`), this one has {count} layers"
        ));
    }
    let wasm = wasm.remove(0);
    if u64::try_from(wasm.size).map_or(true, |size| size > max_bytes) {
        return Err(too_large(wasm.size.max(0) as u64, max_bytes));
    }
    let precompiled = precompiled.pop().map(|descriptor| {
        let annotation = |key: &str| {
            descriptor
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .cloned()
                .unwrap_or_default()
        };
        PrecompiledLayer {
            compatibility_hash: annotation(COMPATIBILITY_ANNOTATION),
            source_digest: annotation(SOURCE_ANNOTATION),
            descriptor,
        }
    });
    Ok(Layers { wasm, precompiled })
}

/// The message for a module over the size limit.
pub(super) fn too_large(size: u64, max_bytes: u64) -> String {
    format!(
        "the module is {size} bytes, over the limit of {max_bytes} (--max-artifact-mb, WASMFN_MAX_ARTIFACT_MB)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00rest";

    #[test]
    fn builds_the_cncf_layout_reproducibly() {
        let artifact = build(COMPONENT, "1970-01-01T00:00:00Z".into(), None);
        let manifest: serde_json::Value = serde_json::from_slice(&artifact.manifest).unwrap();
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], OCI_IMAGE_MEDIA_TYPE);
        assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["mediaType"], WASM_LAYER_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["digest"], digest(COMPONENT));
        assert_eq!(manifest["layers"][0]["size"], COMPONENT.len());
        let config: serde_json::Value = serde_json::from_slice(&artifact.config).unwrap();
        assert_eq!(config["os"], "wasip2");
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["layerDigests"][0], digest(COMPONENT));
        assert_eq!(
            build(COMPONENT, "1970-01-01T00:00:00Z".into(), None).manifest_digest,
            artifact.manifest_digest
        );
        assert_eq!(
            layers(&artifact.manifest, 1 << 20).unwrap().wasm.digest,
            artifact.layer_digest
        );
        assert!(
            layers(&artifact.manifest, 1 << 20)
                .unwrap()
                .precompiled
                .is_none()
        );
    }

    #[test]
    fn other_shapes_and_big_layers_are_refused() {
        let artifact = build(COMPONENT, "1970-01-01T00:00:00Z".into(), None);
        let err = layers(&artifact.manifest, 4).unwrap_err();
        assert!(err.contains("over the limit of 4"), "{err}");
        let image = String::from_utf8(artifact.manifest.clone())
            .unwrap()
            .replace(
                WASM_CONFIG_MEDIA_TYPE,
                "application/vnd.oci.image.config.v1+json",
            );
        let err = layers(image.as_bytes(), 1 << 20).unwrap_err();
        assert!(err.contains("not a Wasm artifact"), "{err}");
        let err = layers(b"{}", 1 << 20).unwrap_err();
        assert!(err.contains("not an OCI image manifest"), "{err}");
    }

    #[test]
    fn a_precompiled_layer_follows_the_module_with_its_annotations() {
        let precompiled = Precompiled {
            code: b"ELF code".to_vec(),
            compatibility_hash: "ab".repeat(32),
        };
        let artifact = build(COMPONENT, "1970-01-01T00:00:00Z".into(), Some(precompiled));
        let manifest: serde_json::Value = serde_json::from_slice(&artifact.manifest).unwrap();
        assert_eq!(manifest["layers"][0]["mediaType"], WASM_LAYER_MEDIA_TYPE);
        assert_eq!(manifest["layers"][1]["mediaType"], PRECOMPILED_MEDIA_TYPE);
        let config: serde_json::Value = serde_json::from_slice(&artifact.config).unwrap();
        assert_eq!(config["layerDigests"][1], digest(b"ELF code"));
        let read = layers(&artifact.manifest, 1 << 20).unwrap();
        assert_eq!(read.wasm.digest, digest(COMPONENT));
        let layer = read.precompiled.unwrap();
        assert_eq!(layer.descriptor.digest, digest(b"ELF code"));
        assert_eq!(layer.compatibility_hash, "ab".repeat(32));
        assert_eq!(layer.source_digest, digest(COMPONENT));
        assert_ne!(
            artifact.manifest_digest,
            build(COMPONENT, "1970-01-01T00:00:00Z".into(), None).manifest_digest
        );
    }
}
