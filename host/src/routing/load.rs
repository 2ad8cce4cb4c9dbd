//! Loading the functions directory: every `<name>.wasm` is read (through the
//! kubelet's symlinks), digested and compiled — in parallel, off the request
//! path — then assembled into a [`FunctionTable`] with its configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::table::{FunctionTable, LoadedFunction};
use crate::config::Config;
use crate::sandbox::{Sandbox, SandboxError};

/// Why the functions directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory cannot be listed.
    #[error(
        "cannot read the functions directory {path}: {source}; set --functions or WASMFN_FUNCTIONS to the directory holding the .wasm files"
    )]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A module cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A module does not compile or does not satisfy the WIT world.
    #[error("{path}: {source}; build functions with the wasmfn-guest SDK for wasm32-wasip2")]
    Compile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: SandboxError,
    },
    /// The table cannot be assembled (e.g. `default` names a missing function).
    #[error("{0}")]
    Table(String),
}

/// The `.wasm` files of `dir`, by function name, sorted. Hidden entries (the
/// kubelet's `..data` and `..<timestamp>` directories, editors' temp files)
/// are skipped; symlinks are followed.
pub fn list_modules(dir: &Path) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Directory {
        path: dir.to_owned(),
        source,
    })?;
    let mut modules = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let Some(name) = file_name.strip_suffix(".wasm") else {
            continue;
        };
        if name.is_empty() || name.starts_with('.') || name.starts_with('~') {
            continue;
        }
        modules.push((name.to_owned(), entry.path()));
    }
    modules.sort();
    Ok(modules)
}

/// Loads every module in `dir` with `config`: reads, digests and compiles
/// them on blocking threads, and builds the table.
pub async fn load_table(
    dir: &Path,
    config: &Config,
    sandbox: &Arc<Sandbox>,
) -> Result<FunctionTable, LoadError> {
    let modules = list_modules(dir)?;
    let mut tasks = Vec::with_capacity(modules.len());
    for (name, path) in modules {
        let sandbox = sandbox.clone();
        let function_config = config.function(&name);
        tasks.push(tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&path).map_err(|source| LoadError::Read {
                path: path.clone(),
                source,
            })?;
            LoadedFunction::compile(&sandbox, &name, &bytes, function_config)
                .map_err(|source| LoadError::Compile { path, source })
        }));
    }
    let mut functions = Vec::with_capacity(tasks.len());
    for task in tasks {
        functions.push(task.await.expect("module loading task panicked")?);
    }
    for name in config.functions.keys() {
        if !functions.iter().any(|f| f.name() == name) {
            tracing::warn!(function = %name, dir = %dir.display(), "wasmfn.toml configures a function with no .wasm file");
        }
    }
    FunctionTable::new(functions, config.default_function.as_deref()).map_err(LoadError::Table)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let names: Vec<String> = list_modules(root)
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, vec!["handler"]);
    }
}
