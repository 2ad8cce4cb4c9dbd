//! `wasmfn push FILE REF`: a `.wasm` file to a registry in the CNCF Wasm OCI
//! artifact layout; the last line printed is `REGISTRY/REPO@sha256:<digest>`.

use anyhow::Context;

use crate::cli::PushArgs;
use crate::registry::{SCHEME, build_artifact, parse_push_target};

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
    let artifact = build_artifact(&module, created()?);
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
    println!("{pushed}");
    Ok(())
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
