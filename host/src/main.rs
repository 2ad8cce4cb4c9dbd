//! The `wasmfn` binary: parse the CLI, set up logging, run the command.

use std::process::ExitCode;

use clap::Parser;
use wasmfn::cli::{Cli, Command};

/// mimalloc on every target. musl's own malloc halved throughput under
/// concurrent events (`simple` at 16 connections: 11-15k events/s against
/// 30-35k with mimalloc, bench/results/musl.md); against glibc's malloc it
/// takes 14k of 172k instructions off each `simple` event and 16k of 310k off
/// each `transformer` event (bench/results/instructions.md), for 2-5 MB
/// more idle RSS (6 example modules: 29.5 -> 34.1 MB after a cold start,
/// 28.0 -> 29.8 MB after a warm one). One allocator, so the image and a dev
/// build agree.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Command::CompileWorker(args) = &cli.command {
        return Ok(wasmfn::sandbox::compile_worker(args));
    }
    // `RUST_BACKTRACE=1` (often set in shells and pods) would also make every
    // error value capture a stack trace; wasmtime creates some per event, and
    // capturing cost ~30% of throughput in bench/. Panics keep their
    // backtraces; `RUST_LIB_BACKTRACE=1` restores error backtraces.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: no other thread exists yet (the runtime starts below).
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let _log_writer = wasmfn::observability::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => wasmfn::commands::serve(args)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Run(args) => wasmfn::commands::run(args).await,
            #[cfg(feature = "dev")]
            Command::Dev(args) => wasmfn::commands::dev(args)
                .await
                .map(|()| ExitCode::SUCCESS),
            #[cfg(feature = "dev")]
            Command::Build(args) => wasmfn::commands::build(args).map(|()| ExitCode::SUCCESS),
            #[cfg(feature = "dev")]
            Command::New(args) => wasmfn::commands::new(args).map(|()| ExitCode::SUCCESS),
            Command::CompileWorker(_) => unreachable!("handled before the runtime starts"),
            Command::Push(args) => wasmfn::commands::push(args)
                .await
                .map(|()| ExitCode::SUCCESS),
            #[cfg(feature = "dev")]
            Command::Check(args) => Ok(wasmfn::commands::check(args)),
        }
    })
}
