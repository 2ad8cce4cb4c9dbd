//! The end-to-end tests, as one binary (as wasmtime's `tests/all`): every
//! other `tests/*.rs` file is a module of it, found by `host/build.rs`, so a
//! new test file runs without being listed anywhere.
//!
//! Run one file's tests with `cargo test --release -p wasmfn --test e2e -- <file>::`.

mod support;

include!(concat!(env!("OUT_DIR"), "/e2e_modules.rs"));
