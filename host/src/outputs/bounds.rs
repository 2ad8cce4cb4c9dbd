//! Output bounds: how many events, attributes and bytes one input's outputs
//! may hold before anything is sent. Every attribute counts, not only
//! `data`: a 20 MiB subject or extension goes out as a header just as data
//! goes out as a body (before, such outputs passed and dedup kept them).

use crate::config::FunctionLimits;
use crate::event::Event;

/// Extension attributes one output event may carry. In binary mode each is
/// a header, and receivers built on hyper (wasmfn's own ingress too) refuse
/// a request with more than 100 header fields; 64 leaves room for the
/// `ce-` context attributes, `content-type`, tracing and transport headers.
pub const MAX_OUTPUT_EXTENSIONS: usize = 64;

/// Checks `outputs` against `limits` (`max_output_events`,
/// `max_output_bytes`) and [`MAX_OUTPUT_EXTENSIONS`]; the message names the
/// limit and how far over it the outputs are.
pub fn check_bounds(outputs: &[Event], limits: &FunctionLimits) -> Result<(), String> {
    if outputs.len() > limits.max_output_events {
        return Err(format!(
            "the function returned {} events, over its limit of {} (`limits.max_output_events` in wasmfn.toml)",
            outputs.len(),
            limits.max_output_events
        ));
    }
    if let Some((index, event)) = outputs
        .iter()
        .enumerate()
        .find(|(_, e)| e.extensions.len() > MAX_OUTPUT_EXTENSIONS)
    {
        return Err(format!(
            "output event #{index} has {} extension attributes, over the limit of {MAX_OUTPUT_EXTENSIONS} per event",
            event.extensions.len()
        ));
    }
    let bytes: usize = outputs.iter().map(size).sum();
    if bytes > limits.max_output_bytes {
        return Err(format!(
            "the function returned {bytes} bytes of data and attributes, over its limit of {} (`limits.max_output_bytes` in wasmfn.toml)",
            limits.max_output_bytes
        ));
    }
    Ok(())
}

/// The bytes of every attribute the function sets, names of extensions
/// included, plus its data. (`id` and `specversion` are the host's.)
fn size(event: &Event) -> usize {
    let optional = [
        &event.datacontenttype,
        &event.dataschema,
        &event.subject,
        &event.time,
    ];
    event.source.len()
        + event.type_.len()
        + optional
            .iter()
            .map(|v| v.as_ref().map_or(0, String::len))
            .sum::<usize>()
        + event
            .extensions
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum::<usize>()
        + event.data.as_ref().map_or(0, Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_event;

    fn limits(bytes: usize) -> FunctionLimits {
        FunctionLimits {
            max_output_bytes: bytes,
            ..FunctionLimits::default()
        }
    }

    #[test]
    fn every_attribute_counts_toward_the_bytes() {
        let mut event = test_event("/s", "");
        event.subject = Some("x".repeat(100));
        event.extensions.push(("big".into(), "y".repeat(100)));
        // 2 (source) + 1 (type) + 100 (subject) + 3 + 100 (extension).
        assert!(check_bounds(std::slice::from_ref(&event), &limits(206)).is_ok());
        let err = check_bounds(&[event], &limits(205)).unwrap_err();
        assert!(
            err.contains("206 bytes") && err.contains("max_output_bytes"),
            "{err}"
        );
    }

    #[test]
    fn extensions_per_event_are_capped() {
        let mut event = test_event("/s", "");
        event.extensions = (0..=MAX_OUTPUT_EXTENSIONS)
            .map(|i| (format!("x{i}"), "v".into()))
            .collect();
        let err = check_bounds(&[test_event("/s", ""), event], &limits(1 << 20)).unwrap_err();
        assert!(err.contains("#1") && err.contains("65 extension"), "{err}");
    }
}
