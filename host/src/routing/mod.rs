//! Routing: which loaded function handles a request path. The function table
//! is loaded from the functions directory, reloaded when it changes, and
//! swapped as a whole.

mod dedup;
mod files;
mod load;
mod reload;
mod rollout;
mod shadow;
mod table;

pub use dedup::DedupWindow;
pub use files::{Listing, MAX_MODULE_BYTES, RESERVED_NAMES, list_modules};
pub use load::{LoadError, Loader, is_sourced};
pub use reload::{ConfigSource, EnvLookup, Reloader, waiting};
pub use rollout::{Rollout, Version, choose_version};
pub use shadow::{SHADOW_IN_FLIGHT, Shadow, ShadowResult, ShadowRun};
pub use table::{FunctionTable, LoadIssue, LoadedFunction, Registry, ReloadStatus, digest};
