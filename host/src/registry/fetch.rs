//! Where a registry-sourced function's bytes come from: the on-disk cache
//! when it holds the artifact intact, else the registry (then cached). Runs
//! at load and reload, never on the request path.
//!
//! With `--trust-precompiled`, a pull also fetches the artifact's
//! precompiled layer when it was made by an engine with this engine's
//! compatibility hash from this very module; anything else about that layer
//! (another engine, another module, a bad digest, too large, a failed
//! download) is logged once and the module is compiled as without it, so
//! the precompiled layer never fails a load. It is not kept in this cache:
//! once loaded, the sandbox's compiled-artifact cache holds the code, so a
//! restart neither compiles nor pulls.

use std::sync::Arc;
use std::time::Duration;

use super::artifact;
use super::cache::ModuleCache;
use super::client::{RegistryError, RegistryOptions};
use super::reference::OciSource;
use crate::observability::Metrics;

/// Default bound on a pulled module: 256 MiB.
pub const DEFAULT_MAX_ARTIFACT_MB: u64 = 256;
/// A whole pull (manifest and module) that takes longer has failed; the
/// reload then keeps the previous version and retries.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// `pull` of `source`, failed when it has no complete answer within
/// [`PULL_TIMEOUT`].
async fn within_pull_timeout<T>(
    source: &OciSource,
    pull: impl Future<Output = Result<T, RegistryError>>,
) -> Result<T, RegistryError> {
    tokio::time::timeout(PULL_TIMEOUT, pull)
        .await
        .unwrap_or_else(|_| {
            Err(RegistryError::Registry {
                what: "pulling",
                reference: source.to_string(),
                message: format!("no complete answer within {PULL_TIMEOUT:?}"),
            })
        })
}

/// Fetches modules named by `oci://` sources through a cache. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: RegistryOptions,
    cache: ModuleCache,
    max_bytes: u64,
    trust_precompiled: bool,
}

/// What a fetch brings: the module and, when trusted and made for this
/// engine from it, its precompiled code.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The module bytes (verified against the layer digest).
    pub module: Vec<u8>,
    /// The precompiled layer's bytes (verified against its digest), to
    /// deserialize instead of compiling `module`.
    pub precompiled: Option<Vec<u8>>,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher::new(
            RegistryOptions::default(),
            ModuleCache::new(None),
            DEFAULT_MAX_ARTIFACT_MB << 20,
            false,
        )
    }
}

impl Fetcher {
    /// A fetcher reaching registries with `options`, caching in `cache`,
    /// refusing modules over `max_bytes`, and fetching precompiled layers
    /// when `trust_precompiled` (`--trust-precompiled`).
    pub fn new(
        options: RegistryOptions,
        cache: ModuleCache,
        max_bytes: u64,
        trust_precompiled: bool,
    ) -> Fetcher {
        Fetcher {
            inner: Arc::new(Inner {
                options,
                cache,
                max_bytes,
                trust_precompiled,
            }),
        }
    }

    /// The module `source` names: from the cache if it holds it intact,
    /// else pulled and verified, then cached; with its precompiled code
    /// when trusted and made by an engine whose compatibility hash is
    /// `engine` (see the module docs).
    pub async fn fetch(&self, source: &OciSource, engine: &str) -> Result<Fetched, RegistryError> {
        let Inner {
            options,
            cache,
            max_bytes,
            trust_precompiled,
        } = &*self.inner;
        if let Some(module) = self.cached(source) {
            Metrics::global().record_pull("cached");
            return Ok(Fetched {
                module,
                precompiled: None,
            });
        }
        let pulled = within_pull_timeout(source, options.pull(source, *max_bytes)).await;
        Metrics::global().record_pull(if pulled.is_ok() { "pulled" } else { "failed" });
        let (manifest, module) = pulled?;
        let layer = crate::routing::digest(&module);
        cache.store(source.digest(), &manifest, &layer, &module);
        tracing::info!(source = %source, digest = %layer, bytes = module.len(), "pulled");
        let precompiled = match artifact::layers(&manifest, *max_bytes) {
            Ok(artifact::Layers {
                precompiled: Some(precompiled),
                ..
            }) if *trust_precompiled => {
                self.precompiled(source, &layer, &precompiled, engine).await
            }
            _ => None,
        };
        Ok(Fetched {
            module,
            precompiled,
        })
    }

    /// The precompiled layer's bytes when it was made for `engine` from the
    /// module `layer`; else `None`, having logged why.
    async fn precompiled(
        &self,
        source: &OciSource,
        layer: &str,
        precompiled: &artifact::PrecompiledLayer,
        engine: &str,
    ) -> Option<Vec<u8>> {
        if precompiled.source_digest != layer {
            tracing::warn!(%source, module = %layer, compiled_from = %precompiled.source_digest, "the artifact's precompiled code was made from another module; compiling the module instead");
            return None;
        }
        if precompiled.compatibility_hash != engine {
            tracing::info!(%source, artifact_engine = %precompiled.compatibility_hash, this_engine = %engine, "the artifact's precompiled code is for another engine (another wasmfn version, engine settings such as --fuel, or CPU features); compiling the module instead");
            return None;
        }
        let pulled = within_pull_timeout(
            source,
            self.inner
                .options
                .pull_blob(source, &precompiled.descriptor, self.inner.max_bytes),
        )
        .await;
        match pulled {
            Ok(code) => {
                tracing::info!(%source, digest = %precompiled.descriptor.digest, bytes = code.len(), "pulled the artifact's precompiled code (--trust-precompiled)");
                Some(code)
            }
            Err(err) => {
                tracing::warn!(%source, "the artifact's precompiled code is refused ({err}); compiling the module instead");
                None
            }
        }
    }

    fn cached(&self, source: &OciSource) -> Option<Vec<u8>> {
        let Inner {
            cache, max_bytes, ..
        } = &*self.inner;
        let manifest = cache.manifest(source.digest())?;
        let layer = artifact::layers(&manifest, *max_bytes).ok()?.wasm;
        cache.module(&layer.digest)
    }

    /// Fetches every `(function, source)` at once, for the engine whose
    /// compatibility hash is `engine`; results in the same order.
    pub async fn fetch_all(
        &self,
        sources: Vec<(String, OciSource)>,
        engine: &str,
    ) -> Vec<(String, Result<Fetched, RegistryError>)> {
        let tasks: Vec<_> = sources
            .into_iter()
            .map(|(name, source)| {
                let (fetcher, engine) = (self.clone(), engine.to_owned());
                (
                    name,
                    tokio::spawn(async move { fetcher.fetch(&source, &engine).await }),
                )
            })
            .collect();
        let mut fetched = Vec::with_capacity(tasks.len());
        for (name, task) in tasks {
            fetched.push((name, task.await.expect("a pull task panicked")));
        }
        fetched
    }
}
