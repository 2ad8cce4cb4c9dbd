//! `env` and `env_files`: a function's settings and secrets, as its
//! `config.get` sees them, in a type whose `Debug` shows only the keys.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::KeyError;
use super::env_file::parse_env_file;
use super::vars::Vars;

/// A function's settings and secrets. Its `Debug` shows only the keys, so
/// secret values never reach a log line.
#[derive(Clone, Default)]
pub struct Settings(Arc<HashMap<String, String>>);

impl Settings {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The setting names, sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.0.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("keys", &self.keys())
            .finish()
    }
}

/// Reads a function's settings: `env` (each value `${VAR}`-expanded), then
/// each of `env_files` in order, a later value winning. Returns them with
/// the expanded env-file paths. Errors name the key, file and line, never a
/// value.
pub(super) fn read_settings(
    env: BTreeMap<String, String>,
    env_files: &[String],
    vars: &Vars<'_>,
) -> Result<(Settings, Vec<PathBuf>), KeyError> {
    let mut settings = HashMap::with_capacity(env.len());
    for (setting, value) in env {
        let value = vars.expand(&format!("env.{setting}"), &value)?;
        settings.insert(setting, value);
    }
    let mut paths = Vec::with_capacity(env_files.len());
    for file in env_files {
        let path = PathBuf::from(vars.expand("env_files", file)?);
        let text = std::fs::read_to_string(&path).map_err(|err| {
            KeyError::new(
                "env_files",
                format!("cannot read `{}`: {err}", path.display()),
            )
        })?;
        let pairs = parse_env_file(&text).map_err(|(line, message)| {
            KeyError::new(
                "env_files",
                format!("`{}` line {line}: {message}", path.display()),
            )
        })?;
        settings.extend(pairs);
        paths.push(path);
    }
    Ok((Settings(Arc::new(settings)), paths))
}
