//! The URL guard (SPEC §7, §8): outgoing URLs are chosen by room owners (webhooks, calendar
//! feeds), so every request to one is a server-side request forgery risk. [`check_url`] refuses
//! non-http(s) URLs, embedded credentials and — unless `ALLOW_PRIVATE_NETWORK_URLS` is set — hosts
//! that resolve to loopback, private, link-local or otherwise non-public addresses. The addresses
//! it vetted are then the only ones a client connects to ([`CheckedUrl::pin`]), so a DNS answer
//! that changes between the check and the connection (DNS rebinding) cannot reach an internal
//! address. Callers never follow redirects blindly: each target is vetted again.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// The setting an operator changes to allow private addresses, named in refusals.
const ALLOW_PRIVATE_SETTING: &str = "ALLOW_PRIVATE_NETWORK_URLS";

/// Why an address is not one an outgoing request may reach without `ALLOW_PRIVATE_NETWORK_URLS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonPublic {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, and the deprecated IPv6 site-local fec0::/10.
    Private,
    /// 169.254/16, fe80::/10 — includes cloud metadata endpoints such as 169.254.169.254.
    LinkLocal,
    /// 0.0.0.0/8 and :: — connecting to them reaches the local host on most systems.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 224/4, ff00::/8.
    Multicast,
    /// 100.64/10, carrier-grade NAT shared space (often internal in clouds).
    SharedAddressSpace,
    /// fc00::/7.
    UniqueLocal,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32 — never a real receiver.
    Documentation,
    /// Other special-purpose ranges: 192.0.0/24, 198.18/15 (benchmarking), 240/4, the
    /// deprecated IPv4-compatible ::/96, the discard prefix 100::/64, and the local-use NAT64
    /// prefix 64:ff9b:1::/48 (RFC 8215: a site's own translator, reaching its own network).
    Reserved,
}

impl fmt::Display for NonPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Unspecified => "unspecified",
            Self::Broadcast => "broadcast",
            Self::Multicast => "multicast",
            Self::SharedAddressSpace => "carrier-grade NAT (shared)",
            Self::UniqueLocal => "unique-local",
            Self::Documentation => "documentation",
            Self::Reserved => "reserved",
        })
    }
}

/// Classifies an address: `None` for a public one, otherwise the reason it is not.
///
/// Written by hand because the standard library's `is_global` and friends are still unstable.
/// IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`) are judged by the IPv4 address inside, because that is what they reach.
pub fn non_public(ip: IpAddr) -> Option<NonPublic> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<NonPublic> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        _ if ip.is_broadcast() => NonPublic::Broadcast,
        (0, _, _) => NonPublic::Unspecified,
        (127, _, _) => NonPublic::Loopback,
        (10, _, _) => NonPublic::Private,
        (172, 16..=31, _) => NonPublic::Private,
        (192, 168, _) => NonPublic::Private,
        (169, 254, _) => NonPublic::LinkLocal,
        (100, 64..=127, _) => NonPublic::SharedAddressSpace,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => NonPublic::Documentation,
        (192, 0, 0) | (198, 18..=19, _) => NonPublic::Reserved,
        (224..=239, _, _) => NonPublic::Multicast,
        (240..=255, _, _) => NonPublic::Reserved,
        _ => return None,
    };
    Some(kind)
}

fn non_public_v6(ip: Ipv6Addr) -> Option<NonPublic> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let seg = ip.segments();
    if ip.is_unspecified() {
        return Some(NonPublic::Unspecified);
    }
    if ip.is_loopback() {
        return Some(NonPublic::Loopback);
    }
    // NAT64 (64:ff9b::/96): the gateway forwards to the embedded IPv4 address.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_public_v4(embedded_v4(seg[6], seg[7]));
    }
    // Local-use NAT64 (64:ff9b:1::/48): where the IPv4 address sits depends on the site's
    // prefix length, and the translator is the site's own, so none of it counts as public.
    if seg[..3] == [0x64, 0xff9b, 1] {
        return Some(NonPublic::Reserved);
    }
    // 6to4 (2002:AABB:CCDD::/48) tunnels to the IPv4 address AA.BB.CC.DD.
    if seg[0] == 0x2002 {
        return non_public_v4(embedded_v4(seg[1], seg[2]));
    }
    let kind = match seg[0] {
        // The deprecated IPv4-compatible form ::a.b.c.d (:: and ::1 were handled above).
        0 if seg[1..6] == [0, 0, 0, 0, 0] => NonPublic::Reserved,
        0x100 if seg[1..4] == [0, 0, 0] => NonPublic::Reserved,
        0x2001 if seg[1] == 0xdb8 => NonPublic::Documentation,
        s if s & 0xfe00 == 0xfc00 => NonPublic::UniqueLocal,
        s if s & 0xffc0 == 0xfe80 => NonPublic::LinkLocal,
        s if s & 0xffc0 == 0xfec0 => NonPublic::Private,
        s if s & 0xff00 == 0xff00 => NonPublic::Multicast,
        _ => return None,
    };
    Some(kind)
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// Why an outgoing URL was not accepted. The message says what to change.
///
/// Only [`UrlRefused::Unresolvable`] may go away by itself (DNS can recover); every other
/// refusal stays until someone edits the URL or the setting, see [`UrlRefused::is_retryable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error(
        "the URL is not a valid absolute URL ({reason}); use a full address such as https://example.com/hook"
    )]
    Invalid { reason: String },
    #[error("the URL scheme \"{scheme}\" is not allowed; use an http:// or https:// URL")]
    UnsupportedScheme { scheme: String },
    #[error("the URL has no host; use a full address such as https://example.com/hook")]
    MissingHost,
    #[error("the URL contains a user name or password; remove the credentials from the URL")]
    Credentials,
    #[error("could not resolve host {host} ({detail}); check the host name")]
    Unresolvable { host: String, detail: String },
    /// Names the kind of address, never the address a name resolved to: the room owner who sees
    /// this message must not learn the internal network's layout from it.
    #[error(
        "the URL host {host} resolves to a {kind} address; use a public address, or set \
         {ALLOW_PRIVATE_SETTING}=true to allow private network URLs"
    )]
    NonPublicAddress { host: String, kind: NonPublic },
}

impl UrlRefused {
    /// Whether checking the same URL later may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unresolvable { .. })
    }
}

/// A URL that passed [`check_url`], with the socket addresses its host resolved to then.
///
/// Connections must go to exactly these addresses ([`CheckedUrl::pin`]); resolving the host
/// again would reopen the window for DNS rebinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl {
    pub(crate) url: Url,
    pub(crate) addrs: Vec<SocketAddr>,
}

impl CheckedUrl {
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The vetted addresses, in resolver order; never empty.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Makes a client built from `builder` connect to the vetted addresses for this URL's host
    /// instead of asking DNS again. An IP-literal host needs no override: nothing is resolved.
    pub fn pin(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        match self.url.host() {
            Some(Host::Domain(domain)) => builder.resolve_to_addrs(domain, &self.addrs),
            _ => builder,
        }
    }
}

/// Vets an outgoing URL (SPEC §7 "URL guard", used by ICS feeds and room webhooks): an absolute
/// `http`/`https` URL with a host and no credentials, whose host resolves only to public
/// addresses — unless `allow_private` (`ALLOW_PRIVATE_NETWORK_URLS`) is set.
///
/// Every resolved address must be public, not just the first: the HTTP client may try any of
/// them. Resolution has no timeout of its own; callers bound it ([`WebhookSender::send`] does).
pub async fn check_url(url: &str, allow_private: bool) -> Result<CheckedUrl, UrlRefused> {
    let url = Url::parse(url.trim()).map_err(|e| UrlRefused::Invalid {
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefused::UnsupportedScheme {
            scheme: url.scheme().to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused::Credentials);
    }
    let port = url.port_or_known_default().ok_or(UrlRefused::MissingHost)?;
    let (host_text, addrs) = match url.host() {
        None => return Err(UrlRefused::MissingHost),
        Some(Host::Ipv4(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Ipv6(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Domain(domain)) => {
            let unresolvable = |detail: String| UrlRefused::Unresolvable {
                host: domain.to_owned(),
                detail,
            };
            let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
                .await
                .map_err(|e| unresolvable(e.to_string()))?
                .collect();
            addrs.dedup();
            if addrs.is_empty() {
                return Err(unresolvable("no addresses".to_owned()));
            }
            (domain.to_owned(), addrs)
        }
    };
    if !allow_private {
        for addr in &addrs {
            if let Some(kind) = non_public(addr.ip()) {
                return Err(UrlRefused::NonPublicAddress {
                    host: host_text,
                    kind,
                });
            }
        }
    }
    Ok(CheckedUrl { url, addrs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Option<NonPublic> {
        non_public(ip.parse().unwrap())
    }

    #[test]
    fn classifies_non_public_ipv4() {
        use NonPublic::*;
        let cases = [
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.169.254", LinkLocal),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.254", SharedAddressSpace),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("255.255.255.255", Broadcast),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("192.0.2.10", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.200", Documentation),
            ("198.18.0.1", Reserved),
            ("240.0.0.1", Reserved),
        ];
        for (ip, expected) in cases {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn classifies_non_public_ipv6_and_embedded_ipv4() {
        use NonPublic::*;
        let cases = [
            ("::1", Loopback),
            ("::", Unspecified),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fec0::1", Private),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:100.64.1.1", SharedAddressSpace),
            ("::ffff:192.168.0.1", Private),
            ("64:ff9b::7f00:1", Loopback),
            ("2002:c0a8:0101::1", Private),
            ("::127.0.0.1", Reserved),
            ("100::1", Reserved),
            ("64:ff9b:1::808:808", Reserved),
            ("64:ff9b:1:ffff::a00:1", Reserved),
        ];
        for (ip, expected) in cases {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "169.253.0.1",
            "223.255.255.255",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2a00:1450:4001:80b::200e",
            "::ffff:93.184.216.34",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }
}
