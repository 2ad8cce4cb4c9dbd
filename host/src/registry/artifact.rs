//! The CNCF Wasm OCI artifact layout (the one Spin, wasmCloud and runwasi
//! read and write): an OCI image manifest whose config has media type
//! `application/vnd.wasm.config.v0+json` and whose one layer, of media type
//! `application/wasm`, is the `.wasm` file byte for byte.
//!
//! The config is written here rather than with `oci-wasm`: the release of
//! that crate on our oci-client pulls a second `wit-component` and
//! `wasmparser` only to list the component's WIT world, an optional field.

use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use serde::Serialize;

use crate::routing::digest;

/// Media type of the artifact's config blob.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the artifact's one layer.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";

/// `application/vnd.wasm.config.v0+json`: the required fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    created: String,
    architecture: &'static str,
    os: &'static str,
    layer_digests: [&'a str; 1],
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
}

/// The artifact for `module`, created at `created` (RFC 3339). The same
/// bytes and time give the same manifest digest: `wasmfn push` uses
/// `SOURCE_DATE_EPOCH`, else the Unix epoch, so pushing a file twice does not
/// make a new version.
pub fn build(module: &[u8], created: String) -> Artifact {
    let layer_digest = digest(module);
    let config = serde_json::to_vec(&WasmConfig {
        created,
        architecture: "wasm",
        os: if is_component(module) {
            "wasip2"
        } else {
            "wasip1"
        },
        layer_digests: [&layer_digest],
    })
    .expect("the config serialises");
    let manifest = OciImageManifest {
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        config: OciDescriptor {
            media_type: WASM_CONFIG_MEDIA_TYPE.to_owned(),
            digest: digest(&config),
            size: config.len() as i64,
            ..Default::default()
        },
        layers: vec![OciDescriptor {
            media_type: WASM_LAYER_MEDIA_TYPE.to_owned(),
            digest: layer_digest.clone(),
            size: module.len() as i64,
            ..Default::default()
        }],
        ..Default::default()
    };
    let manifest = serde_json::to_vec(&manifest).expect("the manifest serialises");
    Artifact {
        manifest_digest: digest(&manifest),
        config,
        manifest,
        layer_digest,
    }
}

/// A component (layer 1 of the binary format) rather than a core module.
fn is_component(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00])
}

/// The module layer of a pulled manifest, checked to be the CNCF Wasm
/// layout with a layer of at most `max_bytes`; `Err` says what differs.
pub(super) fn wasm_layer(manifest: &[u8], max_bytes: u64) -> Result<OciDescriptor, String> {
    let manifest: OciImageManifest = serde_json::from_slice(manifest)
        .map_err(|err| format!("the manifest is not an OCI image manifest: {err}"))?;
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "not a Wasm artifact: its config is `{}`, not `{WASM_CONFIG_MEDIA_TYPE}` (push modules with `wasmfn push`)",
            manifest.config.media_type
        ));
    }
    let [layer] = <[OciDescriptor; 1]>::try_from(manifest.layers).map_err(|layers| {
        format!(
            "a Wasm artifact has one layer, this one has {}",
            layers.len()
        )
    })?;
    if layer.media_type != WASM_LAYER_MEDIA_TYPE {
        return Err(format!(
            "its layer is `{}`, not `{WASM_LAYER_MEDIA_TYPE}`",
            layer.media_type
        ));
    }
    if u64::try_from(layer.size).map_or(true, |size| size > max_bytes) {
        return Err(too_large(layer.size.max(0) as u64, max_bytes));
    }
    Ok(layer)
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
        let artifact = build(COMPONENT, "1970-01-01T00:00:00Z".into());
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
            build(COMPONENT, "1970-01-01T00:00:00Z".into()).manifest_digest,
            artifact.manifest_digest
        );
        assert_eq!(
            wasm_layer(&artifact.manifest, 1 << 20).unwrap().digest,
            artifact.layer_digest
        );
    }

    #[test]
    fn other_shapes_and_big_layers_are_refused() {
        let artifact = build(COMPONENT, "1970-01-01T00:00:00Z".into());
        let err = wasm_layer(&artifact.manifest, 4).unwrap_err();
        assert!(err.contains("over the limit of 4"), "{err}");
        let image = String::from_utf8(artifact.manifest.clone())
            .unwrap()
            .replace(
                WASM_CONFIG_MEDIA_TYPE,
                "application/vnd.oci.image.config.v1+json",
            );
        let err = wasm_layer(image.as_bytes(), 1 << 20).unwrap_err();
        assert!(err.contains("not a Wasm artifact"), "{err}");
        let err = wasm_layer(b"{}", 1 << 20).unwrap_err();
        assert!(err.contains("not an OCI image manifest"), "{err}");
    }
}
