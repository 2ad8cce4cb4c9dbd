//! Talking to registries with oci-client: which scheme (HTTPS with the
//! system's roots; plain HTTP for loopback and `--insecure-registry` hosts),
//! which credentials, and the pull and push of one artifact, verified by
//! digest at every step.

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::io::AsyncWrite;

use super::artifact::{self, Artifact};
use super::auth::{AuthError, credentials_for};
use super::reference::{OciSource, is_loopback};
use crate::routing::digest;

/// A registry that does not answer a connection within this is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A stalled transfer: no bytes for this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach registries: `--registry-auth` and `--insecure-registry`.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// A Docker config JSON with credentials (anonymous without it).
    pub auth_file: Option<PathBuf>,
    /// Registries (`HOST[:PORT]`) reached over plain HTTP; loopback ones
    /// always are.
    pub insecure: Vec<String>,
}

/// Why a pull or a push failed. Messages name the reference and the
/// registry's answer, never a credential.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The credentials file cannot be used.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The registry could not be reached or refused the request.
    #[error("{what} {reference}: {message}")]
    Registry {
        /// `pulling` or `pushing`.
        what: &'static str,
        /// The reference.
        reference: String,
        /// The registry's or the network's answer.
        message: String,
    },
    /// The registry answered, but not with an acceptable artifact (other
    /// layout, too large, bytes not matching their digest).
    #[error("refused {reference}: {message}")]
    Artifact {
        /// The reference.
        reference: String,
        /// What is wrong with it.
        message: String,
    },
}

impl RegistryOptions {
    /// A client for `registry` speaking the right scheme.
    fn client(&self, registry: &str) -> Client {
        let plain = is_loopback(registry) || self.insecure.iter().any(|host| host == registry);
        Client::new(ClientConfig {
            protocol: if plain {
                ClientProtocol::HttpsExcept(vec![registry.to_owned()])
            } else {
                ClientProtocol::Https
            },
            // A Wasm artifact is one image manifest, never an index.
            platform_resolver: None,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: concat!("wasmfn/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        })
    }

    /// The credentials for `registry`, read now (so a rotated Secret
    /// applies to the next pull).
    fn auth(&self, registry: &str) -> Result<RegistryAuth, AuthError> {
        let Some(path) = &self.auth_file else {
            return Ok(RegistryAuth::Anonymous);
        };
        Ok(credentials_for(path, registry)?.map_or(RegistryAuth::Anonymous, |c| c.to_auth()))
    }

    /// Pulls the artifact `source` names, refusing a layer over `max_bytes`.
    /// Returns the manifest and the module, both verified against their
    /// digests (the manifest against the reference, the module against the
    /// manifest).
    pub async fn pull(
        &self,
        source: &OciSource,
        max_bytes: u64,
    ) -> Result<(Vec<u8>, Vec<u8>), RegistryError> {
        let reference = source.reference();
        let registry = source.registry();
        let client = self.client(registry);
        let auth = self.auth(registry)?;
        let failed =
            |err: oci_client::errors::OciDistributionError| registry_error("pulling", source, err);
        let refused = |message: String| RegistryError::Artifact {
            reference: source.to_string(),
            message,
        };
        // oci-client checks the body against the reference's digest; checked
        // again here so that the promise does not rest on a dependency.
        let (manifest, _) = client
            .pull_manifest_raw(reference, &auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .map_err(failed)?;
        if digest(&manifest) != source.digest() {
            return Err(refused(
                "the manifest does not match the reference's digest".into(),
            ));
        }
        let layer = artifact::layers(&manifest, max_bytes)
            .map_err(refused)?
            .wasm;
        let module = self.pull_layer(&client, source, &layer, max_bytes).await?;
        Ok((manifest, module))
    }

    /// Pulls the blob `layer` of the artifact `source` names, refusing one
    /// over `max_bytes` or whose bytes do not match its digest.
    pub async fn pull_blob(
        &self,
        source: &OciSource,
        layer: &OciDescriptor,
        max_bytes: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let registry = source.registry();
        let client = self.client(registry);
        let auth = self.auth(registry)?;
        // oci-client authenticates lazily: a blob pull alone does not.
        client
            .auth(
                source.reference(),
                &auth,
                oci_client::RegistryOperation::Pull,
            )
            .await
            .map_err(|err| registry_error("pulling", source, err))?;
        self.pull_layer(&client, source, layer, max_bytes).await
    }

    async fn pull_layer(
        &self,
        client: &Client,
        source: &OciSource,
        layer: &OciDescriptor,
        max_bytes: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let refused = |message: String| RegistryError::Artifact {
            reference: source.to_string(),
            message,
        };
        if u64::try_from(layer.size).map_or(true, |size| size > max_bytes) {
            return Err(refused(artifact::too_large(
                layer.size.max(0) as u64,
                max_bytes,
            )));
        }
        let mut blob = Capped::new(max_bytes, layer.size.max(0) as usize);
        client
            .pull_blob(source.reference(), layer, &mut blob)
            .await
            .map_err(|err| match blob.over {
                Some(size) => refused(artifact::too_large(size, max_bytes)),
                None => registry_error("pulling", source, err),
            })?;
        let blob = blob.bytes;
        if digest(&blob) != layer.digest {
            return Err(refused(format!(
                "the bytes of layer `{}` do not match its digest {}",
                layer.media_type, layer.digest
            )));
        }
        Ok(blob)
    }

    /// Pushes `artifact` holding `module` to `target`; returns
    /// `REGISTRY/REPO@sha256:<manifest digest>`.
    pub async fn push(
        &self,
        target: &Reference,
        module: &[u8],
        artifact: &Artifact,
    ) -> Result<String, RegistryError> {
        let registry = target.resolve_registry();
        let client = self.client(registry);
        let auth = self.auth(registry)?;
        let name = format!("{}/{}", target.registry(), target.repository());
        let failed = |err| RegistryError::Registry {
            what: "pushing",
            reference: name.clone(),
            message: describe(err),
        };
        client
            .auth(target, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(failed)?;
        let config_digest = digest(&artifact.config);
        client
            .push_blob(target, module, &artifact.layer_digest)
            .await
            .map_err(failed)?;
        if let Some((code, code_digest)) = &artifact.precompiled {
            client
                .push_blob(target, code, code_digest)
                .await
                .map_err(failed)?;
        }
        client
            .push_blob(target, &artifact.config, &config_digest)
            .await
            .map_err(failed)?;
        client
            .push_manifest_raw(
                target,
                artifact.manifest.clone(),
                http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
            )
            .await
            .map_err(failed)?;
        Ok(format!("{name}@{}", artifact.manifest_digest))
    }
}

fn registry_error(
    what: &'static str,
    source: &OciSource,
    err: oci_client::errors::OciDistributionError,
) -> RegistryError {
    use oci_client::errors::OciDistributionError as E;
    let reference = source.to_string();
    match err {
        E::DigestError(err) => RegistryError::Artifact {
            reference,
            message: format!("bytes do not match their digest ({err})"),
        },
        err => RegistryError::Registry {
            what,
            reference,
            message: describe(err),
        },
    }
}

/// oci-client's message, with the cause chain of network errors (reqwest's
/// top-level message alone says only "error sending request").
fn describe(err: oci_client::errors::OciDistributionError) -> String {
    use std::error::Error as _;
    let mut message = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let text = err.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = err.source();
    }
    message
}

/// A writer that keeps at most `limit` bytes and fails past it, so a
/// registry that sends more than the manifest said cannot fill memory.
struct Capped {
    bytes: Vec<u8>,
    limit: u64,
    over: Option<u64>,
}

impl Capped {
    fn new(limit: u64, expected: usize) -> Capped {
        Capped {
            bytes: Vec::with_capacity(expected.min(limit as usize)),
            limit,
            over: None,
        }
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let size = (self.bytes.len() + buf.len()) as u64;
        if size > self.limit {
            self.over = Some(size);
            return Poll::Ready(Err(std::io::Error::other(
                "the module is over the size limit",
            )));
        }
        self.bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
