//! The addresses no outbound request reaches unless the list names them
//! (link-local, where cloud metadata services answer), and the DNS resolver
//! that screens every name's addresses before the connection is made, so the
//! address checked is the address connected to (no second lookup a DNS
//! answer could change in between).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::{AllowedHosts, canonical};

/// Whether `ip` is link-local or a cloud metadata address: IPv4
/// 169.254.0.0/16 (AWS, GCP, Azure metadata at 169.254.169.254), IPv6
/// fe80::/10, and AWS's IPv6 metadata fd00:ec2::254; IPv4-mapped forms too.
pub(super) fn is_prohibited(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    == "fd00:ec2::254"
                        .parse::<std::net::Ipv6Addr>()
                        .expect("an address")
        }
    }
}

/// A name that resolved only to prohibited addresses; found again in the
/// client's error chain to tell the guest `destination-IP-prohibited`.
#[derive(Debug)]
pub(super) struct Prohibited {
    /// The name.
    pub(super) name: String,
    /// The first prohibited address it resolved to.
    pub(super) address: IpAddr,
}

impl fmt::Display for Prohibited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves to {}, a link-local or metadata address not listed in allowed_outbound_hosts",
            self.name, self.address
        )
    }
}

impl std::error::Error for Prohibited {}

/// The addresses of `name` a request may connect to: all of `addrs` but
/// the prohibited ones `allowed` does not name; none left is [`Prohibited`].
pub(super) fn screen(
    name: &str,
    addrs: impl IntoIterator<Item = SocketAddr>,
    allowed: &AllowedHosts,
) -> Result<Vec<SocketAddr>, Prohibited> {
    let mut refused = None;
    let kept: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|addr| {
            let ip = addr.ip();
            let ok = !is_prohibited(ip) || allowed.names_ip(ip);
            if !ok {
                refused.get_or_insert(ip);
            }
            ok
        })
        .collect();
    match (kept.is_empty(), refused) {
        (true, Some(address)) => Err(Prohibited {
            name: name.to_owned(),
            address,
        }),
        _ => Ok(kept),
    }
}

/// The system resolver (`getaddrinfo` on a blocking thread, as reqwest's
/// own), each answer [`screen`]ed for one function's list.
pub(super) struct ScreeningResolver {
    pub(super) allowed: Arc<AllowedHosts>,
}

impl Resolve for ScreeningResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept = screen(&host, addrs, &allowed)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        SocketAddr::new(text.parse().unwrap(), 0)
    }

    #[test]
    fn link_local_and_metadata_addresses_are_prohibited() {
        for ip in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_prohibited(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "10.0.0.1", "::1", "fd00:ec2::253", "8.8.8.8"] {
            assert!(!is_prohibited(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_name_resolving_to_metadata_is_refused_unless_that_address_is_listed() {
        let wildcard = AllowedHosts::none();
        let err = screen("metadata.example", [addr("169.254.169.254")], &wildcard).unwrap_err();
        assert_eq!(err.address, "169.254.169.254".parse::<IpAddr>().unwrap());
        assert!(
            err.to_string()
                .contains("metadata.example resolves to 169.254.169.254")
        );
        let mixed = screen(
            "mixed.example",
            [addr("169.254.169.254"), addr("127.0.0.1")],
            &wildcard,
        )
        .unwrap();
        assert_eq!(
            mixed,
            [addr("127.0.0.1")],
            "only the allowed address is kept"
        );

        let listed: AllowedHosts = crate::config::Config::parse(
            std::path::Path::new("wasmfn.toml"),
            "[functions.f]\nallowed_outbound_hosts = [\"http://*:*\", \"http://169.254.169.254\"]\n",
            &|_| None,
        )
        .unwrap()
        .function("f")
        .allowed_outbound_hosts;
        assert_eq!(
            screen("metadata.example", [addr("169.254.169.254")], &listed).unwrap(),
            [addr("169.254.169.254")]
        );
    }
}
