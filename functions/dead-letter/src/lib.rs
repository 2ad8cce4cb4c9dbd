//! `dead-letter`: the Broker's dead-letter sink. Logs each failed event with
//! the error Knative attached to it.

use base64::Engine;
use wasmfn_guest::{Error, Event};

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    wasmfn_guest::warn!(
        "dead letter: event {} (type {}, source {}) failed at {} with status {}: {}",
        event.id,
        event.type_,
        event.source,
        event
            .extension("knativeerrordest")
            .unwrap_or("<unknown destination>"),
        event.extension("knativeerrorcode").unwrap_or("<no status>"),
        error_body(event.extension("knativeerrordata")),
    );
    Ok(Vec::new())
}

/// Decodes `knativeerrordata`, the base64 of the failed response's body.
fn error_body(data: Option<&str>) -> String {
    let Some(data) = data else {
        return "<no response body>".into();
    };
    match base64::engine::general_purpose::STANDARD.decode(data) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => format!("<undecodable knativeerrordata {data:?}>"),
    }
}

wasmfn_guest::function!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_error_data() {
        assert_eq!(error_body(Some("Ym9vbQ==")), "boom");
        assert_eq!(error_body(None), "<no response body>");
        assert!(error_body(Some("***")).starts_with("<undecodable"));
    }
}
