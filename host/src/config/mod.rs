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
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

mod env_file;
mod instances;
mod limits;
#[cfg(test)]
mod properties;

use env_file::parse_env_file;
pub use instances::{DEFAULT_MAX_EVENTS_PER_INSTANCE, Instances};
pub use limits::{
    DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_OUTPUT_EVENTS, Limits,
};

/// Name of the configuration file inside the functions directory.
pub const CONFIG_FILE: &str = "wasmfn.toml";
/// Default request body limit: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default number of tries per output event sent to a sink.
pub const DEFAULT_DELIVERY_ATTEMPTS: usize = 5;
/// Default first backoff between sink tries (then doubled: 20+40+80+160 ms).
pub const DEFAULT_INITIAL_BACKOFF_MS: u64 = 20;
/// Default TCP connect timeout for sinks.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Default whole-request timeout for one POST to a sink.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 5_000;

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

/// Retry and timeout policy for POSTs to sinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Tries per output event, the first included.
    pub attempts: usize,
    /// Backoff before the second try; doubled after each further failure.
    pub initial_backoff: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout for one whole request.
    pub request_timeout: Duration,
}

/// Where a function's output events go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Output {
    /// Back to the caller as the HTTP response (a Knative reply).
    #[default]
    Reply,
    /// POSTed in binary mode to this URL (a Broker ingress or a KafkaSink).
    Sink(reqwest::Url),
}

/// One function's configuration.
#[derive(Debug, Clone, Default)]
pub struct FunctionConfig {
    /// Where its output events go.
    pub output: Output,
    /// What its `config.get` sees: `env`, then `env_files` (later wins).
    pub settings: Settings,
    /// The env files its settings were read from, `${VAR}`s expanded.
    pub env_files: Vec<PathBuf>,
    /// Its sandbox and output limits.
    pub limits: Limits,
    /// Its de-duplication window for redelivered events (`None`: off).
    pub dedup: Option<DedupConfig>,
    /// Fresh instances per event, or instances kept warm.
    pub instances: Instances,
}

/// `dedup = { window_s = .., max_entries = .. }`: remember the inputs
/// (`source` + `id`) handled successfully in the last `window`, and
/// acknowledge a redelivery without running the function again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupConfig {
    /// How long a handled input is remembered.
    pub window: Duration,
    /// At most this many inputs are remembered (oldest evicted first).
    pub max_entries: u64,
}

/// Default bound on remembered inputs per function.
pub const DEFAULT_DEDUP_MAX_ENTRIES: u64 = 100_000;

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

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            attempts: DEFAULT_DELIVERY_ATTEMPTS,
            initial_backoff: Duration::from_millis(DEFAULT_INITIAL_BACKOFF_MS),
            connect_timeout: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
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
        let file: wire::File = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_owned(),
            message: err.to_string(),
        })?;
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            message,
        };
        let delivery = file.delivery.unwrap_or_default();
        if delivery.attempts == 0 {
            return Err(invalid(
                "delivery.attempts".into(),
                "must be at least 1 (the first try counts)".into(),
            ));
        }
        let mut functions = HashMap::with_capacity(file.functions.len());
        for (name, function) in file.functions {
            let key = |field: &str| format!("functions.{name}.{field}");
            let expand = |field: &str, value: &str| {
                expand_vars(value, env).map_err(|var| {
                    invalid(
                        key(field),
                        format!("environment variable `{var}` is not set; set it in the Service's env or remove `${{{var}}}`"),
                    )
                })
            };
            let output = match (function.output, function.sink) {
                (wire::Output::Reply, None) => Output::Reply,
                (wire::Output::Reply, Some(_)) => {
                    return Err(invalid(
                        key("sink"),
                        "a sink is set but `output` is \"reply\"; set `output = \"sink\"` or remove `sink`".into(),
                    ));
                }
                (wire::Output::Sink, None) => {
                    return Err(invalid(
                        key("sink"),
                        "`output = \"sink\"` needs `sink = \"<URL>\"` (e.g. \"${BROKER_URL}\")"
                            .into(),
                    ));
                }
                (wire::Output::Sink, Some(sink)) => {
                    let url = expand("sink", &sink)?;
                    let parsed = reqwest::Url::parse(&url)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https"));
                    match parsed {
                        Some(url) => Output::Sink(url),
                        None => {
                            return Err(invalid(
                                key("sink"),
                                format!("`{url}` is not an http(s) URL"),
                            ));
                        }
                    }
                }
            };
            let mut settings = HashMap::new();
            let mut env_files = Vec::with_capacity(function.env_files.len());
            for (setting, value) in function.env {
                let value = expand(&format!("env.{setting}"), &value)?;
                settings.insert(setting, value);
            }
            for file in function.env_files {
                let file = PathBuf::from(expand("env_files", &file)?);
                let text = std::fs::read_to_string(&file).map_err(|err| {
                    invalid(
                        key("env_files"),
                        format!("cannot read `{}`: {err}", file.display()),
                    )
                })?;
                let parsed = parse_env_file(&text).map_err(|(line, message)| {
                    invalid(
                        key("env_files"),
                        format!("`{}` line {line}: {message}", file.display()),
                    )
                })?;
                settings.extend(parsed);
                env_files.push(file);
            }
            let limits = function.limits.validate().map_err(|(field, message)| {
                invalid(format!("functions.{name}.limits.{field}"), message)
            })?;
            let instances =
                instances::validate(function.instances, function.max_events_per_instance)
                    .map_err(|(field, message)| invalid(key(field), message))?;
            let dedup = function
                .dedup
                .map(|dedup| {
                    let max_entries = dedup.max_entries.unwrap_or(DEFAULT_DEDUP_MAX_ENTRIES);
                    if dedup.window_s == 0 {
                        return Err(invalid(key("dedup.window_s"), "must be at least 1".into()));
                    }
                    if max_entries == 0 {
                        return Err(invalid(
                            key("dedup.max_entries"),
                            "must be at least 1".into(),
                        ));
                    }
                    Ok(DedupConfig {
                        window: Duration::from_secs(dedup.window_s),
                        max_entries,
                    })
                })
                .transpose()?;
            functions.insert(
                name,
                FunctionConfig {
                    output,
                    settings: Settings(Arc::new(settings)),
                    env_files,
                    limits,
                    dedup,
                    instances,
                },
            );
        }
        Ok(Config {
            default_function: file.default,
            max_body_bytes: file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            delivery: DeliveryConfig {
                attempts: delivery.attempts,
                initial_backoff: Duration::from_millis(delivery.initial_backoff_ms),
                connect_timeout: Duration::from_millis(delivery.connect_timeout_ms),
                request_timeout: Duration::from_millis(delivery.request_timeout_ms),
            },
            functions,
        })
    }

    /// The first function (by name) that sets `limits.fuel`, if any.
    pub fn first_with_fuel_limit(&self) -> Option<&str> {
        self.functions
            .iter()
            .filter(|(_, f)| f.limits.fuel.is_some())
            .map(|(name, _)| name.as_str())
            .min()
    }

    /// The configuration of function `name` (defaults if it has no entry).
    pub fn function(&self, name: &str) -> FunctionConfig {
        self.functions.get(name).cloned().unwrap_or_default()
    }
}

/// Expands every `${VAR}` in `value` from `env`; `Err(VAR)` names the first
/// unset one. A `$` not followed by `{` is kept as it is.
fn expand_vars(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let var = &rest[start + 2..start + 2 + len];
        out.push_str(&rest[..start]);
        out.push_str(&env(var).ok_or_else(|| var.to_owned())?);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The file's shape, as serde reads it; converted to [`Config`] by
/// [`Config::parse`].
mod wire {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct File {
        pub(super) default: Option<String>,
        pub(super) max_body_bytes: Option<usize>,
        pub(super) delivery: Option<Delivery>,
        #[serde(default)]
        pub(super) functions: BTreeMap<String, Function>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, default)]
    pub(super) struct Delivery {
        pub(super) attempts: usize,
        pub(super) initial_backoff_ms: u64,
        pub(super) connect_timeout_ms: u64,
        pub(super) request_timeout_ms: u64,
    }

    impl Default for Delivery {
        fn default() -> Self {
            Delivery {
                attempts: DEFAULT_DELIVERY_ATTEMPTS,
                initial_backoff_ms: DEFAULT_INITIAL_BACKOFF_MS,
                connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
                request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Function {
        #[serde(default)]
        pub(super) output: Output,
        pub(super) sink: Option<String>,
        #[serde(default)]
        pub(super) env: BTreeMap<String, String>,
        #[serde(default)]
        pub(super) env_files: Vec<String>,
        #[serde(default)]
        pub(super) limits: super::limits::WireLimits,
        pub(super) dedup: Option<Dedup>,
        pub(super) instances: Option<super::instances::WireInstances>,
        pub(super) max_events_per_instance: Option<u32>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Dedup {
        pub(super) window_s: u64,
        pub(super) max_entries: Option<u64>,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "lowercase")]
    pub(super) enum Output {
        #[default]
        Reply,
        Sink,
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(config.function("unlisted").limits, Limits::default());
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
        assert!(msg.contains("not an http(s) URL"), "{msg}");

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
    fn expand_vars_handles_text_around_and_literal_dollars() {
        assert_eq!(
            expand_vars("a-${BROKER_URL}-$x-${", &env).unwrap(),
            "a-http://broker.example/ns/default-$x-${"
        );
        assert_eq!(expand_vars("${MISSING}", &env).unwrap_err(), "MISSING");
    }
}
