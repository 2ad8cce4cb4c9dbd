//! `wasmfn push FILE REF`: a `.wasm` file to a registry in the CNCF Wasm OCI
//! artifact layout; the last line printed is `REGISTRY/REPO@sha256:<digest>`.
//! With `--precompile`, the artifact also carries the module compiled by
//! the engine `wasmfn serve` builds (`registry/artifact.rs`).

use anyhow::Context;

use crate::cli::PushArgs;
use crate::registry::{Precompiled, SCHEME, build_artifact, parse_push_target};
use crate::sandbox::{Sandbox, SandboxConfig};

/// Pushes the file and prints the digest reference.
pub async fn push(args: PushArgs) -> anyhow::Result<()> {
    let target = parse_push_target(&args.reference)?;
    let module = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    if !module.starts_with(b"\0asm") {
        anyhow::bail!(
            "{} is not a WebAssembly file (no \\0asm header)",
            args.file.display()
        );
    }
    let precompiled =
        if args.precompile {
            Some(precompile(&module, args.fuel).with_context(|| {
                format!("cannot precompile {} (--precompile)", args.file.display())
            })?)
        } else {
            None
        };
    let artifact = build_artifact(&module, created()?, precompiled);
    let pushed = args
        .registry
        .to_options()
        .push(&target, &module, &artifact)
        .await?;
    eprintln!(
        "pushed {} ({} bytes, module {}) as {}:{}\nin wasmfn.toml: source = \"{SCHEME}{pushed}\"",
        args.file.display(),
        module.len(),
        artifact.layer_digest,
        target.repository(),
        target.tag().unwrap_or("latest"),
    );
    if let Some((code, code_digest)) = &artifact.precompiled {
        eprintln!(
            "with precompiled code ({} bytes, layer {code_digest}): hosts started with --trust-precompiled whose engine matches this one load it instead of compiling",
            code.len()
        );
    }
    println!("{pushed}");
    Ok(())
}

/// `module` compiled by the engine `wasmfn serve` builds (the same builder,
/// with its default limits: limits do not change compiled code, see the
/// sandbox's `the_compatibility_hash_follows_code_settings_not_limits`),
/// metering fuel when `fuel`; in this process, without compile bounds.
fn precompile(module: &[u8], fuel: bool) -> anyhow::Result<Precompiled> {
    let sandbox = Sandbox::new(SandboxConfig {
        meter_fuel: fuel,
        ..SandboxConfig::default()
    })?;
    let code = sandbox.precompile(module)?;
    Ok(Precompiled {
        code,
        compatibility_hash: sandbox.compatibility_hash().to_owned(),
    })
}

/// The config's `created` time: `SOURCE_DATE_EPOCH` (reproducible builds'
/// convention) or the Unix epoch, never the clock, so that pushing the same
/// bytes again gives the same digest.
fn created() -> anyhow::Result<String> {
    let seconds: i64 = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text
            .trim()
            .parse()
            .context("SOURCE_DATE_EPOCH is not a number of seconds")?,
        Err(_) => 0,
    };
    let time = chrono::DateTime::from_timestamp(seconds, 0)
        .context("SOURCE_DATE_EPOCH is out of range")?;
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
