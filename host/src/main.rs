//! The `wasmfn` binary: parse the CLI, set up logging, run the command.

use std::process::ExitCode;

use clap::Parser;
use wasmfn::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    wasmfn::observability::init();
    match cli.command {
        Command::Serve(args) => wasmfn::commands::serve(args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Run(args) => wasmfn::commands::run(args).await,
    }
}
