//! The subcommands' bodies, called by `main` after parsing the CLI.

mod run;
mod serve;

pub use run::run;
pub use serve::serve;
