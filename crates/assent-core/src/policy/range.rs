//! Address ranges of policy rules: an exact address or a CIDR, IPv4 or IPv6, where an
//! IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) is the IPv4 address it carries, on both sides.
//!
//! Written over `ipnet` rather than by string prefix: Sigilum's matcher compared strings, and
//! hex-form mapped addresses slipped past it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};

/// A range of source addresses a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressRange(IpNet);

impl AddressRange {
    /// Reads `10.0.0.0/8`, `2001:db8::/32`, an exact address (a /32 or /128), or an
    /// IPv4-mapped range (`::ffff:10.0.0.0/104`, kept as `10.0.0.0/8`). Host bits below the
    /// prefix are cleared, as Sigilum's matcher ignores them. `None` for anything else,
    /// including a prefix longer than the address (`/33`, `/129`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let net = if text.contains('/') {
            IpNet::from_str(text).ok()?
        } else {
            IpNet::from(IpAddr::from_str(text).ok()?)
        };
        let net = match net {
            IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
                Some(v4) if v6.prefix_len() >= 96 => {
                    IpNet::V4(Ipv4Net::new(v4, v6.prefix_len() - 96).ok()?)
                }
                _ => IpNet::V6(v6),
            },
            v4 => v4,
        };
        Some(Self(net.trunc()))
    }

    /// Whether `addr` is in the range; an IPv4-mapped address counts as its IPv4 address, and
    /// an address of the other family is never in it.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&canonical(addr))
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries; any other address as it is.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(addr, |v4: Ipv4Addr| IpAddr::V4(v4)),
        v4 => v4,
    }
}
