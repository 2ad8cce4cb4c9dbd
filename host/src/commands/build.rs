//! `wasmfn build`: builds every function in `functions/` by its language
//! (`languages.rs`): the Rust crates to wasm32-wasip2 components in one cargo
//! run, then each Python, JavaScript and `build`-script function in turn;
//! writes each as `<function>.wasm` in the output directory and lists them
//! with their size and the digest the host will report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::cargo::{CargoError, Package, WASM_TARGET, Workspace, build_wasm};
use super::languages::{self, Language, LanguageError};
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
    /// The functions directory holds no function.
    #[error("{0} holds no functions; create one with `wasmfn new NAME --lang rust|python|js`")]
    NoCrates(PathBuf),
    /// A directory among the functions is of no known language.
    #[error(
        "{0} is not a function: expected Cargo.toml (Rust), app.py (Python), index.js or \
         package.json (JavaScript), or an executable `build` script that writes $OUT"
    )]
    NotAFunction(PathBuf),
    /// A function named on the command line is not in the functions directory.
    #[error("no function `{name}` in {dir}")]
    Unknown {
        /// The name given.
        name: String,
        /// The functions directory.
        dir: PathBuf,
    },
    /// A function directory's name cannot be a route.
    #[error(transparent)]
    Name(#[from] super::NewError),
    /// A crate among the functions is not a workspace member.
    #[error(
        "{dir} is a crate but not a member of the workspace at {root}: add \"{member}\" to \
         `members` in {root}/Cargo.toml (`wasmfn new --lang rust` does it for new functions)"
    )]
    NotMember {
        /// The directory.
        dir: PathBuf,
        /// The workspace root.
        root: PathBuf,
        /// The member entry to add.
        member: String,
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
    /// A Python, JavaScript or script function did not build.
    #[error(transparent)]
    Language(#[from] LanguageError),
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
        &args.names,
        &progress,
    );
    progress.finish_and_clear();
    let built = built?;
    print!("{}", table(&built));
    Ok(())
}

/// One function directory and its language.
struct Function<'w> {
    name: String,
    dir: PathBuf,
    language: Language,
    /// The workspace member, for a Rust function.
    package: Option<&'w Package>,
}

/// Builds the functions in `functions_dir` (those in `names`, or all) —
/// the Rust ones with cargo profile `profile` — and writes the modules
/// into `out` (default: [`DEFAULT_OUT_DIR`] in the workspace root).
pub fn build_functions(
    functions_dir: &Path,
    out: Option<&Path>,
    profile: &str,
    names: &[String],
    progress: &ProgressBar,
) -> Result<Vec<BuiltFunction>, BuildError> {
    if !functions_dir.is_dir() {
        return Err(BuildError::NoCratesDir(functions_dir.to_owned()));
    }
    let workspace = Workspace::load(functions_dir)?;
    let mut functions = functions(&workspace, functions_dir)?;
    if !names.is_empty() {
        if let Some(name) = names
            .iter()
            .find(|n| !functions.iter().any(|f| &f.name == *n))
        {
            return Err(BuildError::Unknown {
                name: name.clone(),
                dir: functions_dir.to_owned(),
            });
        }
        functions.retain(|f| names.contains(&f.name));
    }
    let out = out.map_or_else(|| workspace.root.join(DEFAULT_OUT_DIR), Path::to_owned);
    std::fs::create_dir_all(&out).map_err(write_error(&out))?;
    let out = out.canonicalize().map_err(write_error(&out))?;

    let packages: Vec<&Package> = functions.iter().filter_map(|f| f.package).collect();
    let components = if packages.is_empty() {
        Default::default()
    } else {
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        progress.suspend(|| {
            eprintln!(
                "building {} for {WASM_TARGET} (profile {profile}): {}",
                plural(packages.len(), "Rust function"),
                names.join(", ")
            )
        });
        build_wasm(&workspace, &packages, profile, progress)?
    };

    let mut built = Vec::with_capacity(functions.len());
    for function in &functions {
        let path = out.join(format!("{}.wasm", function.name));
        if let Some(package) = function.package {
            let component = components
                .get(&package.name)
                .ok_or_else(|| BuildError::NoComponent(package.name.clone()))?;
            std::fs::copy(component, &path).map_err(write_error(&path))?;
        } else {
            progress.set_prefix("");
            progress.set_message(format!(
                "building {} ({})",
                function.name,
                function.language.label()
            ));
            progress.suspend(|| {
                eprintln!(
                    "building {} ({} function in {})",
                    function.name,
                    function.language.label(),
                    function.dir.display()
                )
            });
            let dir = function
                .dir
                .canonicalize()
                .map_err(write_error(&function.dir))?;
            languages::build(&workspace.root, &dir, function.language, &path)?;
        }
        let bytes = std::fs::read(&path).map_err(write_error(&path))?;
        built.push(BuiltFunction {
            name: function.name.clone(),
            size: bytes.len() as u64,
            digest: digest(&bytes),
            path,
        });
    }
    Ok(built)
}

/// The functions in `functions_dir`, one per subdirectory (hidden ones
/// left out), by name.
fn functions<'w>(
    workspace: &'w Workspace,
    functions_dir: &Path,
) -> Result<Vec<Function<'w>>, BuildError> {
    let read_error = |source| BuildError::Write {
        path: functions_dir.to_owned(),
        source,
    };
    let mut functions = Vec::new();
    for entry in std::fs::read_dir(functions_dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let dir = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !dir.is_dir() || hidden {
            continue;
        }
        let language =
            Language::detect(&dir).ok_or_else(|| BuildError::NotAFunction(dir.clone()))?;
        let (name, package) = if language == Language::Rust {
            let package = workspace
                .package_at(&dir)
                .ok_or_else(|| BuildError::NotMember {
                    dir: dir.clone(),
                    root: workspace.root.clone(),
                    member: member_entry(&workspace.root, &dir),
                })?;
            (package.name.clone(), Some(package))
        } else {
            let name = entry.file_name().to_string_lossy().into_owned();
            super::validate_name(&name)?;
            (name, None)
        };
        functions.push(Function {
            name,
            dir,
            language,
            package,
        });
    }
    if functions.is_empty() {
        return Err(BuildError::NoCrates(functions_dir.to_owned()));
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(functions)
}

/// How `dir` is written in `members` of the workspace at `root`.
fn member_entry(root: &Path, dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    dir.strip_prefix(&root)
        .unwrap_or(&dir)
        .to_string_lossy()
        .replace('\\', "/")
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
    bar.set_message("starting");
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
            &[],
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/functions"), "{err}");
    }
}
