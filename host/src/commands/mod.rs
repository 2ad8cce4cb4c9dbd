//! The subcommands' bodies, called by `main` after parsing the CLI.

mod dev;
mod run;
mod serve;

pub use dev::dev;
pub use run::run;
pub use serve::serve;
