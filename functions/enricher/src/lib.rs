//! enricher: looks a trade's commodity up in a reference-data service and
//! adds what it answers as `reference`.
//!
//! Settings: `refdata_url`, the service's base URL; the trade's commodity is
//! appended (`{refdata_url}/{commodity}`). The host must allow that host in
//! `allowed_outbound_hosts`. A trade without a usable commodity, or one the
//! service does not know (404), is `invalid`; any other failure to get an
//! answer is `failed`, so Knative retries the trade.

use serde_json::Value;
use wasmfn_guest::{Error, Event, config, http};

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    let mut trade: Value = event.json()?;
    let commodity = commodity(&trade, &event.id)?;
    let url = lookup_url(&config::require("refdata_url")?, commodity);
    let response = http::get(&url)?;
    let reference: Value = match response.status {
        200 => response.json()?,
        404 => {
            return Err(Error::invalid(format!(
                "trade {}: no reference data for commodity {commodity}",
                event.id
            )));
        }
        status => {
            return Err(Error::failed(format!(
                "reference data answered HTTP {status} for {commodity}"
            )));
        }
    };
    trade["reference"] = reference;
    Ok(vec![
        Event::new("trade.enriched", "wasmfn/enricher").with_json(&trade)?,
    ])
}

/// The trade's `commodity`: letters, digits, `-` and `_` only, since it
/// becomes a path segment of the lookup URL.
fn commodity<'a>(trade: &'a Value, id: &str) -> Result<&'a str, Error> {
    let commodity = trade["commodity"]
        .as_str()
        .ok_or_else(|| Error::invalid(format!("trade {id} has no commodity")))?;
    let usable = !commodity.is_empty()
        && commodity
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if usable {
        Ok(commodity)
    } else {
        Err(Error::invalid(format!(
            "trade {id}: commodity {commodity:?} is not letters, digits, '-' or '_'"
        )))
    }
}

/// `{base}/{commodity}`, with exactly one `/` between them.
fn lookup_url(base: &str, commodity: &str) -> String {
    format!("{}/{commodity}", base.trim_end_matches('/'))
}

wasmfn_guest::function!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commodity_becomes_one_path_segment() {
        assert_eq!(
            lookup_url("http://127.0.0.1:8081/ref/", "copper"),
            "http://127.0.0.1:8081/ref/copper"
        );
        let trade = serde_json::json!({"commodity": "LME-copper_3M"});
        assert_eq!(commodity(&trade, "T-1").unwrap(), "LME-copper_3M");
    }

    #[test]
    fn a_missing_or_unsafe_commodity_is_invalid() {
        for trade in [
            serde_json::json!({}),
            serde_json::json!({"commodity": ""}),
            serde_json::json!({"commodity": "../admin"}),
            serde_json::json!({"commodity": "a?b"}),
        ] {
            assert!(
                matches!(commodity(&trade, "T-1"), Err(Error::Invalid(_))),
                "{trade}"
            );
        }
    }
}
