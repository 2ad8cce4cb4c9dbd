//! `simple`: the scheduled job a PingSource triggers. Logs that it ran.

use wasmfn_guest::{Error, Event};

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    wasmfn_guest::info!(
        "scheduled job ran (event {} from {})",
        event.id,
        event.source
    );
    Ok(Vec::new())
}

wasmfn_guest::function!(handle);
