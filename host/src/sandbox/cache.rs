//! Compiled-artifact cache: Cranelift output kept on disk, keyed by the
//! module's digest and the engine's compatibility hash, so a restart (or a
//! second identical module) skips compilation.
//!
//! The directory must be private to this process (an `emptyDir` in the
//! Knative Service): wasmtime trusts precompiled artifacts it deserializes.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

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
    /// when present, else compiled by `precompile` and written to the cache.
    pub(super) fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
        precompile: impl FnOnce(&[u8]) -> wasmtime::Result<Vec<u8>>,
    ) -> wasmtime::Result<Component> {
        self.cached(
            digest,
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
        precompile: impl FnOnce(&[u8]) -> wasmtime::Result<Vec<u8>>,
    ) -> wasmtime::Result<Module> {
        self.cached(
            digest,
            || precompile(bytes),
            // SAFETY: see `cached`.
            |path| unsafe { Module::deserialize_file(engine, path) },
            // SAFETY: see `cached`.
            |artifact| unsafe { Module::deserialize(engine, artifact) },
        )
    }

    /// A compiled artifact by `digest`: read with `from_file`, or made by
    /// `precompile`, written (when there is a cache), and loaded with
    /// `from_bytes`. Deserializing is sound because every file was written
    /// by `precompile` of an engine with the same compatibility hash (its
    /// name says so), into a directory only this host writes (module docs),
    /// and `from_bytes` loads what was produced just now for this engine's
    /// settings, by this process or its own compile worker.
    fn cached<T>(
        &self,
        digest: &str,
        precompile: impl FnOnce() -> wasmtime::Result<Vec<u8>>,
        from_file: impl FnOnce(&Path) -> wasmtime::Result<T>,
        from_bytes: impl FnOnce(&[u8]) -> wasmtime::Result<T>,
    ) -> wasmtime::Result<T> {
        let Some(dir) = &self.dir else {
            return from_bytes(&precompile()?);
        };
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let path = dir.join(format!("{hex}-{}.cwasm", self.engine_key));
        if path.exists() {
            match from_file(&path) {
                Ok(compiled) => {
                    tracing::debug!(%digest, "compiled-artifact cache hit");
                    return Ok(compiled);
                }
                Err(err) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cached artifact: {err:#}")
                }
            }
        }
        let artifact = precompile()?;
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tmp = path.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        let written = std::fs::write(&tmp, &artifact).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(err) = written {
            tracing::warn!(path = %path.display(), "cannot write the compiled-artifact cache: {err}");
            let _ = std::fs::remove_file(&tmp);
        }
        from_bytes(&artifact)
    }
}
