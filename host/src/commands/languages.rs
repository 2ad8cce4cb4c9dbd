//! The languages of the functions in `functions/`, told apart by their
//! files, and how `wasmfn build` builds each one other than Rust (which
//! `cargo.rs` builds): Python with componentize-py, JavaScript bundled by
//! esbuild then componentize-js, and anything else by its own `build` script.
//!
//! The SDKs and their toolchains live in the workspace: `guest-sdk/python`
//! (componentize-py in its `.venv`) and `guest-sdk/js` (componentize-js and
//! esbuild in its `node_modules`), both installed by
//! `scripts/install-toolchains.sh`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// componentize-py, as `guest-sdk/python/requirements-dev.txt` pins it.
pub(crate) const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// The script that installs every guest toolchain.
const INSTALL_SCRIPT: &str = "scripts/install-toolchains.sh";

/// What a function directory is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// A crate (`Cargo.toml`), built by cargo for wasm32-wasip2.
    Rust,
    /// `app.py` defining `handle(event)`, built by componentize-py.
    Python,
    /// `index.js` (or `package.json`'s `main`) exporting `handle(event)`,
    /// bundled with the `wasmfn` package and built by componentize-js.
    JavaScript,
    /// An executable `build` script that writes the module to `$OUT` (C,
    /// Zig, Go, …: a wasip1 command module or a component).
    Script,
}

impl Language {
    /// The language of function directory `dir`: an executable `build`
    /// script wins (the author said how), then `Cargo.toml`, `app.py`,
    /// `index.js` or `package.json`; `None` for anything else.
    pub fn detect(dir: &Path) -> Option<Language> {
        if is_executable(&dir.join("build")) {
            Some(Language::Script)
        } else if dir.join("Cargo.toml").is_file() {
            Some(Language::Rust)
        } else if dir.join("app.py").is_file() {
            Some(Language::Python)
        } else if dir.join("index.js").is_file() || dir.join("package.json").is_file() {
            Some(Language::JavaScript)
        } else {
            None
        }
    }

    /// The name shown in messages and in the build table.
    pub fn label(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "js",
            Language::Script => "script",
        }
    }
}

/// What can go wrong building a function that is not a crate.
#[derive(Debug, thiserror::Error)]
pub enum LanguageError {
    /// A tool the function's language needs is not installed.
    #[error(
        "{function} is a {language} function, but {tool} is not installed (looked for {looked}): \
         run {INSTALL_SCRIPT}, or {install}"
    )]
    ToolMissing {
        /// The function directory.
        function: PathBuf,
        /// Its language.
        language: &'static str,
        /// The missing tool.
        tool: &'static str,
        /// Where it was looked for.
        looked: String,
        /// The command that installs it.
        install: String,
    },
    /// A tool ran and failed.
    #[error("building {function}: `{tool}` failed ({status}); its output:\n{output}")]
    ToolFailed {
        /// The function directory.
        function: PathBuf,
        /// The tool.
        tool: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its stdout and stderr.
        output: String,
    },
    /// A tool could not be started.
    #[error("building {function}: cannot run `{tool}`: {source}")]
    Spawn {
        /// The function directory.
        function: PathBuf,
        /// The tool.
        tool: String,
        /// Why.
        source: std::io::Error,
    },
    /// The tool succeeded but wrote no module.
    #[error("building {function}: `{tool}` exited 0 but wrote no {out}")]
    NoOutput {
        /// The function directory.
        function: PathBuf,
        /// The tool.
        tool: String,
        /// The file it should have written.
        out: PathBuf,
    },
    /// A JavaScript function's `package.json` names no entry module.
    #[error("{0}: no index.js, and package.json has no \"main\" naming the module to build")]
    NoEntry(PathBuf),
    /// A scratch directory could not be made.
    #[error("building {function}: {source}")]
    Io {
        /// The function directory.
        function: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Builds function `dir` (not a crate) of `language` in the workspace at
/// `root` into the module `out`.
pub(crate) fn build(
    root: &Path,
    dir: &Path,
    language: Language,
    out: &Path,
) -> Result<(), LanguageError> {
    match language {
        Language::Python => build_python(root, dir, out),
        Language::JavaScript => build_js(root, dir, out),
        Language::Script => build_script(dir, out),
        Language::Rust => unreachable!("cargo builds the Rust functions"),
    }
}

/// `componentize-py … componentize wasmfn_component` with the function's
/// directory and the SDK on its path (`wasmfn_component` imports `app`),
/// against the world with outbound HTTP (`wasmfn.http`).
fn build_python(root: &Path, dir: &Path, out: &Path) -> Result<(), LanguageError> {
    let sdk = root.join("guest-sdk/python");
    let tool = componentize_py(root, dir, std::env::var_os("PATH").as_deref())?;
    let mut command = Command::new(&tool);
    command
        .arg("-d")
        .arg(root.join("guest-sdk/wit"))
        .args([
            "-w",
            "function-with-http",
            "componentize",
            "wasmfn_component",
            "-p",
        ])
        .arg(dir)
        .arg("-p")
        .arg(&sdk)
        .arg("-o")
        .arg(out)
        // No __pycache__ left in the function's or the SDK's directory.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run(dir, "componentize-py", command)?;
    written(dir, "componentize-py", out)
}

/// componentize-py from the workspace's `guest-sdk/python/.venv`, else from
/// `path` (a `PATH` value).
fn componentize_py(
    root: &Path,
    function: &Path,
    path: Option<&OsStr>,
) -> Result<PathBuf, LanguageError> {
    let venv_tool = root.join("guest-sdk/python/.venv/bin/componentize-py");
    if is_executable(&venv_tool) {
        return Ok(venv_tool);
    }
    on_path("componentize-py", path).ok_or_else(|| LanguageError::ToolMissing {
        function: function.to_owned(),
        language: "Python",
        tool: "componentize-py",
        looked: format!("{} and PATH", venv_tool.display()),
        install: format!("pip install {COMPONENTIZE_PY}"),
    })
}

/// esbuild bundles `guest-sdk/js/component.js` with the function (as
/// `wasmfn-app`) and the SDK (as `wasmfn`); componentize-js turns the bundle
/// into a component. `fetch` stays (over `wasi:http`, which the host links
/// and guards per function); the incoming-request handler is left out
/// (`-d fetch-event`): a function is called with events, not requests.
fn build_js(root: &Path, dir: &Path, out: &Path) -> Result<(), LanguageError> {
    let sdk = root.join("guest-sdk/js");
    let node = on_path("node", std::env::var_os("PATH").as_deref()).ok_or_else(|| {
        LanguageError::ToolMissing {
            function: dir.to_owned(),
            language: "JavaScript",
            tool: "node",
            looked: "PATH".to_owned(),
            install: "apt-get install nodejs npm".to_owned(),
        }
    })?;
    let esbuild = sdk.join("node_modules/.bin/esbuild");
    let componentize = sdk.join("node_modules/@bytecodealliance/componentize-js/src/cli.js");
    for (tool, path) in [("esbuild", &esbuild), ("componentize-js", &componentize)] {
        if !path.is_file() {
            return Err(LanguageError::ToolMissing {
                function: dir.to_owned(),
                language: "JavaScript",
                tool,
                looked: path.display().to_string(),
                install: format!("npm ci --prefix {}", sdk.display()),
            });
        }
    }
    let entry = js_entry(dir)?;
    // The bundle sits beside the module while componentize-js reads it.
    let bundle = out.with_extension("bundle.mjs");
    let mut command = Command::new(&esbuild);
    command
        .arg(sdk.join("component.js"))
        .args([
            "--bundle",
            "--format=esm",
            "--platform=neutral",
            "--log-level=warning",
        ])
        .arg(alias("wasmfn-app", &entry))
        .arg(alias("wasmfn", &sdk.join("index.js")))
        .arg("--external:wasmfn:*")
        .arg(prefixed("--outfile=", &bundle))
        // Paths in the bundle's comments are relative to here: the same
        // source gives the same module, and digest, on every machine.
        .current_dir(root);
    run(dir, "esbuild", command)?;

    let mut command = Command::new(node);
    command
        .arg(componentize)
        .arg(&bundle)
        .arg("-w")
        .arg(root.join("guest-sdk/wit"))
        .args(["-n", "function", "-d", "fetch-event", "-o"])
        .arg(out);
    let built = run(dir, "componentize-js", command);
    let _ = std::fs::remove_file(&bundle);
    built?;
    written(dir, "componentize-js", out)
}

/// The module a JavaScript function exports `handle` from: `index.js`, else
/// `main` of its `package.json`.
fn js_entry(dir: &Path) -> Result<PathBuf, LanguageError> {
    let index = dir.join("index.js");
    if index.is_file() {
        return Ok(index);
    }
    let main = std::fs::read_to_string(dir.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|package| package.get("main")?.as_str().map(|m| dir.join(m)));
    main.filter(|m| m.is_file())
        .ok_or_else(|| LanguageError::NoEntry(dir.to_owned()))
}

/// `dir/build`, run in `dir` with `OUT` set to the module to write.
fn build_script(dir: &Path, out: &Path) -> Result<(), LanguageError> {
    let mut command = Command::new(dir.join("build"));
    command.current_dir(dir).env("OUT", out);
    run(dir, "./build", command)?;
    written(dir, "./build", out)
}

/// Runs `command` to completion, no stdin, keeping its output for the error.
fn run(function: &Path, tool: &str, mut command: Command) -> Result<Output, LanguageError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LanguageError::Spawn {
            function: function.to_owned(),
            tool: tool.to_owned(),
            source,
        })?;
    if output.status.success() {
        return Ok(output);
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Err(LanguageError::ToolFailed {
        function: function.to_owned(),
        tool: tool.to_owned(),
        status: output.status,
        output: text.trim_end().to_owned(),
    })
}

fn written(function: &Path, tool: &str, out: &Path) -> Result<(), LanguageError> {
    if out.is_file() {
        Ok(())
    } else {
        Err(LanguageError::NoOutput {
            function: function.to_owned(),
            tool: tool.to_owned(),
            out: out.to_owned(),
        })
    }
}

fn alias(name: &str, path: &Path) -> std::ffi::OsString {
    prefixed(&format!("--alias:{name}="), path)
}

fn prefixed(prefix: &str, path: &Path) -> std::ffi::OsString {
    let mut arg = std::ffi::OsString::from(prefix);
    arg.push(path.as_os_str());
    arg
}

/// `name` in a directory of `path`, a `PATH` value (hand-written: ten lines
/// instead of the `which` crate).
fn on_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, u32)]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (file, mode) in files {
            let path = dir.path().join(file);
            std::fs::write(&path, "").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        dir
    }

    #[test]
    fn tells_languages_apart_by_their_files() {
        for (files, language) in [
            (&[("Cargo.toml", 0o644)][..], Some(Language::Rust)),
            (&[("app.py", 0o644)], Some(Language::Python)),
            (&[("index.js", 0o644)], Some(Language::JavaScript)),
            (&[("package.json", 0o644)], Some(Language::JavaScript)),
            (
                &[("build", 0o755), ("main.c", 0o644)],
                Some(Language::Script),
            ),
            (
                &[("build", 0o755), ("Cargo.toml", 0o644)],
                Some(Language::Script),
            ),
            (&[("build", 0o644), ("main.c", 0o644)], None),
            (&[("README.md", 0o644)], None),
        ] {
            let dir = dir_with(files);
            assert_eq!(Language::detect(dir.path()), language, "{files:?}");
        }
    }

    #[test]
    fn a_missing_python_toolchain_says_how_to_install_it() {
        let root = tempfile::tempdir().unwrap();
        let function = dir_with(&[("app.py", 0o644)]);
        // PATH without componentize-py; the workspace has no .venv.
        let err = componentize_py(
            root.path(),
            function.path(),
            Some(OsStr::new("/nonexistent")),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("componentize-py is not installed"), "{text}");
        assert!(text.contains(INSTALL_SCRIPT), "{text}");
        assert!(
            text.contains("pip install componentize-py==0.25.1"),
            "{text}"
        );
    }

    #[test]
    fn a_build_script_gets_out_and_its_failure_is_shown() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("build");
        std::fs::write(&script, "#!/bin/sh\nprintf '\\0asm' > \"$OUT\"\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = dir.path().join("out.wasm");
        build_script(dir.path(), &out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"\0asm");

        std::fs::write(&script, "#!/bin/sh\necho 'cc: no such file' >&2\nexit 3\n").unwrap();
        let text = build_script(dir.path(), &out).unwrap_err().to_string();
        assert!(text.contains("`./build` failed"), "{text}");
        assert!(text.contains("cc: no such file"), "{text}");

        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::remove_file(&out).unwrap();
        let text = build_script(dir.path(), &out).unwrap_err().to_string();
        assert!(text.contains("wrote no"), "{text}");
    }
}
