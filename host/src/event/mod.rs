//! Events: the WIT `event` record the host carries from ingress to outputs,
//! its CloudEvents 1.0 validation, and its HTTP and JSON encodings.

mod binary;
mod binary_in;
mod identity;
#[cfg(test)]
mod properties;
mod sdk;
mod validate;

pub use crate::sandbox::bindings::wasmfn::function::types::{Error as GuestError, Event};
pub use binary::{PlainRequestError, decode_plain, percent_decode_attributes, write_headers};
pub use binary_in::{BinaryModeError, decode_binary};
pub use identity::identity;
pub use sdk::{from_sdk, to_sdk};
pub use validate::{InvalidEvent, find_control, is_control, validate};

/// The only CloudEvents version wasmfn speaks.
pub const SPEC_VERSION: &str = "1.0";

/// A minimal event with `source` and `id` (type `t`), for unit tests.
#[cfg(test)]
pub(crate) fn test_event(source: &str, id: &str) -> Event {
    Event {
        id: id.into(),
        source: source.into(),
        type_: "t".into(),
        specversion: SPEC_VERSION.into(),
        datacontenttype: None,
        dataschema: None,
        subject: None,
        time: None,
        extensions: Vec::new(),
        data: None,
    }
}
