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
        if !vars.reads_files() {
            paths.push(path);
            continue;
        }
        let text = read_env_file(&path).map_err(|err| {
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

/// Largest env file read; a Vault template's is a few hundred bytes.
const MAX_ENV_FILE_BYTES: u64 = 1 << 20;

/// Reads an env file if it is a regular file (after symlinks) of at most
/// [`MAX_ENV_FILE_BYTES`], so a FIFO in its place is refused instead of
/// hanging the reload that reads it.
fn read_env_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;

    let (file, meta) = crate::regular_file::open(path).map_err(|err| match err {
        crate::regular_file::OpenError::Io(err) => err,
        not_a_file => std::io::Error::other(not_a_file.to_string()),
    })?;
    if meta.len() > MAX_ENV_FILE_BYTES {
        return Err(std::io::Error::other("over 1 MiB"));
    }
    let mut text = String::with_capacity(meta.len() as usize);
    file.take(MAX_ENV_FILE_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_file_that_is_a_fifo_or_a_directory_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("secrets.env");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let env = |_: &str| None;
        let vars = Vars::new(&env);
        for path in [fifo.as_path(), dir.path()] {
            let err = read_settings(BTreeMap::new(), &[path.to_str().unwrap().to_owned()], &vars)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("env_files") && err.contains("not a regular file"),
                "{err}"
            );
        }
    }
}
