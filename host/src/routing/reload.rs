//! Hot swap: watches the functions directory (the `notify` crate, plus a slow
//! poll as a fallback) and reloads it into a new table, swapped in at once.
//!
//! A kubelet ConfigMap update is an atomic rename of the `..data` symlink to
//! a new timestamped directory; plain file writes, removals and editors' temp
//! files arrive as ordinary events. Every event (debounced) or a changed
//! directory fingerprint triggers one reload; unchanged modules are reused
//! by digest, so only new or changed ones are compiled — off the request path.
//! A reload does not wait for compilations: each one that ends triggers
//! another reload, so a module that compiles slowly delays no other.
//!
//! Every `env_files` path of the configuration is watched too, through its
//! directory (a Vault agent, or the kubelet for a Secret volume, replaces the
//! file by an atomic rename, which a watch on the file itself would lose),
//! and fingerprinted by the poll: a rewritten env file reloads its
//! function's settings.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::files::list_modules;
use super::load::{Loader, is_sourced};
use super::table::{FunctionTable, LoadIssue, Registry};
use crate::config::{CONFIG_FILE, Config, ConfigError};

/// Quiet time after a file event before reloading, so a burst of events
/// (a kubelet swap, a multi-file copy) is one reload.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// First wait before pulling again after a registry-sourced function failed
/// to load; doubled after each failed retry up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between retries of a failing pull.
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Expands `${VAR}` in a `wasmfn.toml`.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where a reload reads its configuration.
#[derive(Clone)]
pub enum ConfigSource {
    /// `<functions dir>/wasmfn.toml` (optional), expanded from the process
    /// environment: `wasmfn serve`.
    InDir,
    /// A file elsewhere, expanded by its own lookup: `wasmfn dev --config`.
    File {
        /// The `wasmfn.toml`.
        path: PathBuf,
        /// The `${VAR}` lookup.
        env: EnvLookup,
    },
}

impl ConfigSource {
    /// Loads the configuration for the functions directory `dir`.
    pub fn load(&self, dir: &Path) -> Result<Config, ConfigError> {
        match self {
            ConfigSource::InDir => Config::load_dir(dir, &|var| std::env::var(var).ok()),
            ConfigSource::File { path, env } => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Config::parse(path, &text, &**env)
            }
        }
    }

    /// The file the poll fingerprints.
    fn path(&self, dir: &Path) -> PathBuf {
        match self {
            ConfigSource::InDir => dir.join(CONFIG_FILE),
            ConfigSource::File { path, .. } => path.clone(),
        }
    }
}

/// Reloads one functions directory into a registry.
pub struct Reloader {
    dir: PathBuf,
    loader: Loader,
    registry: Arc<Registry>,
    config: ConfigSource,
    /// A compilation a reload started has ended.
    compiled: Mutex<Option<mpsc::Receiver<()>>>,
    /// The env files of the last configuration loaded.
    env_files: Mutex<Vec<PathBuf>>,
}

impl Reloader {
    /// A reloader of `loader`'s directory into `registry`, which serves
    /// `config` now (its env files are watched from the start).
    pub fn new(mut loader: Loader, registry: Arc<Registry>, config: &Config) -> Reloader {
        let (compiled_tx, compiled) = mpsc::channel(1);
        loader.notify_compiled(compiled_tx);
        Reloader {
            dir: loader.dir().to_owned(),
            loader,
            registry,
            config: ConfigSource::InDir,
            compiled: Mutex::new(Some(compiled)),
            env_files: Mutex::new(env_files(config)),
        }
    }

    fn env_files(&self) -> Vec<PathBuf> {
        self.env_files.lock().expect("env files lock").clone()
    }

    /// Reads the configuration from `config` instead of the directory.
    pub fn with_config(mut self, config: ConfigSource) -> Reloader {
        self.config = config;
        self
    }

    /// Loads the directory again and swaps the new table in. Whatever cannot
    /// be loaded keeps its previous version serving and is recorded for
    /// `/readyz`; a bad `wasmfn.toml` keeps the whole previous table.
    /// Returns whether a registry-sourced function failed (worth retrying).
    pub async fn reload(&self) -> bool {
        // Off the async workers: the configuration and env files are files
        // like the modules.
        let (source, dir) = (self.config.clone(), self.dir.clone());
        let config = tokio::task::spawn_blocking(move || source.load(&dir))
            .await
            .expect("reading the configuration panicked");
        let config = match config {
            Ok(config) => config,
            Err(err) => {
                self.fail(CONFIG_FILE, err.to_string());
                return false;
            }
        };
        *self.env_files.lock().expect("env files lock") = env_files(&config);
        let previous = self.registry.snapshot();
        match self.loader.reload(&config, &previous).await {
            Ok((table, issues)) => {
                for function in table.functions() {
                    match previous.find(function.name()) {
                        Some(old) if old.digest == function.digest => {}
                        Some(old) => {
                            tracing::info!(function = function.name(), from = %old.digest, to = %function.digest, "function updated")
                        }
                        None => {
                            tracing::info!(function = function.name(), digest = %function.digest, "function added")
                        }
                    }
                }
                for old in previous.functions() {
                    if table.find(old.name()).is_none() {
                        tracing::info!(function = old.name(), digest = %old.digest, "function removed");
                    }
                }
                for issue in &issues {
                    tracing::error!(function = %issue.function, "reload kept the previous version: {}", issue.message);
                }
                let retry = issues
                    .iter()
                    .any(|issue| is_sourced(&config, &issue.function));
                self.registry.set_waiting(waiting(&config, &table));
                self.registry.replace(table);
                self.registry.record_reload(issues);
                retry
            }
            Err(err) => {
                self.fail("", err.to_string());
                false
            }
        }
    }

    fn fail(&self, function: &str, message: String) {
        tracing::error!(
            function,
            "reload failed, the previous functions keep serving: {message}"
        );
        self.registry.record_reload(vec![LoadIssue {
            function: function.to_owned(),
            message,
        }]);
    }

    /// Watches the directory until the process ends: reloads after file
    /// events (debounced), whenever the fallback poll, every `poll`, sees
    /// a changed fingerprint, and when a compilation ends.
    /// While a registry-sourced function fails to load (starting with
    /// `retry`, the first load's outcome), it also reloads after a backoff.
    pub fn watch(self: Arc<Self>, poll: Duration, retry: bool) -> tokio::task::JoinHandle<()> {
        let mut compiled = self
            .compiled
            .lock()
            .expect("reloader lock")
            .take()
            .expect("a reloader is watched once");
        let (events_tx, mut events) = mpsc::channel::<()>(1);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|event| changes_content(&event.kind)) {
                // A full channel already holds a pending reload.
                let _ = events_tx.try_send(());
            }
        })
        .and_then(|mut watcher| {
            watcher.watch(&self.dir, RecursiveMode::NonRecursive)?;
            Ok(watcher)
        });
        let watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(err) => {
                tracing::warn!(dir = %self.dir.display(), "file events unavailable, polling every {poll:?}: {err}");
                None
            }
        };
        tokio::spawn(async move {
            let mut watcher = watcher;
            let mut watched = HashSet::new();
            let config_file = self.config.path(&self.dir);
            let take_fingerprint = || {
                let (dir, mut files) = (self.dir.clone(), self.env_files());
                files.push(config_file.clone());
                tokio::task::spawn_blocking(move || fingerprint(&dir, &files))
            };
            let mut last = take_fingerprint().await.expect("fingerprint panicked");
            let mut ticker = tokio::time::interval(poll);
            ticker.reset();
            let mut backoff = retry.then_some(RETRY_FIRST);
            // A deadline, not a sleep per turn: an unchanged poll tick
            // `continue`s the loop and must not restart the wait.
            let mut retry_at = backoff.map(|wait| tokio::time::Instant::now() + wait);
            loop {
                if let Some(watcher) = &mut watcher {
                    self.watch_env_dirs(watcher, &mut watched);
                }
                let retry_deadline = retry_at.unwrap_or_else(tokio::time::Instant::now);
                let retrying = tokio::select! {
                    Some(()) = events.recv() => {
                        tokio::time::sleep(DEBOUNCE).await;
                        while events.try_recv().is_ok() {}
                        false
                    }
                    Some(()) = compiled.recv() => false,
                    _ = ticker.tick() => {
                        if take_fingerprint().await.expect("fingerprint panicked") == last {
                            continue;
                        }
                        false
                    }
                    _ = tokio::time::sleep_until(retry_deadline), if retry_at.is_some() => {
                        tracing::info!("retrying the registry pulls that failed");
                        true
                    }
                };
                last = take_fingerprint().await.expect("fingerprint panicked");
                // A change starts a fresh backoff; a retry that fails again
                // waits twice as long (up to RETRY_MAX).
                let failed = self.reload().await;
                backoff = failed.then(|| match backoff {
                    Some(wait) if retrying => (wait * 2).min(RETRY_MAX),
                    _ => RETRY_FIRST,
                });
                retry_at = backoff.map(|wait| tokio::time::Instant::now() + wait);
            }
        })
    }
}

impl Reloader {
    /// Watches the directory of every env file (`watched` holds those
    /// watched so far; the functions directory is watched already), and
    /// stops watching the ones no env file is in any more.
    fn watch_env_dirs(&self, watcher: &mut RecommendedWatcher, watched: &mut HashSet<PathBuf>) {
        let wanted: HashSet<PathBuf> = self
            .env_files()
            .iter()
            .filter_map(|file| file.parent())
            .filter(|dir| *dir != self.dir)
            .map(Path::to_owned)
            .collect();
        for dir in watched.difference(&wanted) {
            let _ = watcher.unwatch(dir);
        }
        watched.retain(|dir| wanted.contains(dir));
        for dir in wanted {
            if watched.contains(&dir) {
                continue;
            }
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir);
                }
                Err(err) => {
                    tracing::warn!(dir = %dir.display(), "cannot watch this env files' directory, the poll still checks them: {err}")
                }
            }
        }
    }
}

/// The env files `config` reads, for every function.
fn env_files(config: &Config) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = config
        .functions
        .values()
        .flat_map(|function| function.env_files.iter().cloned())
        .collect();
    files.sort();
    files.dedup();
    files
}

/// The functions `config` sources from a registry that `table` lacks.
pub fn waiting(config: &Config, table: &FunctionTable) -> Vec<String> {
    config
        .sources()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| table.find(name).is_none())
        .collect()
}

/// Whether a file event can change what the directory serves. Opens, reads
/// and closes-after-read are not: a reload reads every module, and reacting
/// to its own reads would reload forever.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any | EventKind::Other => true,
        EventKind::Modify(modify) => !matches!(modify, ModifyKind::Metadata(_)),
        EventKind::Access(access) => matches!(access, AccessKind::Close(AccessMode::Write)),
    }
}

/// What the poll compares: every module's and `others`' (the config and
/// env files) resolved path, size and modification time (a kubelet swap, or
/// a rename over a file, changes the resolved path or the time).
fn fingerprint(dir: &Path, others: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files: Vec<PathBuf> = list_modules(dir)
        .map(|listing| listing.modules.into_iter().map(|(_, path)| path).collect())
        .unwrap_or_default();
    files.extend_from_slice(others);
    files
        .into_iter()
        .map(|path| {
            let resolved = std::fs::canonicalize(&path).unwrap_or(path);
            let meta = std::fs::metadata(&resolved).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (resolved, len, modified)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, RenameMode};

    #[test]
    fn a_config_file_elsewhere_expands_with_its_own_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.toml");
        std::fs::write(
            &path,
            "[functions.h]\noutput = \"sink\"\nsink = \"${BROKER_URL}\"\n",
        )
        .unwrap();
        let env: EnvLookup = Arc::new(|var| {
            (var == "BROKER_URL").then(|| "http://127.0.0.1:1/_dev/brokers/ns/b".to_owned())
        });
        let source = ConfigSource::File {
            path: path.clone(),
            env,
        };
        let config = source.load(Path::new("/nonexistent")).unwrap();
        assert_eq!(
            config.function("h").output,
            crate::config::Output::Sink("http://127.0.0.1:1/_dev/brokers/ns/b".parse().unwrap())
        );
        assert_eq!(source.path(Path::new("/x")), path);
        let missing = ConfigSource::File {
            path: dir.path().join("missing.toml"),
            env: Arc::new(|_| None),
        };
        let err = missing.load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("missing.toml"), "{err}");
    }

    #[test]
    fn the_poll_sees_an_env_file_replaced_by_a_rename() {
        let functions = tempfile::tempdir().unwrap();
        let secrets = tempfile::tempdir().unwrap();
        let env = secrets.path().join("app.env");
        std::fs::write(&env, "A=1\n").unwrap();
        let before = fingerprint(functions.path(), std::slice::from_ref(&env));
        let tmp = secrets.path().join(".app.env.tmp");
        std::fs::write(&tmp, "A=22\n").unwrap();
        std::fs::rename(&tmp, &env).unwrap();
        assert_ne!(fingerprint(functions.path(), &[env]), before);
    }

    #[test]
    fn reads_do_not_trigger_reloads_but_changes_do() {
        assert!(!changes_content(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!changes_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!changes_content(&EventKind::Access(AccessKind::Read)));
        assert!(changes_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(changes_content(&EventKind::Create(CreateKind::File)));
        assert!(changes_content(&EventKind::Modify(ModifyKind::Name(
            RenameMode::Both
        ))));
        assert!(changes_content(&EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
    }
}
