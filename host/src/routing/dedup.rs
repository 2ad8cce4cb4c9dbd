//! Optional de-duplication of redelivered events (`dedup = { window_s }`):
//! Knative delivers at least once, so an input whose first delivery
//! succeeded may arrive again. Within the window such a redelivery is
//! acknowledged with the first delivery's answer instead of running the
//! function (and its sink deliveries) again.
//!
//! The window is per pod and per loaded version of the function: another
//! replica, a restart or a reload of the functions directory does not know
//! what this one saw, so duplicates stay possible and downstream consumers
//! still rely on the deterministic output ids.

use std::sync::Arc;

use moka::sync::Cache;

use crate::config::DedupConfig;
use crate::event::{Event, identity};

/// The inputs a function handled successfully in the last `window`, with
/// the outputs it replied (empty in sink mode: they were delivered).
pub struct DedupWindow {
    handled: Cache<String, Arc<[Event]>>,
}

impl DedupWindow {
    /// An empty window bounded by `config` in time and entries.
    pub fn new(config: &DedupConfig) -> DedupWindow {
        DedupWindow {
            handled: Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(config.window)
                .build(),
        }
    }

    /// The answer to the first successful delivery of the input with this
    /// [`DedupWindow::key`], if it is in the window.
    pub fn seen(&self, key: &str) -> Option<Arc<[Event]>> {
        self.handled.get(key)
    }

    /// Records that the input with this key was handled with `outputs` as
    /// its reply.
    pub fn remember(&self, key: String, outputs: &[Event]) {
        self.handled.insert(key, outputs.into());
    }

    /// An input's CloudEvents identity, `source` + `id` (unique per
    /// producer), unambiguously joined ([`identity`]): computed once per
    /// event for [`Self::seen`] and [`Self::remember`].
    pub fn key(event: &Event) -> String {
        identity(&event.source, &event.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_event as event;
    use std::time::Duration;

    #[test]
    fn remembers_by_source_and_id_within_the_window() {
        let window = DedupWindow::new(&DedupConfig {
            window: Duration::from_millis(200),
            max_entries: 10,
        });
        let seen = |e: &Event| window.seen(&DedupWindow::key(e));
        let input = event("s", "1");
        assert!(seen(&input).is_none());
        window.remember(DedupWindow::key(&input), &[event("out", "o")]);
        assert_eq!(seen(&input).unwrap().len(), 1);
        assert!(seen(&event("s", "2")).is_none(), "other id");
        assert!(seen(&event("t", "1")).is_none(), "other source");
        assert!(
            seen(&event("s\u{0}1", "")).is_none(),
            "the separator keeps keys apart"
        );
        window.remember(DedupWindow::key(&event("a\u{0}b", "c")), &[]);
        assert!(
            seen(&event("a", "b\u{0}c")).is_none(),
            "a separator inside a part is escaped"
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(seen(&input).is_none(), "expired after the window");
    }
}
