//! Where a registry-sourced function's bytes come from: the on-disk cache
//! when it holds the artifact intact, else the registry (then cached). Runs
//! at load and reload, never on the request path.

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
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher::new(
            RegistryOptions::default(),
            ModuleCache::new(None),
            DEFAULT_MAX_ARTIFACT_MB << 20,
        )
    }
}

impl Fetcher {
    /// A fetcher reaching registries with `options`, caching in `cache`, and
    /// refusing modules over `max_bytes`.
    pub fn new(options: RegistryOptions, cache: ModuleCache, max_bytes: u64) -> Fetcher {
        Fetcher {
            inner: Arc::new(Inner {
                options,
                cache,
                max_bytes,
            }),
        }
    }

    /// The module `source` names: from the cache if it holds it intact,
    /// else pulled and verified, then cached.
    pub async fn fetch(&self, source: &OciSource) -> Result<Vec<u8>, RegistryError> {
        let Inner {
            options,
            cache,
            max_bytes,
        } = &*self.inner;
        if let Some(module) = self.cached(source) {
            Metrics::global().record_pull("cached");
            return Ok(module);
        }
        let pulled = tokio::time::timeout(PULL_TIMEOUT, options.pull(source, *max_bytes))
            .await
            .unwrap_or_else(|_| {
                Err(RegistryError::Registry {
                    what: "pulling",
                    reference: source.to_string(),
                    message: format!("no complete answer within {PULL_TIMEOUT:?}"),
                })
            });
        Metrics::global().record_pull(if pulled.is_ok() { "pulled" } else { "failed" });
        let (manifest, module) = pulled?;
        let layer = crate::routing::digest(&module);
        cache.store(source.digest(), &manifest, &layer, &module);
        tracing::info!(source = %source, digest = %layer, bytes = module.len(), "pulled");
        Ok(module)
    }

    fn cached(&self, source: &OciSource) -> Option<Vec<u8>> {
        let Inner {
            cache, max_bytes, ..
        } = &*self.inner;
        let manifest = cache.manifest(source.digest())?;
        let layer = artifact::wasm_layer(&manifest, *max_bytes).ok()?;
        cache.module(&layer.digest)
    }

    /// Fetches every `(function, source)` at once; results in the same order.
    pub async fn fetch_all(
        &self,
        sources: Vec<(String, OciSource)>,
    ) -> Vec<(String, Result<Vec<u8>, RegistryError>)> {
        let tasks: Vec<_> = sources
            .into_iter()
            .map(|(name, source)| {
                let fetcher = self.clone();
                (
                    name,
                    tokio::spawn(async move { fetcher.fetch(&source).await }),
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
