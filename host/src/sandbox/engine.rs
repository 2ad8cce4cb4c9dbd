//! The shared wasmtime engine: pooling allocator, epoch ticker, linkers, and
//! compilation of function modules (components and WASI commands) into
//! pre-linked modules.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, InstancePre, PoolingAllocationConfig,
};

use super::bindings::{Function, FunctionPre};
use super::cache::ArtifactCache;
use super::command::CommandState;
use super::compile::{CompileBounds, precompile_component};
use super::error::SandboxError;
use super::footprint::{Footprint, GuestForm, PER_INSTANCE};
use super::state::InstanceState;

/// How often the epoch ticker advances; the granularity of timeouts and of
/// the guest's cooperative yields to other tasks.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Dirty pages of a finished instance's linear memory (and tables) that are
/// reset in place rather than handed back to the kernel, when the kernel can
/// say which pages were written (`PAGEMAP_SCAN`, Linux 6.7+).
///
/// Why: with the default reset (`madvise(DONTNEED)`) every event's first
/// touch of each page of stack, static data and heap is a page fault. Keeping
/// the few pages an event writes resident, and copying back only those, was
/// worth +43% events/s for `simple` and +31% for `transformer` (wrk c=16, one
/// core; bench/README.md). An event that dirties more than this much has the
/// rest decommitted as before. Without `PAGEMAP_SCAN` wasmtime would `memset`
/// the first this-many bytes on every reset whether written or not, which
/// measured slower than `madvise`, so then nothing is kept resident.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// How the sandbox runs every instance: limits and the artifact cache.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Instances that may exist at once (pooling allocator slots).
    pub max_instances: u32,
    /// Linear memory per instance, in bytes.
    pub max_memory_bytes: usize,
    /// Wall-clock budget for one event, instantiation included.
    pub timeout: Duration,
    /// Meter fuel (needed for `limits.fuel`; it costs instructions on
    /// every event, so it is off unless asked for).
    pub meter_fuel: bool,
    /// Write a perf map (/tmp/perf-<pid>.map) naming compiled guest code.
    pub perf_map: bool,
    /// Compiled-artifact cache directory (`None`: compile every time).
    pub cache_dir: Option<std::path::PathBuf>,
    /// Bounds on compiling a module, in a child process (`None`: compile
    /// in this process, unbounded; unit tests).
    pub compile_bounds: Option<CompileBounds>,
    /// Which memory reset to use (`--memory-reset`).
    pub memory_reset: ResetChoice,
}

/// The memory reset asked for (`--memory-reset`); what the engine ends up
/// with is [`Sandbox::memory_reset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ResetChoice {
    /// Dirty pages only where the kernel has `PAGEMAP_SCAN`, else decommit.
    #[default]
    Auto,
    /// Always decommit, as on kernels before 6.7 (Linux 6.1 on EKS, GKE,
    /// Bottlerocket): to measure that case on a newer kernel (bench/).
    Decommit,
}

/// How a finished instance's memory is made fresh for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryReset {
    /// Only the pages the instance wrote are restored, found with the
    /// kernel's `PAGEMAP_SCAN`; they stay resident.
    DirtyPages,
    /// All memory is handed back to the kernel (`madvise`): the next
    /// instance page-faults it in again. Kernels before 6.7.
    Decommit,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            max_instances: 256,
            max_memory_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
            meter_fuel: false,
            perf_map: false,
            cache_dir: None,
            compile_bounds: None,
            memory_reset: ResetChoice::Auto,
        }
    }
}

/// The engine and linkers all functions share.
pub struct Sandbox {
    pub(super) engine: Engine,
    linker: Linker<InstanceState>,
    command_linker: wasmtime::Linker<CommandState>,
    cache: ArtifactCache,
    /// The engine's compatibility hash, hex ([`compatibility_hash`]).
    compatibility: String,
    pub(super) config: SandboxConfig,
    memory_reset: MemoryReset,
    /// One permit per live instance of any form (fresh or kept warm):
    /// `--max-instances` counts instances, whatever each takes from the pool.
    pub(super) slots: Arc<Semaphore>,
}

/// A compiled, linked function module, ready to instantiate per event.
#[derive(Clone)]
pub struct CompiledModule {
    pub(super) linked: Linked,
    footprint: Footprint,
}

/// The pre-linked module, by guest form.
#[derive(Clone)]
pub(super) enum Linked {
    /// A `wasmfn:function` component: `handle` is called once per event.
    Component(FunctionPre<InstanceState>),
    /// A WASI preview 1 command: `_start` runs once per event.
    Command(InstancePre<CommandState>),
}

impl CompiledModule {
    /// Which of the accepted forms the module is.
    pub fn form(&self) -> GuestForm {
        self.footprint.form
    }

    /// The smallest linear memory, in bytes, an instance starts with: a
    /// memory limit below it cannot run a single event.
    pub fn min_memory_bytes(&self) -> u64 {
        self.footprint.min_memory_bytes
    }
}

impl Sandbox {
    /// Creates the engine (pooling allocator sized to `config`, epoch
    /// interruption, async support) and starts its epoch ticker.
    pub fn new(config: SandboxConfig) -> Result<Arc<Sandbox>, SandboxError> {
        let dirty_pages = match config.memory_reset {
            // Where the kernel has no PAGEMAP_SCAN, the default reset. The
            // reason is logged for whoever wonders at the startup line.
            ResetChoice::Auto => engine(&config, MemoryReset::DirtyPages)
                .inspect_err(|err| tracing::debug!(error = %err, "dirty-page reset unavailable"))
                .ok(),
            ResetChoice::Decommit => None,
        };
        let (engine, memory_reset) = match dirty_pages {
            Some(engine) => (engine, MemoryReset::DirtyPages),
            None => {
                let engine =
                    engine(&config, MemoryReset::Decommit).map_err(SandboxError::engine)?;
                (engine, MemoryReset::Decommit)
            }
        };

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(SandboxError::engine)?;
        // Every component may import wasi:http; what it may reach is its
        // function's grant (`outbound/`). Commands get no network.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(SandboxError::engine)?;
        Function::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(SandboxError::engine)?;
        let mut command_linker = wasmtime::Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut command_linker, CommandState::wasi)
            .map_err(SandboxError::engine)?;

        spawn_epoch_ticker(&engine);
        let cache = ArtifactCache::new(&engine, config.cache_dir.as_deref());
        let slots = Arc::new(Semaphore::new(config.max_instances as usize));
        Ok(Arc::new(Sandbox {
            compatibility: compatibility_hash(&engine),
            engine,
            linker,
            command_linker,
            cache,
            config,
            memory_reset,
            slots,
        }))
    }

    /// The engine's compatibility hash: 64 hex digits that are equal for
    /// two engines exactly when code one precompiles can load in the other
    /// (same wasmtime, target, CPU features and code settings). Precompiled
    /// layers of registry artifacts are keyed to it.
    pub fn compatibility_hash(&self) -> &str {
        &self.compatibility
    }

    /// Precompiles `bytes` (a component or a WASI command) for this engine,
    /// within the compile bounds if any: what `wasmfn push --precompile`
    /// ships, and what [`Self::compile_with`] accepts as `shipped`.
    pub fn precompile(&self, bytes: &[u8]) -> Result<Vec<u8>, SandboxError> {
        GuestForm::of(bytes).map_err(SandboxError::Compile)?;
        precompile_component(
            &self.engine,
            self.config.compile_bounds.as_ref(),
            self.config.meter_fuel,
            bytes,
        )
        .map_err(SandboxError::compile)
    }

    /// How instance memory is reset between events on this machine.
    pub fn memory_reset(&self) -> MemoryReset {
        self.memory_reset
    }

    /// Compiles `bytes` (whose digest is `digest`), or takes it from the
    /// artifact cache, and links it against the host's imports. Its header
    /// says which form it is: a component must satisfy the `wasmfn:function`
    /// world, a core module must be a WASI preview 1 command (`_start`).
    /// Either must fit one slot of the pooling allocator.
    pub fn compile(&self, bytes: &[u8], digest: &str) -> Result<CompiledModule, SandboxError> {
        self.compile_with(bytes, digest, None)
    }

    /// [`Self::compile`], loading `shipped` — code precompiled for this
    /// engine that came with the module (a registry artifact's precompiled
    /// layer, fetched only under `--trust-precompiled`) — instead of
    /// compiling, unless the artifact cache already holds the module's code.
    /// Code that does not load (wasmtime refuses code of another engine) is
    /// logged and the module compiled: `shipped` never fails a load.
    pub fn compile_with(
        &self,
        bytes: &[u8],
        digest: &str,
        shipped: Option<&[u8]>,
    ) -> Result<CompiledModule, SandboxError> {
        let form = GuestForm::of(bytes).map_err(SandboxError::Compile)?;
        let precompile = |bytes: &[u8]| {
            precompile_component(
                &self.engine,
                self.config.compile_bounds.as_ref(),
                self.config.meter_fuel,
                bytes,
            )
        };
        Footprint::check_min_memory(bytes, self.config.max_memory_bytes)?;
        let (linked, footprint) = match form {
            GuestForm::Component => {
                let component = self
                    .cache
                    .component(&self.engine, bytes, digest, shipped, precompile)
                    .map_err(SandboxError::compile)?;
                let footprint = Footprint::of_component(&component, bytes)?;
                let pre = self
                    .linker
                    .instantiate_pre(&component)
                    .map_err(SandboxError::compile)?;
                let pre = FunctionPre::new(pre).map_err(SandboxError::compile)?;
                (Linked::Component(pre), footprint)
            }
            GuestForm::Command => {
                let module = self
                    .cache
                    .module(&self.engine, bytes, digest, shipped, precompile)
                    .map_err(SandboxError::compile)?;
                let footprint = Footprint::of_command(&module)?;
                let pre = self
                    .command_linker
                    .instantiate_pre(&module)
                    .map_err(SandboxError::compile)?;
                (Linked::Command(pre), footprint)
            }
        };
        tracing::debug!(
            %digest,
            form = ?footprint.form,
            core_instances = footprint.needs.core_instances,
            memories = footprint.needs.memories,
            tables = footprint.needs.tables,
            min_memory_bytes = footprint.min_memory_bytes,
            "module footprint"
        );
        footprint.fits()?;
        Ok(CompiledModule { linked, footprint })
    }

    /// Whether the engine meters fuel, so that `limits.fuel` applies.
    pub fn meters_fuel(&self) -> bool {
        self.config.meter_fuel
    }
}

/// The engine for `config`: a pooling allocator with room for
/// `max_instances` instances of any accepted module ([`PER_INSTANCE`]: what
/// the biggest guest form measured takes), each memory sized to the memory
/// limit, copy-on-write memory images (wasmtime's default), and instance
/// memory reset per `reset`. Fails when `reset` needs what the kernel lacks.
///
/// Every component is also held to one slot's share (`max_*_per_component`):
/// wasmtime then refuses, when it loads a component, one that would take
/// more, counting what instantiation really creates (each instantiation of a
/// nested component, fused adapters). Without it a reload could add a guest
/// that the footprint's count of instance sections undercounts (a nested
/// component of 40 core instances instantiated twice counts 41, needs 81),
/// and that guest then takes more than its share of the pool on every
/// event: with one slot, every event failed.
fn engine(config: &SandboxConfig, reset: MemoryReset) -> wasmtime::Result<Engine> {
    let slots = config.max_instances;
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .max_core_instances_per_component(PER_INSTANCE.core_instances)
        .max_memories_per_component(PER_INSTANCE.memories)
        .max_tables_per_component(PER_INSTANCE.tables)
        .total_component_instances(slots)
        .total_memories(slots * PER_INSTANCE.memories)
        .total_tables(slots * PER_INSTANCE.tables)
        .total_stacks(slots)
        .total_core_instances(slots * PER_INSTANCE.core_instances)
        .max_memory_size(config.max_memory_bytes);
    if reset == MemoryReset::DirtyPages {
        pooling
            .pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES);
    }
    let mut wasmtime_config = code_config(config.meter_fuel);
    wasmtime_config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    if config.perf_map {
        wasmtime_config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&wasmtime_config)
}

/// The settings that shape compiled code, shared by the serving engine and
/// the compile worker's (`sandbox/compile.rs`), so the worker's artifacts
/// load here. A setting added here reaches both.
fn code_config(meter_fuel: bool) -> Config {
    let mut config = Config::new();
    // Metering fuel instruments all compiled code: +1.6% instructions
    // per event for `simple`, +9.0% for `transformer` (callgrind,
    // bench/fuel-cost.sh), so it is opt-in.
    config.epoch_interruption(true).consume_fuel(meter_fuel);
    // One call at a time runs in a store (no component-model async), yet
    // with concurrency support on wasmtime keeps its task bookkeeping on
    // every call: off, −21k instructions per event for `simple` and
    // `transformer` (bench/instructions.sh).
    config.concurrency_support(false);
    config
}

/// The compile worker's engine: the serving engine's code settings without
/// its pooling allocator, whose address-space reservation would not fit
/// the worker's memory bound.
pub(super) fn compile_engine(meter_fuel: bool) -> wasmtime::Result<Engine> {
    Engine::new(&code_config(meter_fuel))
}

/// The engine's `precompile_compatibility_hash`, fed to SHA-256 and
/// written as hex: stable across processes and machines (the standard
/// library's `DefaultHasher` may change between Rust releases), so it can
/// name the engine in a registry artifact.
fn compatibility_hash(engine: &Engine) -> String {
    use sha2::Digest as _;
    use std::hash::{Hash, Hasher};

    /// A `Hasher` over SHA-256; `finish` is never read by wasmtime's `Hash`.
    struct Sha256Hasher(sha2::Sha256);
    impl Hasher for Sha256Hasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            let digest = self.0.clone().finalize();
            u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
        }
    }
    let mut hasher = Sha256Hasher(sha2::Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:x}", hasher.0.finalize())
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is
/// dropped. A thread, not a task: it must tick even when every runtime
/// worker is busy running guests.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasmfn-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compatibility_hash_follows_code_settings_not_limits() {
        let hash = |config: SandboxConfig| {
            Sandbox::new(config)
                .unwrap()
                .compatibility_hash()
                .to_owned()
        };
        let serving = hash(SandboxConfig::default());
        assert_eq!(serving.len(), 64, "{serving}");
        // What `wasmfn push --precompile` ships is keyed the same whatever
        // the serving host's limits, and the compile worker's code is too.
        let small = SandboxConfig {
            max_instances: 4,
            max_memory_bytes: 16 << 20,
            ..SandboxConfig::default()
        };
        assert_eq!(hash(small), serving);
        assert_eq!(compatibility_hash(&compile_engine(false).unwrap()), serving);
        let fuel = SandboxConfig {
            meter_fuel: true,
            ..SandboxConfig::default()
        };
        assert_ne!(hash(fuel), serving);
    }

    #[test]
    fn memory_reset_decommit_is_used_whatever_the_kernel_has() {
        let reset = |memory_reset| {
            Sandbox::new(SandboxConfig {
                max_instances: 2,
                memory_reset,
                ..SandboxConfig::default()
            })
            .unwrap()
            .memory_reset()
        };
        assert_eq!(reset(ResetChoice::Decommit), MemoryReset::Decommit);
        // Auto takes dirty pages where the kernel has PAGEMAP_SCAN (6.7+),
        // which the test cannot assume of the machine it runs on.
        let auto = reset(ResetChoice::Auto);
        let has_pagemap_scan = engine(&SandboxConfig::default(), MemoryReset::DirtyPages).is_ok();
        assert_eq!(auto == MemoryReset::DirtyPages, has_pagemap_scan);
    }
}
