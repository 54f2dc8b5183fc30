//! A webhook URL is a way into the operator's network: these rules decide which URLs an endpoint
//! may have and which addresses a delivery may connect to. They run at creation and again at every
//! delivery (DNS can change in between), and the delivery connects to the address that was checked.
//!
//! Live mode: `https` only, and no address that is loopback, private, link-local, CGNAT, unique-
//! local, multicast, unspecified or a cloud metadata service, unless the operator allow-lists it
//! (`--webhook-allow-private-networks`, or CIDRs in `--webhook-allowed-cidrs`). Test mode also takes
//! `http://localhost` and `http://127.0.0.1` (a developer's receiver), and loopback addresses, but
//! no other internal address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

use crate::engine::principal::Mode;
use crate::limits;

/// What the operator allows besides public addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Every internal address (a trusted network of receivers).
    pub allow_private_networks: bool,
    /// These networks only.
    pub allowed_networks: Vec<IpNet>,
}

static INSTALLED_POLICY: std::sync::OnceLock<AddressPolicy> = std::sync::OnceLock::new();

/// Makes `policy` the process's (from the operator's flags); the first installed stays.
pub fn install_policy(policy: AddressPolicy) {
    let _ = INSTALLED_POLICY.set(policy);
}

/// The operator's policy, or the strict default.
pub fn installed_policy() -> AddressPolicy {
    INSTALLED_POLICY.get().cloned().unwrap_or_default()
}

/// Why a URL or an address is refused: a stable `code` and a message for the merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn invalid(message: impl Into<String>) -> Refusal {
        Refusal { code: "invalid_request", message: message.into() }
    }
}

/// The cloud metadata services (AWS, GCP, Azure, OpenStack on 169.254.169.254; AWS's IPv6 one).
fn is_metadata_service(ip: IpAddr) -> bool {
    ip == IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))
        || ip == IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254))
}

/// An address no webhook may reach without the operator's word: anything but a public unicast one.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
                || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7 (fd00:ec2::254 included)
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10
                || first == 0x0064 // NAT64 64:ff9b::/96 reaches IPv4 inside
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || first == 0x2002 // 6to4 wraps an IPv4 address
        }
    }
}

impl AddressPolicy {
    /// Whether a delivery in `mode` may connect to `ip`.
    pub fn permits(&self, mode: Mode, ip: IpAddr) -> bool {
        if !is_internal(ip) {
            return true;
        }
        if self.allowed_networks.iter().any(|network| network.contains(&ip)) {
            return true;
        }
        if is_metadata_service(ip) {
            // Only an explicit CIDR opens the metadata service; the blanket flag does not.
            return false;
        }
        self.allow_private_networks || (mode == Mode::Test && ip.is_loopback())
    }

    pub fn check_addresses(&self, mode: Mode, host: &str, addresses: &[SocketAddr]) -> Result<(), Refusal> {
        if addresses.is_empty() {
            return Err(Refusal::invalid(format!("{} does not resolve to any address", limits::echo(host))));
        }
        match addresses.iter().find(|address| !self.permits(mode, address.ip())) {
            Some(address) => Err(Refusal {
                code: "webhook_url_not_allowed",
                message: format!(
                    "{} resolves to {}, an internal address (loopback, private, link-local or metadata) webhooks may not reach",
                    limits::echo(host),
                    address.ip()
                ),
            }),
            None => Ok(()),
        }
    }
}

/// The URL rules that need no DNS: a parseable absolute URL without credentials, `https` (or, in
/// test mode, `http` to localhost or 127.0.0.1), and an IP literal host checked as an address.
pub fn check_url(text: &str, mode: Mode, policy: &AddressPolicy) -> Result<reqwest::Url, Refusal> {
    if text.chars().count() > limits::WEBHOOK_URL_MAX_CHARS {
        return Err(Refusal::invalid(format!("url is longer than {} characters", limits::WEBHOOK_URL_MAX_CHARS)));
    }
    let url = reqwest::Url::parse(text)
        .map_err(|error| Refusal::invalid(format!("url {} is not an absolute URL: {error}", limits::echo(text))))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::invalid("url must not carry a user name or password"));
    }
    let Some(host) = url.host_str() else { return Err(Refusal::invalid("url has no host")) };
    let local_http = mode == Mode::Test && url.scheme() == "http" && matches!(host, "localhost" | "127.0.0.1");
    if url.scheme() != "https" && !local_http {
        let message = match mode {
            Mode::Live => "live webhook endpoints must use https://".to_owned(),
            Mode::Test => {
                "webhook endpoints must use https:// (test mode also takes http://localhost and http://127.0.0.1)"
                    .to_owned()
            }
        };
        return Err(Refusal { code: "webhook_url_must_be_https", message });
    }
    if let Some(ip) = literal_ip(&url) {
        let port = url.port_or_known_default().unwrap_or(443);
        policy.check_addresses(mode, host, &[SocketAddr::new(ip, port)])?;
    }
    Ok(url)
}

/// The host as an address, when the URL names one instead of a DNS name.
pub fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// Resolves `host` (bounded in time) and checks every address it gives.
pub async fn resolve_checked(
    policy: &AddressPolicy,
    mode: Mode,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, Refusal> {
    let lookup = tokio::net::lookup_host((host, port));
    let timeout = std::time::Duration::from_millis(limits::WEBHOOK_DNS_TIMEOUT_MS);
    let addresses: Vec<SocketAddr> = match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addresses)) => addresses.collect(),
        Ok(Err(error)) => {
            return Err(Refusal::invalid(format!("{} does not resolve: {error}", limits::echo(host))));
        }
        Err(_) => return Err(Refusal::invalid(format!("resolving {} timed out", limits::echo(host)))),
    };
    policy.check_addresses(mode, host, &addresses)?;
    Ok(addresses)
}

/// Parses `--webhook-allowed-cidrs`: CIDRs separated by commas.
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>().map_err(|error| format!("{part:?} is not a CIDR such as 10.1.0.0/16: {error}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_in_live_mode_unless_allowed() {
        let strict = AddressPolicy::default();
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "224.0.0.1",
        ] {
            assert!(!strict.permits(Mode::Live, ip(internal)), "{internal}");
        }
        for public in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(strict.permits(Mode::Live, ip(public)), "{public}");
        }
        assert!(strict.permits(Mode::Test, ip("127.0.0.1")), "test mode: a developer's receiver");
        assert!(!strict.permits(Mode::Test, ip("10.0.0.1")), "test mode: no other internal address");
        let private = AddressPolicy { allow_private_networks: true, allowed_networks: Vec::new() };
        assert!(private.permits(Mode::Live, ip("10.1.2.3")));
        assert!(!private.permits(Mode::Live, ip("169.254.169.254")), "the metadata service needs a CIDR");
        let listed =
            AddressPolicy { allow_private_networks: false, allowed_networks: parse_networks("10.9.0.0/16").unwrap() };
        assert!(listed.permits(Mode::Live, ip("10.9.1.1")) && !listed.permits(Mode::Live, ip("10.8.1.1")));
        assert!(parse_networks("10.0.0.0/33").is_err());
    }

    #[test]
    fn url_rules_per_mode() {
        let policy = AddressPolicy::default();
        let code = |url: &str, mode| check_url(url, mode, &policy).err().map(|refusal| refusal.code);
        assert_eq!(code("https://hooks.example.com/x", Mode::Live), None);
        assert_eq!(code("http://hooks.example.com/x", Mode::Live), Some("webhook_url_must_be_https"));
        assert_eq!(code("http://localhost:9000/x", Mode::Live), Some("webhook_url_must_be_https"));
        assert_eq!(code("http://localhost:9000/x", Mode::Test), None);
        assert_eq!(code("http://127.0.0.1:9000/x", Mode::Test), None);
        assert_eq!(code("http://10.0.0.1/x", Mode::Test), Some("webhook_url_must_be_https"));
        assert_eq!(code("https://127.0.0.1/x", Mode::Live), Some("webhook_url_not_allowed"));
        assert_eq!(code("https://169.254.169.254/latest", Mode::Live), Some("webhook_url_not_allowed"));
        assert_eq!(code("https://[fd00:ec2::254]/", Mode::Live), Some("webhook_url_not_allowed"));
        assert_eq!(code("https://[::ffff:10.0.0.1]/", Mode::Live), Some("webhook_url_not_allowed"));
        assert_eq!(code("https://user:pw@hooks.example.com/", Mode::Live), Some("invalid_request"));
        assert_eq!(code("hooks.example.com", Mode::Live), Some("invalid_request"));
        assert_eq!(code(&format!("https://a.com/{}", "x".repeat(3000)), Mode::Live), Some("invalid_request"));
    }
}
