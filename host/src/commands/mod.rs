//! The subcommands' bodies, called by `main` after parsing the CLI.

mod build;
mod cargo;
mod check;
mod dev;
mod languages;
mod new;
mod push;
mod run;
mod serve;

pub use dev::dev;

pub use build::{BuildError, BuiltFunction, build, build_functions};
pub use cargo::{CargoError, WASM_TARGET};
pub use check::check;
pub use languages::{Language, LanguageError};
pub use new::{FunctionKind, Lang, NewError, new, scaffold, validate_name};
pub use push::push;
pub use run::run;
pub use serve::serve;
