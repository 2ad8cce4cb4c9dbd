//! `wasmfn check`: every deploy/ overlay's configuration passes with the
//! pipeline manifests, and a broken deployment gets every problem reported
//! at once (a tag source, a default and settings naming missing modules,
//! destinations no function serves, a manifest the dev reader refuses),
//! naming the file and key, with exit status 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{WASMFN, module};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn check(args: &[&str]) -> Output {
    Command::new(WASMFN)
        .arg("check")
        .args(args)
        .env_remove("BROKER_URL")
        .env_remove("KAFKA_SINK_URL")
        .output()
        .unwrap()
}

/// A functions directory holding these example modules.
fn functions(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        std::fs::copy(module(name), dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    dir
}

#[test]
fn every_overlay_passes_with_the_pipeline_manifests() {
    let packed = functions(&["handler", "transformer", "subscriber", "dead-letter", "simple"]);
    let empty = tempfile::tempdir().unwrap();
    let root = repo();
    let manifests = root.join("deploy/pipeline");
    // deploy/oci's ConfigMap carries no module: its functions come from the registry.
    for (overlay, dir) in [("base", &packed), ("vault", &packed), ("oci", &empty)] {
        let config = root.join(format!("deploy/{overlay}/wasmfn.toml"));
        let output = check(&[
            "--config",
            config.to_str().unwrap(),
            "--functions",
            dir.path().to_str().unwrap(),
            "--manifests",
            manifests.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "deploy/{overlay}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("no problems"), "{stdout}");
    }
}

#[test]
fn a_broken_deployment_gets_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let tagged = write(
        "tagged.toml",
        "[functions.f]\nsource = \"oci://127.0.0.1:5000/fns/f:latest\"\n",
    );
    // The env file is not read (Vault writes it in the pod), so its absence
    // here is no problem.
    let dangling = write(
        "dangling.toml",
        "default = \"ghost\"\n[functions.handler]\noutput = \"sink\"\nsink = \"${BROKER_URL}\"\nenv_files = [\"/nonexistent/secrets.env\"]\n[functions.extra]\n",
    );
    let only_handler = functions(&["handler"]);
    let manifests = repo().join("deploy/pipeline");
    let output = check(&[
        "--config",
        &tagged,
        "--config",
        &dangling,
        "--functions",
        only_handler.path().to_str().unwrap(),
        "--manifests",
        manifests.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for expected in [
        "tagged.toml: functions.f.source",
        "wasmfn push",
        "dangling.toml: `default = \"ghost\"` names no module",
        "[functions.extra] has no extra.wasm",
        "deliver to /transformer on the host, which no function serves",
        "deliver to /dead-letter on the host",
        "deliver to /subscriber on the host",
    ] {
        assert!(stderr.contains(expected), "{expected:?} missing:\n{stderr}");
    }
    assert_eq!(stderr.matches("/dead-letter on the host").count(), 1, "{stderr}");
    assert!(!stderr.contains("secrets.env"), "{stderr}");
    let problems = stderr.lines().filter(|l| l.starts_with("error: ")).count();
    assert!(stderr.contains(&format!("{problems} problem(s)")), "{stderr}");

    // A manifest `dev` refuses is named by file; without the manifests'
    // Broker, `${BROKER_URL}` is an unset variable, named as such.
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(
        broken.path().join("trigger.yaml"),
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: t\n",
    )
    .unwrap();
    let output = check(&[
        "--config",
        &dangling,
        "--manifests",
        broken.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("trigger.yaml: Trigger `t`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("functions.handler.sink: environment variable `BROKER_URL` is not set"),
        "{stderr}"
    );

    let nothing = check(&[]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("give --config FILE"));
}
