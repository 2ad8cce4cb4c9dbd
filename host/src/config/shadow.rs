//! `shadow = { source = "..", sample = .. }`: a version that runs on a copy
//! of `sample` percent of a function's events after the serving version has
//! answered; its outputs are only compared with the serving version's, never
//! replied or delivered (issue 14). Its module is a file of the functions
//! directory (then not served at its own route) or an `oci://` digest, as a
//! canary's; everything else — settings, limits, outbound grant — is the
//! function's own.

use serde::Deserialize;

use super::KeyError;
use super::canary::VersionSource;
use super::vars::Vars;

/// A shadow version and the share of events copied to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowConfig {
    /// Its module.
    pub source: VersionSource,
    /// Percent of events (0–100) also run on it, chosen by the same stable
    /// hash of `source` and `id` as a canary's.
    pub sample: u8,
}

/// `shadow` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireShadow {
    source: String,
    sample: u32,
}

impl WireShadow {
    /// The validated shadow; the error names the bad key under `shadow`.
    pub(super) fn validate(self, vars: &Vars<'_>) -> Result<ShadowConfig, KeyError> {
        let source = VersionSource::parse(&self.source, vars)?;
        let sample = u8::try_from(self.sample)
            .ok()
            .filter(|s| *s <= 100)
            .ok_or_else(|| KeyError::new("sample", "is a percent of events: 0 to 100"))?;
        Ok(ShadowConfig { source, sample })
    }
}
