//! Loading the functions directory: every `<name>.wasm` is read and
//! digested on a blocking thread (`files.rs`), compiled — in parallel, off
//! the request path, within the sandbox's compile bounds — and assembled
//! into a [`FunctionTable`] with its configuration.
//!
//! A file that cannot be a function (see `files.rs`) is reported for its name
//! only and the others load, at startup too. A module that does not compile
//! (or passes a compile bound) stops startup, as the operator shipped a
//! broken function; on a reload any failure keeps the name's previous
//! version serving.
//!
//! A function's canary or shadow (issue 14) loads the same way: a file of
//! the directory (read like a function, then attached to its function
//! instead of served at its own route) or an `oci://` source fetched with the
//! others.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc};

use super::files::{MAX_MODULE_BYTES, ModuleBytes, read_dir_modules};
use super::rollout::{Rollout, Version};
use super::shadow::Shadow;
use super::table::{FunctionTable, LoadIssue, LoadedFunction};
use crate::config::{Config, VersionSource};
use crate::registry::{Fetched, Fetcher, RegistryError};
use crate::sandbox::{CompiledModule, Sandbox, SandboxError};

/// Why the functions directory, or one module in it, could not be loaded.
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
    /// The name is not a regular file after following symlinks.
    #[error(
        "{path} is {kind}, not a regular file; a function is a .wasm file (or a symlink to one)"
    )]
    NotAFile {
        /// The file.
        path: PathBuf,
        /// What it is instead, e.g. "a FIFO".
        kind: &'static str,
    },
    /// The file is larger than [`MAX_MODULE_BYTES`].
    #[error("{path} is larger than the {} MiB a module may have", MAX_MODULE_BYTES >> 20)]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a WebAssembly binary (its content is never quoted).
    #[error(
        "{path} is not a WebAssembly binary (it does not start with \\0asm); {}",
        crate::sandbox::ACCEPTED_FORMS
    )]
    NotBinary {
        /// The file.
        path: PathBuf,
    },
    /// The file name cannot name a function.
    #[error("{file}: {reason}; function files are named `[a-z0-9][a-z0-9-_.]*.wasm`")]
    Name {
        /// The file name, with control characters escaped.
        file: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A module does not compile, is none of the accepted forms, or does not
    /// fit its limits.
    #[error("{path}: {source}")]
    Compile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: SandboxError,
    },
    /// A function sets `limits.fuel` but the host does not meter fuel.
    #[error(
        "functions.{0}.limits.fuel is set but this host was started without fuel metering; restart it with --fuel (WASMFN_FUEL=true) or remove the limit"
    )]
    FuelNotMetered(String),
    /// The table cannot be assembled (e.g. `default` names a missing function).
    #[error("{0}")]
    Table(String),
    /// A function has both a `source` and a `<name>.wasm` file.
    #[error(
        "functions.{name}.source is set and {path} exists too; remove one of them (a function's module comes either from the directory or from the registry)"
    )]
    SourceAndFile {
        /// The function.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// A registry-sourced module cannot be fetched.
    #[error("functions.{name}.source: {source}")]
    Pull {
        /// The function.
        name: String,
        /// Why.
        source: RegistryError,
    },
}

/// A module's compilation, by digest.
enum Compiled {
    /// Being compiled.
    Pending,
    /// Ready to serve.
    Ready(CompiledModule),
    /// Refused; kept so the same bytes are not compiled again.
    Failed(SandboxError),
}

/// Loads the functions directory into tables, remembering compiled modules
/// by digest across loads so unchanged modules are never recompiled.
pub struct Loader {
    dir: PathBuf,
    sandbox: Arc<Sandbox>,
    modules: Arc<Mutex<HashMap<String, Compiled>>>,
    /// Cranelift already spreads one compilation over every core; running
    /// more compilations than cores at once only raises peak memory.
    slots: Arc<Semaphore>,
    compiled: Option<mpsc::Sender<()>>,
    /// Where `source = "oci://…"` modules come from.
    fetcher: Fetcher,
}

impl Loader {
    /// A loader of `dir`, compiling with `sandbox`.
    pub fn new(dir: PathBuf, sandbox: Arc<Sandbox>) -> Loader {
        Loader {
            dir,
            sandbox,
            modules: Arc::default(),
            slots: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
            compiled: None,
            fetcher: Fetcher::default(),
        }
    }

    /// Fetches `oci://` sources with `fetcher`.
    pub fn with_fetcher(mut self, fetcher: Fetcher) -> Loader {
        self.fetcher = fetcher;
        self
    }

    /// Sends on `compiled` whenever a compilation started by
    /// [`Self::reload`] ends, so the caller reloads again to serve it.
    pub fn notify_compiled(&mut self, compiled: mpsc::Sender<()>) {
        self.compiled = Some(compiled);
    }

    /// The directory loaded.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Startup: loads every module of the directory with `config`, waiting
    /// for every compilation. Names that cannot be functions (see the module
    /// docs) are returned as issues; a module that does not compile is an
    /// error.
    pub async fn load(
        &self,
        config: &Config,
    ) -> Result<(FunctionTable, Vec<LoadIssue>), LoadError> {
        self.assemble(config, None).await
    }

    /// A reload: the table for the directory as it is now, against the
    /// `previous` one. Modules already compiled are reused by digest; new
    /// ones start compiling and, until they are ready, their name keeps its
    /// previous version (or stays absent), so one slow module never delays
    /// the others. Anything that cannot load keeps its previous version and
    /// is returned as an issue.
    pub async fn reload(
        &self,
        config: &Config,
        previous: &FunctionTable,
    ) -> Result<(FunctionTable, Vec<LoadIssue>), LoadError> {
        self.assemble(config, Some(previous)).await
    }

    async fn assemble(
        &self,
        config: &Config,
        previous: Option<&FunctionTable>,
    ) -> Result<(FunctionTable, Vec<LoadIssue>), LoadError> {
        if !self.sandbox.meters_fuel()
            && let Some(name) = config.first_with_fuel_limit()
        {
            return Err(LoadError::FuelNotMetered(name.to_owned()));
        }
        let known: HashSet<String> = self.lock().keys().cloned().collect();
        let dir = self.dir.clone();
        let known_in_dir = known.clone();
        let (read, mut issues) =
            tokio::task::spawn_blocking(move || read_dir_modules(&dir, &known_in_dir))
                .await
                .expect("reading the functions directory panicked")?;

        let mut compiling = Vec::new();
        let mut read_outcomes = Vec::with_capacity(read.len());
        // A function's bytes come either from the directory or from the
        // registry (through the fetcher's cache), never both.
        let sources = config.sources();
        let mut read: Vec<_> = read
            .into_iter()
            .map(|(name, path, outcome)| {
                if sources.iter().any(|(sourced, _)| *sourced == name) {
                    let err = LoadError::SourceAndFile {
                        name: name.clone(),
                        path: path.clone(),
                    };
                    (name, path, Err(err))
                } else {
                    (name, path, outcome)
                }
            })
            .collect();
        // A canary or shadow from a registry is fetched with the functions,
        // under `<function>@canary` or `<function>@shadow` (no file name has
        // an `@`).
        let extras = extra_versions(config);
        let mut sources = sources;
        sources.extend(extras.iter().filter_map(|extra| match &extra.source {
            VersionSource::Oci(source) => Some((extra.key.clone(), source.clone())),
            VersionSource::File { .. } => None,
        }));
        let origins: HashMap<String, PathBuf> = sources
            .iter()
            .map(|(name, source)| (name.clone(), PathBuf::from(source.to_string())))
            .collect();
        // Precompiled code that came with a fetched module, by its digest.
        let mut shipped: HashMap<String, Vec<u8>> = HashMap::new();
        let engine = self.sandbox.compatibility_hash();
        for (name, fetched) in self.fetcher.fetch_all(sources, engine).await {
            if read.iter().any(|(local, _, _)| *local == name) {
                continue;
            }
            let path = origins[&name].clone();
            let outcome = match fetched {
                Ok(Fetched {
                    module: bytes,
                    precompiled,
                }) => {
                    let digest = crate::routing::digest(&bytes);
                    if let Some(code) = precompiled {
                        shipped.insert(digest.clone(), code);
                    }
                    Ok(ModuleBytes {
                        size: bytes.len(),
                        bytes: (!known.contains(&digest)).then_some(bytes),
                        digest,
                    })
                }
                Err(source) => Err(LoadError::Pull {
                    name: name.clone(),
                    source,
                }),
            };
            read.push((name, path, outcome));
        }
        for (name, path, outcome) in read {
            let outcome = outcome.map(|mut module| {
                if let Some(bytes) = module.bytes.take() {
                    let code = shipped.remove(&module.digest);
                    compiling.extend(self.start_compile(module.digest.clone(), bytes, code));
                }
                (module.digest, module.size)
            });
            read_outcomes.push((name, path, outcome));
        }
        if previous.is_none() {
            for task in compiling {
                task.await.expect("module compilation task panicked");
            }
        }

        // Digests the directory holds now: what the compiled modules are
        // pruned to, with the new table's.
        let mut used: HashSet<String> = read_outcomes
            .iter()
            .filter_map(|(_, _, outcome)| outcome.as_ref().ok().map(|(d, _)| d.clone()))
            .collect();
        let mut functions = Vec::with_capacity(read_outcomes.len());
        let mut loaded_extras = HashMap::new();
        let modules = self.lock();
        for (name, path, outcome) in read_outcomes {
            // A canary's or shadow's module runs as its function, with its
            // configuration.
            let (owner, version) = extras
                .iter()
                .find(|extra| extra.key == name)
                .map_or((name.as_str(), Version::Serving), |extra| {
                    (extra.owner.as_str(), extra.version)
                });
            let loaded = outcome.and_then(|(digest, size)| match modules.get(&digest) {
                Some(Compiled::Ready(module)) => LoadedFunction::new(
                    owner,
                    version,
                    digest,
                    size,
                    module.clone(),
                    config.function(owner),
                )
                .map(Some)
                .map_err(|source| LoadError::Compile {
                    path: path.clone(),
                    source,
                }),
                Some(Compiled::Failed(err)) => Err(LoadError::Compile {
                    path,
                    source: err.clone(),
                }),
                Some(Compiled::Pending) | None => Ok(None),
            });
            let err = match loaded {
                Ok(Some(function)) if version != Version::Serving => {
                    loaded_extras.insert(owner.to_owned(), function);
                    continue;
                }
                Ok(Some(function)) => {
                    functions.push(function);
                    continue;
                }
                Ok(None) => None,
                Err(err @ (LoadError::Compile { .. } | LoadError::SourceAndFile { .. }))
                    if previous.is_none() =>
                {
                    return Err(err);
                }
                Err(err) => Some(err),
            };
            let old = previous
                .and_then(|p| p.find(owner))
                .and_then(|old| match version {
                    Version::Serving => Some(old),
                    Version::Canary => old.rollout.as_ref().map(|r| &r.canary),
                    Version::Shadow => old.shadow.as_ref().map(|s| &s.module),
                });
            if let Some(old) = old {
                // The previous version keeps serving unless the new
                // configuration no longer fits it (then the issue says why).
                if let Ok(function) = LoadedFunction::new(
                    owner,
                    version,
                    old.digest.clone(),
                    old.size,
                    old.module.clone(),
                    config.function(owner),
                ) {
                    used.insert(old.digest.clone());
                    match version {
                        Version::Serving => functions.push(function),
                        Version::Canary | Version::Shadow => {
                            loaded_extras.insert(owner.to_owned(), function);
                        }
                    }
                }
            }
            if let Some(err) = err {
                issues.push(LoadIssue {
                    function: name,
                    message: err.to_string(),
                });
            }
        }
        drop(modules);
        used.extend(functions.iter().map(|f| f.digest.clone()));
        for function in &mut functions {
            let Some(extra) = loaded_extras.remove(function.name()) else {
                continue;
            };
            let settings = config.function(function.name());
            match (extra.version, &settings.canary, &settings.shadow) {
                (Version::Canary, Some(canary), _) => {
                    let previous = previous
                        .and_then(|p| p.find(function.name()))
                        .and_then(|old| old.rollout.as_ref());
                    function.rollout = Some(Rollout::new(
                        Arc::new(extra),
                        canary,
                        settings.rollback,
                        previous,
                    ));
                }
                (Version::Shadow, _, Some(shadow)) => {
                    let previous = previous
                        .and_then(|p| p.find(function.name()))
                        .and_then(|old| old.shadow.as_ref());
                    function.shadow = Some(Shadow::new(Arc::new(extra), shadow, previous));
                }
                _ => {}
            }
        }
        for (name, extra) in &loaded_extras {
            tracing::warn!(function = %name, version = extra.version.label(), "a version is configured for a function with no serving version; it serves nothing");
        }
        self.forget_unused(&used);
        for name in config.functions.keys() {
            if !is_sourced(config, name) && !functions.iter().any(|f| f.name() == name) {
                tracing::warn!(function = %name, dir = %self.dir.display(), "wasmfn.toml configures a function with no .wasm file");
            }
        }
        let table = FunctionTable::new(functions, config.default_function.as_deref())
            .map_err(LoadError::Table)?;
        Ok((table, issues))
    }

    /// Starts compiling `bytes` (or loading its `shipped` precompiled code)
    /// unless its digest is already known; the task ends when the outcome
    /// is recorded.
    fn start_compile(
        &self,
        digest: String,
        bytes: Vec<u8>,
        shipped: Option<Vec<u8>>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        {
            let mut modules = self.lock();
            if modules.contains_key(&digest) {
                return None;
            }
            modules.insert(digest.clone(), Compiled::Pending);
        }
        let (sandbox, slots, modules, compiled) = (
            self.sandbox.clone(),
            self.slots.clone(),
            self.modules.clone(),
            self.compiled.clone(),
        );
        Some(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore never closed");
            let key = digest.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                sandbox.compile_with(&bytes, &key, shipped.as_deref())
            })
            .await
            .expect("module compilation panicked");
            let outcome = match outcome {
                Ok(module) => Compiled::Ready(module),
                Err(err) => Compiled::Failed(err),
            };
            modules
                .lock()
                .expect("compiled modules lock")
                .insert(digest, outcome);
            if let Some(compiled) = compiled {
                // A full channel already holds a pending reload.
                let _ = compiled.try_send(());
            }
        }))
    }

    /// Drops compiled modules (and remembered failures) whose digest is not
    /// `used` any more; pending ones stay.
    fn forget_unused(&self, used: &HashSet<String>) {
        self.lock().retain(|digest, compiled| {
            matches!(compiled, Compiled::Pending) || used.contains(digest)
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Compiled>> {
        self.modules.lock().expect("compiled modules lock")
    }
}

/// A configured canary or shadow: another version of a function.
struct ExtraVersion {
    /// The function it is a version of.
    owner: String,
    /// The name its module is read under: a file's stem, or
    /// `<function>@canary` / `<function>@shadow` for an `oci://` source.
    key: String,
    /// Where its module comes from.
    source: VersionSource,
    /// `Canary` or `Shadow`.
    version: Version,
}

/// Every configured canary and shadow, by function name (a function has one
/// of them at most: the configuration refuses both).
fn extra_versions(config: &Config) -> Vec<ExtraVersion> {
    let mut extras: Vec<_> = config
        .functions
        .iter()
        .filter_map(|(name, f)| {
            let (source, version) = match (&f.canary, &f.shadow) {
                (Some(canary), _) => (canary.source.clone(), Version::Canary),
                (None, Some(shadow)) => (shadow.source.clone(), Version::Shadow),
                (None, None) => return None,
            };
            let key = match &source {
                VersionSource::File { stem } => stem.clone(),
                VersionSource::Oci(_) => format!("{name}@{}", version.label()),
            };
            Some(ExtraVersion {
                owner: name.clone(),
                key,
                source,
                version,
            })
        })
        .collect();
    extras.sort_by(|a, b| a.owner.cmp(&b.owner));
    extras
}

/// Whether `config` gives function `name` a registry `source`.
pub fn is_sourced(config: &Config, name: &str) -> bool {
    config
        .functions
        .get(name)
        .is_some_and(|f| f.source.is_some())
}
