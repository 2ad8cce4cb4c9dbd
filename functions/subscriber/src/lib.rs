//! `subscriber`: logs the JSON payload it receives.

use wasmfn_guest::{Error, Event};

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    let payload: serde_json::Value = event.json()?;
    wasmfn_guest::info!("received {} from {}: {payload}", event.type_, event.source);
    Ok(Vec::new())
}

wasmfn_guest::function!(handle);
