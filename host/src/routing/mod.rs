//! Routing: which loaded function handles a request path. The function table
//! is loaded from the functions directory and swapped as a whole.

mod load;
mod table;

pub use load::{LoadError, list_modules, load_table};
pub use table::{FunctionTable, LoadedFunction, Registry};
