//! Configuration: `wasmfn.toml` in the functions directory, parsed into
//! validated types before the host binds its port.
//!
//! ```toml
//! default = "handler"              # function served at POST /
//! max_body_bytes = 4194304         # request body limit (413 above it)
//!
//! [delivery]                       # how outputs are POSTed to sinks
//! attempts = 5                     # tries per output event, first included
//! initial_backoff_ms = 20          # doubled after each retryable failure
//! connect_timeout_ms = 1000
//! request_timeout_ms = 5000
//!
//! [functions.transformer]
//! output = "sink"                  # "reply" (default) or "sink"
//! sink = "${KAFKA_SINK_URL}"       # ${VAR} expands from the host env at load
//! env = { mapping = '{"trade_id":"/id"}' }
//! env_files = ["/vault/secrets/my-secrets.env"]
//! instances = "reused"             # keep instances warm (default "fresh")
//! max_events_per_instance = 1000   # then a new one
//! allowed_outbound_hosts = ["https://refdata.example.com"]  # wasi:http; none by default
//! canary = { source = "transformer-v2.wasm", weight = 10 }  # or an oci:// digest
//! rollback = { max_error_rate = 0.05, min_events = 50, window_s = 60 }
//! # or, instead of canary: a copy of 100% of the events, outputs only compared
//! # shadow = { source = "transformer-next.wasm", sample = 100 }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod canary;
mod dedup;
mod delivery;
mod env_file;
mod function;
mod instances;
mod limits;
mod outbound;
mod output;
#[cfg(test)]
mod properties;
mod rollback;
mod settings;
mod shadow;
mod vars;

pub use canary::{CanaryConfig, VersionSource};
pub use dedup::{DEFAULT_DEDUP_MAX_ENTRIES, DedupConfig};
pub use delivery::{
    DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_DELIVERY_ATTEMPTS, DEFAULT_INITIAL_BACKOFF_MS,
    DEFAULT_REQUEST_TIMEOUT_MS, DeliveryConfig,
};
pub use function::FunctionConfig;
pub use instances::{DEFAULT_MAX_EVENTS_PER_INSTANCE, Instances};
pub use limits::{
    DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_OUTBOUND_REQUESTS, DEFAULT_MAX_OUTBOUND_RESPONSE_BYTES,
    DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_OUTPUT_EVENTS, FunctionLimits,
};
pub use outbound::{AllowedHosts, Destination, canonical};
pub use output::{InvalidSinkUrl, Output, SinkUrl, redacted};
pub use rollback::RollbackConfig;
pub use settings::Settings;
pub use shadow::ShadowConfig;

use vars::Vars;

/// Name of the configuration file inside the functions directory.
pub const CONFIG_FILE: &str = "wasmfn.toml";
/// Default request body limit: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A configuration error, naming the file, function and key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key and line.
        message: String,
    },
    /// A value is present but not acceptable.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, e.g. `functions.transformer.sink`.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// A bad value in one sub-table, named by its key relative to the table
/// that validates it; [`KeyError::under`] prefixes the enclosing tables.
/// Its message says what to do and never quotes a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub(crate) struct KeyError {
    key: String,
    message: String,
}

impl KeyError {
    /// `key` is bad, because of `message`.
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> KeyError {
        KeyError {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The same error, its key inside the table `table`.
    pub(crate) fn under(self, table: &str) -> KeyError {
        KeyError {
            key: format!("{table}.{}", self.key),
            message: self.message,
        }
    }

    fn in_file(self, path: &Path) -> ConfigError {
        ConfigError::Invalid {
            path: path.to_owned(),
            key: self.key,
            message: self.message,
        }
    }
}

/// The validated host configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Function served at `POST /` (else the only function, if there is one).
    pub default_function: Option<String>,
    /// Request body limit in bytes.
    pub max_body_bytes: usize,
    /// How output events are delivered to sinks.
    pub delivery: DeliveryConfig,
    /// Per-function settings, by function name. Functions without an entry
    /// get [`FunctionConfig::default`].
    pub functions: HashMap<String, FunctionConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_function: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            delivery: DeliveryConfig::default(),
            functions: HashMap::new(),
        }
    }
}

impl Config {
    /// Loads `dir/wasmfn.toml`, or the defaults when the file does not exist.
    /// `${VAR}` references expand from `env`.
    pub fn load_dir(
        dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&path, &text, env),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// Parses and validates the text of a `wasmfn.toml` found at `path`.
    pub fn parse(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_with(path, text, &Vars::new(env))
    }

    /// Parses and validates `text` as [`Self::parse`] does, except that
    /// `env_files` are only named, not read: what `wasmfn check` sees of a
    /// configuration away from the pod its secrets are written in.
    pub fn check(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_with(path, text, &Vars::without_files(env))
    }

    fn parse_with(path: &Path, text: &str, vars: &Vars<'_>) -> Result<Config, ConfigError> {
        let file: WireFile = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_owned(),
            message: err.to_string(),
        })?;
        file.validate(vars).map_err(|err| err.in_file(path))
    }

    /// The first function (by name) that sets `limits.fuel`, if any.
    pub fn first_with_fuel_limit(&self) -> Option<&str> {
        self.functions
            .iter()
            .filter(|(_, f)| f.limits.fuel.is_some())
            .map(|(name, _)| name.as_str())
            .min()
    }

    /// The functions whose module comes from a registry, by name.
    pub fn sources(&self) -> Vec<(String, crate::registry::OciSource)> {
        let mut sources: Vec<_> = self
            .functions
            .iter()
            .filter_map(|(name, f)| Some((name.clone(), f.source.clone()?)))
            .collect();
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        sources
    }

    /// The configuration of function `name` (defaults if it has no entry).
    pub fn function(&self, name: &str) -> FunctionConfig {
        self.functions.get(name).cloned().unwrap_or_default()
    }
}

/// The file as written; each sub-table is validated by its own module.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireFile {
    default: Option<String>,
    max_body_bytes: Option<usize>,
    #[serde(default)]
    delivery: delivery::WireDelivery,
    #[serde(default)]
    functions: BTreeMap<String, function::WireFunction>,
}

impl WireFile {
    fn validate(self, vars: &Vars<'_>) -> Result<Config, KeyError> {
        let delivery = self
            .delivery
            .validate()
            .map_err(|err| err.under("delivery"))?;
        let functions = self
            .functions
            .into_iter()
            .map(|(name, function)| {
                let config = function
                    .validate(vars)
                    .map_err(|err| err.under(&format!("functions.{name}")))?;
                Ok((name, config))
            })
            .collect::<Result<_, KeyError>>()?;
        Ok(Config {
            default_function: self.default,
            max_body_bytes: self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            delivery,
            functions,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "BROKER_URL" => Some("http://broker.example/ns/default".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/cfg/wasmfn.toml"), text, &env)
    }

    #[test]
    fn parses_the_documented_example() {
        let config = parse(
            r#"
            default = "handler"
            [functions.handler]
            output = "sink"
            sink = "${BROKER_URL}"
            [functions.transformer]
            env = { mapping = '{"a":"/b"}', partition_key = "a" }
            "#,
        )
        .unwrap();
        assert_eq!(config.default_function.as_deref(), Some("handler"));
        assert_eq!(
            config.function("handler").output,
            Output::Sink("http://broker.example/ns/default".parse().unwrap())
        );
        let transformer = config.function("transformer");
        assert_eq!(transformer.output, Output::Reply);
        assert_eq!(transformer.settings.get("partition_key"), Some("a"));
        assert_eq!(config.function("unlisted").output, Output::Reply);
        assert_eq!(
            config.function("unlisted").limits,
            FunctionLimits::default()
        );
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(config.delivery, DeliveryConfig::default());
    }

    #[test]
    fn errors_name_file_function_and_key() {
        let err =
            parse("[functions.handler]\noutput = \"sink\"\nsink = \"${NOPE}\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/cfg/wasmfn.toml"), "{msg}");
        assert!(msg.contains("functions.handler.sink"), "{msg}");
        assert!(msg.contains("`NOPE` is not set"), "{msg}");

        let msg = parse("[functions.h]\noutput = \"sink\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("functions.h.sink") && msg.contains("needs `sink"),
            "{msg}"
        );

        let msg = parse("[functions.h]\nsink = \"http://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("output` is \"reply\""), "{msg}");

        let msg = parse("[functions.h]\noutput = \"sink\"\nsink = \"ftp://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("functions.h.sink") && msg.contains("scheme `ftp`"),
            "{msg}"
        );

        let msg = parse("[functions.h]\noutptu = \"sink\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown field `outptu`"), "{msg}");

        let msg = parse("[delivery]\nattempts = 0\n").unwrap_err().to_string();
        assert!(msg.contains("delivery.attempts"), "{msg}");

        let msg = parse("[functions.h.limits]\nmax_concurrency = 0\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("functions.h.limits.max_concurrency"), "{msg}");
        let msg = parse("[functions.h.limits]\ntimeout_ms = 0\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("functions.h.limits.timeout_ms"), "{msg}");
        let msg = parse("[functions.h]\ndedup = { window_s = 0 }\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("functions.h.dedup.window_s"), "{msg}");
        let msg = parse("[functions.h]\ndedup = { window = 5 }\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown field `window`"), "{msg}");
        let dedup = parse("[functions.h]\ndedup = { window_s = 60 }\n")
            .unwrap()
            .function("h")
            .dedup;
        assert_eq!(
            dedup,
            Some(DedupConfig {
                window: Duration::from_secs(60),
                max_entries: DEFAULT_DEDUP_MAX_ENTRIES
            })
        );
        assert_eq!(
            parse("").unwrap().function("h").dedup,
            None,
            "off by default"
        );

        let msg = parse("[functions.h]\nallowed_outbound_hosts = [\"ftp://refdata\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("functions.h.allowed_outbound_hosts[0]")
                && msg.contains("`ftp://refdata`"),
            "{msg}"
        );
        let msg = parse("[functions.h.limits]\nmax_outbound_requests = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("functions.h.limits.max_outbound_requests"),
            "{msg}"
        );

        let msg = parse("[functions.h.limits]\nfuel = 0\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("functions.h.limits.fuel"), "{msg}");
        let msg = parse("[functions.h.limits]\nfuell = 1\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown field `fuell`"), "{msg}");
        let limits = parse("[functions.h.limits]\nfuel = 5000000\n")
            .unwrap()
            .function("h")
            .limits;
        assert_eq!(limits.fuel, Some(5_000_000));
    }

    #[test]
    fn env_files_merge_after_env_and_never_leak_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.env");
        std::fs::write(
            &file,
            "# vault\nexport API_KEY=\"s3cr\\\"et\"\nPLAIN=value\nexport SINGLE='a b'\n\n",
        )
        .unwrap();
        let text = format!(
            "[functions.f]\nenv = {{ API_KEY = \"overridden\", other = \"x\" }}\nenv_files = [\"{}\"]\n",
            file.display()
        );
        let config = parse(&text).unwrap();
        let settings = config.function("f").settings;
        assert_eq!(settings.get("API_KEY"), Some("s3cr\"et"));
        assert_eq!(settings.get("PLAIN"), Some("value"));
        assert_eq!(settings.get("SINGLE"), Some("a b"));
        assert_eq!(settings.get("other"), Some("x"));
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cr"), "secret in Debug output: {debug}");

        std::fs::write(&file, "export TOKEN=\"hunter2\nBROKEN LINE\n").unwrap();
        let msg = parse(&text).unwrap_err().to_string();
        assert!(
            msg.contains("line 1") && msg.contains("unterminated"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "secret in error: {msg}");

        let missing = "[functions.f]\nenv_files = [\"/nonexistent/x.env\"]\n";
        let msg = parse(missing).unwrap_err().to_string();
        assert!(
            msg.contains("functions.f.env_files") && msg.contains("/nonexistent/x.env"),
            "{msg}"
        );
    }

    #[test]
    fn canary_and_rollback_are_validated_naming_the_key() {
        let config = parse(
            "[functions.t]\ncanary = { source = \"t-v2.wasm\", weight = 10 }\n\
             rollback = { max_error_rate = 0.05, min_events = 50, window_s = 60 }\n",
        )
        .unwrap();
        let t = config.function("t");
        assert_eq!(
            t.canary,
            Some(CanaryConfig {
                source: VersionSource::File {
                    stem: "t-v2".into()
                },
                weight: 10
            })
        );
        assert_eq!(
            t.rollback,
            Some(RollbackConfig {
                max_error_rate: 0.05,
                min_events: 50,
                window: Duration::from_secs(60)
            })
        );
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let oci = parse(&format!(
            "[functions.t]\ncanary = {{ source = \"oci://127.0.0.1:5000/fns/t@{digest}\", weight = 0 }}\n"
        ))
        .unwrap();
        assert!(matches!(
            oci.function("t").canary.unwrap().source,
            VersionSource::Oci(_)
        ));
        let cases = [
            (
                "canary = { source = \"t.wasm\", weight = 101 }",
                "functions.t.canary.weight",
            ),
            (
                "canary = { source = \"../t.wasm\", weight = 1 }",
                "functions.t.canary.source",
            ),
            (
                "canary = { source = \"t-v2\", weight = 1 }",
                "functions.t.canary.source",
            ),
            (
                "canary = { source = \"oci://r/t:v2\", weight = 1 }",
                "functions.t.canary.source",
            ),
            ("canary = { weight = 1 }", "missing field `source`"),
            (
                "canary = { source = \"a.wasm\", weight = 1, share = 2 }",
                "unknown field `share`",
            ),
            (
                "rollback = { max_error_rate = 0.1, min_events = 5, window_s = 60 }",
                "functions.t.rollback: applies only to a `canary`",
            ),
            (
                "canary = { source = \"a.wasm\", weight = 1 }\nrollback = { max_error_rate = 1.5, min_events = 5, window_s = 60 }",
                "functions.t.rollback.max_error_rate",
            ),
            (
                "canary = { source = \"a.wasm\", weight = 1 }\nrollback = { max_error_rate = 0.1, min_events = 0, window_s = 60 }",
                "functions.t.rollback.min_events",
            ),
            (
                "canary = { source = \"a.wasm\", weight = 1 }\nrollback = { max_error_rate = 0.1, min_events = 5, window_s = 0 }",
                "functions.t.rollback.window_s",
            ),
        ];
        assert_each_refused(&cases);
    }

    /// Each `[functions.t]` body in `cases` fails to load with an error
    /// containing its expected text.
    fn assert_each_refused(cases: &[(&str, &str)]) {
        for (table, expected) in cases {
            let msg = parse(&format!("[functions.t]\n{table}\n"))
                .unwrap_err()
                .to_string();
            assert!(msg.contains(expected), "{table}: {msg}");
        }
    }

    #[test]
    fn a_shadow_is_validated_and_excludes_a_canary() {
        let config =
            parse("[functions.t]\nshadow = { source = \"t-next.wasm\", sample = 100 }\n").unwrap();
        assert_eq!(
            config.function("t").shadow,
            Some(ShadowConfig {
                source: VersionSource::File {
                    stem: "t-next".into()
                },
                sample: 100
            })
        );
        let cases = [
            (
                "shadow = { source = \"t.wasm\", sample = 101 }",
                "functions.t.shadow.sample",
            ),
            (
                "shadow = { source = \"dir/t.wasm\", sample = 1 }",
                "functions.t.shadow.source",
            ),
            (
                "shadow = { source = \"t.wasm\", weight = 1 }",
                "unknown field `weight`",
            ),
            (
                "shadow = { source = \"a.wasm\", sample = 1 }\ncanary = { source = \"b.wasm\", weight = 1 }",
                "functions.t.shadow: a function has a `canary` or a `shadow`, not both",
            ),
            (
                "shadow = { source = \"a.wasm\", sample = 1 }\nrollback = { max_error_rate = 0.1, min_events = 5, window_s = 60 }",
                "functions.t.rollback: applies only to a `canary`",
            ),
        ];
        assert_each_refused(&cases);
    }

    #[test]
    fn sources_are_digest_references_only() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let config = parse(&format!(
            "[functions.t]\nsource = \"oci://127.0.0.1:5000/fns/t@{digest}\"\n[functions.local]\n"
        ))
        .unwrap();
        let sources = config.sources();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].0, "t");
        assert_eq!(sources[0].1.digest(), digest);
        let msg = parse("[functions.t]\nsource = \"oci://ghcr.io/org/t:v1\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("functions.t.source") && msg.contains("wasmfn push"),
            "{msg}"
        );
    }
}
