//! `canary = { source = "..", weight = .. }`: a second version of a function
//! that takes `weight` percent of its events (issue 14). Its module is a
//! file of the functions directory (then not served at its own route) or an
//! `oci://` digest; everything else — settings, limits, output, sink — is
//! the function's own.

use std::fmt;

use serde::Deserialize;

use super::KeyError;
use super::vars::Vars;
use crate::registry::OciSource;

/// Where a version's module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSource {
    /// `<stem>.wasm` in the functions directory; `stem` is what the
    /// directory listing names it.
    File {
        /// The file name without `.wasm`.
        stem: String,
    },
    /// A module in a registry, by digest.
    Oci(OciSource),
}

impl fmt::Display for VersionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSource::File { stem } => write!(f, "{stem}.wasm"),
            VersionSource::Oci(source) => write!(f, "{source}"),
        }
    }
}

impl VersionSource {
    /// Parses `source` as written (`${VAR}` expanded): `NAME.wasm` (a plain
    /// file name of the functions directory) or `oci://…@sha256:…`.
    pub(super) fn parse(text: &str, vars: &Vars<'_>) -> Result<VersionSource, KeyError> {
        let text = vars.expand("source", text)?;
        if text.starts_with(crate::registry::SCHEME) {
            return OciSource::parse(&text)
                .map(VersionSource::Oci)
                .map_err(|err| KeyError::new("source", err.to_string()));
        }
        let plain = |stem: &str| {
            stem.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && stem.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                })
        };
        match text.strip_suffix(".wasm") {
            Some(stem) if plain(stem) => Ok(VersionSource::File {
                stem: stem.to_owned(),
            }),
            _ => Err(KeyError::new(
                "source",
                "must be a file of the functions directory named `[a-z0-9][a-z0-9-_.]*.wasm` (no directory part) or `oci://REGISTRY/REPO@sha256:<digest>`",
            )),
        }
    }
}

/// A canary version and its share of the function's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryConfig {
    /// Its module.
    pub source: VersionSource,
    /// Percent of events (0–100) it handles, chosen by a stable hash of
    /// the event's `source` and `id`.
    pub weight: u8,
}

/// `canary` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireCanary {
    source: String,
    weight: u32,
}

impl WireCanary {
    /// The validated canary; the error names the bad key under `canary`.
    pub(super) fn validate(self, vars: &Vars<'_>) -> Result<CanaryConfig, KeyError> {
        let source = VersionSource::parse(&self.source, vars)?;
        let weight = u8::try_from(self.weight)
            .ok()
            .filter(|w| *w <= 100)
            .ok_or_else(|| KeyError::new("weight", "is a percent of events: 0 to 100"))?;
        Ok(CanaryConfig { source, weight })
    }
}
