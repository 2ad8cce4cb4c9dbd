//! `[functions.<name>]`: one function's table, each of its keys validated by
//! the module that owns it (output, settings, limits, dedup, outbound,
//! canary, rollback, shadow).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::KeyError;
use super::canary::{CanaryConfig, WireCanary};
use super::dedup::{DedupConfig, WireDedup};
use super::instances::{Instances, WireInstances};
use super::limits::{FunctionLimits, WireLimits};
use super::outbound::AllowedHosts;
use super::output::{Output, WireOutput};
use super::rollback::{RollbackConfig, WireRollback};
use super::settings::{Settings, read_settings};
use super::shadow::{ShadowConfig, WireShadow};
use super::vars::Vars;
use crate::registry::OciSource;

/// One function's configuration.
#[derive(Debug, Clone, Default)]
pub struct FunctionConfig {
    /// Where its module comes from when not `<name>.wasm` in the functions
    /// directory: `source = "oci://REGISTRY/REPO@sha256:<digest>"`.
    pub source: Option<OciSource>,
    /// Where its output events go.
    pub output: Output,
    /// What its `config.get` sees: `env`, then `env_files` (later wins).
    pub settings: Settings,
    /// The env files its settings were read from, `${VAR}`s expanded.
    pub env_files: Vec<PathBuf>,
    /// Its sandbox and output limits.
    pub limits: FunctionLimits,
    /// Its de-duplication window for redelivered events (`None`: off).
    pub dedup: Option<DedupConfig>,
    /// Fresh instances per event, or instances kept warm.
    pub instances: Instances,
    /// The hosts it may send HTTP requests to (none by default).
    pub allowed_outbound_hosts: AllowedHosts,
    /// A second version taking a share of its events.
    pub canary: Option<CanaryConfig>,
    /// When that canary is taken out by itself (`None`: never).
    pub rollback: Option<RollbackConfig>,
    /// A version given a copy of a share of its events, its outputs only
    /// compared (never with a canary).
    pub shadow: Option<ShadowConfig>,
}

/// `[functions.<name>]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireFunction {
    source: Option<String>,
    #[serde(default)]
    output: WireOutput,
    sink: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    env_files: Vec<String>,
    #[serde(default)]
    limits: WireLimits,
    dedup: Option<WireDedup>,
    instances: Option<WireInstances>,
    max_events_per_instance: Option<u32>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    canary: Option<WireCanary>,
    rollback: Option<WireRollback>,
    shadow: Option<WireShadow>,
}

impl WireFunction {
    /// The validated configuration; the error names the bad key under the
    /// function's table.
    pub(super) fn validate(self, vars: &Vars<'_>) -> Result<FunctionConfig, KeyError> {
        let source = self
            .source
            .map(|text| {
                OciSource::parse(&vars.expand("source", &text)?)
                    .map_err(|err| KeyError::new("source", err.to_string()))
            })
            .transpose()?;
        let output = self.output.validate(self.sink.as_deref(), vars)?;
        let (settings, env_files) = read_settings(self.env, &self.env_files, vars)?;
        let limits = self.limits.validate().map_err(|err| err.under("limits"))?;
        let dedup = self
            .dedup
            .map(|dedup| dedup.validate().map_err(|err| err.under("dedup")))
            .transpose()?;
        let instances = super::instances::validate(self.instances, self.max_events_per_instance)?;
        let allowed_outbound_hosts = super::outbound::validate(self.allowed_outbound_hosts)?;
        let canary = self
            .canary
            .map(|canary| canary.validate(vars).map_err(|err| err.under("canary")))
            .transpose()?;
        let rollback = self
            .rollback
            .map(|rollback| rollback.validate().map_err(|err| err.under("rollback")))
            .transpose()?;
        let shadow = self
            .shadow
            .map(|shadow| shadow.validate(vars).map_err(|err| err.under("shadow")))
            .transpose()?;
        if shadow.is_some() && canary.is_some() {
            return Err(KeyError::new(
                "shadow",
                "a function has a `canary` or a `shadow`, not both; remove one of them",
            ));
        }
        if rollback.is_some() && canary.is_none() {
            return Err(KeyError::new(
                "rollback",
                "applies only to a `canary`; add one or remove `rollback`",
            ));
        }
        Ok(FunctionConfig {
            source,
            output,
            settings,
            env_files,
            limits,
            dedup,
            instances,
            allowed_outbound_hosts,
            canary,
            rollback,
            shadow,
        })
    }
}
