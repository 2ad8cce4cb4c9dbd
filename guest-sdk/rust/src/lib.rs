//! Write wasmfn functions as plain Rust.
//!
//! A function is one Rust fn from an [`Event`] to the events it sends on,
//! exported with [`function!`]:
//!
//! ```ignore
//! use wasmfn_guest::{Error, Event};
//!
//! fn handle(event: Event) -> Result<Vec<Event>, Error> {
//!     let order: serde_json::Value = event.json()?;
//!     wasmfn_guest::info!("received order {}", order["id"]);
//!     Ok(vec![Event::new("order.accepted", "wasmfn/orders").with_json(&order)?])
//! }
//!
//! wasmfn_guest::function!(handle);
//! ```
//!
//! The WIT contract (`wit/function.wit`, package `wasmfn:function`) is the only
//! definition of [`Event`] and [`Error`]: this crate adds helpers to the types
//! `wit-bindgen` generates from it, nothing more. Build functions for
//! `wasm32-wasip2` as `cdylib` crates; the result is a component the host runs.
//!
//! [`http::get`] and [`http::post`] send requests to the hosts the
//! function's `allowed_outbound_hosts` lists (none by default).

#![allow(unreachable_pub)]

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bindings generated from the WIT contract. Functions use the re-exports at
/// the crate root; [`function!`] uses this module to export them.
#[doc(hidden)]
pub mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        world: "function",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export_function",
        additional_derives: [PartialEq, Eq],
    });
}

/// Bindings of `wasi:http/outgoing-handler` (world `http-client`) and the
/// WASI interfaces it uses, for [`http`]. Apart from [`bindings`] because
/// their resources cannot derive the comparisons the event types do.
#[doc(hidden)]
pub mod wasi_bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        world: "http-client",
        path: "../wit",
        generate_all,
    });
}

pub use bindings::wasmfn::function::types::{Error, Event};

pub mod alloc;
pub mod http;
pub mod json;

/// Every function's heap (feature `bump-alloc`, on by default): see [`alloc`].
#[cfg(all(target_arch = "wasm32", feature = "bump-alloc"))]
#[global_allocator]
static ALLOCATOR: alloc::BumpAllocator<alloc::Wasm32Memory> =
    alloc::BumpAllocator::new(alloc::Wasm32Memory);

/// The MIME type [`Event::with_json`] sets as `datacontenttype`.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Exports `$handler` — a `fn(Event) -> Result<Vec<Event>, Error>` — as this
/// component's `handle` function. Use it once per function crate.
#[macro_export]
macro_rules! function {
    ($handler:path) => {
        struct __WasmfnFunction;

        impl $crate::bindings::Guest for __WasmfnFunction {
            fn handle(
                event: $crate::Event,
            ) -> ::core::result::Result<::std::vec::Vec<$crate::Event>, $crate::Error> {
                $crate::alloc::event_started();
                $handler(event)
            }
        }

        $crate::bindings::export_function!(__WasmfnFunction with_types_in $crate::bindings);
    };
}

impl Event {
    /// A new output event of type `ty` from `source`, without data.
    ///
    /// `id` and `specversion` are left empty: the host assigns them.
    pub fn new(ty: impl Into<String>, source: impl Into<String>) -> Self {
        Event {
            id: String::new(),
            source: source.into(),
            type_: ty.into(),
            specversion: String::new(),
            datacontenttype: None,
            dataschema: None,
            subject: None,
            time: None,
            extensions: Vec::new(),
            data: None,
        }
    }

    /// Parses `data` as JSON into `T`.
    ///
    /// Fails with [`Error::Invalid`] naming the problem when the event has no
    /// data or the data is not JSON of the expected shape: such an event can
    /// never succeed.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(self.json_data()?).map_err(|err| self.not_json(err))
    }

    /// The values at `pointers` (JSON Pointers such as `/account/id`) in
    /// `data`, in the order given, `None` where one does not resolve: what
    /// `self.json::<serde_json::Value>()` and then `pointer` on it give,
    /// errors included, without building the whole document (see [`json`]).
    pub fn json_pointers(
        &self,
        pointers: &[&str],
    ) -> Result<Vec<Option<serde_json::Value>>, Error> {
        json::pointers(self.json_data()?, pointers).map_err(|err| self.not_json(err))
    }

    /// `data`, or [`Error::Invalid`] when the event has none.
    fn json_data(&self) -> Result<&[u8], Error> {
        self.data.as_deref().ok_or_else(|| {
            Error::Invalid(format!(
                "event {} has no data; expected a JSON payload",
                self.id
            ))
        })
    }

    /// The [`Error::Invalid`] for data that is not the expected JSON.
    fn not_json(&self, err: serde_json::Error) -> Error {
        Error::Invalid(format!(
            "event {} data is not the expected JSON: {err}",
            self.id
        ))
    }

    /// Replaces `data` with `value` serialised as JSON and sets
    /// `datacontenttype` to `application/json`.
    pub fn with_json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(value)
            .map_err(|err| Error::Failed(format!("cannot serialise output data as JSON: {err}")))?;
        self.data = Some(bytes);
        self.datacontenttype = Some(JSON_CONTENT_TYPE.to_owned());
        Ok(self)
    }

    /// Replaces `data` with raw bytes of media type `content_type`.
    pub fn with_data(mut self, content_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        self.data = Some(data.into());
        self.datacontenttype = Some(content_type.into());
        self
    }

    /// Sets the `subject` attribute.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets extension attribute `name` (lowercase letters and digits) to `value`,
    /// replacing an earlier value.
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match self.extensions.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.extensions.push((name, value)),
        }
        self
    }

    /// The value of extension attribute `name`, if present.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Error {
    /// An [`Error::Invalid`]: the event can never succeed (dead-letter it).
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// An [`Error::Failed`]: a transient failure (retry the event).
    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed(message.into())
    }
}

/// The function's settings and secrets (`env` and `env_files` in `wasmfn.toml`).
pub mod config {
    use crate::Error;

    /// The value of setting `key`, if set.
    pub fn get(key: &str) -> Option<String> {
        crate::bindings::wasmfn::function::config::get(key)
    }

    /// The value of setting `key`, or [`Error::Failed`] naming the missing key.
    ///
    /// A missing setting is an operator mistake, not a bad event: failing
    /// (retryable) keeps events from going to the dead-letter sink while the
    /// configuration is fixed.
    pub fn require(key: &str) -> Result<String, Error> {
        get(key).ok_or_else(|| {
            Error::failed(format!(
                "setting `{key}` is not configured; add it to this function's `env` in wasmfn.toml"
            ))
        })
    }
}

/// Logging through the host's `tracing`, tagged with the function's name.
pub mod log {
    pub use crate::bindings::wasmfn::function::log::Level;

    /// Writes one record at `level`.
    pub fn log(level: Level, message: &str) {
        crate::bindings::wasmfn::function::log::log(level, message)
    }
}

/// Logs a `format!`-style message at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs a `format!`-style message at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs a `format!`-style message at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)*)) };
}

/// Logs a `format!`-style message at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_data(data: &[u8]) -> Event {
        let mut event = Event::new("t", "s");
        event.id = "42".into();
        event.data = Some(data.to_vec());
        event
    }

    #[test]
    fn json_round_trips_and_sets_content_type() {
        let event = Event::new("t", "s")
            .with_json(&serde_json::json!({"a": 1}))
            .unwrap();
        assert_eq!(event.datacontenttype.as_deref(), Some(JSON_CONTENT_TYPE));
        let value: serde_json::Value = event.json().unwrap();
        assert_eq!(value["a"], 1);
    }

    #[test]
    fn json_errors_are_invalid_and_name_the_event() {
        match with_data(b"not json").json::<serde_json::Value>() {
            Err(Error::Invalid(msg)) => assert!(msg.contains("event 42"), "{msg}"),
            other => panic!("expected invalid, got {other:?}"),
        }
        let mut empty = with_data(b"");
        empty.data = None;
        match empty.json::<serde_json::Value>() {
            Err(Error::Invalid(msg)) => assert!(msg.contains("no data"), "{msg}"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn extensions_replace_and_read_back() {
        let event = Event::new("t", "s")
            .with_extension("partitionkey", "a")
            .with_extension("partitionkey", "b");
        assert_eq!(event.extensions.len(), 1);
        assert_eq!(event.extension("partitionkey"), Some("b"));
        assert_eq!(event.extension("missing"), None);
    }
}
