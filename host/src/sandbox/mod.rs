//! Sandbox: compiles each function component once, then runs every event in a
//! fresh, deny-by-default instance with CPU-time and memory limits.
//!
//! [`Sandbox::compile`] does the slow work (Cranelift, linking) when a module
//! is loaded; [`Sandbox::invoke`] does only what must happen per event: a new
//! `Store` from the pooling allocator, instantiation, one `handle` call.

pub mod bindings;
mod cache;
mod engine;
mod guest_log;
mod invoke;
mod state;

pub use engine::{CompiledModule, MemoryReset, Sandbox, SandboxConfig};
pub use guest_log::{LogRate, MAX_RECORD_BYTES, MAX_RECORDS_PER_EVENT, RECORDS_PER_SECOND};
pub use invoke::{GuestContext, SandboxError};
