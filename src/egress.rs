//! The egress policy: where a provider URL that a workspace key set may point. A tenant must not
//! make the gateway call the operator's own network (loopback services, the LAN, the cloud
//! metadata endpoint at 169.254.169.254) and read back what answers. URLs an admin set are the
//! operator's word and are not checked.
//!
//! Checked when a workspace key sets a URL (`check_url`: every address the host resolves to),
//! before a provider test and for `discover` with a workspace key, and at every connection the
//! shared upstream client opens to such a provider's host (`Resolver`), so a name that resolves
//! elsewhere later (DNS rebinding) is refused too. IP-literal URLs never reach a resolver: the
//! in-memory state applies the policy to them when it loads the provider (`HotState`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::config::EgressConfig;

/// What kind of destination an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    /// RFC 1918 and IPv6 unique-local (fc00::/7).
    Private,
    /// Carrier-grade NAT, 100.64.0.0/10.
    Shared,
    /// 169.254.0.0/16 (cloud metadata lives here) and fe80::/10.
    LinkLocal,
    Unspecified,
    Multicast,
    /// Broadcast, 240.0.0.0/4, benchmarking (198.18.0.0/15), IETF protocol assignments, documentation.
    Reserved,
}

impl AddressClass {
    fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::Shared => "shared (CGNAT)",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast",
            AddressClass::Reserved => "reserved",
        }
    }

    /// The classes `egress.allow_private` opens; link-local, unspecified, multicast and reserved
    /// addresses need an explicit `egress.allow_cidrs` entry.
    fn private_network(self) -> bool {
        matches!(self, AddressClass::Loopback | AddressClass::Private | AddressClass::Shared)
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::Shared,
        (169, 254, _) => AddressClass::LinkLocal,
        (224..=239, _, _) => AddressClass::Multicast,
        (240..=255, _, _) | (198, 18..=19, _) | (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => {
            AddressClass::Reserved
        }
        _ => AddressClass::Public,
    }
}

/// IPv6 addresses that embed an IPv4 one (mapped, compatible, NAT64, 6to4) are judged by it.
pub fn classify(ip: IpAddr) -> AddressClass {
    let v6: Ipv6Addr = match ip {
        IpAddr::V4(v4) => return classify_v4(v4),
        IpAddr::V6(v6) => v6,
    };
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if v6.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if v6.is_loopback() {
        return AddressClass::Loopback;
    }
    if let Some(v4) = v6.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    match s {
        // IPv4-compatible (deprecated) ::a.b.c.d
        [0, 0, 0, 0, 0, 0, hi, lo] => classify_v4(embedded(hi, lo)),
        // NAT64 well-known and local-use prefixes.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 1, _, _, _, hi, lo] => classify_v4(embedded(hi, lo)),
        // 6to4 carries the IPv4 address in the second and third segments.
        [0x2002, hi, lo, ..] => classify_v4(embedded(hi, lo)),
        [x, ..] if x & 0xfe00 == 0xfc00 => AddressClass::Private,
        [x, ..] if x & 0xffc0 == 0xfe80 || x & 0xffc0 == 0xfec0 => AddressClass::LinkLocal,
        [x, ..] if x & 0xff00 == 0xff00 => AddressClass::Multicast,
        [0x2001, 0x0db8, ..] | [0x0100, 0, 0, 0, ..] => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

/// An address block, `10.0.0.0/8` or `fd00::/8` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| format!("'{s}' is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}' has a bad prefix length"))?,
            None => max,
        };
        Ok(Cidr { net, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.net, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Why the policy refuses a destination (shown to the caller: it names only what they gave).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub class: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host == self.ip.to_string() {
            write!(f, "{} is a {} address", self.ip, self.class)?;
        } else {
            write!(f, "{} resolves to {}, a {} address", self.host, self.ip, self.class)?;
        }
        write!(
            f,
            ", which providers set up with a workspace key may not reach (an operator can allow it with \
             egress.allow_private or egress.allow_cidrs, or an admin can set the URL)"
        )
    }
}

impl std::error::Error for Refused {}

/// The outcome of checking a URL that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The host is an IP address (nothing to resolve).
    Literal(SocketAddr),
    /// Every address the host resolved to, all allowed.
    Resolved { host: String, addrs: Vec<SocketAddr> },
    /// The host did not resolve now; connections are still checked when it does.
    Unresolved,
}

#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allow_private: bool,
    allow: Vec<Cidr>,
}

/// How long a registration waits for DNS before accepting the name unresolved.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

impl EgressPolicy {
    pub fn new(allow_private: bool, allow: Vec<Cidr>) -> Self {
        EgressPolicy { allow_private, allow }
    }

    pub fn from_config(c: &EgressConfig) -> Result<Self, String> {
        let allow = c.allow_cidrs.iter().map(|s| s.parse()).collect::<Result<Vec<Cidr>, String>>()?;
        Ok(EgressPolicy::new(c.allow_private, allow))
    }

    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        let class = classify(ip);
        if class == AddressClass::Public || (self.allow_private && class.private_network()) {
            return Ok(());
        }
        Err(Refused { host: host.to_string(), ip, class: class.describe() })
    }

    /// The host of `url` and, if it is an IP address, the policy's verdict on it.
    pub fn check_literal(&self, url: &str) -> Option<Result<(), Refused>> {
        let (host, _) = host_port(url)?;
        let ip = parse_ip(&host)?;
        Some(self.check_ip(&host, ip))
    }

    /// Resolves the URL's host and checks every address it resolves to.
    pub async fn check_url(&self, url: &str) -> Result<Checked, Refused> {
        let Some((host, port)) = host_port(url) else { return Ok(Checked::Unresolved) };
        if let Some(ip) = parse_ip(&host) {
            self.check_ip(&host, ip)?;
            return Ok(Checked::Literal(SocketAddr::new(ip, port)));
        }
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host.as_str(), port))).await {
                Ok(Ok(addrs)) => addrs.collect(),
                _ => return Ok(Checked::Unresolved),
            };
        if addrs.is_empty() {
            return Ok(Checked::Unresolved);
        }
        for a in &addrs {
            self.check_ip(&host, a.ip())?;
        }
        Ok(Checked::Resolved { host, addrs })
    }
}

/// The lower-case host (IPv6 without brackets) and port of a base URL, as the HTTP client will
/// read them (`{model}` placeholders stand in for a model name).
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let parsed = reqwest::Url::parse(&url.replace("{model}", "model")).ok()?;
    let host = parsed.host_str()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    Some((host, parsed.port_or_known_default()?))
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    host.parse().ok()
}

/// The upstream client's resolver: the system's, except that for hosts `checked` names (those of
/// providers whose URL a workspace key set) every address must pass the policy, at every
/// connection. A refusal fails the connection like an unreachable host.
pub struct Resolver {
    policy: Arc<EgressPolicy>,
    checked: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl Resolver {
    pub fn new(policy: Arc<EgressPolicy>, checked: Arc<dyn Fn(&str) -> bool + Send + Sync>) -> Self {
        Resolver { policy, checked }
    }
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let check = (self.checked)(&host);
        let policy = self.policy.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if check {
                for a in &addrs {
                    policy.check_ip(&host, a.ip())?;
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_the_ranges_that_matter() {
        for (a, class) in [
            ("8.8.8.8", AddressClass::Public),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.5.6.7", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.32.0.1", AddressClass::Public),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Shared),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("0.0.0.0", AddressClass::Unspecified),
            ("224.0.0.1", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Reserved),
            ("::1", AddressClass::Loopback),
            ("::", AddressClass::Unspecified),
            ("fd00::1", AddressClass::Private),
            ("fc00::1", AddressClass::Private),
            ("fe80::1", AddressClass::LinkLocal),
            ("ff02::1", AddressClass::Multicast),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:169.254.169.254", AddressClass::LinkLocal),
            ("64:ff9b::a9fe:a9fe", AddressClass::LinkLocal),
            ("2002:7f00:1::", AddressClass::Loopback),
            ("2606:4700::1111", AddressClass::Public),
        ] {
            assert_eq!(classify(ip(a)), class, "{a}");
        }
    }

    #[test]
    fn the_policy_opens_only_what_it_is_told() {
        let strict = EgressPolicy::default();
        assert!(strict.check_ip("h", ip("127.0.0.1")).is_err());
        assert!(strict.check_ip("h", ip("8.8.8.8")).is_ok());
        let private = EgressPolicy::new(true, vec![]);
        assert!(private.check_ip("h", ip("127.0.0.1")).is_ok());
        assert!(private.check_ip("h", ip("10.0.0.1")).is_ok());
        assert!(private.check_ip("h", ip("169.254.169.254")).is_err(), "metadata stays closed");
        let listed = EgressPolicy::new(false, vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        assert!(listed.check_ip("h", ip("10.9.9.9")).is_ok());
        assert!(listed.check_ip("h", ip("::ffff:10.9.9.9")).is_ok());
        assert!(listed.check_ip("h", ip("fd12::1")).is_ok());
        assert!(listed.check_ip("h", ip("192.168.0.1")).is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
        assert_eq!("0.0.0.0/0".parse::<Cidr>().map(|c| c.contains(ip("1.2.3.4"))), Ok(true));
    }

    #[tokio::test]
    async fn urls_are_judged_by_the_address_the_client_would_use() {
        let strict = EgressPolicy::default();
        for url in [
            "http://127.0.0.1:11434",
            "http://[::1]:8000/v1",
            "http://2130706433/v1",
            "http://0x7f.1/v1",
            "http://169.254.169.254/latest",
            "http://localhost:8080",
        ] {
            assert!(strict.check_url(url).await.is_err(), "{url}");
        }
        assert_eq!(strict.check_url("http://8.8.8.8/v1").await, Ok(Checked::Literal("8.8.8.8:80".parse().unwrap())));
        assert_eq!(host_port("https://X.openai.azure.com/d/{model}?v=1"), Some(("x.openai.azure.com".into(), 443)));
    }
}
