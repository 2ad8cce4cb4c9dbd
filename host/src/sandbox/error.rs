//! [`SandboxError`]: why the sandbox could not produce the guest's own
//! answer (engine setup, compiling, instance slots, traps and limit hits).
//! `crate::error` maps each to the HTTP status.

use std::time::Duration;

/// Why the sandbox could not produce the guest's own answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    /// The engine or linker could not be set up (a host bug or a bad flag).
    #[error("cannot set up the Wasm engine: {0}")]
    Engine(String),
    /// The module is none of the accepted forms, does not satisfy its
    /// form's contract (the `wasmfn:function` world, a WASI command), or
    /// does not fit the host's limits.
    #[error("cannot load the function module: {0}")]
    Compile(String),
    /// Every instance slot is in use.
    #[error("all {0} instance slots are in use")]
    Exhausted(u32),
    /// The guest ran past its time limit.
    #[error("the function exceeded its time limit of {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The guest tried to grow its memory past the limit.
    #[error("the function exceeded its memory limit of {} MiB", .0 >> 20)]
    Memory(usize),
    /// The guest used up its fuel.
    #[error("the function used up its fuel of {0} units (`limits.fuel` in wasmfn.toml)")]
    Fuel(u64),
    /// The guest overflowed its stack.
    #[error("the function overflowed its stack")]
    StackOverflow,
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access...).
    #[error("the function trapped: {0}")]
    Trap(String),
    /// A command's stdout is not output events as the command ABI defines
    /// them, or is over its limit.
    #[error("{0}")]
    Output(String),
}

impl SandboxError {
    pub(super) fn engine(err: wasmtime::Error) -> Self {
        SandboxError::Engine(format!("{err:#}"))
    }

    pub(super) fn compile(err: wasmtime::Error) -> Self {
        SandboxError::Compile(format!("{err:#}"))
    }
}
