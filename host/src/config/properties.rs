//! Property tests (fuzzing) of the config loader: any `wasmfn.toml` text
//! loads or fails with an error naming the file, never a panic. Run with
//! fresh seeds for a bounded time by `scripts/fuzz.sh SECONDS`.

use std::path::Path;

use proptest::prelude::*;

use super::Config;

/// Lines near a real configuration, with arbitrary values mixed in.
fn line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "default",
        "max_body_bytes",
        "output",
        "sink",
        "env",
        "env_files",
        "limits",
        "dedup",
        "timeout_ms",
        "memory_mb",
        "fuel",
        "max_output_events",
        "max_output_bytes",
        "max_concurrency",
        "window_s",
        "max_entries",
        "attempts",
        "initial_backoff_ms",
        "connect_timeout_ms",
        "request_timeout_ms",
    ]);
    let value = prop_oneof![
        Just("\"sink\"".to_owned()),
        Just("\"reply\"".to_owned()),
        Just("\"${BROKER_URL}\"".to_owned()),
        Just("\"${UNSET\"".to_owned()),
        Just("\"http://sink.example/x\"".to_owned()),
        Just("\"not a url\"".to_owned()),
        Just("{ window_s = 0 }".to_owned()),
        Just("{ a = \"b\" }".to_owned()),
        Just("[\"/nonexistent/secrets.env\"]".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        ".{0,10}".prop_map(|s| format!("{s:?}")),
    ];
    prop_oneof![
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        prop::sample::select(vec![
            "[delivery]",
            "[functions.f]",
            "[functions.f.limits]",
            "[functions.g]",
            "[functions]",
            "[[functions.f]]",
        ])
        .prop_map(str::to_owned),
        ".{0,20}",
    ]
}

proptest! {
    #[test]
    fn any_config_text_loads_or_names_the_file(
        lines in prop::collection::vec(line(), 0..12),
    ) {
        let text = lines.join("\n");
        let env = |var: &str| (var == "BROKER_URL").then(|| "http://broker.example/".to_owned());
        if let Err(err) = Config::parse(Path::new("/cfg/wasmfn.toml"), &text, &env) {
            let message = err.to_string();
            prop_assert!(message.contains("/cfg/wasmfn.toml"), "{}", message);
        }
    }
}
