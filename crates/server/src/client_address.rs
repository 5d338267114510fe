//! The address a request comes from, behind trusted reverse proxies.
//!
//! Every per-address defence of the token service — the rate limits of
//! `/token`, `/introspect`, `/revoke`, `/register` and `/authorize`, the
//! cap on logins in progress per address, the lines strangers' RSA key
//! loads wait in — keys on the address a request comes from. Behind a
//! reverse proxy (the usual way to serve `--allow-remote` behind TLS) the
//! connection's address is the proxy's, so every client shares one bucket,
//! and one abusive client gets everyone refused.
//!
//! An operator names the proxies ([`TrustedProxy`], `passport serve
//! --trusted-proxy`). A request whose connection comes from one of them is
//! taken to come from the address the proxies name in `X-Forwarded-For`:
//! read from the right (each proxy appends the address it received the
//! request from), skipping the operator's own proxies, the first address
//! that is not one of them is the client's. Whatever a client wrote
//! itself stands to the left of what the proxies appended, so it is never
//! reached while the proxies append. Nothing else changes: a request whose
//! connection is not from a trusted proxy is its connection's address,
//! whatever headers it sends, and an entry that is not an address (a
//! proxy's `unknown`, or garbage) ends the walk at the trusted hop that
//! reported it — the client then shares that proxy's bucket, which narrows
//! what it may do and never widens it.
//!
//! RFC 7239's `Forwarded` header is not read: proxies that write it write
//! `X-Forwarded-For` too, or can be told to.
//!
//! Behind a NAT64 translator in front of an IPv6-only server, every IPv4
//! client arrives as an IPv6 address in the translator's prefix, with its
//! IPv4 address inside (RFC 6052). The well-known prefix `64:ff9b::/96` is
//! always read so; an operator names any other ([`Nat64Prefix`], `passport
//! serve --nat64-prefix`), such as the local-use `64:ff9b:1::/48` (RFC
//! 8215). Each address the walk meets — the connection's and each hop's —
//! is read as the IPv4 client it carries, so each IPv4 client has its own
//! limits instead of one /64 for all (review S15b-3).
//!
//! ```
//! use passport_server::client_address::TrustedProxy;
//!
//! let lb: TrustedProxy = "10.0.0.0/8".parse()?;
//! assert!(lb.contains("10.1.2.3".parse()?));
//! assert_eq!("::1".parse::<TrustedProxy>()?.to_string(), "::1/128");
//! // a network that would let every client choose its address
//! assert!("0.0.0.0/0".parse::<TrustedProxy>().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;

/// The header the proxies append the client's address to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The most `X-Forwarded-For` entries read, from the right: more hops
/// than any real chain of proxies; past it, the walk stops at the last
/// trusted hop (as for an entry that is not an address).
pub const MAX_FORWARDED_HOPS: usize = 16;

/// A reverse proxy's address, or a network of them, trusted to report in
/// `X-Forwarded-For` the address it received a request from. Written
/// `ADDRESS` or `ADDRESS/PREFIX` (`10.0.0.0/8`, `192.0.2.7`, `fd00::/8`,
/// `::1`). An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is its IPv4
/// address. Refused: a prefix of 0 (every client could then choose its
/// address), a prefix longer than the address, and host bits set after
/// the prefix (`10.0.0.1/8`: most likely a typo for another network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

/// Why a [`TrustedProxy`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustedProxyError {
    /// Not `ADDRESS` or `ADDRESS/PREFIX`.
    #[error(
        "trusted proxy {0:?}: not an IP address or network (write 10.0.0.0/8, 192.0.2.7 or fd00::/8)"
    )]
    Syntax(String),
    /// A prefix of 0: every address.
    #[error(
        "trusted proxy {0:?}: a /0 network trusts every address, so every client could choose the address it is limited by; name the proxies' own network"
    )]
    Everything(String),
    /// Bits set after the prefix.
    #[error("trusted proxy {given:?}: host bits set after /{prefix}; did you mean {network}?")]
    HostBits {
        /// As written.
        given: String,
        /// The prefix length.
        prefix: u8,
        /// The network with the host bits cleared.
        network: String,
    },
}

passport_jose::error_codes! {
    TrustedProxyError {
        TrustedProxyError::Syntax(_) => "trusted_proxy_syntax":
            "A trusted proxy is not written as an IP address or network (ADDRESS or ADDRESS/PREFIX).",
        TrustedProxyError::Everything(_) => "trusted_proxy_everything":
            "A trusted proxy network of prefix 0 (every address) is refused: every client could choose its address.",
        TrustedProxyError::HostBits { .. } => "trusted_proxy_host_bits":
            "A trusted proxy network has bits set after its prefix (a typo for another network).",
    }
}

impl TrustedProxy {
    /// Whether `addr` is in this network (an IPv4-mapped IPv6 address as
    /// its IPv4 address).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                masked(u128::from(u32::from(a)), self.prefix, 32) == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                masked(u128::from(a), self.prefix, 128) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// `bits` (an address of `width` bits) with everything after `prefix`
/// cleared.
fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
    let host = u32::from(width.saturating_sub(prefix));
    match host {
        0 => bits,
        h if h >= 128 => 0,
        h => bits & !((1u128 << h) - 1),
    }
}

impl FromStr for TrustedProxy {
    type Err = TrustedProxyError;

    fn from_str(given: &str) -> Result<TrustedProxy, TrustedProxyError> {
        let syntax = || TrustedProxyError::Syntax(passport_jose::clip(given, 64));
        let (addr, prefix) = match given.split_once('/') {
            Some((addr, prefix)) => {
                // digits only: no sign, no spaces
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax());
                }
                (addr, Some(prefix.parse::<u8>().map_err(|_| syntax())?))
            }
            None => (given, None),
        };
        let addr = addr.parse::<IpAddr>().map_err(|_| syntax())?.to_canonical();
        let width = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = prefix.unwrap_or(width);
        if prefix > width {
            return Err(syntax());
        }
        if prefix == 0 {
            return Err(TrustedProxyError::Everything(passport_jose::clip(
                given, 64,
            )));
        }
        let network = match addr {
            IpAddr::V4(a) => {
                let bits = masked(u128::from(u32::from(a)), prefix, 32);
                IpAddr::V4(u32::try_from(bits).map_err(|_| syntax())?.into())
            }
            IpAddr::V6(a) => IpAddr::V6(masked(u128::from(a), prefix, 128).into()),
        };
        if network != addr {
            return Err(TrustedProxyError::HostBits {
                given: passport_jose::clip(given, 64),
                prefix,
                network: TrustedProxy { network, prefix }.to_string(),
            });
        }
        Ok(TrustedProxy { network, prefix })
    }
}

impl fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A NAT64 translator's prefix (RFC 6052 §2.2): `PREFIX/LENGTH`, the
/// length 32, 40, 48, 56, 64 or 96, no bits set after it. An address in
/// it carries an IPv4 client: after the prefix (bits 64–71, the `u`
/// octet, skipped and zero), 32 bits of IPv4 address.
///
/// ```
/// use passport_server::client_address::Nat64Prefix;
///
/// let local: Nat64Prefix = "64:ff9b:1::/48".parse()?;
/// assert_eq!(
///     local.embedded("64:ff9b:1:c000:2:2100::".parse()?),
///     Some("192.0.2.33".parse()?)
/// );
/// assert!("64:ff9b:1::/50".parse::<Nat64Prefix>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nat64Prefix {
    prefix: u128,
    len: u8,
}

/// Why a [`Nat64Prefix`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Nat64PrefixError {
    /// Not an IPv6 `PREFIX/LENGTH`.
    #[error("NAT64 prefix {0:?}: not an IPv6 prefix (write 64:ff9b:1::/48)")]
    Syntax(String),
    /// A length RFC 6052 does not define.
    #[error("NAT64 prefix {given:?}: the length must be 32, 40, 48, 56, 64 or 96 (RFC 6052 §2.2)")]
    Length {
        /// As written.
        given: String,
    },
    /// Bits set after the prefix.
    #[error("NAT64 prefix {given:?}: bits set after /{len}; did you mean {prefix}?")]
    HostBits {
        /// As written.
        given: String,
        /// The length.
        len: u8,
        /// The prefix with those bits cleared.
        prefix: String,
    },
}

passport_jose::error_codes! {
    Nat64PrefixError {
        Nat64PrefixError::Syntax(_) => "nat64_prefix_syntax":
            "A NAT64 prefix is not written as an IPv6 PREFIX/LENGTH.",
        Nat64PrefixError::Length { .. } => "nat64_prefix_length":
            "A NAT64 prefix's length is not one RFC 6052 defines (32, 40, 48, 56, 64 or 96).",
        Nat64PrefixError::HostBits { .. } => "nat64_prefix_host_bits":
            "A NAT64 prefix has bits set after its length (a typo for another prefix).",
    }
}

impl Nat64Prefix {
    /// The IPv4 address `addr` carries, when it is in this prefix and its
    /// `u` octet is zero (RFC 6052 §2.2).
    pub fn embedded(&self, addr: Ipv6Addr) -> Option<Ipv4Addr> {
        let bits = u128::from(addr);
        if masked(bits, self.len, 128) != self.prefix {
            return None;
        }
        let v4 = if self.len == 96 {
            bits & u128::from(u32::MAX)
        } else {
            // bits 64–71 (the u octet) are zero and carry nothing
            if (bits >> 56) & 0xff != 0 {
                return None;
            }
            // the 120 bits around the u octet
            let around = ((bits >> 64) << 56) | (bits & ((1u128 << 56) - 1));
            (around >> (120 - 32 - u32::from(self.len))) & u128::from(u32::MAX)
        };
        u32::try_from(v4).ok().map(Ipv4Addr::from)
    }
}

impl FromStr for Nat64Prefix {
    type Err = Nat64PrefixError;

    fn from_str(given: &str) -> Result<Nat64Prefix, Nat64PrefixError> {
        let shown = || passport_jose::clip(given, 64);
        let (addr, len) = given
            .split_once('/')
            .filter(|(_, len)| !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| Nat64PrefixError::Syntax(shown()))?;
        let addr = addr
            .parse::<Ipv6Addr>()
            .map_err(|_| Nat64PrefixError::Syntax(shown()))?;
        let len = len
            .parse::<u8>()
            .ok()
            .filter(|l| [32, 40, 48, 56, 64, 96].contains(l))
            .ok_or_else(|| Nat64PrefixError::Length { given: shown() })?;
        let bits = u128::from(addr);
        let prefix = masked(bits, len, 128);
        if prefix != bits {
            return Err(Nat64PrefixError::HostBits {
                given: shown(),
                len,
                prefix: Nat64Prefix { prefix, len }.to_string(),
            });
        }
        Ok(Nat64Prefix { prefix, len })
    }
}

impl fmt::Display for Nat64Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv6Addr::from(self.prefix), self.len)
    }
}

/// What decides the address a request comes from: the trusted proxies and
/// the NAT64 prefixes the operator named.
#[derive(Clone, Debug, Default)]
pub(crate) struct AddressRules {
    pub(crate) proxies: Vec<TrustedProxy>,
    pub(crate) nat64: Vec<Nat64Prefix>,
}

impl AddressRules {
    /// `addr` as the client it stands for: an IPv4-mapped address as IPv4,
    /// an address in a named NAT64 prefix as the IPv4 client it carries.
    pub(crate) fn canonical(&self, addr: IpAddr) -> IpAddr {
        match addr.to_canonical() {
            IpAddr::V6(v6) => self
                .nat64
                .iter()
                .find_map(|p| p.embedded(v6))
                .map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        }
    }
}

impl AddressRules {
    /// Whether `peer`, a connection's address read by
    /// [`canonical`](AddressRules::canonical), is one of the trusted
    /// proxies.
    pub(crate) fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.proxies.iter().any(|p| p.contains(peer))
    }
}

/// The address a request with connection address `peer` (none: no
/// connection information) and `headers` comes from, by `rules` (see the
/// module documentation). Without a peer, the unspecified address, as
/// before: every such request shares one bucket.
pub(crate) fn client_address(
    rules: &AddressRules,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> IpAddr {
    let Some(peer) = peer.map(|p| rules.canonical(p)) else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    let trusted = |a: IpAddr| rules.is_trusted_proxy(a);
    if !trusted(peer) {
        return peer;
    }
    // every X-Forwarded-For line, in order, as one list of raw entries:
    // each decoded on its own, so bytes a client wrote further left never
    // spoil the entries the proxies appended (review S15b-1)
    let mut entries: Vec<&[u8]> = Vec::new();
    for value in headers.get_all(FORWARDED_FOR) {
        entries.extend(value.as_bytes().split(|&b| b == b','));
    }
    let mut current = peer;
    for entry in entries.iter().rev().take(MAX_FORWARDED_HOPS) {
        let Some(hop) = forwarded_address(entry.trim_ascii()).map(|a| rules.canonical(a)) else {
            return current;
        };
        current = hop;
        if !trusted(hop) {
            return hop;
        }
    }
    current
}

/// One `X-Forwarded-For` entry's address: `192.0.2.7`, `2001:db8::1`, or
/// with a port as some proxies write it (`192.0.2.7:4711`,
/// `[2001:db8::1]:4711`). Anything else (not ASCII, `unknown`, garbage)
/// is none.
fn forwarded_address(entry: &[u8]) -> Option<IpAddr> {
    let entry = std::str::from_utf8(entry).ok()?;
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn rules(trusted: &[&str]) -> AddressRules {
        AddressRules {
            proxies: proxies(trusted),
            nat64: Vec::new(),
        }
    }

    fn from(peer: &str, forwarded: &[&str], trusted: &[&str]) -> IpAddr {
        let mut headers = HeaderMap::new();
        for line in forwarded {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        client_address(&rules(trusted), Some(peer.parse().unwrap()), &headers)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_strictly() {
        for (given, shown) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("192.0.2.7", "192.0.2.7/32"),
            ("192.0.2.7/32", "192.0.2.7/32"),
            ("fd00::/8", "fd00::/8"),
            ("::1", "::1/128"),
            ("::ffff:10.0.0.1", "10.0.0.1/32"),
        ] {
            let p: TrustedProxy = given.parse().unwrap();
            assert_eq!(p.to_string(), shown, "{given}");
        }
        for bad in [
            "",
            "proxy",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/8/8",
            "10.0.0.0/256",
            "10.0.0",
        ] {
            assert!(
                matches!(
                    bad.parse::<TrustedProxy>(),
                    Err(TrustedProxyError::Syntax(_))
                ),
                "{bad:?}"
            );
        }
        for everything in ["0.0.0.0/0", "::/0"] {
            assert!(matches!(
                everything.parse::<TrustedProxy>(),
                Err(TrustedProxyError::Everything(_))
            ));
        }
        let e = "10.0.0.1/8".parse::<TrustedProxy>().unwrap_err();
        assert_eq!(e.code(), "trusted_proxy_host_bits");
        assert!(e.to_string().contains("did you mean 10.0.0.0/8"), "{e}");
        assert!(matches!(
            "2001:db8::1/32".parse::<TrustedProxy>(),
            Err(TrustedProxyError::HostBits { .. })
        ));
    }

    #[test]
    fn a_network_contains_its_addresses_only() {
        let p: TrustedProxy = "10.0.0.0/8".parse().unwrap();
        assert!(p.contains(ip("10.255.0.1")));
        assert!(p.contains(ip("::ffff:10.0.0.9")));
        assert!(!p.contains(ip("11.0.0.0")));
        assert!(!p.contains(ip("::a00:1")), "an IPv6 address is not IPv4");
        let p: TrustedProxy = "2001:db8::/32".parse().unwrap();
        assert!(p.contains(ip("2001:db8:ffff::1")));
        assert!(!p.contains(ip("2001:db9::1")));
        assert!(!p.contains(ip("32.1.13.184")));
    }

    /// Without trusted proxies, or from a connection that is not one, the
    /// header is ignored whatever it says.
    #[test]
    fn a_client_cannot_name_its_own_address() {
        assert_eq!(from("192.0.2.7", &["203.0.113.9"], &[]), ip("192.0.2.7"));
        assert_eq!(
            from("192.0.2.7", &["203.0.113.9"], &["10.0.0.0/8"]),
            ip("192.0.2.7")
        );
        // behind the proxy, what the client wrote stands left of what the
        // proxy appended, and is never reached
        assert_eq!(
            from("10.0.0.2", &["203.0.113.9, 198.51.100.4"], &["10.0.0.0/8"]),
            ip("198.51.100.4")
        );
        // the same with the client's own line before the proxy's
        assert_eq!(
            from(
                "10.0.0.2",
                &["203.0.113.9", "198.51.100.4"],
                &["10.0.0.0/8"]
            ),
            ip("198.51.100.4")
        );
        // a client claiming to be a trusted proxy gains nothing: its own
        // entries are left of the proxy's
        assert_eq!(
            from(
                "10.0.0.2",
                &["203.0.113.9, 10.9.9.9, 198.51.100.4"],
                &["10.0.0.0/8"]
            ),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn chains_of_trusted_proxies_are_walked_from_the_right() {
        let trusted = ["10.0.0.0/8", "fd00::/8"];
        assert_eq!(
            from("10.0.0.2", &["198.51.100.4, fd00::7, 10.1.1.1"], &trusted),
            ip("198.51.100.4")
        );
        // every hop trusted: the leftmost (an internal caller)
        assert_eq!(
            from("10.0.0.2", &["10.3.3.3, 10.1.1.1"], &trusted),
            ip("10.3.3.3")
        );
        // no header: the proxy itself (a health check)
        assert_eq!(from("10.0.0.2", &[], &trusted), ip("10.0.0.2"));
        // ports, as some proxies write them; the mapped form of IPv4
        assert_eq!(
            from("10.0.0.2", &["198.51.100.4:4711"], &trusted),
            ip("198.51.100.4")
        );
        assert_eq!(
            from("10.0.0.2", &["[2001:db8::1]:4711"], &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            from("::ffff:10.0.0.2", &["::ffff:198.51.100.4"], &trusted),
            ip("198.51.100.4")
        );
    }

    /// What cannot be read ends the walk at the trusted hop that reported
    /// it: that proxy's own bucket, never an address a client chose.
    #[test]
    fn an_unreadable_entry_stops_at_the_hop_that_reported_it() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            from("10.0.0.2", &["198.51.100.4, unknown"], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            from("10.0.0.2", &["198.51.100.4, garbage, 10.1.1.1"], &trusted),
            ip("10.1.1.1")
        );
        assert_eq!(from("10.0.0.2", &[""], &trusted), ip("10.0.0.2"));
        assert_eq!(
            from("10.0.0.2", &["198.51.100.4,"], &trusted),
            ip("10.0.0.2")
        );
        // not ASCII: where the walk reaches it, it ends there; bytes a
        // client wrote further left never spoil the proxies' entries
        // (review S15b-1)
        let with = |lines: &[&[u8]]| {
            let mut headers = HeaderMap::new();
            for line in lines {
                headers.append(FORWARDED_FOR, HeaderValue::from_bytes(line).unwrap());
            }
            client_address(&rules(&trusted), Some(ip("10.0.0.2")), &headers)
        };
        assert_eq!(with(&[b"198.51.100.4\xff"]), ip("10.0.0.2"));
        assert_eq!(with(&[b"\xff, 198.51.100.4"]), ip("198.51.100.4"));
        assert_eq!(with(&[b"x\xff", b"198.51.100.4"]), ip("198.51.100.4"));
        assert_eq!(with(&[b"198.51.100.4, \xff, 10.1.1.1"]), ip("10.1.1.1"));
        // more hops than any real chain: stops at the last trusted one read
        let many = vec!["10.7.7.7"; MAX_FORWARDED_HOPS + 4].join(", ");
        let line = format!("198.51.100.4, {many}");
        assert_eq!(from("10.0.0.2", &[line.as_str()], &trusted), ip("10.7.7.7"));
        // no connection information at all: the shared unspecified address
        assert_eq!(
            client_address(&rules(&trusted), None, &HeaderMap::new()),
            ip("0.0.0.0")
        );
    }

    /// RFC 6052 §2.4's examples: 192.0.2.33 in a prefix of each length.
    #[test]
    fn nat64_prefixes_carry_their_ipv4_client_as_rfc_6052_writes_it() {
        for (prefix, embedded) in [
            ("2001:db8::/32", "2001:db8:c000:221::"),
            ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
            ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
        ] {
            let p: Nat64Prefix = prefix.parse().unwrap();
            assert_eq!(p.to_string(), prefix);
            assert_eq!(
                p.embedded(embedded.parse().unwrap()),
                Some("192.0.2.33".parse().unwrap()),
                "{prefix}"
            );
            // outside the prefix: none
            assert_eq!(p.embedded("2001:db9::1".parse().unwrap()), None);
        }
        // a u octet that is not zero: not an embedded address
        let p: Nat64Prefix = "2001:db8:122::/48".parse().unwrap();
        assert_eq!(
            p.embedded("2001:db8:122:c000:ff02:2100::".parse().unwrap()),
            None
        );
        for (bad, code) in [
            ("64:ff9b:1::", "nat64_prefix_syntax"),
            ("10.0.0.0/8", "nat64_prefix_syntax"),
            ("64:ff9b:1::/", "nat64_prefix_syntax"),
            ("64:ff9b:1::/50", "nat64_prefix_length"),
            ("64:ff9b:1::/0", "nat64_prefix_length"),
            ("64:ff9b:1::1/48", "nat64_prefix_host_bits"),
        ] {
            let e = bad.parse::<Nat64Prefix>().unwrap_err();
            assert_eq!(e.code(), code, "{bad}: {e}");
        }
    }

    /// Review S15b-3: behind a translator with its own prefix, each IPv4
    /// client is its IPv4 address — the connection's, and a hop's — and a
    /// trusted proxy named by its IPv4 address is recognised through it.
    #[test]
    fn addresses_in_a_named_nat64_prefix_are_their_ipv4_clients() {
        let rules = AddressRules {
            proxies: proxies(&["192.0.2.1"]),
            nat64: vec!["64:ff9b:1::/96".parse().unwrap()],
        };
        let at = |peer: &str, forwarded: &str| {
            let mut headers = HeaderMap::new();
            if !forwarded.is_empty() {
                headers.append(FORWARDED_FOR, HeaderValue::from_str(forwarded).unwrap());
            }
            client_address(&rules, Some(ip(peer)), &headers)
        };
        assert_eq!(at("64:ff9b:1::198.51.100.4", ""), ip("198.51.100.4"));
        assert_eq!(
            at("64:ff9b:1::192.0.2.1", "64:ff9b:1::203.0.113.9"),
            ip("203.0.113.9")
        );
        // without the prefix named: an IPv6 address like any other
        assert_eq!(
            client_address(
                &AddressRules::default(),
                Some(ip("64:ff9b:1::198.51.100.4")),
                &HeaderMap::new()
            ),
            ip("64:ff9b:1::c633:6404")
        );
    }
}
