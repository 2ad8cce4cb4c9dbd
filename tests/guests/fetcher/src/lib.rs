//! fetcher: sends the requests its event's data lists, in order —
//! `{"requests": [{"url": "...", "post": "body"?}, ...]}` — and replies with
//! one `fetched` event whose data is the outcome of each: `{"status",
//! "body", "traceparent"}` or `{"error", "denied"}`. Test-only: it shows the
//! host's outbound checks from inside a guest.

use serde::Deserialize;
use serde_json::{Value, json};
use wasmfn_guest::{Error, Event, http};

#[derive(Deserialize)]
struct Plan {
    requests: Vec<Request>,
}

#[derive(Deserialize)]
struct Request {
    url: String,
    post: Option<String>,
}

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    let plan: Plan = event.json()?;
    let outcomes: Vec<Value> = plan
        .requests
        .iter()
        .map(|request| {
            let response = match &request.post {
                Some(body) => http::post(&request.url, "text/plain", body.as_bytes()),
                None => http::get(&request.url),
            };
            match response {
                Ok(response) => json!({
                    "status": response.status,
                    "length": response.body.len(),
                    "body": String::from_utf8_lossy(&response.body[..response.body.len().min(256)]),
                    "location": response.header("location"),
                }),
                Err(err) => json!({"error": err.to_string(), "denied": err.is_denied()}),
            }
        })
        .collect();
    Ok(vec![
        Event::new("fetched", "tests/fetcher").with_json(&outcomes)?,
    ])
}

wasmfn_guest::function!(handle);
