//! The client address: who sent a request, as one value that every part of the server uses
//! (login throttling, rate limits, the access log). Behind a reverse proxy the connecting peer
//! is the proxy, so keying on it would put every user in one bucket; the `trusted_proxies`
//! setting names the proxies whose forwarding headers are believed (`docs/deployment.md`).
//!
//! The address is the peer's, unless the peer is a trusted proxy. Then the hops of
//! `X-Forwarded-For` and of RFC 7239 `Forwarded: for=` are walked from the right (the hop the
//! nearest proxy added first), trusted proxies are skipped, and the first untrusted address is
//! the client. Only the hops on the right were written by proxies this server trusts; anything
//! further left came from the client and may be forged, which is why the walk stops at the
//! first untrusted address. A hop that does not parse before that point, or the two headers
//! naming different clients (one of them passed through from the client unchanged), leave the
//! peer's address: never a guess.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::http::header::{FORWARDED, HeaderMap, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use ipnet::IpNet;

use crate::state::AppState;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies whose forwarding headers are believed: addresses and networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses and CIDRs separated by commas or spaces: `10.0.0.0/8, ::1`. Empty text is
    /// none. An IPv4-mapped IPv6 entry (`::ffff:10.0.0.1`) means its IPv4 address.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(canonical_net)
                    .map_err(|_| {
                        format!(
                            "`{entry}` is not an IP address or a CIDR like 10.0.0.0/8 or fd00::/8"
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let forwarded = self.walk(forwarded_hops(headers));
        let x_forwarded_for = self.walk(x_forwarded_for_hops(headers));
        match (forwarded, x_forwarded_for) {
            (Walk::Absent, Walk::Absent) => peer,
            (Walk::Client(ip), Walk::Absent) | (Walk::Absent, Walk::Client(ip)) => ip,
            (Walk::Client(a), Walk::Client(b)) if a == b => a,
            _ => peer,
        }
    }

    /// The first untrusted hop from the right; the leftmost when every hop is trusted.
    fn walk(&self, hops: Option<Vec<Option<IpAddr>>>) -> Walk {
        let Some(hops) = hops else {
            return Walk::Absent;
        };
        let mut leftmost = None;
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else {
                return Walk::Unreadable;
            };
            if !self.contains(ip) {
                return Walk::Client(ip);
            }
            leftmost = Some(ip);
        }
        leftmost.map_or(Walk::Unreadable, Walk::Client)
    }
}

/// What one forwarding header says of the client.
#[derive(Debug, PartialEq, Eq)]
enum Walk {
    Absent,
    Client(IpAddr),
    /// A hop the walk had to read did not parse.
    Unreadable,
}

/// `::ffff:10.0.0.0/104` is `10.0.0.0/8`: peers and hops are compared in canonical form.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            Some(v4) if v6.prefix_len() >= 96 => {
                IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net)
            }
            _ => net,
        },
        IpNet::V4(_) => net,
    }
}

/// The header's lines, in order, as text; `None` when there is none. A line that is not
/// visible ASCII is one unreadable hop.
fn lines<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Option<Vec<Result<&'a str, &'a HeaderValue>>> {
    let lines: Vec<_> = headers
        .get_all(name)
        .map(|value| value.to_str().map_err(|_| value))
        .collect();
    (!lines.is_empty()).then_some(lines)
}

/// `X-Forwarded-For: client, proxy1, proxy2`, over all its lines.
fn x_forwarded_for_hops(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let hops = lines(headers, &X_FORWARDED_FOR)?
        .into_iter()
        .flat_map(|line| match line {
            Ok(text) => text.split(',').map(parse_node).collect(),
            Err(_) => vec![None],
        })
        .collect();
    Some(hops)
}

/// The `for=` of each element of `Forwarded: for=192.0.2.1;proto=https, for="[2001:db8::1]:80"`
/// (RFC 7239), over all its lines. An element without `for=` is an unreadable hop.
fn forwarded_hops(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let hops = lines(headers, &FORWARDED)?
        .into_iter()
        .flat_map(|line| match line {
            Ok(text) => split_unquoted(text, ',')
                .into_iter()
                .map(|element| {
                    split_unquoted(element, ';').into_iter().find_map(|pair| {
                        let (name, value) = pair.split_once('=')?;
                        name.trim()
                            .eq_ignore_ascii_case("for")
                            .then(|| parse_node(&unquote(value.trim())))
                    })?
                })
                .collect(),
            Err(_) => vec![None],
        })
        .collect();
    Some(hops)
}

/// `text` split at each `separator` outside a quoted string.
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token as is; a quoted string without its quotes and escapes.
fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_owned();
    };
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        text.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    text
}

/// One hop: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:8080`. Anything else (`unknown`, an obfuscated `_node`) is `None`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            let inner = text.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

/// The address of the client that sent a request (see the module's documentation). The
/// request-context middleware works it out once per request and keeps it in the request's
/// extensions; as an extractor it never fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// `peer`'s address, or the client's that trusted proxies forwarded; the unspecified
    /// address when the connection has no peer address (a test request).
    pub fn resolve(
        trusted: &TrustedProxies,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Self {
        let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
        Self(trusted.client(peer, headers))
    }

    /// [`ClientAddr::resolve`] with the proxies `state` trusts (none without a state).
    pub(crate) fn in_app(
        state: Option<&web::Data<AppState>>,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Self {
        let none = TrustedProxies::default();
        let trusted = state.map_or(&none, |s| &s.settings.trusted_proxies);
        Self::resolve(trusted, peer, headers)
    }

    /// The request's client address: the one the middleware kept, else worked out now (an
    /// embedder's app without the middleware).
    pub fn of(req: &HttpRequest) -> Self {
        if let Some(known) = req.extensions().get::<Self>() {
            return *known;
        }
        Self::in_app(req.app_data(), req.peer_addr(), req.headers())
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromRequest for ClientAddr {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn trusted(text: &str) -> TrustedProxies {
        TrustedProxies::parse(text).unwrap()
    }

    #[test]
    fn reads_addresses_and_networks() {
        let proxies = trusted("10.0.0.0/8, 192.168.1.1 fd00::/8,::1");
        assert!(proxies.contains(ip("10.1.2.3")));
        assert!(proxies.contains(ip("192.168.1.1")));
        assert!(!proxies.contains(ip("192.168.1.2")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(proxies.contains(ip("::1")));
        // IPv4-mapped peers are their IPv4 address, and so are mapped entries.
        assert!(proxies.contains(ip("::ffff:10.9.9.9")));
        assert!(trusted("::ffff:10.0.0.0/104").contains(ip("10.1.1.1")));
        assert!(trusted("::ffff:10.0.0.1").contains(ip("10.0.0.1")));
        assert!(trusted("").is_empty());
        assert!(trusted(" , ").is_empty());
        for bad in ["10.0.0.0/33", "example.com", "10.0.0", "*"] {
            let error = TrustedProxies::parse(bad).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = trusted("10.0.0.1");
        let forged = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=1.1.1.1")]);
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &forged),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &forged),
            ip("10.0.0.1")
        );
        assert_eq!(
            proxies.client(ip("::ffff:203.0.113.9"), &forged),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn walks_x_forwarded_for_from_the_right_past_trusted_proxies() {
        let proxies = trusted("10.0.0.0/8");
        let peer = ip("10.0.0.1");
        let one = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(proxies.client(peer, &one), ip("203.0.113.9"));
        // The client forged the leftmost hops; the proxies appended the rest.
        let hops = headers(&[(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.9, 10.0.0.2, 10.0.0.3",
        )]);
        assert_eq!(proxies.client(peer, &hops), ip("203.0.113.9"));
        // Several lines are one list, in order.
        let lines = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9, 10.0.0.2"),
        ]);
        assert_eq!(proxies.client(peer, &lines), ip("203.0.113.9"));
        // Every hop trusted: the leftmost.
        let inside = headers(&[("x-forwarded-for", "10.0.0.7, 10.0.0.2")]);
        assert_eq!(proxies.client(peer, &inside), ip("10.0.0.7"));
        // IPv6, bracketed or not, with ports, and IPv4-mapped.
        for (value, client) in [
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("203.0.113.9:5000", "203.0.113.9"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
        ] {
            let forwarded = headers(&[("x-forwarded-for", value)]);
            assert_eq!(proxies.client(peer, &forwarded), ip(client), "{value}");
        }
        assert_eq!(
            trusted("fd00::/8").client(ip("fd00::5"), &one),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn reads_the_for_of_rfc_7239_forwarded() {
        let proxies = trusted("10.0.0.0/8");
        let peer = ip("10.0.0.1");
        for (value, client) in [
            ("for=203.0.113.9", "203.0.113.9"),
            ("For=203.0.113.9;proto=https;by=10.0.0.1", "203.0.113.9"),
            ("proto=https; for=\"203.0.113.9:4711\"", "203.0.113.9"),
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=6.6.6.6, for=203.0.113.9, for=10.0.0.2", "203.0.113.9"),
            ("for=6.6.6.6;host=\"a,b;c\", for=203.0.113.9", "203.0.113.9"),
            // Garbage to the left of the client is the client's own and never read.
            ("for=unknown, for=203.0.113.9", "203.0.113.9"),
        ] {
            let forwarded = headers(&[("forwarded", value)]);
            assert_eq!(proxies.client(peer, &forwarded), ip(client), "{value}");
        }
    }

    #[test]
    fn unreadable_or_conflicting_headers_leave_the_peer() {
        let proxies = trusted("10.0.0.0/8");
        let peer = ip("10.0.0.1");
        for pairs in [
            &[("x-forwarded-for", "")][..],
            &[("x-forwarded-for", "not an address")],
            &[("x-forwarded-for", "203.0.113.9, garbage")],
            &[("x-forwarded-for", "203.0.113.9,")],
            &[("x-forwarded-for", "10.0.0.2, 10.0.0.3, ")],
            &[("forwarded", "for=unknown")],
            &[("forwarded", "for=_hidden")],
            &[("forwarded", "proto=https")],
            &[("forwarded", "for=\"[2001:db8::1\"")],
            &[("forwarded", "for=\"2001:db8::1]:80\"")],
            &[("forwarded", "for=\"")],
            &[("forwarded", ";;,,==")],
            // One header passed through from the client: the two disagree.
            &[
                ("forwarded", "for=6.6.6.6"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
        ] {
            assert_eq!(proxies.client(peer, &headers(pairs)), peer, "{pairs:?}");
        }
        let mut bytes = HeaderMap::new();
        bytes.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"203.0.113.9\xff").unwrap(),
        );
        assert_eq!(proxies.client(peer, &bytes), peer);
        // Both headers naming the same client agree.
        let both = headers(&[
            ("forwarded", "for=203.0.113.9"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(proxies.client(peer, &both), ip("203.0.113.9"));
        // No forwarding header at all: the proxy itself is the client.
        assert_eq!(proxies.client(peer, &HeaderMap::new()), peer);
    }

    #[test]
    fn the_extractor_falls_back_to_the_peer_without_the_middleware() {
        let req = actix_web::test::TestRequest::default()
            .peer_addr("203.0.113.9:1234".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.1.1.1"))
            .to_http_request();
        assert_eq!(ClientAddr::of(&req), ClientAddr(ip("203.0.113.9")));
        req.extensions_mut().insert(ClientAddr(ip("198.51.100.1")));
        assert_eq!(ClientAddr::of(&req), ClientAddr(ip("198.51.100.1")));
    }
}
