//! The `event` span every event runs in, with its fields (`function`,
//! `digest`, `id`, `type`, `trace_id`) recorded only once a line inside it
//! is about to be written.
//!
//! Why: the text and JSON formatters format a span's fields when the span is
//! created, whether or not any line inside it is ever written — 7.2k
//! instructions per event for these five (callgrind, bench/instructions.sh),
//! paid by every event though at the default level most events log nothing.
//! [`event_span`] keeps the values in the span's extensions instead, and
//! [`LazyFields`], a layer below the formatter, records them on the span
//! right before the first line inside it is formatted, so every line carries
//! the same fields as before. Under a subscriber without that layer over
//! the registry, the fields are recorded at once.
//!
//! For plain text (the default, off a terminal) the layer writes the fields
//! straight into the formatter's span-fields string, as the formatter would
//! have written them: recording them through the dispatcher, which formats
//! each field by its visitor, cost 8.8k instructions per logged event.

use std::fmt::Write as _;
use tracing::field::{self, Value};
use tracing::span::{Id, Record};
use tracing::{Dispatch, Metadata, Span, Subscriber};

use tracing_subscriber::Registry;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::trace::TraceId;

/// The span one event runs in: at `info`, named `event`, with these fields.
pub fn event_span(function: &str, digest: &str, id: &str, type_: &str, trace_id: TraceId) -> Span {
    let span = tracing::info_span!(
        "event",
        function = field::Empty,
        digest = field::Empty,
        id = field::Empty,
        r#type = field::Empty,
        trace_id = field::Empty,
    );
    let kept = span
        .with_subscriber(|(span_id, dispatch)| {
            dispatch.downcast_ref::<LazyFields>()?;
            let data = dispatch.downcast_ref::<Registry>()?.span(span_id)?;
            data.extensions_mut().insert(Pending {
                dispatch: dispatch.clone(),
                function: function.to_owned(),
                digest: digest.to_owned(),
                id: id.to_owned(),
                type_: type_.to_owned(),
                trace_id,
            });
            Some(())
        })
        .flatten();
    if kept.is_none() && !span.is_disabled() {
        span.record("function", function)
            .record("digest", field::display(digest))
            .record("id", field::display(id))
            .record("type", field::display(type_))
            .record("trace_id", field::display(&trace_id));
    }
    span
}

/// The fields of an `event` span not recorded yet, and the dispatcher to
/// record them through (the whole stack, so the formatter sees them).
struct Pending {
    dispatch: Dispatch,
    function: String,
    digest: String,
    id: String,
    type_: String,
    trace_id: TraceId,
}

impl Pending {
    /// Records the fields on the span `id` (whose metadata is `metadata`),
    /// as `event_span` used to at creation: `function` as a string, the
    /// others displayed.
    fn record(self, id: &Id, metadata: &'static Metadata<'static>) {
        let fields = metadata.fields();
        let (Some(f), Some(d), Some(i), Some(t), Some(tr)) = (
            fields.field("function"),
            fields.field("digest"),
            fields.field("id"),
            fields.field("type"),
            fields.field("trace_id"),
        ) else {
            return;
        };
        let function: &str = &self.function;
        let digest = field::display(&self.digest);
        let event_id = field::display(&self.id);
        let type_ = field::display(&self.type_);
        let trace_id = field::display(&self.trace_id);
        let values: [(&field::Field, Option<&dyn Value>); 5] = [
            (&f, Some(&function)),
            (&d, Some(&digest)),
            (&i, Some(&event_id)),
            (&t, Some(&type_)),
            (&tr, Some(&trace_id)),
        ];
        self.dispatch
            .record(id, &Record::new(&fields.value_set(&values)));
    }

    /// The fields as the text formatter (`DefaultFields`, no colours)
    /// writes them when they are recorded: `function` as a debug string,
    /// the others displayed, separated by spaces.
    fn write_plain(&self, out: &mut String) {
        let _ = write!(
            out,
            "function={:?} digest={} id={} type={} trace_id={}",
            self.function, self.digest, self.id, self.type_, self.trace_id
        );
    }
}

/// The layer that records an `event` span's fields before a line inside it
/// is written. It must sit below the formatting layer, so that its
/// `on_event` runs first.
pub(super) struct LazyFields {
    /// The formatter above is the text one without colours: the fields are
    /// written into its span-fields string directly.
    pub(super) plain_text: bool,
}

impl<S> Layer<S> for LazyFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            let mut extensions = span.extensions_mut();
            let Some(pending) = extensions.remove::<Pending>() else {
                continue;
            };
            if self.plain_text
                && let Some(formatted) = extensions.get_mut::<FormattedFields<DefaultFields>>()
                && formatted.fields.is_empty()
            {
                pending.write_plain(&mut formatted.fields);
                continue;
            }
            // The extensions' lock is released before recording: the
            // formatter takes it again to add the fields.
            drop(extensions);
            pending.record(&span.id(), span.metadata());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::observability::TraceParent;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// What `log` writes through a text or JSON formatter, with or without
    /// the lazy layer below it.
    fn logged(json: bool, lazy: bool, log: impl FnOnce()) -> String {
        let lines = Lines::default();
        let fmt = tracing_subscriber::fmt::layer()
            .without_time()
            .with_ansi(false)
            .with_writer(lines.clone());
        let lazy = lazy.then_some(LazyFields { plain_text: !json });
        let base = tracing_subscriber::registry().with(lazy);
        if json {
            tracing::subscriber::with_default(base.with(fmt.json()), log);
        } else {
            tracing::subscriber::with_default(base.with(fmt), log);
        }
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn lines_in(span: Span) {
        let _entered = span.enter();
        tracing::info!(target: "wasmfn::guest", function = "simple", "hello");
        tracing::warn!("second line");
    }

    /// `function`, `digest`, `id`, `type` of the events the tests log: a
    /// plain one, and one with quotes, backslashes, spaces and non-ASCII.
    const EVENTS: [[&str; 4]; 2] = [
        ["simple", "sha256:abc", "id-1", "dev.ping"],
        [
            "fn \"q\" \\ é",
            "sha256:abc",
            "id with=spaces",
            "type{x}\"y\"",
        ],
    ];

    fn an_event([function, digest, id, type_]: [&'static str; 4]) -> impl FnOnce() {
        move || {
            lines_in(event_span(
                function,
                digest,
                id,
                type_,
                TraceParent::parse(&format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
                    .unwrap()
                    .trace_id(),
            ))
        }
    }

    /// The span as it was created before its fields were recorded lazily.
    fn an_event_as_before([function, digest, id, type_]: [&'static str; 4]) -> impl FnOnce() {
        move || {
            lines_in(tracing::info_span!(
                "event",
                function = function,
                digest = %digest,
                id = %id,
                r#type = %type_,
                trace_id = %TRACE_ID,
            ))
        }
    }

    #[test]
    fn lines_carry_the_same_fields_as_before() {
        for event in EVENTS {
            for json in [false, true] {
                let before = logged(json, false, an_event_as_before(event));
                assert_eq!(logged(json, true, an_event(event)), before, "json {json}");
                // Without the layer: recorded at creation.
                assert_eq!(logged(json, false, an_event(event)), before, "json {json}");
                assert_eq!(before.lines().count(), 2, "{before}");
            }
        }
        let text = logged(false, true, an_event(EVENTS[0]));
        assert!(
            text.contains(r#"event{function="simple" digest=sha256:abc id=id-1 type=dev.ping trace_id=4bf92f3577b34da6a3ce929d0e0e4736}"#),
            "{text}"
        );
    }

    #[test]
    fn nothing_is_recorded_without_a_line() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry()
            .with(LazyFields { plain_text: true })
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(lines),
            );
        tracing::subscriber::with_default(subscriber, || {
            let span = event_span("f", "d", "i", "t", TraceParent::new_root().trace_id());
            let pending = span.with_subscriber(|(id, dispatch)| {
                let registry = dispatch.downcast_ref::<Registry>().unwrap();
                registry
                    .span(id)
                    .unwrap()
                    .extensions()
                    .get::<Pending>()
                    .is_some()
            });
            assert_eq!(pending, Some(true));
        });
    }
}
