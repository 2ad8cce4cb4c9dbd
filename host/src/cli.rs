//! Command-line interface. Every `serve` flag can also be set through the
//! environment variable named in its help (Knative sets `PORT`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Where the functions ConfigMap is mounted in the Knative Service.
pub const DEFAULT_FUNCTIONS_DIR: &str = "/etc/wasmfn/functions";
/// Where compiled artifacts are cached by default.
pub const DEFAULT_CACHE_DIR: &str = "/tmp/wasmfn-cache";
/// The port when neither `--port` nor `$PORT` is set.
pub const DEFAULT_PORT: u16 = 8080;

/// wasmfn: a WebAssembly function runtime for Knative.
#[derive(Debug, Parser)]
#[command(name = "wasmfn", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every <name>.wasm in the functions directory at POST /<name>.
    Serve(ServeArgs),
    /// Run one event (structured JSON) through a module and print its output
    /// events, one JSON line each. Exit 0 on success, 2 when the function says
    /// `invalid`, 1 otherwise.
    Run(RunArgs),
    /// Serve the functions as `serve` does AND emulate, in memory, the Knative
    /// eventing pipeline the manifests describe (Broker, Triggers, PingSource,
    /// KafkaSink): the whole event path on one machine, for development.
    #[cfg(feature = "dev")]
    Dev(DevArgs),
    /// Build every function in functions/ (Rust, Python, JavaScript, or a
    /// `build` script) into <name>.wasm files and list them with size and
    /// digest.
    #[cfg(feature = "dev")]
    Build(BuildArgs),
    /// Create a function (Rust, Python or JavaScript) that builds and passes
    /// its tests at once.
    #[cfg(feature = "dev")]
    New(NewArgs),
    /// Internal: compile one module read from stdin within bounds (the host
    /// runs it as a child process; see `sandbox/compile.rs`).
    #[command(name = "__compile", hide = true)]
    CompileWorker(crate::sandbox::CompileWorkerArgs),
    /// Push a .wasm file to an OCI registry in the CNCF Wasm artifact layout
    /// and print `REGISTRY/REPO@sha256:<digest>` (last line), the reference
    /// to use in `source = "oci://…"`.
    Push(PushArgs),
    /// Check a deployment before it ships: each `--config` wasmfn.toml read
    /// by the host's own parser, the `--manifests` read by `dev`'s reader,
    /// and (with `--functions`) every destination on the host named by a
    /// function. Prints every problem; exit 1 if there is any.
    #[cfg(feature = "dev")]
    Check(CheckArgs),
}

/// `wasmfn serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory holding <name>.wasm files and an optional wasmfn.toml.
    #[arg(long, env = "WASMFN_FUNCTIONS", default_value = DEFAULT_FUNCTIONS_DIR)]
    pub functions: PathBuf,
    /// Port to listen on (all interfaces); 0 picks a free one.
    #[arg(long, env = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Seconds to keep serving after SIGTERM (readiness already failing)
    /// before in-flight requests are drained and the process exits.
    #[arg(long, env = "WASMFN_DRAIN_SECS", default_value_t = 5)]
    pub drain_secs: u64,
    /// Directory for compiled artifacts and modules pulled from registries
    /// (an emptyDir in the Knative Service: writable on a read-only root
    /// filesystem), so restarts skip compilation and pulls.
    #[arg(long, env = "WASMFN_CACHE_DIR", default_value = DEFAULT_CACHE_DIR)]
    pub cache_dir: PathBuf,
    /// Seconds between fallback polls of the functions directory (file
    /// events trigger reloads at once; the poll catches missed ones).
    #[arg(long, env = "WASMFN_POLL_SECS", default_value_t = 10)]
    pub poll_secs: u64,
    /// How `oci://` sources are pulled.
    #[command(flatten)]
    pub registry: PullArgs,
    /// Limits on each client connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Sandbox limits shared by every function.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Limits on each client connection, against slow and oversized requests.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Milliseconds a client may take to send a request's head, and again
    /// its body: past it the connection is closed (head) or answered 408
    /// (body), which Knative retries.
    #[arg(long, env = "WASMFN_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub read_timeout_ms: u64,
    /// Bytes of one request head (request line and headers); more answer
    /// 431, as do more than 100 header fields.
    #[arg(long, env = "WASMFN_MAX_HEADER_BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(8192..))]
    pub max_header_bytes: u32,
    /// Milliseconds a response write may stall because the client does not
    /// read; past it the connection is closed (a client that pipelines
    /// requests and never reads cannot hold it, nor hold up shutdown).
    #[arg(long, env = "WASMFN_WRITE_TIMEOUT_MS", default_value_t = 10_000)]
    pub write_timeout_ms: u64,
    /// Seconds in-flight requests get to finish after the drain period;
    /// connections still open then are closed and the process exits.
    #[arg(long, env = "WASMFN_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
}

impl ConnectionArgs {
    /// The read timeout as a duration.
    pub fn read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.read_timeout_ms)
    }

    /// The connection limits these flags describe.
    pub fn to_limits(&self) -> crate::ingress::ConnectionLimits {
        crate::ingress::ConnectionLimits {
            header_timeout: self.read_timeout(),
            max_header_bytes: self.max_header_bytes as usize,
            write_timeout: std::time::Duration::from_millis(self.write_timeout_ms),
            shutdown_timeout: std::time::Duration::from_secs(self.shutdown_timeout_secs),
        }
    }
}

/// Sandbox limits.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Function instances that may run at once (pooling allocator slots).
    #[arg(long, env = "WASMFN_MAX_INSTANCES", default_value_t = 256)]
    pub max_instances: u32,
    /// Linear memory per instance, in MiB.
    #[arg(long, env = "WASMFN_MEMORY_MB", default_value_t = 64)]
    pub memory_mb: usize,
    /// Time limit per event, in milliseconds.
    #[arg(long, env = "WASMFN_TIMEOUT_MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Meter fuel, so that `limits.fuel` can cut functions off
    /// deterministically. Also on when the configuration at startup sets a
    /// fuel limit. Costs about 9% more instructions per transformer event.
    #[arg(long, env = "WASMFN_FUEL")]
    pub fuel: bool,
    /// Write /tmp/perf-<pid>.map as modules load, so that `perf report`
    /// names the functions' own code (for profiling; bench/run.sh uses it).
    #[arg(long, env = "WASMFN_PERF_MAP")]
    pub perf_map: bool,
    /// CPU seconds one module may take to compile, all compiler threads
    /// counted (not the wall clock: a busy node does not make a module slower
    /// to compile by this measure); a module past it is refused and reported
    /// (the compiler runs in a child process under `RLIMIT_CPU`; one still
    /// running after 10× this in wall clock is killed too).
    #[arg(long, env = "WASMFN_COMPILE_TIMEOUT_SECS",
          default_value_t = crate::sandbox::DEFAULT_COMPILE_TIMEOUT_SECS)]
    pub compile_timeout_secs: u64,
    /// Memory, in MiB, the compiler process may use for one module; a
    /// module needing more is refused and reported.
    #[arg(long, env = "WASMFN_COMPILE_MEMORY_MB",
          default_value_t = crate::sandbox::DEFAULT_COMPILE_MEMORY_MB)]
    pub compile_memory_mb: u64,
    /// How instance memory is made fresh between events: `auto` restores
    /// only the pages an event wrote where the kernel has `PAGEMAP_SCAN`
    /// (Linux 6.7+) and decommits otherwise; `decommit` always decommits,
    /// as nodes on older kernels do (to measure that case: bench/run.sh).
    #[arg(long, env = "WASMFN_MEMORY_RESET", value_enum, default_value = "auto")]
    pub memory_reset: crate::sandbox::ResetChoice,
}

/// `wasmfn run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The function component: a .wasm file, or
    /// `oci://REGISTRY/REPO@sha256:<digest>` (pulled, not cached).
    pub module: PathBuf,
    /// File holding the event as structured-mode JSON; `-` reads stdin.
    #[arg(long, default_value = "-")]
    pub event: PathBuf,
    /// A wasmfn.toml whose settings for the function apply.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The function's name in --config (default: the module's file stem, or
    /// the last part of the repository).
    #[arg(long, requires = "config")]
    pub name: Option<String>,
    /// How an `oci://` module is pulled.
    #[command(flatten)]
    pub registry: PullArgs,
    /// Sandbox limits.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// `wasmfn dev`.
#[cfg(feature = "dev")]
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Directory of the pipeline manifests (Broker, Trigger, PingSource,
    /// KafkaSink YAML; its kustomization.yaml picks files and namespace).
    #[arg(long, default_value = "deploy/pipeline")]
    pub manifests: PathBuf,
    /// Directory holding the <name>.wasm files (scripts/build-functions.sh
    /// writes them to target/functions).
    #[arg(long, default_value = "target/functions")]
    pub functions: PathBuf,
    /// The wasmfn.toml to use. `${BROKER_URL}` and `${KAFKA_SINK_URL}` expand
    /// to the local Broker and KafkaSink endpoints.
    #[arg(long, default_value = "deploy/base/wasmfn.toml")]
    pub config: PathBuf,
    /// Port to listen on (127.0.0.1 only); 0 picks a free one.
    #[arg(long, env = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Directory the KafkaSinks write to, one <topic>.jsonl per topic.
    #[arg(long, default_value = "dev-out")]
    pub out: PathBuf,
    /// Fire every PingSource once at startup as well as on its schedule
    /// (a schedule fires at most once a minute).
    #[arg(long)]
    pub ping_now: bool,
    /// Directory for compiled artifacts and pulled modules, so restarts
    /// skip compilation and pulls.
    #[arg(long, env = "WASMFN_CACHE_DIR", default_value = DEFAULT_CACHE_DIR)]
    pub cache_dir: PathBuf,
    /// How `oci://` sources are pulled.
    #[command(flatten)]
    pub registry: PullArgs,
    /// Limits on each client connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Sandbox limits shared by every function.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// How registries are reached (`serve`, `dev`, `run`, `push`).
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Registry credentials: a Docker config JSON (the .dockerconfigjson of
    /// a kubernetes.io/dockerconfigjson Secret mounted as a volume). Read at
    /// every pull; registries it does not name are accessed anonymously.
    #[arg(long, env = "WASMFN_REGISTRY_AUTH")]
    pub registry_auth: Option<PathBuf>,
    /// A registry (HOST[:PORT]) reached over plain HTTP instead of HTTPS;
    /// repeatable, or comma-separated in the variable. Loopback registries
    /// always are.
    #[arg(
        long = "insecure-registry",
        env = "WASMFN_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
}

impl RegistryArgs {
    /// The registry options these flags describe.
    pub fn to_options(&self) -> crate::registry::RegistryOptions {
        crate::registry::RegistryOptions {
            auth_file: self.registry_auth.clone(),
            insecure: self.insecure_registries.clone(),
        }
    }
}

/// How `oci://` sources are pulled.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Credentials and plain-HTTP registries.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Largest module pulled from a registry, in MiB; a bigger one is
    /// refused (its function keeps its previous version).
    #[arg(long, env = "WASMFN_MAX_ARTIFACT_MB", default_value_t = crate::registry::DEFAULT_MAX_ARTIFACT_MB)]
    pub max_artifact_mb: u64,
    /// Load the native code an artifact pushed with `wasmfn push
    /// --precompile` carries, instead of compiling its module, when it was
    /// made by an engine like this one. That code runs without the Wasm
    /// validator's guarantees: enable it only for repositories whose pushers
    /// you trust as much as this image (README, "Precompiled artifacts").
    #[arg(long, env = "WASMFN_TRUST_PRECOMPILED")]
    pub trust_precompiled: bool,
}

impl PullArgs {
    /// A fetcher with these flags, caching pulled modules under `cache_dir`.
    pub fn fetcher(&self, cache_dir: Option<&std::path::Path>) -> crate::registry::Fetcher {
        crate::registry::Fetcher::new(
            self.registry.to_options(),
            crate::registry::ModuleCache::new(cache_dir),
            self.max_artifact_mb << 20,
            self.trust_precompiled,
        )
    }
}

/// `wasmfn push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The .wasm file to push (its exact bytes become the artifact's layer).
    pub file: PathBuf,
    /// Where: `REGISTRY/REPO[:TAG]` (tag `latest` if none; `oci://` prefix
    /// accepted).
    pub reference: String,
    /// Also push the module compiled for `wasmfn serve`'s engine, as a
    /// second layer, so that hosts started with --trust-precompiled load it
    /// without compiling. Compiled here, for this machine's CPU features:
    /// a host whose engine differs compiles the module as usual.
    #[arg(long)]
    pub precompile: bool,
    /// Precompile for hosts that meter fuel (`serve --fuel`, or a
    /// configuration with a fuel limit).
    #[arg(long, requires = "precompile")]
    pub fuel: bool,
    /// Credentials and plain-HTTP registries.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `wasmfn check`.
#[cfg(feature = "dev")]
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A wasmfn.toml to check (repeatable). `${VAR}`s expand from the
    /// `--manifests`' Broker and KafkaSink (as `dev` sets them), then from
    /// the environment; `env_files` are named, not read (Vault writes them
    /// in the pod).
    #[arg(long)]
    pub config: Vec<PathBuf>,
    /// A directory of Knative manifests (Broker, Trigger, PingSource,
    /// KafkaSink) to read as `wasmfn dev` does.
    #[arg(long)]
    pub manifests: Option<PathBuf>,
    /// The functions directory the configs will serve (<name>.wasm files):
    /// then `default`, every `[functions.NAME]` and every destination of the
    /// manifests on this host must name a module or an `oci://` source.
    #[arg(long)]
    pub functions: Option<PathBuf>,
}

/// `wasmfn build`.
#[cfg(feature = "dev")]
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Directory for the <name>.wasm files [default: target/functions in the
    /// workspace root].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Directory whose subdirectories are the functions (Rust crates,
    /// Python `app.py`, JavaScript `index.js`, or a `build` script each).
    #[arg(long, alias = "functions", default_value = "functions")]
    pub functions_crates: PathBuf,
    /// Cargo profile; `wasm` (the workspace's) is release with opt-level
    /// 3, LTO and stripping, for fast modules.
    #[arg(long, default_value = "wasm")]
    pub profile: String,
    /// Build only these functions (directory names in the functions
    /// directory) [default: all of them].
    pub names: Vec<String>,
}

/// `wasmfn new`.
#[cfg(feature = "dev")]
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The function's name: its directory (and crate), its .wasm file and
    /// its route /NAME (lowercase letters, digits and '-').
    pub name: String,
    /// What the function does, as a starting point.
    #[arg(long, value_enum, default_value = "handler")]
    pub kind: crate::commands::FunctionKind,
    /// The language it is written in.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: crate::commands::Lang,
    /// Directory of functions to create it in.
    #[arg(long, default_value = "functions")]
    pub dir: PathBuf,
}

impl SandboxArgs {
    /// The sandbox configuration these flags describe, with `cache_dir`;
    /// fuel is metered if `--fuel` is set or the configuration `needs_fuel`.
    /// Fails when the running binary cannot be found to compile modules in.
    pub fn to_sandbox_config(
        &self,
        cache_dir: Option<PathBuf>,
        needs_fuel: bool,
    ) -> std::io::Result<crate::sandbox::SandboxConfig> {
        let compile_bounds = crate::sandbox::CompileBounds::new(
            std::time::Duration::from_secs(self.compile_timeout_secs.max(1)),
            self.compile_memory_mb,
        )?;
        Ok(crate::sandbox::SandboxConfig {
            max_instances: self.max_instances,
            max_memory_bytes: self.memory_mb << 20,
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            meter_fuel: self.fuel || needs_fuel,
            perf_map: self.perf_map,
            cache_dir,
            compile_bounds: Some(compile_bounds),
            memory_reset: self.memory_reset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn memory_reset_reaches_the_sandbox_config() {
        let reset = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Serve(serve) = cli.command else {
                panic!("not serve")
            };
            serve
                .sandbox
                .to_sandbox_config(None, false)
                .unwrap()
                .memory_reset
        };
        use crate::sandbox::ResetChoice;
        assert_eq!(reset(&["wasmfn", "serve"]), ResetChoice::Auto);
        let decommit = ["wasmfn", "serve", "--memory-reset", "decommit"];
        assert_eq!(reset(&decommit), ResetChoice::Decommit);
        let err =
            Cli::try_parse_from(["wasmfn", "serve", "--memory-reset", "pagemap"]).unwrap_err();
        assert!(err.to_string().contains("auto, decommit"), "{err}");
    }

    #[test]
    fn run_name_requires_config() {
        let err = Cli::try_parse_from(["wasmfn", "run", "f.wasm", "--name", "f"]).unwrap_err();
        assert!(err.to_string().contains("--config"), "{err}");
    }
}
