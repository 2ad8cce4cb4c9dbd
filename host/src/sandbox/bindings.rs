//! Host bindings generated from the WIT contract in `guest-sdk/wit`: the only
//! definition of the event record and the guest's error variant.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "function",
    path: "../guest-sdk/wit",
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});
