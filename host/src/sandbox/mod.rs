//! Sandbox: compiles each function module once, then runs every event in a
//! deny-by-default instance with CPU-time and memory limits.
//!
//! [`Sandbox::compile`] does the slow work (Cranelift, linking) when a module
//! is loaded, and tells its form by its header: a `wasmfn:function`
//! component or a WASI preview 1 command. [`Sandbox::call`] does only what
//! must happen per event, in the executor of that form (`component`,
//! `command`): a `Store` from the pooling allocator, instantiation (unless
//! the function keeps instances warm), one call. Compiling is bounded in
//! time and memory by running it in a child process (`compile.rs`).
//! Components may import `wasi:http`; what each function may reach over
//! it is decided in `outbound/`.

pub mod bindings;
mod cache;
mod call;
mod command;
mod compile;
mod component;
mod context;
mod engine;
mod error;
mod footprint;
mod guest_log;
mod outbound;
mod state;

pub use command::EXIT_INVALID;
pub use compile::{
    COMPILE_WORKER_COMMAND, CompileBounds, CompileWorkerArgs, DEFAULT_COMPILE_MEMORY_MB,
    DEFAULT_COMPILE_TIMEOUT_SECS, compile_worker,
};
pub use component::WarmInstances;
pub use context::GuestContext;
pub use engine::{CompiledModule, MemoryReset, ResetChoice, Sandbox, SandboxConfig};
pub use error::SandboxError;
pub use footprint::{ACCEPTED_FORMS, GuestForm};
pub use guest_log::{LogRate, MAX_RECORD_BYTES, MAX_RECORDS_PER_EVENT, RECORDS_PER_SECOND};
pub use outbound::Outbound;
