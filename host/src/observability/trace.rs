//! W3C Trace Context (Level 1): the `traceparent` an event arrives with is
//! continued on every request the host makes for it (sink deliveries), with
//! the same trace-id, a new parent-id for the outgoing hop and `tracestate`
//! passed through unchanged; the trace-id is also a field of the event's log
//! span.
//!
//! Where an event's trace comes from, first match wins:
//! 1. the request's `traceparent` HTTP header (binary mode, and the hop
//!    context Knative's Broker propagates);
//! 2. the event's `traceparent` extension attribute (structured and batched
//!    mode: the CloudEvents distributed-tracing extension);
//! 3. otherwise a new trace with a random trace-id and the `sampled` flag
//!    off (this host records no spans), so every event still has a trace-id
//!    to find its log lines by and downstream hops join one trace.
//!
//! A malformed `traceparent` is ignored silently, as the W3C spec asks (it is
//! the caller's tracing, not the event, that is wrong): the next source is
//! tried, and its `tracestate` is dropped with it.
//!
//! Hand-written (it is a fixed 55-character format): the small crates on
//! crates.io either accept malformed values (upper-case hex, all-zero ids,
//! missing dashes, where `traceparent` 0.0.3 even panics) or pull in old
//! `http` versions, and the `opentelemetry` SDK is far too big for one header.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::event::Event;

/// The `traceparent` header and extension attribute name.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header and extension attribute name.
pub const TRACESTATE: &str = "tracestate";

/// Length of a version-00 `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`.
const LEN: usize = 55;
/// The version this host writes.
const VERSION: u8 = 0;
/// Longest `tracestate` passed on (the spec's limit is 512 characters).
const MAX_TRACESTATE: usize = 512;

/// A parsed `traceparent`: which trace, which span is the parent, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: u128,
    parent_id: u64,
    flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value; `None` if it is malformed. Follows the
    /// spec's rules: lower-case hex only, neither id all zeros, version `ff`
    /// invalid, and a future version may append `-<more>` after the 55
    /// characters this version defines.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let bytes = value.as_bytes();
        // ASCII first: the slicing below must not split a character.
        if bytes.len() < LEN || !value.is_ascii() {
            return None;
        }
        let version = hex(&value[0..2])? as u8;
        let well_formed = match version {
            0xff => false,
            VERSION => bytes.len() == LEN,
            _ => bytes.len() == LEN || bytes[LEN] == b'-',
        };
        if !well_formed || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let trace_id = hex(&value[3..35])?;
        let parent_id = hex(&value[36..52])? as u64;
        let flags = hex(&value[53..55])? as u8;
        if trace_id == 0 || parent_id == 0 {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The start of a new trace: random ids, not sampled.
    pub fn new_root() -> TraceParent {
        TraceParent {
            trace_id: fastrand::u128(1..),
            parent_id: fastrand::u64(1..),
            flags: 0,
        }
    }

    /// The context of an outgoing hop: the same trace and flags with a new
    /// random parent-id.
    pub fn child(&self) -> TraceParent {
        TraceParent {
            parent_id: fastrand::u64(1..),
            ..*self
        }
    }

    /// The trace-id, shown as 32 lower-case hex digits.
    pub fn trace_id(&self) -> TraceId {
        TraceId(self.trace_id)
    }

    /// The parent-id (span-id of the caller), as 16 lower-case hex digits.
    pub fn parent_id(&self) -> String {
        format!("{:016x}", self.parent_id)
    }

    /// Whether the caller recorded its span (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

impl fmt::Display for TraceParent {
    /// Always written as version 00, as the spec asks of a version-00 writer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{VERSION:02x}-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

/// A trace-id, displayed as in `traceparent` (32 lower-case hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceId(u128);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Into a buffer, written once: `{:032x}` of a u128 went through the
        // formatter digit by digit, and every event's log span shows it.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0u8; 32];
        for (i, digit) in digits.iter_mut().enumerate() {
            *digit = HEX[((self.0 >> (124 - 4 * i)) & 0xf) as usize];
        }
        f.write_str(std::str::from_utf8(&digits).expect("hex digits are ASCII"))
    }
}

/// The trace one event belongs to, with the vendor state to pass on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    parent: TraceParent,
    state: Option<HeaderValue>,
}

impl TraceContext {
    /// The trace `event` continues, from the request's `headers` or the
    /// event's extensions, or a new one (see the module docs for the order).
    pub fn continue_from(headers: &HeaderMap, event: &Event) -> TraceContext {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let extension = |name: &str| {
            event
                .extensions
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        [
            (header(TRACEPARENT), header(TRACESTATE)),
            (extension(TRACEPARENT), extension(TRACESTATE)),
        ]
        .into_iter()
        .find_map(|(parent, state)| {
            let parent = TraceParent::parse(parent?)?;
            let state = state
                .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE)
                .and_then(|s| HeaderValue::from_str(s).ok());
            Some(TraceContext { parent, state })
        })
        .unwrap_or_else(|| TraceContext {
            parent: TraceParent::new_root(),
            state: None,
        })
    }

    /// The incoming (or new) parent.
    pub fn parent(&self) -> &TraceParent {
        &self.parent
    }

    /// The trace-id, for log fields.
    pub fn trace_id(&self) -> TraceId {
        self.parent.trace_id()
    }

    /// Adds `traceparent` (a child of this context: a new parent-id) and
    /// `tracestate` (unchanged) to an outgoing request's headers.
    pub fn write_child(&self, headers: &mut HeaderMap) {
        let child = HeaderValue::from_str(&self.parent.child().to_string())
            .expect("a traceparent is ASCII");
        headers.insert(HeaderName::from_static(TRACEPARENT), child);
        if let Some(state) = &self.state {
            headers.insert(HeaderName::from_static(TRACESTATE), state.clone());
        }
    }
}

/// Lower-case hex digits (at most 32) as a number; `None` for anything else,
/// including the `+` that `from_str_radix` would accept.
fn hex(digits: &str) -> Option<u128> {
    if digits.is_empty()
        || digits.len() > 32
        || !digits
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    u128::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_show_as_32_hex_digits() {
        for id in [
            0u128,
            1,
            0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            u128::MAX,
        ] {
            assert_eq!(TraceId(id).to_string(), format!("{id:032x}"));
        }
    }

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn event_with(extensions: &[(&str, &str)]) -> Event {
        Event {
            extensions: extensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..crate::event::test_event("/s", "1")
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn parses_the_spec_example_and_writes_it_back() {
        let parent = TraceParent::parse(VALID).unwrap();
        assert_eq!(
            parent.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parent.parent_id(), "00f067aa0ba902b7");
        assert!(parent.sampled());
        assert_eq!(parent.to_string(), VALID);
    }

    #[test]
    fn rejects_malformed_values() {
        let bad = [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47364-0f067aa0ba902b7-01",
        ];
        for value in bad {
            assert_eq!(TraceParent::parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn accepts_a_future_version_with_more_fields() {
        let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future";
        let parent = TraceParent::parse(future).unwrap();
        assert_eq!(parent.to_string(), VALID, "written back as version 00");
        let too_long = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x";
        assert_eq!(TraceParent::parse(too_long), None);
    }

    #[test]
    fn a_child_keeps_the_trace_and_flags_with_a_new_parent() {
        let parent = TraceParent::parse(VALID).unwrap();
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_eq!(child.sampled(), parent.sampled());
        assert_ne!(child.parent_id(), parent.parent_id());
        assert_eq!(TraceParent::parse(&child.to_string()), Some(child));
    }

    #[test]
    fn a_new_root_is_valid_and_not_sampled() {
        let root = TraceParent::new_root();
        assert_eq!(TraceParent::parse(&root.to_string()), Some(root));
        assert!(!root.sampled());
        assert_ne!(root.trace_id(), TraceParent::new_root().trace_id());
    }

    #[test]
    fn the_header_wins_over_the_extension_and_tracestate_follows_it() {
        let other = "00-11111111111111111111111111111111-2222222222222222-00";
        let context = TraceContext::continue_from(
            &headers(&[(TRACEPARENT, VALID), (TRACESTATE, "congo=t61rcWkgMzE")]),
            &event_with(&[(TRACEPARENT, other), (TRACESTATE, "ext=1")]),
        );
        assert_eq!(context.parent(), &TraceParent::parse(VALID).unwrap());
        let mut out = HeaderMap::new();
        context.write_child(&mut out);
        let sent = TraceParent::parse(out[TRACEPARENT].to_str().unwrap()).unwrap();
        assert_eq!(sent.trace_id(), context.trace_id());
        assert_ne!(sent.parent_id(), context.parent().parent_id());
        assert_eq!(out[TRACESTATE], "congo=t61rcWkgMzE");
    }

    #[test]
    fn the_extension_serves_structured_mode_and_a_malformed_header_is_skipped() {
        let context = TraceContext::continue_from(
            &headers(&[(TRACEPARENT, "garbage"), (TRACESTATE, "dropped=1")]),
            &event_with(&[(TRACEPARENT, VALID)]),
        );
        assert_eq!(context.parent(), &TraceParent::parse(VALID).unwrap());
        let mut out = HeaderMap::new();
        context.write_child(&mut out);
        assert!(
            !out.contains_key(TRACESTATE),
            "tracestate goes with its traceparent"
        );
    }

    #[test]
    fn no_or_malformed_context_starts_a_new_trace() {
        let none = TraceContext::continue_from(&HeaderMap::new(), &event_with(&[]));
        let bad = TraceContext::continue_from(
            &headers(&[(TRACEPARENT, "00-xyz")]),
            &event_with(&[(TRACEPARENT, "01-also-bad")]),
        );
        assert_ne!(none.trace_id(), bad.trace_id());
        assert!(!none.parent().sampled());
        let mut out = HeaderMap::new();
        bad.write_child(&mut out);
        let sent = TraceParent::parse(out[TRACEPARENT].to_str().unwrap()).unwrap();
        assert_eq!(sent.trace_id(), bad.trace_id());
    }
}
