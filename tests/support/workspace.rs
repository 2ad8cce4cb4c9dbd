//! A scratch copy of the workspace for tests that drive cargo and the author
//! tooling (`wasmfn new`, `wasmfn build`) without touching the real one.
//!
//! Only what cargo needs to load the workspace is copied: the root manifest
//! and lock file, the guest SDKs, the member crates' sources (`host`,
//! `functions`, `tests/guests`, `bench/echo`), plus the pytest and ruff settings. The
//! installed guest toolchains (`guest-sdk/python/.venv`,
//! `guest-sdk/js/node_modules`) are linked, not copied. Modification times are kept, and builds use
//! the real target directory (`CARGO_TARGET_DIR`): cargo hashes path
//! packages relative to the workspace root, so the copy's unchanged crates
//! are already fresh and only new or edited ones compile.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::WASMFN;

/// The parts of the workspace a scratch copy holds.
const COPIED: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "guest-sdk/rust",
    "guest-sdk/wit",
    "guest-sdk/python",
    "guest-sdk/js",
    "pytest.ini",
    "host/Cargo.toml",
    "host/src",
    "host/templates",
    "functions",
    "tests/guests",
    "bench/echo",
];

/// Installed toolchains inside the copied parts: linked from the real
/// workspace (when installed there), never copied.
const LINKED: &[&str] = &["guest-sdk/python/.venv", "guest-sdk/js/node_modules"];

/// A scratch workspace in a temporary directory, removed on drop.
pub struct ScratchWorkspace {
    dir: tempfile::TempDir,
}

impl ScratchWorkspace {
    /// Copies the workspace into a new temporary directory.
    pub fn new() -> ScratchWorkspace {
        let dir = tempfile::Builder::new()
            .prefix("wasmfn-workspace-")
            .tempdir()
            .unwrap();
        let root = super::workspace_root();
        for part in COPIED {
            copy_keeping_mtimes(&root.join(part), &dir.path().join(part));
        }
        for part in LINKED {
            if root.join(part).exists() {
                std::os::unix::fs::symlink(root.join(part), dir.path().join(part)).unwrap();
            }
        }
        ScratchWorkspace { dir }
    }

    /// The copy's root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `program` run in the copy's root with `wasmfn` first on PATH, the
    /// real target directory, no network for cargo (everything the
    /// workspace needs is in the lock file and cargo's cache), and a private
    /// compilation cache for `wasmfn serve`.
    pub fn command(&self, program: &str) -> Command {
        let bin_dir = Path::new(WASMFN).parent().unwrap();
        let path = std::env::join_paths(std::iter::once(bin_dir.to_owned()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let mut command = Command::new(program);
        command
            .current_dir(self.path())
            .env("PATH", path)
            .env("CARGO_TARGET_DIR", target_dir())
            .env("CARGO_NET_OFFLINE", "true")
            .env("WASMFN_CACHE_DIR", self.path().join(".wasmfn-cache"))
            .env("RUST_LOG", "info")
            .env_remove("WASMFN_LOG_FORMAT")
            .stdin(Stdio::null());
        command
    }

    /// Runs `wasmfn ARGS` in the copy and returns its output.
    pub fn wasmfn(&self, args: &[&str]) -> Output {
        self.command(WASMFN).args(args).output().unwrap()
    }
}

/// The target directory cargo built this test's `wasmfn` in.
pub fn target_dir() -> PathBuf {
    // <target>/<profile>/wasmfn
    Path::new(WASMFN)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_owned()
}

/// Copies the file or tree `from` to `to`, keeping modification times.
fn copy_keeping_mtimes(from: &Path, to: &Path) {
    let name = from.file_name().unwrap_or_default();
    if LINKED.iter().any(|l| from.ends_with(l)) || name == "__pycache__" {
        return;
    }
    let meta = std::fs::metadata(from).unwrap();
    if meta.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_keeping_mtimes(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
        std::fs::File::options()
            .write(true)
            .open(to)
            .unwrap()
            .set_modified(meta.modified().unwrap())
            .unwrap();
    }
}

/// Panics with `what`'s output unless it exited 0.
pub fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The rows of `wasmfn build`'s table: (function, size, digest).
pub fn build_table(stdout: &str) -> Vec<(String, u64, String)> {
    stdout
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [name, size, "B", digest] if digest.starts_with("sha256:") => {
                    Some((name.to_owned(), size.parse().ok()?, digest.to_owned()))
                }
                _ => None,
            },
        )
        .collect()
}
