//! `wasmfn new`: scaffolds a function from the templates in `host/templates/`
//! (one per language and kind, each a smaller version of the matching
//! example in `functions/`, with its unit tests), ready to test and to
//! `wasmfn build`. A Rust crate is also added to the workspace's `members`.

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

/// The languages `wasmfn new` scaffolds in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A crate depending on `wasmfn-guest` (guest-sdk/rust).
    Rust,
    /// `app.py` using the `wasmfn` package (guest-sdk/python), built with
    /// componentize-py.
    Python,
    /// `index.js` using the `wasmfn` package (guest-sdk/js), built with
    /// componentize-js.
    Js,
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

    /// The files of a function of this kind in `lang` other than Rust:
    /// (file name, template).
    fn files(self, lang: Lang) -> [(&'static str, &'static str); 2] {
        use FunctionKind::*;
        match (lang, self) {
            (Lang::Python, Handler) => [
                ("app.py", include_str!("../../templates/python/handler.py")),
                (
                    "test_app.py",
                    include_str!("../../templates/python/test_handler.py"),
                ),
            ],
            (Lang::Python, Subscriber) => [
                (
                    "app.py",
                    include_str!("../../templates/python/subscriber.py"),
                ),
                (
                    "test_app.py",
                    include_str!("../../templates/python/test_subscriber.py"),
                ),
            ],
            (Lang::Python, Transformer) => [
                (
                    "app.py",
                    include_str!("../../templates/python/transformer.py"),
                ),
                (
                    "test_app.py",
                    include_str!("../../templates/python/test_transformer.py"),
                ),
            ],
            (Lang::Js, Handler) => [
                ("index.js", include_str!("../../templates/js/handler.js")),
                (
                    "index.test.js",
                    include_str!("../../templates/js/handler.test.js"),
                ),
            ],
            (Lang::Js, Subscriber) => [
                ("index.js", include_str!("../../templates/js/subscriber.js")),
                (
                    "index.test.js",
                    include_str!("../../templates/js/subscriber.test.js"),
                ),
            ],
            (Lang::Js, Transformer) => [
                (
                    "index.js",
                    include_str!("../../templates/js/transformer.js"),
                ),
                (
                    "index.test.js",
                    include_str!("../../templates/js/transformer.test.js"),
                ),
            ],
            (Lang::Rust, _) => unreachable!("a Rust function is a crate"),
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
    /// The workspace has no guest SDK for the language.
    #[error("there is no guest SDK at {0}; run `wasmfn new` in the wasmfn repository")]
    NoGuestSdk(PathBuf),
    /// The new crate did not join the workspace (e.g. its root `exclude`s
    /// it); it was removed and the manifest restored.
    #[error(
        "{dir} would not be a member of the workspace at {root}, so it was not created: check \
         that \"{member}\" can be in `members` of {root}/Cargo.toml (not in `exclude`), or use \
         --dir functions"
    )]
    NotMember {
        /// The crate directory.
        dir: PathBuf,
        /// The workspace root.
        root: PathBuf,
        /// The member entry that was tried.
        member: String,
    },
    /// The workspace manifest cannot take a new member.
    #[error("cannot add the new crate to the workspace manifest {path}: {reason}")]
    Manifest {
        /// The workspace's Cargo.toml.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
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
    let dir = scaffold(&args.name, args.kind, args.lang, &args.dir)?;
    let test = match args.lang {
        Lang::Rust => format!("cargo test --release -p {}", args.name),
        Lang::Python => format!("guest-sdk/python/.venv/bin/pytest {}", dir.display()),
        Lang::Js => format!(
            "node --import ./guest-sdk/js/testing.js --test {}/",
            dir.display()
        ),
    };
    println!(
        "created {} `{}` in {}\nnext: {test}, then wasmfn build {1}",
        args.kind.label(),
        args.name,
        dir.display()
    );
    Ok(())
}

/// Creates function `name` of `kind` in `lang` in `dir`; returns its
/// directory.
pub fn scaffold(
    name: &str,
    kind: FunctionKind,
    lang: Lang,
    dir: &Path,
) -> Result<PathBuf, NewError> {
    if lang == Lang::Rust {
        return scaffold_crate(name, kind, dir);
    }
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
    let sdk = match lang {
        Lang::Python => "guest-sdk/python",
        _ => "guest-sdk/js",
    };
    if !workspace.root.join(sdk).is_dir() {
        return Err(NewError::NoGuestSdk(workspace.root.join(sdk)));
    }
    let function_dir = dir.join(name);
    if function_dir.exists() {
        return Err(NewError::Exists(function_dir));
    }
    std::fs::create_dir_all(&function_dir).map_err(|source| write_error(&function_dir, source))?;
    let written = kind.files(lang).iter().try_for_each(|(file, template)| {
        let path = function_dir.join(file);
        std::fs::write(&path, template.replace("{{name}}", name))
            .map_err(|source| write_error(&path, source))
    });
    if let Err(err) = written {
        let _ = std::fs::remove_dir_all(&function_dir);
        return Err(err);
    }
    Ok(function_dir)
}

/// Creates crate `name` of `kind` in `dir`, adds it to the workspace's
/// `members` and checks that it joined; returns its directory.
fn scaffold_crate(name: &str, kind: FunctionKind, dir: &Path) -> Result<PathBuf, NewError> {
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
        .ok_or_else(|| NewError::NoGuestSdk(workspace.root.join("guest-sdk/rust")))?
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

    let manifest = workspace.root.join("Cargo.toml");
    let member = relative_path(&workspace.root, &parent.join(name));
    let original = match add_member(&manifest, &member) {
        Ok(original) => original,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&crate_dir);
            return Err(err);
        }
    };
    let joined = Workspace::load(&crate_dir)
        .is_ok_and(|ws| ws.root == workspace.root && ws.package(name).is_some());
    if !joined {
        let _ = std::fs::remove_dir_all(&crate_dir);
        let _ = std::fs::write(&manifest, original);
        return Err(NewError::NotMember {
            dir: crate_dir,
            root: workspace.root,
            member: member.display().to_string(),
        });
    }
    Ok(crate_dir)
}

/// Adds `member` to `members` of the workspace manifest at `manifest` (one
/// line per member, comments kept: `toml_edit` rewrites only that array),
/// unless it is already there; returns the manifest as it was.
fn add_member(manifest: &Path, member: &Path) -> Result<String, NewError> {
    let member = member.to_string_lossy().replace('\\', "/");
    let text = std::fs::read_to_string(manifest).map_err(|source| write_error(manifest, source))?;
    let mut document: toml_edit::DocumentMut =
        text.parse().map_err(|source| NewError::Manifest {
            path: manifest.to_owned(),
            reason: format!("{source}"),
        })?;
    let members = document
        .get_mut("workspace")
        .and_then(|w| w.get_mut("members"))
        .and_then(toml_edit::Item::as_array_mut)
        .ok_or_else(|| NewError::Manifest {
            path: manifest.to_owned(),
            reason: "it has no `[workspace] members` array".to_owned(),
        })?;
    if members.iter().any(|m| m.as_str() == Some(member.as_str())) {
        return Ok(text);
    }
    let mut value = toml_edit::Value::from(member);
    value.decor_mut().set_prefix("\n    ");
    members.push_formatted(value);
    members.set_trailing("\n");
    members.set_trailing_comma(true);
    std::fs::write(manifest, document.to_string())
        .map_err(|source| write_error(manifest, source))?;
    Ok(text)
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
        for lang in [Lang::Python, Lang::Js] {
            for kind in [
                FunctionKind::Handler,
                FunctionKind::Subscriber,
                FunctionKind::Transformer,
            ] {
                let [(_, code), (_, test)] = kind.files(lang);
                assert!(code.contains("{{name}}"), "{lang:?} {kind:?} names itself");
                assert!(code.contains("handle"), "{lang:?} {kind:?}");
                assert!(test.contains("test"), "{lang:?} {kind:?} has tests");
            }
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
