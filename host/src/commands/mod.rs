//! The subcommands' bodies, called by `main` after parsing the CLI. The
//! development commands (`dev`, `build`, `new`, `check`) exist with the
//! default feature "dev"; the serve image leaves them out.

#[cfg(feature = "dev")]
mod build;
#[cfg(feature = "dev")]
mod cargo;
#[cfg(feature = "dev")]
mod check;
#[cfg(feature = "dev")]
mod dev;
#[cfg(feature = "dev")]
mod languages;
#[cfg(feature = "dev")]
mod new;
mod push;
mod run;
mod serve;

#[cfg(feature = "dev")]
pub use build::{BuildError, BuiltFunction, build, build_functions};
#[cfg(feature = "dev")]
pub use cargo::{CargoError, WASM_TARGET};
#[cfg(feature = "dev")]
pub use check::check;
#[cfg(feature = "dev")]
pub use dev::dev;
#[cfg(feature = "dev")]
pub use languages::{Language, LanguageError};
#[cfg(feature = "dev")]
pub use new::{FunctionKind, Lang, NewError, new, scaffold, validate_name};
pub use push::push;
pub use run::run;
pub use serve::serve;
