//! The files of a functions directory: which names may be functions, and
//! reading one function's bytes — the one place they come from (a registry
//! source plugs in beside [`read_module`]). Everything here blocks: the
//! loader calls it on a blocking thread, never on an async worker.
//!
//! Refused, for that name only: a name the host owns or that is not a plain
//! `[a-z0-9][a-z0-9-_.]*`; anything that is not a regular file after
//! following symlinks (a FIFO, a device, a directory); a file over
//! [`MAX_MODULE_BYTES`]; bytes that are not a WebAssembly binary. WAT text is
//! not accepted here: a `.wasm` symlinked to a text file (an env file,
//! `/etc/passwd`) must not have its content parsed and quoted in an error.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::load::LoadError;
use super::table::{LoadIssue, digest};
use crate::regular_file::OpenError;

/// The largest module file read, in bytes. The example functions are
/// 0.1–0.5 MB and a ConfigMap holds at most 1 MiB; a componentize-py
/// component is ~40 MB. Reading stops here, so a file that never ends
/// (a symlink to `/dev/zero` grew RSS past 3 GB in 2 s) costs at most this.
pub const MAX_MODULE_BYTES: u64 = 128 << 20;

/// Names the host serves itself by `GET`, so a function of that name could
/// never be reached by `POST` (it would answer 405). `metrics` and
/// `functions` are not here: their routes also take `POST` for a function.
pub const RESERVED_NAMES: &[&str] = &["healthz", "readyz"];

/// The `.wasm` entries of a functions directory.
#[derive(Debug, Default)]
pub struct Listing {
    /// Function name and path, sorted by name.
    pub modules: Vec<(String, PathBuf)>,
    /// Entries whose names cannot be functions.
    pub refused: Vec<LoadIssue>,
}

/// The `.wasm` entries of `dir`, by function name, sorted. Hidden entries
/// (the kubelet's `..data` and `..<timestamp>` directories, editors' temp
/// files) are skipped; a name the host owns or that breaks the naming rule
/// is refused. Only names are looked at here: nothing is opened.
pub fn list_modules(dir: &Path) -> Result<Listing, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Directory {
        path: dir.to_owned(),
        source,
    })?;
    let mut listing = Listing::default();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let lossy = file_name.to_string_lossy();
        let Some(name) = lossy.strip_suffix(".wasm") else {
            continue;
        };
        if name.is_empty() || name.starts_with('.') || name.starts_with('~') {
            continue;
        }
        match check_name(name, file_name.to_str().is_some()) {
            Ok(()) => listing.modules.push((name.to_owned(), entry.path())),
            Err(reason) => {
                let file = lossy.escape_debug().to_string();
                listing.refused.push(LoadIssue {
                    message: LoadError::Name {
                        file: file.clone(),
                        reason,
                    }
                    .to_string(),
                    function: file,
                });
            }
        }
    }
    listing.modules.sort();
    listing.refused.sort_by(|a, b| a.function.cmp(&b.function));
    Ok(listing)
}

/// Whether `name` (a file stem, `utf8` if the file name was valid UTF-8) can
/// be a function's name and route; else the rule it breaks.
fn check_name(name: &str, utf8: bool) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let plain_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let plain_rest =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if !utf8 || !plain_start || !plain_rest {
        return Err("not a plain function name");
    }
    if RESERVED_NAMES.contains(&name) {
        return Err("the host serves this path itself (GET /healthz, GET /readyz)");
    }
    Ok(())
}

/// A function's bytes, read and digested.
pub(super) struct ModuleBytes {
    /// `sha256:<hex>` of the bytes.
    pub(super) digest: String,
    /// Their length.
    pub(super) size: usize,
    /// The bytes, kept only when the digest still has to be compiled.
    pub(super) bytes: Option<Vec<u8>>,
}

/// Reads the module at `path`: the one place a function's bytes come from
/// (a registry source would plug in beside it). Blocking: call it off the
/// async workers. Only a regular file (after following symlinks) of at most
/// [`MAX_MODULE_BYTES`] that starts with the WebAssembly magic is accepted.
fn read_module(path: &Path) -> Result<Vec<u8>, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let (file, meta) = crate::regular_file::open(path).map_err(|err| match err {
        OpenError::Io(source) => read_error(source),
        OpenError::NotAFile(kind) => LoadError::NotAFile {
            path: path.to_owned(),
            kind,
        },
    })?;
    if meta.len() > MAX_MODULE_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_MODULE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_MODULE_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
        });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotBinary {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// One listed function, read: its bytes' digest, or why it cannot load.
pub(super) type ReadOutcome = (String, PathBuf, Result<ModuleBytes, LoadError>);

/// Lists `dir` and reads every module, keeping the bytes only of digests
/// not `known`. Blocking: run on a blocking thread.
pub(super) fn read_dir_modules(
    dir: &Path,
    known: &HashSet<String>,
) -> Result<(Vec<ReadOutcome>, Vec<LoadIssue>), LoadError> {
    let listing = list_modules(dir)?;
    let read = listing
        .modules
        .into_iter()
        .map(|(name, path)| {
            let outcome = read_module(&path).map(|bytes| {
                let digest = digest(&bytes);
                ModuleBytes {
                    size: bytes.len(),
                    bytes: (!known.contains(&digest)).then_some(bytes),
                    digest,
                }
            });
            (name, path, outcome)
        })
        .collect();
    Ok((read, listing.refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(listing: &Listing) -> Vec<&str> {
        listing.modules.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn lists_wasm_files_through_kubelet_symlinks_skipping_hidden_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let data = root.join("..2026_11_21_00_00_00.000000001");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("handler.wasm"), b"x").unwrap();
        std::fs::write(data.join("wasmfn.toml"), b"").unwrap();
        std::os::unix::fs::symlink(&data, root.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/handler.wasm", root.join("handler.wasm")).unwrap();
        std::fs::write(root.join(".handler.wasm.swp"), b"x").unwrap();
        std::fs::write(root.join(".tmp.wasm"), b"x").unwrap();
        let listing = list_modules(root).unwrap();
        assert_eq!(names(&listing), vec!["handler"]);
        assert!(listing.refused.is_empty());
    }

    #[test]
    fn names_the_host_owns_or_that_are_not_plain_are_refused_with_the_rule() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "ok-1.v2_x.wasm",
            "0k.wasm",
            "healthz.wasm",
            "readyz.wasm",
            "metrics.wasm",
            "Upper.wasm",
            "a b.wasm",
            "line\nbreak.wasm",
            "-dash.wasm",
            "_dev.wasm",
            ".wasm",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let listing = list_modules(dir.path()).unwrap();
        assert_eq!(names(&listing), vec!["0k", "metrics", "ok-1.v2_x"]);
        let refused: Vec<(&str, &str)> = listing
            .refused
            .iter()
            .map(|i| (i.function.as_str(), i.message.as_str()))
            .collect();
        let files: Vec<&str> = refused.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            files,
            [
                "-dash.wasm",
                "Upper.wasm",
                "_dev.wasm",
                "a b.wasm",
                "healthz.wasm",
                "line\\nbreak.wasm",
                "readyz.wasm"
            ]
        );
        for (file, message) in refused {
            assert!(!message.contains('\n'), "{message}");
            assert!(message.starts_with(file), "{message}");
            assert!(message.contains("[a-z0-9][a-z0-9-_.]*"), "{message}");
        }
    }

    #[test]
    fn only_regular_wasm_files_within_the_size_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let path = |name: &str| root.join(name);
        std::fs::write(path("good.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
        std::os::unix::fs::symlink(path("good.wasm"), path("link.wasm")).unwrap();
        let fifo = std::ffi::CString::new(path("fifo.wasm").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path only.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink("/dev/zero", path("zero.wasm")).unwrap();
        std::fs::create_dir(path("dir.wasm")).unwrap();
        std::fs::write(path("secret.env"), "export API_KEY=\"sk-live-1\"\n").unwrap();
        std::os::unix::fs::symlink(path("secret.env"), path("text.wasm")).unwrap();
        let big = std::fs::File::create(path("big.wasm")).unwrap();
        big.set_len(MAX_MODULE_BYTES + 1).unwrap();

        assert!(read_module(&path("good.wasm")).is_ok());
        assert!(read_module(&path("link.wasm")).is_ok());
        let refused = |name: &str| read_module(&path(name)).unwrap_err().to_string();
        // A FIFO without a writer used to block the reading thread forever.
        assert!(refused("fifo.wasm").contains("is a FIFO, not a regular file"));
        assert!(refused("zero.wasm").contains("is a device, not a regular file"));
        assert!(refused("dir.wasm").contains("is a directory, not a regular file"));
        assert!(refused("big.wasm").contains("larger than the 128 MiB"));
        let text = refused("text.wasm");
        assert!(
            text.contains("text.wasm is not a WebAssembly binary"),
            "{text}"
        );
        assert!(
            !text.contains("API_KEY") && !text.contains("sk-live"),
            "{text}"
        );
    }
}
