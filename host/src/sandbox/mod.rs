//! Sandbox: compiles each function component once, then runs every event in a
//! fresh, deny-by-default instance with CPU-time and memory limits.
//!
//! [`Sandbox::compile`] does the slow work (Cranelift, linking) when a module
//! is loaded; [`Sandbox::invoke`] does only what must happen per event: a new
//! `Store` from the pooling allocator, instantiation, one `handle` call.
//! Compiling is bounded in time and memory by running it in a child process
//! (`compile.rs`).

pub mod bindings;
mod cache;
mod compile;
mod engine;
mod guest_log;
mod invoke;
mod state;

pub use compile::{
    COMPILE_WORKER_COMMAND, CompileBounds, CompileWorkerArgs, DEFAULT_COMPILE_MEMORY_MB,
    DEFAULT_COMPILE_TIMEOUT_SECS, compile_worker,
};
pub use engine::{CompiledModule, MemoryReset, Sandbox, SandboxConfig};
pub use guest_log::{LogRate, MAX_RECORD_BYTES, MAX_RECORDS_PER_EVENT, RECORDS_PER_SECOND};
pub use invoke::{GuestContext, SandboxError};
