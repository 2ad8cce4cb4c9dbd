//! `wasmfn build`: compiles every function crate to a wasm32-wasip2
//! component, copies each to the output directory as `<function>.wasm` and
//! lists them with their size and the digest the host will report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::cargo::{CargoError, Package, WASM_TARGET, Workspace, build_wasm};
use crate::cli::BuildArgs;
use crate::routing::digest;

/// Where the components go when `--out` is not given, relative to the
/// workspace root.
const DEFAULT_OUT_DIR: &str = "target/functions";

/// What can go wrong in `wasmfn build`.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `--functions-crates` does not name a directory.
    #[error(
        "--functions-crates {0}: not a directory (run `wasmfn build` in the workspace root, \
         or pass --functions-crates DIR)"
    )]
    NoCratesDir(PathBuf),
    /// The crates directory holds no crate.
    #[error("{0} holds no function crates; create one with `wasmfn new NAME`")]
    NoCrates(PathBuf),
    /// A directory among the function crates is not a workspace member.
    #[error(
        "{dir} is not a crate of the workspace at {root}: every directory there must be a \
         function crate listed in `members` of {root}/Cargo.toml (`functions/*` covers functions/)"
    )]
    NotMember {
        /// The directory.
        dir: PathBuf,
        /// The workspace root.
        root: PathBuf,
    },
    /// Cargo built the crate but no `.wasm` came out.
    #[error("cargo built no component for `{0}`: its Cargo.toml needs `crate-type = [\"cdylib\"]`")]
    NoComponent(String),
    /// Copying a component failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Cargo failed.
    #[error(transparent)]
    Cargo(#[from] CargoError),
}

/// One component written by `wasmfn build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltFunction {
    /// The function (= crate = route) name.
    pub name: String,
    /// The written `<name>.wasm`.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its digest as the host reports it (`sha256:<hex>`).
    pub digest: String,
}

/// Runs `wasmfn build`: builds, copies, prints the table on stdout.
pub fn build(args: BuildArgs) -> anyhow::Result<()> {
    let progress = spinner();
    let built = build_functions(
        &args.functions_crates,
        args.out.as_deref(),
        &args.profile,
        &progress,
    );
    progress.finish_and_clear();
    let built = built?;
    print!("{}", table(&built));
    Ok(())
}

/// Builds every crate in `crates_dir` with cargo profile `profile` and
/// copies the components into `out` (default: [`DEFAULT_OUT_DIR`] in the
/// workspace root).
pub fn build_functions(
    crates_dir: &Path,
    out: Option<&Path>,
    profile: &str,
    progress: &ProgressBar,
) -> Result<Vec<BuiltFunction>, BuildError> {
    if !crates_dir.is_dir() {
        return Err(BuildError::NoCratesDir(crates_dir.to_owned()));
    }
    let workspace = Workspace::load(crates_dir)?;
    let packages = function_crates(&workspace, crates_dir)?;
    let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    progress.suspend(|| {
        eprintln!(
            "building {} for {WASM_TARGET} (profile {profile}): {}",
            plural(packages.len(), "function"),
            names.join(", ")
        )
    });
    let components = build_wasm(&workspace, &packages, profile, progress)?;

    let out = out.map_or_else(|| workspace.root.join(DEFAULT_OUT_DIR), Path::to_owned);
    std::fs::create_dir_all(&out).map_err(write_error(&out))?;
    let mut built = Vec::with_capacity(packages.len());
    for name in names {
        let component = components
            .get(name)
            .ok_or_else(|| BuildError::NoComponent(name.to_owned()))?;
        let path = out.join(format!("{name}.wasm"));
        std::fs::copy(component, &path).map_err(write_error(&path))?;
        let bytes = std::fs::read(&path).map_err(write_error(&path))?;
        built.push(BuiltFunction {
            name: name.to_owned(),
            size: bytes.len() as u64,
            digest: digest(&bytes),
            path,
        });
    }
    Ok(built)
}

/// The workspace members in `crates_dir`, one per subdirectory, by name.
fn function_crates<'w>(
    workspace: &'w Workspace,
    crates_dir: &Path,
) -> Result<Vec<&'w Package>, BuildError> {
    let read_error = |source| BuildError::Write {
        path: crates_dir.to_owned(),
        source,
    };
    let mut packages = Vec::new();
    for entry in std::fs::read_dir(crates_dir).map_err(read_error)? {
        let dir = entry.map_err(read_error)?.path();
        if !dir.is_dir() {
            continue;
        }
        let package = workspace
            .package_at(&dir)
            .ok_or_else(|| BuildError::NotMember {
                dir: dir.clone(),
                root: workspace.root.clone(),
            })?;
        packages.push(package);
    }
    if packages.is_empty() {
        return Err(BuildError::NoCrates(crates_dir.to_owned()));
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(packages)
}

/// The table `wasmfn build` prints: one row per function, aligned.
fn table(functions: &[BuiltFunction]) -> String {
    let width = functions
        .iter()
        .map(|f| f.name.len())
        .chain(["function".len()])
        .max()
        .unwrap_or_default();
    let mut text = format!("{:<width$}  {:>12}  digest\n", "function", "size");
    for f in functions {
        text += &format!("{:<width$}  {:>10} B  {}\n", f.name, f.size, f.digest);
    }
    if let Some(dir) = functions.first().and_then(|f| f.path.parent()) {
        text += &format!(
            "{} in {}\n",
            plural(functions.len(), "function"),
            dir.display()
        );
    }
    text
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn write_error(path: &Path) -> impl Fn(std::io::Error) -> BuildError {
    let path = path.to_owned();
    move |source| BuildError::Write {
        path: path.clone(),
        source,
    }
}

/// A spinner on stderr when it is a terminal; a hidden bar otherwise (CI
/// logs get no redraws).
fn spinner() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner:.green} {prefix} {msg} ({elapsed})")
            .expect("the spinner template is valid"),
    );
    bar.set_message("starting cargo");
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str, size: u64) -> BuiltFunction {
        BuiltFunction {
            name: name.into(),
            path: PathBuf::from(format!("out/{name}.wasm")),
            size,
            digest: digest(name.as_bytes()),
        }
    }

    #[test]
    fn table_aligns_rows_and_names_the_directory() {
        let text = table(&[function("a", 5), function("transformer", 137_109)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("function     "), "{text}");
        let digest_column = lines[0].find("digest").unwrap();
        for (line, f) in lines[1..3].iter().zip(["a", "transformer"]) {
            assert_eq!(line.find("sha256:"), Some(digest_column), "{text}");
            assert!(line.ends_with(&digest(f.as_bytes())), "{text}");
        }
        assert!(lines[2].contains("137109 B"), "{text}");
        assert_eq!(lines[3], "2 functions in out");
    }

    #[test]
    fn a_missing_crates_directory_is_named() {
        let err = build_functions(
            Path::new("/nonexistent/functions"),
            None,
            "wasm",
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/functions"), "{err}");
    }
}
