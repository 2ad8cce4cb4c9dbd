//! Compiled-artifact cache: Cranelift output kept on disk, keyed by the
//! module's digest and the engine's compatibility hash, so a restart (or a
//! second identical module) skips compilation.
//!
//! The directory must be private to this process (an `emptyDir` in the
//! Knative Service): wasmtime trusts precompiled artifacts it deserializes.
//!
//! Code shipped with a module (a registry artifact's precompiled layer,
//! under `--trust-precompiled`) is tried after a cache miss and, once it
//! loads, written to the cache like compiled code. Every load is counted in
//! `wasmfn_module_loads_total` by how: `cached`, `precompiled`, `compiled`.
//!
//! Hand-written instead of wasmtime's `Config::cache` (measured,
//! `bench/artifact-cache.sh`): a warm restart of the Python transformer loads
//! its 36 MB of code in 3–5 ms here, mmap'd (file-backed pages the kernel can
//! reclaim, 6 MB anonymous RSS, 0.05 CPU-s to the first 200), against
//! 109–214 ms, 40 MB anonymous (110 MB peak) and 0.16 CPU-s with wasmtime's,
//! which reads a zstd file, decompresses it and copies it into anonymous
//! memory; and its lookup lives inside `Component::new`, whose miss compiles
//! in this process, outside the compile worker's bounds.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::observability::Metrics;

/// Where compiled components are kept, if anywhere.
pub(super) struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl ArtifactCache {
    /// A cache in `dir` for artifacts of `engine`; `None` disables it. A
    /// directory that cannot be created disables it with a warning.
    pub(super) fn new(engine: &Engine, dir: Option<&Path>) -> ArtifactCache {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        let dir = dir.and_then(|dir| match std::fs::create_dir_all(dir) {
            Ok(()) => Some(dir.to_owned()),
            Err(err) => {
                tracing::warn!(dir = %dir.display(), "compiled-artifact cache disabled: {err}");
                None
            }
        });
        ArtifactCache { dir, engine_key }
    }

    /// The component for `bytes` (whose digest is `digest`): from the cache
    /// when present, else `shipped` code if it loads, else compiled by
    /// `precompile`; written to the cache in both latter cases.
    pub(super) fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
        shipped: Option<&[u8]>,
        precompile: impl FnOnce(&[u8]) -> wasmtime::Result<Vec<u8>>,
    ) -> wasmtime::Result<Component> {
        self.cached(
            digest,
            shipped,
            || precompile(bytes),
            // SAFETY: see `cached`.
            |path| unsafe { Component::deserialize_file(engine, path) },
            // SAFETY: see `cached`.
            |artifact| unsafe { Component::deserialize(engine, artifact) },
        )
    }

    /// The core module (a WASI command) for `bytes`, as [`Self::component`].
    pub(super) fn module(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
        shipped: Option<&[u8]>,
        precompile: impl FnOnce(&[u8]) -> wasmtime::Result<Vec<u8>>,
    ) -> wasmtime::Result<Module> {
        self.cached(
            digest,
            shipped,
            || precompile(bytes),
            // SAFETY: see `cached`.
            |path| unsafe { Module::deserialize_file(engine, path) },
            // SAFETY: see `cached`.
            |artifact| unsafe { Module::deserialize(engine, artifact) },
        )
    }

    /// A compiled artifact by `digest`: read with `from_file`, else
    /// `shipped` loaded with `from_bytes`, else made by `precompile` and
    /// loaded with `from_bytes`; what was loaded from bytes is written to
    /// the cache (when there is one).
    ///
    /// Deserializing is sound because every file was written by an engine
    /// with the same compatibility hash (its name says so) into a directory
    /// only this host writes (module docs), and bytes from `precompile` were
    /// produced just now for this engine's settings, by this process or its
    /// own compile worker. `shipped` code is the operator's explicit trust
    /// (`--trust-precompiled`): wasmtime checks that it was made by this
    /// wasmtime for these settings and CPU features, not that its code is
    /// safe; its bytes match the digest named in the manifest that the
    /// function's source pins.
    fn cached<T>(
        &self,
        digest: &str,
        shipped: Option<&[u8]>,
        precompile: impl FnOnce() -> wasmtime::Result<Vec<u8>>,
        from_file: impl FnOnce(&Path) -> wasmtime::Result<T>,
        from_bytes: impl Fn(&[u8]) -> wasmtime::Result<T>,
    ) -> wasmtime::Result<T> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let path = self
            .dir
            .as_ref()
            .map(|dir| dir.join(format!("{hex}-{}.cwasm", self.engine_key)));
        if let Some(path) = path.as_ref().filter(|path| path.exists()) {
            match from_file(path) {
                Ok(compiled) => {
                    tracing::debug!(%digest, "compiled-artifact cache hit");
                    Metrics::global().record_module_load("cached");
                    return Ok(compiled);
                }
                Err(err) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cached artifact: {err:#}")
                }
            }
        }
        if let Some(shipped) = shipped {
            match from_bytes(shipped) {
                Ok(loaded) => {
                    tracing::info!(%digest, bytes = shipped.len(), "loaded the artifact's precompiled code (--trust-precompiled): not compiling");
                    Metrics::global().record_module_load("precompiled");
                    if let Some(path) = &path {
                        write(path, shipped);
                    }
                    return Ok(loaded);
                }
                Err(err) => {
                    tracing::warn!(%digest, "the artifact's precompiled code does not load in this engine ({err:#}); compiling the module instead")
                }
            }
        }
        let artifact = precompile()?;
        Metrics::global().record_module_load("compiled");
        if let Some(path) = &path {
            write(path, &artifact);
        }
        from_bytes(&artifact)
    }
}

/// Writes `artifact` to `path` through a temporary file and a rename, so a
/// reader never sees a partial file; failures only warn.
fn write(path: &Path, artifact: &[u8]) {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp{}-{}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::write(&tmp, artifact).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(err) = written {
        tracing::warn!(path = %path.display(), "cannot write the compiled-artifact cache: {err}");
        let _ = std::fs::remove_file(&tmp);
    }
}
