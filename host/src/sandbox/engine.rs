//! The shared wasmtime engine: pooling allocator, epoch ticker, linker, and
//! compilation of function components into pre-linked modules.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{Function, FunctionPre};
use super::cache::ArtifactCache;
use super::invoke::SandboxError;
use super::state::InstanceState;

/// How often the epoch ticker advances; the granularity of timeouts and of
/// the guest's cooperative yields to other tasks.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(10);

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
    /// Compiled-artifact cache directory (`None`: compile every time).
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            max_instances: 256,
            max_memory_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
            meter_fuel: false,
            cache_dir: None,
        }
    }
}

/// The engine and linker all functions share.
pub struct Sandbox {
    pub(super) engine: Engine,
    linker: Linker<InstanceState>,
    cache: ArtifactCache,
    pub(super) limits: SandboxConfig,
}

/// A compiled, linked function component, ready to instantiate per event.
#[derive(Clone)]
pub struct CompiledModule {
    pub(super) pre: FunctionPre<InstanceState>,
}

impl Sandbox {
    /// Creates the engine (pooling allocator sized to `limits`, epoch
    /// interruption, async support) and starts its epoch ticker.
    pub fn new(limits: SandboxConfig) -> Result<Arc<Sandbox>, SandboxError> {
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_component_instances(limits.max_instances)
            .total_memories(limits.max_instances)
            .total_tables(limits.max_instances * 2)
            .total_stacks(limits.max_instances)
            .total_core_instances(limits.max_instances * 4)
            .max_memory_size(limits.max_memory_bytes);
        let mut config = Config::new();
        // Metering fuel instruments all compiled code: +1.6% instructions
        // per event for `simple`, +9.0% for `transformer` (callgrind,
        // bench/fuel-cost.sh), so it is opt-in.
        config
            .epoch_interruption(true)
            .consume_fuel(limits.meter_fuel)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&config).map_err(SandboxError::engine)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(SandboxError::engine)?;
        Function::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(SandboxError::engine)?;

        spawn_epoch_ticker(&engine);
        let cache = ArtifactCache::new(&engine, limits.cache_dir.as_deref());
        Ok(Arc::new(Sandbox {
            engine,
            linker,
            cache,
            limits,
        }))
    }

    /// Compiles `bytes` (a wasm32-wasip2 component whose digest is `digest`),
    /// or takes it from the artifact cache, and links it against the host's
    /// imports, so that it satisfies the `wasmfn:function` world.
    pub fn compile(&self, bytes: &[u8], digest: &str) -> Result<CompiledModule, SandboxError> {
        let component = self
            .cache
            .component(&self.engine, bytes, digest)
            .map_err(SandboxError::compile)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(SandboxError::compile)?;
        let pre = FunctionPre::new(pre).map_err(SandboxError::compile)?;
        Ok(CompiledModule { pre })
    }

    /// Whether the engine meters fuel, so that `limits.fuel` applies.
    pub fn meters_fuel(&self) -> bool {
        self.limits.meter_fuel
    }
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
