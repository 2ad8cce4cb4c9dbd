//! Cargo, as the author tooling drives it: the workspace's packages (`cargo
//! metadata`) and builds of function crates for wasm32-wasip2, with a
//! progress spinner fed by cargo's JSON messages and status lines. Both
//! outputs are read with the `cargo_metadata` crate, cargo's own schema.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::{Message, MetadataCommand};
use indicatif::ProgressBar;

/// The target every function is built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// What can go wrong while driving cargo.
#[derive(Debug, thiserror::Error)]
pub enum CargoError {
    /// The program could not be started at all.
    #[error("cannot run `{program}`: {source} (is the Rust toolchain installed and on PATH?)")]
    Spawn {
        /// The program, e.g. `cargo`.
        program: String,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// `cargo metadata` refused the workspace or could not be read.
    #[error("`cargo metadata` failed in {dir} (is it inside the wasmfn workspace?): {source}")]
    Metadata {
        /// Where it ran.
        dir: PathBuf,
        /// What went wrong, with cargo's stderr.
        source: cargo_metadata::Error,
    },
    /// The toolchain has no standard library for [`WASM_TARGET`].
    #[error(
        "the {WASM_TARGET} target is not installed for this Rust toolchain ({libdir} does not \
         exist): run `rustup target add {WASM_TARGET}`"
    )]
    TargetMissing {
        /// Where rustc looks for the target's standard library.
        libdir: PathBuf,
    },
    /// `cargo build` exited with an error.
    #[error("`cargo build` failed ({status}); cargo's output:\n{output}")]
    BuildFailed {
        /// How cargo exited.
        status: std::process::ExitStatus,
        /// Cargo's stderr (status lines left out) and compiler errors.
        output: String,
    },
    /// Reading cargo's output or waiting for it failed.
    #[error("reading cargo's output: {0}")]
    Io(#[from] std::io::Error),
}

/// A workspace as `cargo metadata --no-deps` describes it.
#[derive(Debug)]
pub(crate) struct Workspace {
    /// The directory holding the workspace's `Cargo.toml`.
    pub(crate) root: PathBuf,
    /// The workspace's members.
    pub(crate) packages: Vec<Package>,
}

/// One workspace member.
#[derive(Debug)]
pub(crate) struct Package {
    /// The package name (for a function: the `.wasm` name and the route).
    pub(crate) name: String,
    /// Its `Cargo.toml`.
    pub(crate) manifest_path: PathBuf,
}

impl Package {
    /// The crate's directory.
    pub(crate) fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(&self.manifest_path)
    }
}

impl Workspace {
    /// The workspace enclosing `dir`.
    pub(crate) fn load(dir: &Path) -> Result<Workspace, CargoError> {
        let metadata = MetadataCommand::new()
            .cargo_path(cargo_program())
            .current_dir(dir)
            .no_deps()
            .exec()
            .map_err(|source| CargoError::Metadata {
                dir: dir.to_owned(),
                source,
            })?;
        let packages = metadata
            .workspace_packages()
            .into_iter()
            .map(|p| Package {
                name: p.name.to_string(),
                manifest_path: p.manifest_path.clone().into(),
            })
            .collect();
        Ok(Workspace {
            root: metadata.workspace_root.into(),
            packages,
        })
    }

    /// The member named `name`.
    pub(crate) fn package(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// The member whose directory is `dir`.
    pub(crate) fn package_at(&self, dir: &Path) -> Option<&Package> {
        let dir = dir.canonicalize().ok()?;
        self.packages
            .iter()
            .find(|p| p.dir().canonicalize().is_ok_and(|d| d == dir))
    }
}

/// Builds `packages` of `workspace` for [`WASM_TARGET`] with cargo profile
/// `profile`, showing progress on `progress`. Returns each package's
/// component, keyed by package name.
///
/// Compiler warnings and errors are printed as they come; when cargo fails,
/// the error carries the rest of its output.
pub(crate) fn build_wasm(
    workspace: &Workspace,
    packages: &[&Package],
    profile: &str,
    progress: &ProgressBar,
) -> Result<HashMap<String, PathBuf>, CargoError> {
    check_target(&workspace.root)?;
    // Cargo's own stderr stays plain so its status lines parse; compiler
    // diagnostics come rendered (in colour for a terminal) in the JSON.
    let format = if progress.is_hidden() {
        "json"
    } else {
        "json-diagnostic-rendered-ansi"
    };
    let mut command = cargo();
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.root.join("Cargo.toml"))
        .args(["--profile", profile, "--target", WASM_TARGET])
        .args(["--color", "never", "--message-format", format])
        .args(packages.iter().flat_map(|p| ["-p", p.name.as_str()]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(spawn_error("cargo"))?;

    // Status lines ("Compiling serde v1.0.228") drive the spinner; the rest
    // is kept for the error report.
    let stderr = child.stderr.take().expect("stderr is piped");
    let status_bar = progress.clone();
    let stderr_reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match compiling(&line) {
                Some(krate) => status_bar.set_message(format!("compiling {krate}")),
                None if is_status_line(&line) => status_bar.set_message(line.trim().to_owned()),
                None => kept.push(line),
            }
        }
        kept
    });

    let wanted: HashMap<&Path, &str> = packages
        .iter()
        .map(|p| (p.manifest_path.as_path(), p.name.as_str()))
        .collect();
    let mut components = HashMap::new();
    let mut done = 0usize;
    let stdout = child.stdout.take().expect("stdout is piped");
    for message in Message::parse_stream(BufReader::new(stdout)) {
        match message? {
            Message::CompilerArtifact(artifact) => {
                done += 1;
                progress.set_prefix(format!("[{done} crates done]"));
                if let Some(name) = wanted.get(artifact.manifest_path.as_std_path())
                    && let Some(wasm) = artifact
                        .filenames
                        .into_iter()
                        .find(|f| is_wasm(f.as_std_path()))
                {
                    components.insert((*name).to_owned(), wasm.into());
                }
            }
            Message::CompilerMessage(message) => {
                if let Some(rendered) = message.message.rendered {
                    progress.suspend(|| eprint!("{rendered}"));
                }
            }
            _ => {}
        }
    }
    let status = child.wait()?;
    let kept = stderr_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(CargoError::BuildFailed {
            status,
            output: kept.join("\n"),
        });
    }
    Ok(components)
}

/// Fails with [`CargoError::TargetMissing`] unless the toolchain that cargo
/// uses in `root` has the standard library for [`WASM_TARGET`].
fn check_target(root: &Path) -> Result<(), CargoError> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .map_err(spawn_error(&rustc.to_string_lossy()))?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if output.status.success() && libdir.is_dir() {
        Ok(())
    } else {
        Err(CargoError::TargetMissing { libdir })
    }
}

/// The cargo that runs this program (`$CARGO` under `cargo run`/`cargo
/// test`), else `cargo` from PATH.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

fn cargo() -> Command {
    Command::new(cargo_program())
}

fn spawn_error(program: &str) -> impl FnOnce(std::io::Error) -> CargoError {
    let program = program.to_owned();
    move |source| CargoError::Spawn { program, source }
}

/// The crate name in a cargo `Compiling <crate> v<version> (...)` line.
fn compiling(line: &str) -> Option<&str> {
    line.trim_start()
        .strip_prefix("Compiling ")?
        .split_whitespace()
        .next()
}

/// Whether `line` is one of cargo's right-aligned status lines
/// (`   Compiling …`, `    Blocking …`, `    Finished …`).
fn is_status_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    line.len() - trimmed.len() >= 2
        && trimmed
            .split_whitespace()
            .next()
            .is_some_and(|verb| verb.chars().all(|c| c.is_ascii_alphabetic()))
}

fn is_wasm(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "wasm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_crate_from_compiling_lines() {
        assert_eq!(
            compiling("   Compiling serde_json v1.0.140"),
            Some("serde_json")
        );
        assert_eq!(
            compiling("   Compiling greeter v0.1.0 (/w/functions/greeter)"),
            Some("greeter")
        );
        assert_eq!(compiling("    Finished `wasm` profile"), None);
        assert_eq!(compiling("error[E0425]: cannot find value"), None);
    }

    #[test]
    fn tells_status_lines_from_diagnostics() {
        assert!(is_status_line(
            "    Blocking waiting for file lock on build directory"
        ));
        assert!(is_status_line(
            "    Finished `wasm` profile [optimized] target(s) in 1.2s"
        ));
        assert!(!is_status_line("error: could not compile `greeter`"));
        assert!(!is_status_line("  --> functions/greeter/src/lib.rs:3:5"));
        assert!(!is_status_line(""));
    }

    #[test]
    fn reads_artifacts_and_diagnostics_from_the_message_stream() {
        // Lines as `cargo build --message-format json` writes them (cargo 1.95).
        let stream = concat!(
            r#"{"reason":"compiler-message","package_id":"path+file:///w/functions/greeter#0.1.0","manifest_path":"/w/functions/greeter/Cargo.toml","target":{"kind":["cdylib","rlib"],"crate_types":["cdylib","rlib"],"name":"greeter","src_path":"/w/functions/greeter/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"message":{"rendered":"warning: x\n","$message_type":"diagnostic","children":[],"code":null,"level":"warning","message":"x","spans":[]}}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/functions/greeter#0.1.0","manifest_path":"/w/functions/greeter/Cargo.toml","target":{"kind":["cdylib","rlib"],"crate_types":["cdylib","rlib"],"name":"greeter","src_path":"/w/functions/greeter/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":[],"filenames":["/t/greeter.wasm","/t/libgreeter.rlib"],"executable":null,"fresh":true}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
            "\n",
        );
        let messages: Vec<Message> = Message::parse_stream(stream.as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(messages.len(), 3);
        match &messages[0] {
            Message::CompilerMessage(m) => {
                assert_eq!(m.message.rendered.as_deref(), Some("warning: x\n"))
            }
            other => panic!("not a diagnostic: {other:?}"),
        }
        match &messages[1] {
            Message::CompilerArtifact(a) => {
                assert_eq!(a.manifest_path, "/w/functions/greeter/Cargo.toml");
                let wasm = a.filenames.iter().find(|f| is_wasm(f.as_std_path()));
                assert_eq!(wasm.map(|f| f.as_str()), Some("/t/greeter.wasm"));
            }
            other => panic!("not an artifact: {other:?}"),
        }
        assert!(matches!(messages[2], Message::BuildFinished(_)));
    }
}
