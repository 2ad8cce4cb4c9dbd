//! How a function's instances live (`instances` and
//! `max_events_per_instance` in `[functions.<name>]`).

use serde::Deserialize;

use super::KeyError;

/// Default events one warm instance handles before it is replaced.
pub const DEFAULT_MAX_EVENTS_PER_INSTANCE: u32 = 1000;

/// Fresh instance per event (the default), or instances kept warm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Instances {
    /// A new instance for every event: nothing survives between events.
    #[default]
    Fresh,
    /// Instances kept warm and reused, one event at a time each, so
    /// interpreters keep their loaded code. State can cross events of the
    /// function. An instance is thrown away after any outcome other than
    /// success or `invalid`, after `max_events` events, and on reload.
    Reused {
        /// Events per instance before it is replaced.
        max_events: u32,
    },
}

/// `instances = "fresh" | "reused"` as written.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum WireInstances {
    #[default]
    Fresh,
    Reused,
}

/// Validated [`Instances`]; the error names the bad key.
pub(super) fn validate(
    instances: Option<WireInstances>,
    max_events_per_instance: Option<u32>,
) -> Result<Instances, KeyError> {
    match (instances.unwrap_or_default(), max_events_per_instance) {
        (_, Some(0)) => Err(KeyError::new(
            "max_events_per_instance",
            "must be at least 1",
        )),
        (WireInstances::Fresh, Some(_)) => Err(KeyError::new(
            "max_events_per_instance",
            "applies only with `instances = \"reused\"`; set that or remove it",
        )),
        (WireInstances::Fresh, None) => Ok(Instances::Fresh),
        (WireInstances::Reused, max) => Ok(Instances::Reused {
            max_events: max.unwrap_or(DEFAULT_MAX_EVENTS_PER_INSTANCE),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_by_default_reused_with_a_bound() {
        assert_eq!(validate(None, None), Ok(Instances::Fresh));
        assert_eq!(
            validate(Some(WireInstances::Reused), None),
            Ok(Instances::Reused { max_events: 1000 })
        );
        assert_eq!(
            validate(Some(WireInstances::Reused), Some(5)),
            Ok(Instances::Reused { max_events: 5 })
        );
        assert!(validate(Some(WireInstances::Reused), Some(0)).is_err());
        assert!(validate(None, Some(5)).is_err());
    }
}
