//! Pulled modules on disk, by digest: `<cache-dir>/oci/manifests/<hex>.json`
//! (the manifest named by the source's digest) and
//! `<cache-dir>/oci/blobs/<hex>.wasm` (its layer). Both are verified against
//! their digests when read, so a damaged cache is a miss, never a wrong
//! module. A restart with a warm cache does not contact the registry.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::routing::digest;

/// The on-disk cache of pulled modules (none when the directory cannot be
/// created: pulls then go to the registry every time).
#[derive(Debug, Clone)]
pub struct ModuleCache {
    dir: Option<PathBuf>,
}

impl ModuleCache {
    /// A cache under `dir/oci`; `None` disables it.
    pub fn new(dir: Option<&Path>) -> ModuleCache {
        let dir = dir.map(|dir| dir.join("oci")).and_then(|dir| {
            let created = ["manifests", "blobs"]
                .iter()
                .try_for_each(|sub| std::fs::create_dir_all(dir.join(sub)));
            match created {
                Ok(()) => Some(dir),
                Err(err) => {
                    tracing::warn!(dir = %dir.display(), "pulled-module cache disabled (every start pulls again): {err}");
                    None
                }
            }
        });
        ModuleCache { dir }
    }

    /// The manifest whose digest is `manifest_digest`, if cached intact.
    pub fn manifest(&self, manifest_digest: &str) -> Option<Vec<u8>> {
        self.read(
            self.path("manifests", manifest_digest, "json")?,
            manifest_digest,
        )
    }

    /// The module whose digest is `layer_digest`, if cached intact.
    pub fn module(&self, layer_digest: &str) -> Option<Vec<u8>> {
        self.read(self.path("blobs", layer_digest, "wasm")?, layer_digest)
    }

    /// Keeps a pulled manifest and its module (module first: a cached
    /// manifest implies its module was written). Failures only warn.
    pub fn store(&self, manifest_digest: &str, manifest: &[u8], layer_digest: &str, module: &[u8]) {
        let (Some(blob), Some(manifest_path)) = (
            self.path("blobs", layer_digest, "wasm"),
            self.path("manifests", manifest_digest, "json"),
        ) else {
            return;
        };
        let written = write_atomically(&blob, module)
            .and_then(|()| write_atomically(&manifest_path, manifest));
        if let Err(err) = written {
            tracing::warn!(path = %blob.display(), "cannot cache the pulled module: {err}");
        }
    }

    fn path(&self, kind: &str, digest: &str, extension: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        Some(
            self.dir
                .as_ref()?
                .join(kind)
                .join(format!("{hex}.{extension}")),
        )
    }

    fn read(&self, path: PathBuf, expected: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(&path).ok()?;
        if digest(&bytes) == expected {
            return Some(bytes);
        }
        tracing::warn!(path = %path.display(), "a cached file does not match its digest; pulling it again");
        let _ = std::fs::remove_file(&path);
        None
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`, so a crash never leaves a partial file under the final name.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_verifies_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModuleCache::new(Some(dir.path()));
        let (manifest, module) = (b"{\"m\":1}".as_slice(), b"\0asm module".as_slice());
        let (m, l) = (digest(manifest), digest(module));
        assert_eq!(cache.manifest(&m), None);
        cache.store(&m, manifest, &l, module);
        assert_eq!(cache.manifest(&m).as_deref(), Some(manifest));
        assert_eq!(cache.module(&l).as_deref(), Some(module));

        // A tampered file is a miss and is removed.
        let blob = dir
            .path()
            .join("oci/blobs")
            .join(format!("{}.wasm", &l[7..]));
        std::fs::write(&blob, b"evil").unwrap();
        assert_eq!(cache.module(&l), None);
        assert!(!blob.exists());

        let off = ModuleCache::new(None);
        off.store(&m, manifest, &l, module);
        assert_eq!(off.manifest(&m), None);
    }
}
