//! `oci://REGISTRY/REPO@sha256:<digest>`: the one form of `source` a
//! function may have, and the `REGISTRY/REPO[:TAG]` that `wasmfn push` takes.

use std::fmt;
use std::net::IpAddr;

use oci_client::Reference;

/// The scheme of a registry source in `wasmfn.toml` and `wasmfn run`.
pub const SCHEME: &str = "oci://";

/// Why a reference is not acceptable. Messages quote the reference, which
/// never holds a credential: one with `user:password@` is refused without
/// being quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Not `oci://…`.
    #[error("`{0}` is not an oci:// reference; write `oci://REGISTRY/REPO@sha256:<digest>`")]
    Scheme(String),
    /// Credentials written into the reference.
    #[error(
        "the reference holds credentials (`user:password@`); remove them and pass a Docker config file with --registry-auth (WASMFN_REGISTRY_AUTH)"
    )]
    Credentials,
    /// A tag or no version at all: pods could run different bytes.
    #[error(
        "`{0}` names no digest; use `oci://REGISTRY/REPO@sha256:<digest>` so that every pod runs the same bytes (`wasmfn push FILE REF` prints the digest)"
    )]
    NoDigest(String),
    /// Not a well-formed OCI reference, or a digest other than sha256.
    #[error("`{reference}` is not a valid OCI reference: {reason}")]
    Invalid {
        /// The reference as written.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A module in a registry, pinned by its manifest digest.
#[derive(Clone, PartialEq, Eq)]
pub struct OciSource {
    reference: Reference,
}

impl OciSource {
    /// Parses `oci://REGISTRY/REPO@sha256:<digest>` (a tag before the
    /// digest is allowed and ignored, as registries do).
    pub fn parse(text: &str) -> Result<OciSource, ReferenceError> {
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| ReferenceError::Scheme(text.to_owned()))?;
        let reference = parse_reference(rest)?;
        match reference.digest() {
            Some(digest) if is_sha256(digest) => Ok(OciSource { reference }),
            Some(_) => Err(ReferenceError::Invalid {
                reference: text.to_owned(),
                reason: "the digest must be `sha256:` and 64 lowercase hex digits".into(),
            }),
            None => Err(ReferenceError::NoDigest(text.to_owned())),
        }
    }

    /// The registry host (with its port, if any).
    pub fn registry(&self) -> &str {
        self.reference.resolve_registry()
    }

    /// The manifest digest, `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        self.reference.digest().expect("parse requires a digest")
    }

    /// The last part of the repository (`fns/transformer` → `transformer`):
    /// the function's name when nothing else names it (`wasmfn run`).
    pub fn repository_name(&self) -> &str {
        let repository = self.reference.repository();
        repository.rsplit('/').next().unwrap_or(repository)
    }

    /// The reference as oci-client takes it.
    pub(super) fn reference(&self) -> &Reference {
        &self.reference
    }
}

impl fmt::Display for OciSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}{}/{}@{}",
            self.reference.registry(),
            self.reference.repository(),
            self.digest()
        )
    }
}

impl fmt::Debug for OciSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OciSource({self})")
    }
}

/// Where `wasmfn push` writes: `REGISTRY/REPO[:TAG]` (an `oci://` prefix is
/// accepted; without a tag, `latest`).
pub fn parse_push_target(text: &str) -> Result<Reference, ReferenceError> {
    let rest = text.strip_prefix(SCHEME).unwrap_or(text);
    let reference = parse_reference(rest)?;
    if reference.digest().is_some() {
        return Err(ReferenceError::Invalid {
            reference: text.to_owned(),
            reason: "a push target names a repository and an optional tag, not a digest (the registry computes it)".into(),
        });
    }
    Ok(reference)
}

fn parse_reference(text: &str) -> Result<Reference, ReferenceError> {
    let host = text.split_once('/').map(|(host, _)| host);
    // `user:pass@host/…`: an `@` before the first `/` is userinfo, not a digest.
    if host.is_some_and(|host| host.contains('@')) {
        return Err(ReferenceError::Credentials);
    }
    if !host.is_some_and(|host| host.contains(['.', ':']) || host == "localhost") {
        return Err(ReferenceError::Invalid {
            reference: text.to_owned(),
            reason: "it must start with the registry host (e.g. `ghcr.io/org/fn` or `127.0.0.1:5000/fn`)".into(),
        });
    }
    text.parse::<Reference>()
        .map_err(|err| ReferenceError::Invalid {
            reference: text.to_owned(),
            reason: err.to_string(),
        })
}

fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether `registry` (`HOST[:PORT]`) is on this machine: Docker's rule for
/// talking plain HTTP without being told to.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(bracketed),
        None => registry.rsplit_once(':').map_or(registry, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn digest_references_parse_and_print_back() {
        let text = format!("oci://127.0.0.1:5000/wasm/transformer@{DIGEST}");
        let source = OciSource::parse(&text).unwrap();
        assert_eq!(source.registry(), "127.0.0.1:5000");
        assert_eq!(source.digest(), DIGEST);
        assert_eq!(source.to_string(), text);
        let tagged = OciSource::parse(&format!("oci://ghcr.io/org/fn:v1@{DIGEST}")).unwrap();
        assert_eq!(tagged.to_string(), format!("oci://ghcr.io/org/fn@{DIGEST}"));
    }

    #[test]
    fn tags_credentials_and_other_schemes_are_refused() {
        let err = OciSource::parse("oci://ghcr.io/org/fn:v1").unwrap_err();
        assert!(matches!(err, ReferenceError::NoDigest(_)));
        assert!(err.to_string().contains("wasmfn push"), "{err}");
        let err = OciSource::parse("oci://ghcr.io/org/fn").unwrap_err();
        assert!(matches!(err, ReferenceError::NoDigest(_)));
        let err =
            OciSource::parse(&format!("oci://bob:hunter2@ghcr.io/org/fn@{DIGEST}")).unwrap_err();
        assert_eq!(err, ReferenceError::Credentials);
        assert!(!err.to_string().contains("hunter2"));
        assert!(matches!(
            OciSource::parse(&format!("https://ghcr.io/org/fn@{DIGEST}")),
            Err(ReferenceError::Scheme(_))
        ));
        assert!(matches!(
            OciSource::parse("oci://ghcr.io/org/fn@sha256:abc"),
            Err(ReferenceError::Invalid { .. })
        ));
        assert!(matches!(
            OciSource::parse(&format!("oci://fn@{DIGEST}")),
            Err(ReferenceError::Invalid { .. })
        ));
    }

    #[test]
    fn push_targets_take_tags_not_digests() {
        let target = parse_push_target("127.0.0.1:5000/wasm/fn").unwrap();
        assert_eq!(target.tag(), Some("latest"));
        let target = parse_push_target("oci://ghcr.io/org/fn:v2").unwrap();
        assert_eq!(target.tag(), Some("v2"));
        assert!(parse_push_target(&format!("ghcr.io/org/fn@{DIGEST}")).is_err());
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for host in [
            "127.0.0.1:5000",
            "127.3.2.1",
            "localhost:80",
            "[::1]:5000",
            "LOCALHOST",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "ghcr.io",
            "10.0.0.1:5000",
            "registry.local:5000",
            "[2001:db8::1]:5000",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
