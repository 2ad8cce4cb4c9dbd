//! Output events are bounded and validated the same way in every output
//! mode — binary reply, batch reply, sink (issue 16 items 9, 10, 12): every
//! attribute counts toward `max_output_bytes`, extensions per event are
//! capped, control characters and a `dataschema` that is not a URI are
//! refused, all with 422 `output` before anything is sent.

use crate::support;

use serde_json::json;
use support::{FunctionsDir, Wasmfn, binary_event, client, error_kind};

#[tokio::test]
async fn bad_outputs_are_refused_in_every_mode() {
    let dir = FunctionsDir::new(
        &["evil"],
        // The sink is never reached: a refused output is not sent.
        "[functions.evilsink]\noutput = \"sink\"\nsink = \"http://127.0.0.1:9/\"\n",
    );
    std::fs::copy(support::module("evil"), dir.path().join("evilsink.wasm")).unwrap();
    let server = Wasmfn::serve(dir.path(), &[]);
    let url = &server.url;
    let cases = [
        ("big-subject", "max_output_bytes"),
        ("many-extensions", "extension attributes"),
        ("control-output", "control character"),
        ("bad-schema", "dataschema"),
    ];
    for (ty, says) in cases {
        let binary = binary_event(url, "evil", ty, "1").send().await.unwrap();
        let sink = binary_event(url, "evilsink", ty, "1").send().await.unwrap();
        let batch = client()
            .post(format!("{url}/evil"))
            .header("content-type", "application/cloudevents-batch+json")
            .body(
                json!([{"specversion": "1.0", "id": "1", "source": "/t", "type": ty}]).to_string(),
            )
            .send()
            .await
            .unwrap();
        for (mode, response) in [("binary", binary), ("sink", sink), ("batch", batch)] {
            let (status, kind, message) = error_kind(response).await;
            assert_eq!(
                (status, kind.as_str()),
                (422, "output"),
                "{ty} in {mode}: {message}"
            );
            assert!(message.contains(says), "{ty} in {mode}: {message}");
        }
    }
    let ok = binary_event(url, "evil", "ok", "2").send().await.unwrap();
    assert_eq!(ok.status(), 200, "the host still serves");
}
