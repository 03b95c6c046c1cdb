//! Outbound safety (`docs/webhooks.md`, "Outbound safety"): which webhook targets assent may call.
//!
//! [`check_webhook_url`] runs when a URL is registered; it looks only at the text (scheme,
//! credentials, IP literals, `localhost` names) and never resolves a host. The delivery engine
//! resolves at every attempt and vets each address with [`is_public_ip`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// The longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// What targets are allowed. `allow_private` is the development switch
/// (`ASSENT_ALLOW_PRIVATE_WEBHOOKS`): plain http and loopback or private addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookUrlPolicy {
    pub allow_private: bool,
}

/// Why a webhook URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRejection {
    NotAUrl,
    TooLong,
    NotHttps,
    HasCredentials,
    NoHost,
    PortZero,
    NonPublicAddress,
}

impl fmt::Display for UrlRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAUrl => "is not a valid absolute URL",
            Self::TooLong => "is longer than 2048 characters",
            // Names the switch: a developer with a local receiver otherwise has to search for it.
            Self::NotHttps => {
                "must use https (a development server started with --allow-private-webhooks \
                 also accepts http)"
            }
            Self::HasCredentials => "must not contain a user name or password",
            Self::NoHost => "must name a host",
            Self::PortZero => "must not use port 0",
            Self::NonPublicAddress => {
                "must not point at a loopback, private, link-local or otherwise non-public address"
            }
        })
    }
}

impl std::error::Error for UrlRejection {}

/// Checks a webhook target as registered, without DNS. Returns the parsed URL.
pub fn check_webhook_url(raw: &str, policy: WebhookUrlPolicy) -> Result<Url, UrlRejection> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlRejection::TooLong);
    }
    let url = Url::parse(raw).map_err(|_| UrlRejection::NotAUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        _ => return Err(UrlRejection::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRejection::HasCredentials);
    }
    // Port 0 names no service: nothing can be delivered to it.
    if url.port() == Some(0) {
        return Err(UrlRejection::PortZero);
    }
    let public = match url.host() {
        None => return Err(UrlRejection::NoHost),
        Some(Host::Ipv4(ip)) => is_public_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public_ip(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => !is_localhost_name(name),
    };
    if !public && !policy.allow_private {
        return Err(UrlRejection::NonPublicAddress);
    }
    Ok(url)
}

/// `localhost` and every name under it (RFC 6761), with or without the trailing dot.
fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// True only for globally routable unicast addresses. IPv4-mapped, IPv4-compatible, NAT64
/// and 6to4 forms are judged by the IPv4 address they carry.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0                                   // "this network"
        || a == 10                                         // private
        || (a == 100 && (64..128).contains(&b))            // CGNAT 100.64/10
        || a == 127                                        // loopback
        || (a == 169 && b == 254)                          // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))             // private
        || (a == 192 && b == 0 && c == 0)                  // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                  // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)                // 6to4 relay anycast
        || (a == 192 && b == 168)                          // private
        || (a == 198 && (b == 18 || b == 19))              // benchmarking
        || (a == 198 && b == 51 && c == 100)               // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)                // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // ::ffff:a.b.c.d (mapped) is judged by its IPv4 address. The rest of ::/80 (::, ::1,
    // the deprecated IPv4-compatible ::a.b.c.d) is never public.
    if s[..5] == [0; 5] {
        return s[5] == 0xffff && is_public_v4(embedded_v4(s[6], s[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    // 6to4 2002::/16 carries its IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2]));
    }
    let global_unicast = (s[0] & 0xe000) == 0x2000; // 2000::/3
    // 2001::/23: IETF protocol assignments (Teredo, benchmarking, ORCHID).
    let ietf = s[0] == 0x2001 && s[1] < 0x0200;
    // 2001:db8::/32 and 3fff::/20.
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000);
    global_unicast && !ietf && !documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: WebhookUrlPolicy = WebhookUrlPolicy {
        allow_private: false,
    };
    const DEV: WebhookUrlPolicy = WebhookUrlPolicy {
        allow_private: true,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_pass() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2001:4860:4860::8888",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(is_public_ip(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn non_public_addresses_in_every_form_are_refused() {
        for s in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:0001::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
        ] {
            assert!(!is_public_ip(ip(s)), "{s} should be refused");
        }
    }

    #[test]
    fn https_public_urls_are_accepted() {
        let url = check_webhook_url("https://lovelace.dev/atp/webhook", STRICT);
        assert_eq!(
            url.map(|u| u.to_string()),
            Ok("https://lovelace.dev/atp/webhook".to_owned())
        );
        assert!(check_webhook_url("https://93.184.216.34:8443/hook", STRICT).is_ok());
    }

    #[test]
    fn port_zero_is_refused_under_every_policy() {
        for url in [
            "https://lovelace.dev:0/hook",
            "https://93.184.216.34:0/hook",
            "https://[2606:4700:4700::1111]:0/",
            "https://lovelace.dev:00/hook",
        ] {
            assert_eq!(
                check_webhook_url(url, STRICT),
                Err(UrlRejection::PortZero),
                "{url}"
            );
        }
        assert_eq!(
            check_webhook_url("http://127.0.0.1:0/hook", DEV),
            Err(UrlRejection::PortZero)
        );
    }

    #[test]
    fn plain_http_is_refused_unless_in_development() {
        assert_eq!(
            check_webhook_url("http://lovelace.dev/hook", STRICT),
            Err(UrlRejection::NotHttps)
        );
        assert!(check_webhook_url("http://127.0.0.1:9000/hook", DEV).is_ok());
        assert_eq!(
            check_webhook_url("ftp://lovelace.dev/hook", DEV),
            Err(UrlRejection::NotHttps)
        );
    }

    #[test]
    fn private_literals_and_localhost_are_refused_without_dns() {
        for url in [
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://2130706433/hook",
            "https://0x7f.0.0.1/hook",
            "https://localhost/hook",
            "https://LOCALHOST./hook",
            "https://api.localhost/hook",
        ] {
            assert_eq!(
                check_webhook_url(url, STRICT),
                Err(UrlRejection::NonPublicAddress),
                "{url}"
            );
        }
    }

    #[test]
    fn malformed_urls_say_why() {
        assert_eq!(
            check_webhook_url("not a url", STRICT),
            Err(UrlRejection::NotAUrl)
        );
        assert_eq!(
            check_webhook_url("/relative", STRICT),
            Err(UrlRejection::NotAUrl)
        );
        assert_eq!(
            check_webhook_url("https://user:pw@lovelace.dev/", STRICT),
            Err(UrlRejection::HasCredentials)
        );
        let long = format!("https://lovelace.dev/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(check_webhook_url(&long, STRICT), Err(UrlRejection::TooLong));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            /// Any text: no panic, and a URL accepted once is accepted again as itself.
            #[test]
            fn any_text_never_panics_and_an_accepted_url_is_stable(
                raw in prop_oneof!["\\PC{0,60}", "https?://[a-z0-9.:\\[\\]@%-]{0,30}(/[a-z0-9%.]{0,6}){0,2}"],
                allow_private in any::<bool>(),
            ) {
                let policy = WebhookUrlPolicy { allow_private };
                if let Ok(url) = check_webhook_url(&raw, policy) {
                    prop_assert_eq!(check_webhook_url(url.as_str(), policy), Ok(url.clone()));
                    prop_assert_ne!(url.port(), Some(0));
                }
            }

            /// An IPv4 address is judged alike however it is written: plain, mapped into
            /// IPv6, behind NAT64 or 6to4, and as a URL's host.
            #[test]
            fn an_ipv4_address_is_judged_alike_in_every_form(bits in any::<u32>()) {
                let v4 = Ipv4Addr::from(bits);
                let public = is_public_ip(IpAddr::V4(v4));
                let [a, b, c, d] = v4.octets();
                let hi = u16::from_be_bytes([a, b]);
                let lo = u16::from_be_bytes([c, d]);
                prop_assert_eq!(is_public_ip(IpAddr::V6(v4.to_ipv6_mapped())), public);
                prop_assert_eq!(is_public_ip(IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo))), public);
                prop_assert_eq!(is_public_ip(IpAddr::V6(Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1))), public);
                for url in [format!("https://{v4}/hook"), format!("https://[::ffff:{v4}]/hook"), format!("https://{bits}/hook")] {
                    prop_assert_eq!(check_webhook_url(&url, STRICT).is_ok(), public, "{}", url);
                }
            }
        }
    }
}
