//! The PingSource emulation: fires on its cron `schedule` (5 fields or an
//! `@hourly`-style alias, read in its `timezone`, UTC by default — the
//! `croner` and `chrono-tz` crates) and POSTs its `data` as Knative does:
//! type `dev.knative.sources.ping`, source
//! `/apis/v1/namespaces/<ns>/pingsources/<name>`, a fresh UUID id, the fire
//! time as `time`, `contentType` as `datacontenttype`.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use reqwest::Url;

use crate::event::{Event, SPEC_VERSION, write_headers};

/// The type of every PingSource event.
pub const PING_EVENT_TYPE: &str = "dev.knative.sources.ping";

/// A cron schedule read in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    /// The schedule as written.
    pub pattern: String,
    /// The time zone.
    pub timezone: Tz,
}

impl Schedule {
    /// Parses `schedule` (5 fields, no seconds, as Knative's) in `timezone`
    /// (an IANA name; `None` is UTC). The error says which part is wrong.
    pub fn parse(schedule: &str, timezone: Option<&str>) -> Result<Schedule, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(schedule)
            .map_err(|err| {
                format!("spec.schedule `{schedule}` is not a 5-field cron schedule: {err}")
            })?;
        let timezone = match timezone {
            None => Tz::UTC,
            Some(name) => Tz::from_str(name).map_err(|_| {
                format!("spec.timezone `{name}` is not an IANA time zone such as Europe/Amsterdam")
            })?,
        };
        Ok(Schedule {
            cron,
            pattern: schedule.to_owned(),
            timezone,
        })
    }

    /// The first fire time strictly after `now`, in the schedule's zone.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Tz>> {
        self.cron
            .find_next_occurrence(&now.with_timezone(&self.timezone), false)
            .ok()
    }
}

/// One PingSource.
#[derive(Debug, Clone)]
pub struct PingSource {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// When it fires.
    pub schedule: Schedule,
    /// `spec.contentType`.
    pub content_type: Option<String>,
    /// `spec.data` (or the decoded `spec.dataBase64`).
    pub data: Option<Vec<u8>>,
    /// The resolved sink URL.
    pub sink: Url,
}

impl PingSource {
    /// The event it sends at `time`.
    pub fn event(&self, time: DateTime<Utc>) -> Event {
        Event {
            id: uuid::Uuid::new_v4().to_string(),
            source: format!(
                "/apis/v1/namespaces/{}/pingsources/{}",
                self.namespace, self.name
            ),
            type_: PING_EVENT_TYPE.into(),
            specversion: SPEC_VERSION.into(),
            datacontenttype: self.content_type.clone(),
            dataschema: None,
            subject: None,
            time: Some(time.to_rfc3339_opts(SecondsFormat::Millis, true)),
            extensions: Vec::new(),
            data: self.data.clone(),
        }
    }

    /// Sends one event now and logs how the sink answered.
    pub async fn fire(&self, http: &reqwest::Client) {
        let event = self.event(Utc::now());
        let mut headers = http::HeaderMap::new();
        write_headers(&event, &mut headers);
        let result = http
            .post(self.sink.clone())
            .headers(headers)
            .body(event.data.clone().unwrap_or_default())
            .send()
            .await;
        match result {
            Ok(response) => {
                tracing::info!(pingsource = %self.name, sink = %self.sink, id = %event.id, status = response.status().as_u16(), "pingsource: fired")
            }
            Err(err) => {
                tracing::warn!(pingsource = %self.name, sink = %self.sink, "pingsource: the sink is unreachable: {err}")
            }
        }
    }

    /// Fires on the schedule until the process ends.
    pub fn spawn(self, http: reqwest::Client) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(next) = self.schedule.next_after(Utc::now()) {
                let wait = (next.with_timezone(&Utc) - Utc::now())
                    .to_std()
                    .unwrap_or_default();
                tokio::time::sleep(wait).await;
                self.fire(&http).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_fire_is_computed_in_the_time_zone() {
        // 09:00 every day in Amsterdam: 08:00 UTC in winter (CET, +1).
        let schedule = Schedule::parse("0 9 * * *", Some("Europe/Amsterdam")).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 15, 8, 30, 0).unwrap();
        let next = schedule.next_after(now).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-01-16T09:00:00+01:00");
        let before = Utc.with_ymd_and_hms(2026, 1, 15, 7, 59, 0).unwrap();
        assert_eq!(
            schedule.next_after(before).unwrap().with_timezone(&Utc),
            Utc.with_ymd_and_hms(2026, 1, 15, 8, 0, 0).unwrap()
        );
        // In summer (CEST, +2) the same schedule is 07:00 UTC.
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap();
        assert_eq!(
            schedule.next_after(summer).unwrap().with_timezone(&Utc),
            Utc.with_ymd_and_hms(2026, 7, 1, 7, 0, 0).unwrap()
        );
    }

    #[test]
    fn every_five_minutes_and_utc_default() {
        let schedule = Schedule::parse("*/5 * * * *", None).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 7, 30).unwrap();
        assert_eq!(
            schedule.next_after(now).unwrap().with_timezone(&Utc),
            Utc.with_ymd_and_hms(2026, 3, 1, 10, 10, 0).unwrap()
        );
    }

    #[test]
    fn bad_schedules_and_zones_are_named() {
        let err = Schedule::parse("every minute", None).unwrap_err();
        assert!(err.contains("spec.schedule `every minute`"), "{err}");
        let err = Schedule::parse("* * * * * *", None).unwrap_err();
        assert!(err.contains("5-field"), "{err}");
        let err = Schedule::parse("* * * * *", Some("Mars/Olympus")).unwrap_err();
        assert!(err.contains("spec.timezone `Mars/Olympus`"), "{err}");
    }

    #[test]
    fn events_look_like_knatives() {
        let ping = PingSource {
            namespace: "wasmfn".into(),
            name: "wasmfn-ping".into(),
            schedule: Schedule::parse("* * * * *", None).unwrap(),
            content_type: Some("application/json".into()),
            data: Some(br#"{"message": "hi"}"#.to_vec()),
            sink: Url::parse("http://127.0.0.1/simple").unwrap(),
        };
        let event = ping.event(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(event.type_, PING_EVENT_TYPE);
        assert_eq!(
            event.source,
            "/apis/v1/namespaces/wasmfn/pingsources/wasmfn-ping"
        );
        assert_eq!(event.time.as_deref(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
        crate::event::validate(&event).unwrap();
    }
}
