//! `wasmfn new`: scaffolds a function crate from the templates in
//! `host/templates/` (one per kind, each a smaller version of the matching
//! example in `functions/`), ready to `cargo test` and `wasmfn build`.

use std::path::{Component, Path, PathBuf};

use super::cargo::{CargoError, Workspace};
use crate::cli::NewArgs;

/// The package every function depends on.
const GUEST_SDK: &str = "wasmfn-guest";
/// The crate manifest template; `{{name}}` and `{{guest_sdk}}` are filled in.
const CARGO_TOML: &str = include_str!("../../templates/Cargo.toml.tmpl");

/// The kinds of function `wasmfn new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FunctionKind {
    /// Checks a JSON object and sends it on (a Broker's first stop).
    Handler,
    /// Logs what it receives and sends nothing (a Trigger's subscriber).
    Subscriber,
    /// Maps each event into a new one, keyed for a KafkaSink.
    Transformer,
}

impl FunctionKind {
    /// The `src/lib.rs` template of this kind.
    fn template(self) -> &'static str {
        match self {
            FunctionKind::Handler => include_str!("../../templates/handler.rs"),
            FunctionKind::Subscriber => include_str!("../../templates/subscriber.rs"),
            FunctionKind::Transformer => include_str!("../../templates/transformer.rs"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            FunctionKind::Handler => "handler",
            FunctionKind::Subscriber => "subscriber",
            FunctionKind::Transformer => "transformer",
        }
    }
}

/// What can go wrong in `wasmfn new`.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// NAME is not a usable function name.
    #[error(
        "function name {name:?} {reason}; use lowercase letters, digits and '-', starting with \
         a letter (the name becomes the crate, the .wasm file and the route /NAME)"
    )]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `--dir` does not name a directory.
    #[error(
        "--dir {0}: not a directory (run `wasmfn new` in the workspace root, or pass --dir DIR)"
    )]
    NoDir(PathBuf),
    /// The workspace already has a package of that name.
    #[error("the workspace already has a crate named `{name}` ({manifest}); pick another name")]
    Taken {
        /// The name given.
        name: String,
        /// The existing crate's manifest.
        manifest: PathBuf,
    },
    /// The crate directory exists.
    #[error("{0} already exists; pick another name or remove it")]
    Exists(PathBuf),
    /// The workspace has no `wasmfn-guest` to depend on.
    #[error(
        "the workspace at {0} has no `wasmfn-guest` crate; run `wasmfn new` in the wasmfn repository"
    )]
    NoGuestSdk(PathBuf),
    /// The new crate is outside the workspace's `members`; it was removed.
    #[error(
        "{dir} would not be a member of the workspace at {root}, so it was not created: add \
         \"{pattern}\" to `members` in {root}/Cargo.toml, or use --dir functions"
    )]
    NotMember {
        /// The crate directory.
        dir: PathBuf,
        /// The workspace root.
        root: PathBuf,
        /// The member glob that would cover it.
        pattern: String,
    },
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Cargo could not read the workspace.
    #[error(transparent)]
    Cargo(#[from] CargoError),
}

/// Runs `wasmfn new` and says what to do next.
pub fn new(args: NewArgs) -> anyhow::Result<()> {
    let dir = scaffold(&args.name, args.kind, &args.dir)?;
    println!(
        "created {} `{}` in {}\nnext: cargo test --release -p {1}, then wasmfn build",
        args.kind.label(),
        args.name,
        dir.display()
    );
    Ok(())
}

/// Creates crate `name` of `kind` in `dir` and checks that it joined the
/// workspace; returns its directory.
pub fn scaffold(name: &str, kind: FunctionKind, dir: &Path) -> Result<PathBuf, NewError> {
    validate_name(name)?;
    if !dir.is_dir() {
        return Err(NewError::NoDir(dir.to_owned()));
    }
    let workspace = Workspace::load(dir)?;
    if let Some(existing) = workspace.package(name) {
        return Err(NewError::Taken {
            name: name.to_owned(),
            manifest: existing.manifest_path.clone(),
        });
    }
    let crate_dir = dir.join(name);
    if crate_dir.exists() {
        return Err(NewError::Exists(crate_dir));
    }
    let guest_sdk = workspace
        .package(GUEST_SDK)
        .ok_or_else(|| NewError::NoGuestSdk(workspace.root.clone()))?
        .dir()
        .canonicalize()
        .map_err(|source| write_error(&workspace.root, source))?;
    let parent = dir
        .canonicalize()
        .map_err(|source| write_error(dir, source))?;
    let guest_sdk = relative_path(&parent.join(name), &guest_sdk);

    // Cargo.toml first: a member glob such as `functions/*` makes every
    // directory it matches a member, and one without a manifest breaks the
    // whole workspace.
    let files = [
        (
            PathBuf::from("Cargo.toml"),
            render(CARGO_TOML, name, &guest_sdk),
        ),
        (
            PathBuf::from("src/lib.rs"),
            render(kind.template(), name, &guest_sdk),
        ),
    ];
    let written = files.iter().try_for_each(|(file, text)| {
        let path = crate_dir.join(file);
        let parent = path.parent().expect("a file in the crate has a parent");
        std::fs::create_dir_all(parent).map_err(|source| write_error(parent, source))?;
        std::fs::write(&path, text).map_err(|source| write_error(&path, source))
    });
    if let Err(err) = written {
        let _ = std::fs::remove_dir_all(&crate_dir);
        return Err(err);
    }

    let joined = Workspace::load(&crate_dir)
        .is_ok_and(|ws| ws.root == workspace.root && ws.package(name).is_some());
    if !joined {
        let _ = std::fs::remove_dir_all(&crate_dir);
        let pattern = relative_path(&workspace.root, &parent).join("*");
        return Err(NewError::NotMember {
            dir: crate_dir,
            root: workspace.root,
            pattern: pattern.display().to_string(),
        });
    }
    Ok(crate_dir)
}

/// Checks that `name` can be a route, a `.wasm` file name and a crate name.
pub fn validate_name(name: &str) -> Result<(), NewError> {
    let invalid = |reason| {
        Err(NewError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    match name.chars().next() {
        None => return invalid("is empty"),
        Some(c) if !c.is_ascii_lowercase() => {
            return invalid("does not start with a lowercase letter");
        }
        Some(_) => {}
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return invalid("has a character other than a-z, 0-9 and '-'");
    }
    if name.ends_with('-') {
        return invalid("ends with '-'");
    }
    if RESERVED.contains(&name) {
        return invalid("is a Rust keyword or a standard crate's name");
    }
    Ok(())
}

/// Names a crate cannot take: Rust keywords (the library's name would be one)
/// and the standard crates.
const RESERVED: &[&str] = &[
    "abstract",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
    "alloc",
    "core",
    "std",
    "test",
    "proc-macro",
];

fn render(template: &str, name: &str, guest_sdk: &Path) -> String {
    // Cargo.toml wants forward slashes on every platform.
    let guest_sdk = guest_sdk.to_string_lossy().replace('\\', "/");
    template
        .replace("{{name}}", name)
        .replace("{{guest_sdk}}", &guest_sdk)
}

/// The path from directory `from` to `to`, both absolute.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path: PathBuf = from[common..]
        .iter()
        .map(|_| Component::ParentDir)
        .collect();
    path.extend(&to[common..]);
    if path.as_os_str().is_empty() {
        path.push(".");
    }
    path
}

fn write_error(path: &Path, source: std::io::Error) -> NewError {
    NewError::Write {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_route_names() {
        for name in ["greeter", "my-fn", "trades2kafka", "a"] {
            assert!(validate_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn refuses_bad_names_saying_why() {
        for (name, why) in [
            ("", "is empty"),
            ("Greeter", "start with a lowercase letter"),
            ("2fa", "start with a lowercase letter"),
            ("-x", "start with a lowercase letter"),
            ("my_fn", "other than a-z"),
            ("my.fn", "other than a-z"),
            ("café", "other than a-z"),
            ("greeter-", "ends with"),
            ("fn", "keyword"),
            ("test", "keyword"),
        ] {
            let err = validate_name(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name}: {err}");
            assert!(err.contains(&format!("{name:?}")), "{name}: {err}");
        }
    }

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        assert_eq!(
            relative_path(
                Path::new("/w/functions/greeter"),
                Path::new("/w/guest-sdk/rust")
            ),
            Path::new("../../guest-sdk/rust")
        );
        assert_eq!(
            relative_path(Path::new("/w"), Path::new("/w/functions")),
            Path::new("functions")
        );
        assert_eq!(
            relative_path(Path::new("/w"), Path::new("/w")),
            Path::new(".")
        );
    }

    #[test]
    fn every_template_is_filled_in() {
        for kind in [
            FunctionKind::Handler,
            FunctionKind::Subscriber,
            FunctionKind::Transformer,
        ] {
            for template in [CARGO_TOML, kind.template()] {
                let text = render(template, "greeter", Path::new("../../guest-sdk/rust"));
                assert!(!text.contains("{{"), "{kind:?}: {text}");
            }
            assert!(kind.template().contains("wasmfn_guest::function!(handle);"));
            assert!(kind.template().contains("#[test]"), "{kind:?} has a test");
        }
        let manifest = render(CARGO_TOML, "greeter", Path::new("../../guest-sdk/rust"));
        let manifest: toml::Table = manifest.parse().unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some("greeter"));
        assert_eq!(
            manifest["dependencies"][GUEST_SDK]["path"].as_str(),
            Some("../../guest-sdk/rust")
        );
    }
}
