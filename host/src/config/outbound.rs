//! `allowed_outbound_hosts`: the hosts a function may send HTTP requests to
//! (`wasi:http`), none by default. Each entry is `scheme://host[:port]`, read
//! as Spin reads its `allowed_outbound_hosts`:
//!
//! - scheme: `http` or `https`;
//! - host: a name (`refdata.example.com`), an IP address (`127.0.0.1`,
//!   `[::1]`), `*` for any host, or `*.example.com` for any name under
//!   `example.com` (not `example.com` itself);
//! - port: a number, `*` for any port, or nothing for the scheme's (80, 443).
//!
//! A path, query or user name is refused: the list says where requests may
//! go, not what they may ask. Matching is on the URL as the host sends it
//! (the `url` crate's normal form: lower-case names, IPv4 in every notation
//! read as the address), so `http://2852039166/` is the address
//! 169.254.169.254, never a name `*` lets through unchecked.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::KeyError;

/// The key this module validates.
const KEY: &str = "allowed_outbound_hosts";

/// The hosts one function may reach, in the order written. Empty: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<HostPattern>);

/// One entry of `allowed_outbound_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    scheme: Scheme,
    host: HostMatch,
    port: PortMatch,
}

/// The schemes an entry can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// Which hosts an entry admits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// `*`: every host.
    Any,
    /// `*.example.com`: names ending in `.example.com` (stored with the dot).
    Subdomains(String),
    /// One name, lower case.
    Name(String),
    /// One IP address, written literally.
    Ip(IpAddr),
}

/// Which ports an entry admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortMatch {
    Any,
    Port(u16),
}

/// A request's destination as the host will send it, to match against the
/// list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// A host name, lower case.
    Name(&'a str),
    /// An IP address.
    Ip(IpAddr),
}

impl AllowedHosts {
    /// No host: every request is refused.
    pub fn none() -> AllowedHosts {
        AllowedHosts(Vec::new())
    }

    /// Whether no host is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a request to `host`:`port` with `scheme` (`http`/`https`) is
    /// allowed.
    pub fn allows(&self, scheme: &str, host: Destination<'_>, port: u16) -> bool {
        self.0.iter().any(|entry| entry.matches(scheme, host, port))
    }

    /// Whether the IP address `ip` is itself written in the list (not just
    /// admitted by `*`): only then may a request reach a link-local or
    /// metadata address.
    pub fn names_ip(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|entry| entry.host == HostMatch::Ip(canonical(ip)))
    }

    /// The entries as written in canonical form, for `/functions`.
    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl HostPattern {
    fn matches(&self, scheme: &str, host: Destination<'_>, port: u16) -> bool {
        let scheme_ok = match self.scheme {
            Scheme::Http => scheme == "http",
            Scheme::Https => scheme == "https",
        };
        let port_ok = match self.port {
            PortMatch::Any => true,
            PortMatch::Port(p) => p == port,
        };
        let host_ok = match (&self.host, host) {
            (HostMatch::Any, _) => true,
            (HostMatch::Subdomains(suffix), Destination::Name(name)) => {
                name.len() > suffix.len() && name.ends_with(suffix.as_str())
            }
            (HostMatch::Name(listed), Destination::Name(name)) => listed == name,
            (HostMatch::Ip(listed), Destination::Ip(ip)) => *listed == canonical(ip),
            _ => false,
        };
        scheme_ok && port_ok && host_ok
    }
}

/// `ip`, with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4
/// address it is: the same destination must match the same way.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://")?;
        match &self.host {
            HostMatch::Any => f.write_str("*")?,
            HostMatch::Subdomains(suffix) => write!(f, "*{suffix}")?,
            HostMatch::Name(name) => f.write_str(name)?,
            HostMatch::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]")?,
            HostMatch::Ip(IpAddr::V4(v4)) => write!(f, "{v4}")?,
        }
        match self.port {
            PortMatch::Any => f.write_str(":*"),
            PortMatch::Port(port) => write!(f, ":{port}"),
        }
    }
}

/// The validated list; the error names the entry by position and quotes it
/// (a host name is not a secret) with what to write instead.
pub(super) fn validate(entries: Vec<String>) -> Result<AllowedHosts, KeyError> {
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            parse(entry).map_err(|why| {
                KeyError::new(
                    format!("{KEY}[{index}]"),
                    format!(
                        "`{entry}` {why}; write `scheme://host[:port]`, e.g. \"https://refdata.example.com\", \"http://127.0.0.1:8081\" or \"https://*.internal.example.com\""
                    ),
                )
            })
        })
        .collect::<Result<_, _>>()
        .map(AllowedHosts)
}

/// One entry, or why it is not one.
fn parse(entry: &str) -> Result<HostPattern, String> {
    let (scheme, rest) = entry
        .split_once("://")
        .ok_or_else(|| "has no scheme (`http://` or `https://`)".to_owned())?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        "*" => return Err("has the scheme `*`; list `http://` and `https://` apart".to_owned()),
        other => {
            return Err(format!(
                "has the scheme `{other}`; only http and https are sent"
            ));
        }
    };
    // A trailing `/` is harmless; anything after it is a path.
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err("has a path or query; list only scheme, host and port".to_owned());
    }
    if authority.contains('@') {
        return Err("has a user name; list only scheme, host and port".to_owned());
    }
    let (host, port) = split_port(authority)?;
    let port = match port {
        None => PortMatch::Port(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }),
        Some("*") => PortMatch::Any,
        Some(port) => PortMatch::Port(
            port.parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("has the port `{port}`; a port is 1-65535 or `*`"))?,
        ),
    };
    Ok(HostPattern {
        scheme,
        host: host_match(host)?,
        port,
    })
}

/// `host` and its port, if written; an IPv6 address is in brackets.
fn split_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| "has a `[` without its `]`".to_owned())?;
        return match after {
            "" => Ok((&authority[..ip.len() + 2], None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((&authority[..ip.len() + 2], Some(port))),
                None => Err("has text after the IPv6 address's `]`".to_owned()),
            },
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn host_match(host: &str) -> Result<HostMatch, String> {
    let host = host.to_ascii_lowercase();
    if host == "*" {
        return Ok(HostMatch::Any);
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| HostMatch::Ip(canonical(IpAddr::V6(ip))))
            .map_err(|_| format!("has `[{inner}]`, which is not an IPv6 address"));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(HostMatch::Ip(IpAddr::V4(ip)));
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        check_name(suffix)?;
        return Ok(HostMatch::Subdomains(format!(".{suffix}")));
    }
    check_name(&host)?;
    Ok(HostMatch::Name(host))
}

/// A DNS name of letters, digits, `-` and dots, without empty labels; no
/// other wildcard than a leading `*.`.
fn check_name(name: &str) -> Result<(), String> {
    if name.contains('*') {
        return Err(
            "has a `*` inside the host; only `*` alone or a leading `*.` is a wildcard".to_owned(),
        );
    }
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(())
    } else {
        Err("has no valid host name (letters, digits, `-` and dots)".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowedHosts {
        validate(entries.iter().map(|e| (*e).to_owned()).collect()).unwrap()
    }

    fn ip(text: &str) -> Destination<'static> {
        Destination::Ip(text.parse().unwrap())
    }

    #[test]
    fn entries_match_scheme_host_and_port_as_spin_reads_them() {
        let allowed = list(&[
            "https://refdata.example.com",
            "http://127.0.0.1:8081",
            "https://*.internal.example.com",
            "http://any-port.example:*",
            "http://[::1]:9000/",
        ]);
        let name = Destination::Name;
        assert!(allowed.allows("https", name("refdata.example.com"), 443));
        assert!(
            !allowed.allows("http", name("refdata.example.com"), 443),
            "scheme"
        );
        assert!(
            !allowed.allows("https", name("refdata.example.com"), 8443),
            "port"
        );
        assert!(allowed.allows("http", ip("127.0.0.1"), 8081));
        assert!(
            allowed.allows("http", ip("::ffff:127.0.0.1"), 8081),
            "mapped"
        );
        assert!(!allowed.allows("http", ip("127.0.0.1"), 8082));
        assert!(allowed.allows("https", name("a.internal.example.com"), 443));
        assert!(allowed.allows("https", name("a.b.internal.example.com"), 443));
        assert!(!allowed.allows("https", name("internal.example.com"), 443));
        assert!(!allowed.allows("https", name("evilinternal.example.com"), 443));
        assert!(allowed.allows("http", name("any-port.example"), 1));
        assert!(allowed.allows("http", ip("::1"), 9000));
        assert!(!allowed.allows("http", name("other.example"), 80));
        assert!(allowed.names_ip("127.0.0.1".parse().unwrap()));
        assert!(!AllowedHosts::none().allows("http", name("x"), 80));

        let any = list(&["http://*:*"]);
        assert!(any.allows("http", ip("169.254.169.254"), 80));
        assert!(
            !any.names_ip("169.254.169.254".parse().unwrap()),
            "`*` admits the address but does not name it"
        );
        assert_eq!(
            allowed.entries(),
            [
                "https://refdata.example.com:443",
                "http://127.0.0.1:8081",
                "https://*.internal.example.com:443",
                "http://any-port.example:*",
                "http://[::1]:9000",
            ]
        );
    }

    #[test]
    fn bad_entries_are_named_by_position_with_the_fix() {
        let cases = [
            ("refdata.example.com", "has no scheme"),
            ("ftp://x.example", "scheme `ftp`"),
            ("*://x.example", "scheme `*`"),
            ("https://x.example/api", "path or query"),
            ("https://x.example?q=1", "path or query"),
            ("https://user@x.example", "user name"),
            ("https://x.example:http", "port `http`"),
            ("https://x.example:0", "port `0`"),
            ("https://a.*.example", "`*` inside"),
            ("https://", "no valid host"),
            ("https://bad_name.example", "no valid host"),
            ("http://[::1", "without its `]`"),
            ("http://[nope]:80", "not an IPv6 address"),
        ];
        for (entry, why) in cases {
            let err = validate(vec!["https://ok.example".into(), entry.into()]).unwrap_err();
            let message = err.to_string();
            assert!(
                message.starts_with("allowed_outbound_hosts[1]: `")
                    && message.contains(entry)
                    && message.contains(why)
                    && message.contains("scheme://host[:port]"),
                "{entry}: {message}"
            );
        }
    }
}
