//! Registry credentials from a Docker config JSON: the `.dockerconfigjson`
//! key of a `kubernetes.io/dockerconfigjson` Secret mounted as a volume, or
//! `~/.docker/config.json`. Read at every pull, so a rotated Secret applies
//! to the next one.
//!
//! Hand-written rather than the `docker_credential` crate: that crate also
//! runs credential helpers (`credsStore`), which a pod has no use for, and
//! its types print passwords in `Debug`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

/// Why the credentials file cannot be used. Never quotes its contents.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The file cannot be read.
    #[error("cannot read the registry credentials {path} (--registry-auth): {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not a Docker config JSON.
    #[error(
        "{path} (--registry-auth) is not a Docker config JSON ({{\"auths\": {{\"REGISTRY\": {{\"auth\": \"<base64 user:password>\"}}}}}}): {reason}"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the registry entry, never a value.
        reason: String,
    },
}

/// A user name and password (or identity token) for one registry. Its
/// `Debug` hides both, so they never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// What oci-client sends: HTTP Basic to the registry, or to its token
    /// service in exchange for a bearer token (the token flow).
    pub(super) fn to_auth(&self) -> RegistryAuth {
        RegistryAuth::Basic(self.username.clone(), self.password.clone())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// The credentials for `registry` (`HOST[:PORT]`) in the Docker config JSON
/// at `path`, or `None` (anonymous) when it has no entry for it.
pub fn credentials_for(path: &Path, registry: &str) -> Result<Option<Credentials>, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|err| AuthError::Read {
        path: path.to_owned(),
        reason: err.to_string(),
    })?;
    lookup(&text, registry).map_err(|reason| AuthError::Format {
        path: path.to_owned(),
        reason,
    })
}

/// One `auths` entry: `auth` (base64 of `user:password`), or `username` and
/// `password` written out.
#[derive(Deserialize)]
struct Entry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// `{"auths": {...}}` (`.dockerconfigjson`), or the bare map of the legacy
/// `.dockercfg`.
#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    Config { auths: HashMap<String, Entry> },
    Legacy(HashMap<String, Entry>),
}

fn lookup(text: &str, registry: &str) -> Result<Option<Credentials>, String> {
    // serde_json's messages quote no input, only line and column.
    let file: File = serde_json::from_str(text).map_err(|err| {
        format!(
            "not JSON of that shape (line {}, column {})",
            err.line(),
            err.column()
        )
    })?;
    let (File::Config { auths } | File::Legacy(auths)) = file;
    let wanted = normalise(registry);
    let Some((key, entry)) = auths.iter().find(|(key, _)| normalise(key) == wanted) else {
        return Ok(None);
    };
    let credentials = match (&entry.auth, &entry.username, &entry.password) {
        (Some(auth), _, _) if !auth.is_empty() => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| format!("auths.\"{key}\".auth is not base64 of UTF-8 text"))?;
            let (username, password) = decoded.split_once(':').ok_or_else(|| {
                format!("auths.\"{key}\".auth does not decode to `user:password`")
            })?;
            Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
            }
        }
        (_, Some(username), Some(password)) => Credentials {
            username: username.clone(),
            password: password.clone(),
        },
        _ => {
            return Err(format!(
                "auths.\"{key}\" has neither `auth` nor `username` and `password`"
            ));
        }
    };
    Ok(Some(credentials))
}

/// The registry host of a config key: keys may be a bare `HOST[:PORT]` or a
/// URL (`https://index.docker.io/v1/`); Docker Hub has several names.
fn normalise(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => "index.docker.io".to_owned(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(username: &str, password: &str) -> Option<Credentials> {
        Some(Credentials {
            username: username.into(),
            password: password.into(),
        })
    }

    #[test]
    fn reads_docker_config_entries_by_registry() {
        let text = r#"{"auths": {
            "127.0.0.1:5000": {"auth": "YWxpY2U6czNjcmV0"},
            "https://index.docker.io/v1/": {"username": "bob", "password": "pw"},
            "ghcr.io": {"auth": "Ym9iOnA6dw=="}
        }}"#;
        assert_eq!(
            lookup(text, "127.0.0.1:5000").unwrap(),
            basic("alice", "s3cret")
        );
        assert_eq!(lookup(text, "index.docker.io").unwrap(), basic("bob", "pw"));
        assert_eq!(lookup(text, "ghcr.io").unwrap(), basic("bob", "p:w"));
        assert_eq!(lookup(text, "quay.io").unwrap(), None);
        let legacy = r#"{"127.0.0.1:5000": {"auth": "YWxpY2U6czNjcmV0"}}"#;
        assert_eq!(
            lookup(legacy, "127.0.0.1:5000").unwrap(),
            basic("alice", "s3cret")
        );
    }

    #[test]
    fn errors_and_debug_never_show_secrets() {
        let credentials = basic("alice", "s3cret").unwrap();
        assert!(!format!("{credentials:?}").contains("s3cret"));
        assert!(!format!("{credentials:?}").contains("alice"));
        let err = lookup(
            r#"{"auths": {"ghcr.io": {"auth": "!!s3cret!!"}}}"#,
            "ghcr.io",
        )
        .unwrap_err();
        assert!(err.contains("ghcr.io") && !err.contains("s3cret"), "{err}");
        let err = lookup(r#"{"auths": {"ghcr.io": {"auth": "czNjcmV0"}}}"#, "ghcr.io").unwrap_err();
        assert!(
            err.contains("user:password") && !err.contains("s3cret"),
            "{err}"
        );
        let err = lookup(r#"{"auths": "s3cret"}"#, "ghcr.io").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
