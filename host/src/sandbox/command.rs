//! The command executor: any wasm32-wasi (preview 1) program with `_start`,
//! no SDK needed, run once per event in a fresh instance.
//!
//! The ABI: stdin is the input event in CloudEvents JSON format (`data` as
//! JSON when the content type is JSON, else `data_base64`); stdout is the
//! output events, one CloudEvents JSON object per line (`id` and
//! `specversion` are the host's, as for components). Exit 0 is success; exit
//! 65 (`EX_DATAERR`) is `invalid`, the last stderr line its message; any
//! other exit or a trap fails the event. Every stderr line is a log record of
//! the function. The environment is exactly the function's settings; no
//! args, no files, no sockets; the limits are the components' own.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use wasmtime::{InstancePre, ResourceLimiter};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use super::context::GuestContext;
use super::engine::Sandbox;
use super::error::SandboxError;
use super::guest_log::{EventLog, GuestOutput};
use super::state::MemoryLimiter;
use crate::event::{Event, GuestError, from_sdk, to_sdk};

/// `EX_DATAERR` (sysexits.h): the input data was incorrect.
pub const EXIT_INVALID: i32 = 65;

/// Room on stdout beyond the output data itself, for the JSON around it.
const STDOUT_FRAMING_BYTES: usize = 1 << 20;

/// What one command's `Store` holds.
pub(super) struct CommandState {
    wasi: WasiP1Ctx,
    limiter: MemoryLimiter,
}

impl CommandState {
    /// The WASI preview 1 context the linker's imports use.
    pub(super) fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.wasi
    }

    fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }
}

impl Sandbox {
    /// Calls `_start` of the command `pre` with `event` on its stdin.
    pub(super) async fn call_command(
        &self,
        pre: &InstancePre<CommandState>,
        context: &Arc<GuestContext>,
        event: &Event,
    ) -> Result<Result<Vec<Event>, GuestError>, SandboxError> {
        let (timeout, memory) = self.limits_of(context);
        let deadline = Instant::now() + timeout;
        let slot = self.slot()?;

        let stdin = encode_input(event)?;
        // Doubled data (base64 is 4/3 of it) plus room for the attributes.
        let stdout_limit = context
            .limits
            .max_output_bytes
            .saturating_mul(2)
            .saturating_add(STDOUT_FRAMING_BYTES);
        let stdout = MemoryOutputPipe::new(stdout_limit.saturating_add(1));
        let last_stderr_line = Arc::new(Mutex::new(String::new()));
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdin(MemoryInputPipe::new(stdin))
            .stdout(stdout.clone())
            .stderr(
                GuestOutput::new(EventLog::new(context.clone()), "stderr")
                    .keeping_last_line(last_stderr_line.clone()),
            );
        for key in context.settings.keys() {
            if let Some(value) = context.settings.get(key) {
                wasi.env(key, value);
            }
        }
        let state = CommandState {
            wasi: wasi.build_p1(),
            limiter: MemoryLimiter::new(memory),
        };
        let mut store = self.store(state, CommandState::limiter);
        let fuel = self.arm(&mut store, context, deadline);

        let run = async {
            let started = Instant::now();
            let instance = pre.instantiate_async(&mut store).await?;
            context.metrics.record_instantiation(started.elapsed());
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call_async(&mut store, ()).await
        };
        // The epoch deadline cuts guest code; this cuts a guest stuck in a
        // host call that never returns.
        let outcome = tokio::time::timeout(timeout + super::engine::EPOCH_TICK, run).await;
        let denied = store.data().limiter.denied();
        // Dropping the store flushes a last stderr line without a newline.
        drop(store);
        drop(slot);

        let written = stdout.contents();
        if written.len() > stdout_limit {
            return Err(SandboxError::Output(format!(
                "the command wrote more than {stdout_limit} bytes to stdout (twice `limits.max_output_bytes` plus 1 MiB for the JSON around the data)"
            )));
        }
        let code = match outcome {
            Err(_) => return Err(SandboxError::Timeout(timeout)),
            Ok(Ok(())) => 0,
            Ok(Err(err)) => match err.downcast_ref::<I32Exit>() {
                Some(I32Exit(code)) => *code,
                None => return Err(self.classify(&err, denied, timeout, memory, fuel)),
            },
        };
        let last_line = std::mem::take(&mut *last_stderr_line.lock().expect("last line lock"));
        match code {
            0 => decode_output(&written).map(Ok),
            EXIT_INVALID if last_line.is_empty() => Ok(Err(GuestError::Invalid(
                "the command exited with status 65 (invalid input) and wrote nothing to stderr"
                    .into(),
            ))),
            EXIT_INVALID => Ok(Err(GuestError::Invalid(last_line))),
            code if last_line.is_empty() => Ok(Err(GuestError::Failed(format!(
                "the command exited with status {code}"
            )))),
            code => Ok(Err(GuestError::Failed(format!(
                "the command exited with status {code}: {last_line}"
            )))),
        }
    }
}

/// The input event as one CloudEvents JSON object: `data` as JSON when the
/// content type is JSON (or absent) and the bytes parse, else `data_base64`.
fn encode_input(event: &Event) -> Result<Vec<u8>, SandboxError> {
    let attributes = Event {
        data: None,
        ..event.clone()
    };
    let sdk = to_sdk(&attributes).map_err(|err| SandboxError::Trap(err.to_string()))?;
    let mut json = serde_json::to_value(&sdk).map_err(|err| SandboxError::Trap(err.to_string()))?;
    if let (Some(bytes), Some(object)) = (&event.data, json.as_object_mut()) {
        let parsed = is_json(event.datacontenttype.as_deref())
            .then(|| serde_json::from_slice::<serde_json::Value>(bytes).ok())
            .flatten();
        match parsed {
            Some(value) => object.insert("data".into(), value),
            None => object.insert(
                "data_base64".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into(),
            ),
        };
    }
    let mut line = serde_json::to_vec(&json).map_err(|err| SandboxError::Trap(err.to_string()))?;
    line.push(b'\n');
    Ok(line)
}

/// Whether `content_type` says JSON (`application/json`, `*+json`); an
/// absent content type means JSON in the CloudEvents JSON format.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return true;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The output events of a command's stdout: one CloudEvents JSON object per
/// non-blank line, without `id` and `specversion` (the host sets both).
fn decode_output(stdout: &[u8]) -> Result<Vec<Event>, SandboxError> {
    let mut events = Vec::new();
    for (index, line) in stdout.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |problem: String| {
            SandboxError::Output(format!(
                "stdout line {} of the command is not a CloudEvent in JSON format: {problem}",
                index + 1
            ))
        };
        let mut value: serde_json::Value =
            serde_json::from_slice(line).map_err(|err| bad(err.to_string()))?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        // Set by the host when the events are prepared; the SDK's parser
        // needs them present.
        object.insert("specversion".into(), crate::event::SPEC_VERSION.into());
        object.insert("id".into(), "".into());
        if object.contains_key("data") && !object.contains_key("datacontenttype") {
            object.insert("datacontenttype".into(), "application/json".into());
        }
        let sdk: cloudevents::Event =
            serde_json::from_value(value).map_err(|err| bad(err.to_string()))?;
        events.push(from_sdk(sdk));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_data_is_embedded_and_other_data_is_base64() {
        let mut event = crate::event::test_event("/s", "1");
        event.datacontenttype = Some("application/json".into());
        event.data = Some(br#"{"a":1}"#.to_vec());
        let json: serde_json::Value =
            serde_json::from_slice(&encode_input(&event).unwrap()).unwrap();
        assert_eq!(json["data"], serde_json::json!({"a": 1}));
        assert_eq!(json["id"], "1");
        assert_eq!(json["specversion"], "1.0");

        event.datacontenttype = Some("text/plain".into());
        event.data = Some(b"hi".to_vec());
        let json: serde_json::Value =
            serde_json::from_slice(&encode_input(&event).unwrap()).unwrap();
        assert_eq!(json["data_base64"], "aGk=");
        assert!(json.get("data").is_none());
    }

    #[test]
    fn output_lines_become_events_without_id_or_specversion() {
        let stdout = b"{\"type\":\"a\",\"source\":\"s\",\"data\":{\"x\":1}}\n\n{\"type\":\"b\",\"source\":\"s\",\"data_base64\":\"aGk=\",\"partitionkey\":\"k\"}";
        let events = decode_output(stdout).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].type_, "a");
        assert_eq!(events[0].data.as_deref(), Some(&br#"{"x":1}"#[..]));
        assert_eq!(
            events[0].datacontenttype.as_deref(),
            Some("application/json")
        );
        assert_eq!(events[1].data.as_deref(), Some(&b"hi"[..]));
        assert_eq!(
            events[1].extensions,
            vec![("partitionkey".into(), "k".into())]
        );

        let err = decode_output(b"{\"type\":\"a\",\"source\":\"s\"}\nnot json\n").unwrap_err();
        assert!(err.to_string().contains("stdout line 2"), "{err}");
        let err = decode_output(b"[1]\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
