//! Network capability: which destinations a tool may reach, and the raw-socket side of it.
//!
//! A tool reaches the network only through rules its grant names (`scheme://host:port`); with
//! none it has no network at all. What this module guards against:
//!
//! - **Unlisted destinations** (N01, N02, N06): a request or connect is matched against the rules
//!   *before* anything else happens, so a denied name is never even looked up and a denied
//!   address is never connected to.
//! - **Internal addresses** (N03, N04): loopback, private (RFC 1918), link-local, unique-local,
//!   CGNAT, multicast, unspecified, broadcast, documentation, reserved and cloud-metadata
//!   addresses are refused — including when written as IPv4-mapped, IPv4-compatible, NAT64 or
//!   6to4 IPv6 — unless a CIDR of the grant (the operator's policy) covers the address. IPv6 is
//!   allowed only in global unicast (`2000::/3`) minus the special ranges inside it.
//! - **DNS rebinding** (N04): names are resolved by the host, through a [`Resolver`] the
//!   embedder (or a test) can replace; if *any* answer is refused the request is denied, and the
//!   connection goes to an address that was checked — there is no second lookup.
//! - **Raw sockets** (N06): `wasi:sockets` TCP may only connect to `tcp://` rules; UDP,
//!   listening, accepting and `ip-name-lookup` are always refused (no grant opens them: the
//!   manifest schema has no way to ask). wasmtime 48 changed these defaults between releases, so
//!   every switch is set here explicitly instead of trusting one.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use ipnet::IpNet;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::SocketAddrUse;

/// A scheme a rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP through `wasi:http`.
    Http,
    /// HTTPS through `wasi:http` (the host does TLS, with the request's host name as SNI).
    Https,
    /// A raw TCP connection through `wasi:sockets`.
    Tcp,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tcp => "tcp",
        })
    }
}

/// The host part of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostMatch {
    /// Exactly this DNS name (lower case, no trailing dot).
    Name(String),
    /// Any name with one or more labels in front of this suffix (`*.suffix`).
    Wildcard(String),
    /// Exactly this address.
    Ip(IpAddr),
}

impl HostMatch {
    /// Whether `host` (a DNS name, or an address literal) matches. Address literals match only
    /// [`HostMatch::Ip`], compared as addresses; names are compared case-insensitively.
    pub fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (Self::Ip(a), Host::Ip(b)) => a == b,
            (Self::Name(n), Host::Name(h)) => n == h,
            (Self::Wildcard(suffix), Host::Name(h)) => h
                .strip_suffix(suffix.as_str())
                .and_then(|front| front.strip_suffix('.'))
                .is_some_and(|front| !front.is_empty()),
            _ => false,
        }
    }
}

impl fmt::Display for HostMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::Wildcard(s) => write!(f, "*.{s}"),
            Self::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            Self::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
        }
    }
}

/// One allowed destination: `scheme://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetRule {
    /// The scheme.
    pub scheme: Scheme,
    /// The host or host pattern.
    pub host: HostMatch,
    /// The port.
    pub port: u16,
}

impl NetRule {
    /// Whether a connection to `scheme://host:port` is allowed by this rule.
    pub fn matches(&self, scheme: Scheme, host: &Host, port: u16) -> bool {
        self.scheme == scheme && self.port == port && self.host.matches(host)
    }
}

impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// A destination host as a tool wrote it, parsed strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name: lower case, no trailing dot, letters, digits, `-` and `.` only.
    Name(String),
    /// An address literal (IPv6 without brackets or zone).
    Ip(IpAddr),
}

impl Host {
    /// Parse a URI host. Address literals must be in the one standard form (`127.0.0.1`,
    /// `[::1]`); anything that only *some* resolvers read as an address (`2130706433`,
    /// `0x7f.1`, `0177.0.0.1`), a zone ID, or characters outside a DNS name is refused, so no
    /// later step can interpret the host differently from the check.
    pub fn parse(host: &str) -> Option<Self> {
        if let Some(inner) = host.strip_prefix('[') {
            let inner = inner.strip_suffix(']')?;
            return inner
                .parse::<Ipv6Addr>()
                .ok()
                .map(|a| Self::Ip(IpAddr::V6(a)));
        }
        if let Ok(a) = host.parse::<Ipv4Addr>() {
            return Some(Self::Ip(IpAddr::V4(a)));
        }
        let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return None;
        }
        // A last label of digits (or hex) only is how numeric and shorthand IPv4 forms look;
        // no real top-level domain is like that.
        let last = name.rsplit('.').next().unwrap_or("");
        if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
            return None;
        }
        Some(Self::Name(name))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            Self::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
        }
    }
}

/// Resolves host names for the network capability. The host resolves every name a tool may
/// reach itself (the tool never does), so tests can count and steer lookups with a stub.
pub trait Resolver: Send + Sync + 'static {
    /// All addresses of `name` (a DNS name that passed [`Host::parse`]).
    fn resolve(&self, name: &str) -> ResolveFuture;
}

impl fmt::Debug for dyn Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn Resolver")
    }
}

/// What [`Resolver::resolve`] returns.
pub type ResolveFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + Sync>>;

/// The operating system's resolver (`getaddrinfo` through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, name: &str) -> ResolveFuture {
        let name = name.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// `169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`: cloud instance metadata.
    Metadata,
    /// `100.64/10` (carrier-grade NAT).
    SharedCgnat,
    /// `fc00::/7` (unique local), `fec0::/10` (site local).
    UniqueLocal,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// Documentation, benchmarking, reserved, protocol-assignment and other ranges that are not
    /// globally routable unicast.
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Metadata => "cloud metadata",
            Self::SharedCgnat => "carrier-grade NAT",
            Self::UniqueLocal => "unique-local",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Reserved => "reserved (not global unicast)",
        })
    }
}

/// The IPv4 address an IPv6 address stands for, when it embeds one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4
/// (`2002:AABB:CCDD::/48`).
fn embedded_v4(a: &Ipv6Addr) -> Option<Ipv4Addr> {
    let s = a.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, _, _] if !(s[6] == 0 && s[7] <= 1) => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn class_v4(a: Ipv4Addr) -> Option<AddressClass> {
    let o = a.octets();
    let in_net = |net: [u8; 4], bits: u32| {
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        (u32::from(a) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
    };
    Some(match () {
        _ if a == Ipv4Addr::new(169, 254, 169, 254) || a == Ipv4Addr::new(100, 100, 100, 200) => {
            AddressClass::Metadata
        }
        _ if o[0] == 0 => AddressClass::Unspecified,
        _ if o[0] == 127 => AddressClass::Loopback,
        _ if o[0] == 10 || in_net([172, 16, 0, 0], 12) || in_net([192, 168, 0, 0], 16) => {
            AddressClass::Private
        }
        _ if in_net([169, 254, 0, 0], 16) => AddressClass::LinkLocal,
        _ if in_net([100, 64, 0, 0], 10) => AddressClass::SharedCgnat,
        _ if a == Ipv4Addr::BROADCAST => AddressClass::Broadcast,
        _ if in_net([224, 0, 0, 0], 4) => AddressClass::Multicast,
        _ if in_net([240, 0, 0, 0], 4)
            || in_net([192, 0, 0, 0], 24)
            || in_net([192, 0, 2, 0], 24)
            || in_net([192, 88, 99, 0], 24)
            || in_net([198, 18, 0, 0], 15)
            || in_net([198, 51, 100, 0], 24)
            || in_net([203, 0, 113, 0], 24) =>
        {
            AddressClass::Reserved
        }
        _ => return None,
    })
}

fn class_v6(a: Ipv6Addr) -> Option<AddressClass> {
    if let Some(v4) = embedded_v4(&a) {
        // The packet ends up at the embedded address (directly, or through a NAT64 or 6to4
        // gateway that may sit inside the network): judge that address. The deprecated
        // IPv4-compatible form (`::a.b.c.d`) is never routed, so it is refused outright.
        let compatible = a.segments()[..6] == [0; 6];
        return class_v4(v4).or(compatible.then_some(AddressClass::Reserved));
    }
    let s = a.segments();
    Some(match () {
        _ if a.is_unspecified() => AddressClass::Unspecified,
        _ if a.is_loopback() => AddressClass::Loopback,
        _ if a == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => AddressClass::Metadata,
        _ if s[0] & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        _ if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 => AddressClass::UniqueLocal,
        _ if s[0] & 0xff00 == 0xff00 => AddressClass::Multicast,
        // Only global unicast (2000::/3) is reachable, minus its special-purpose blocks:
        // 2001::/23 (IETF protocol assignments, incl. Teredo 2001::/32) and 2001:db8::/32
        // (documentation), 3fff::/20 (documentation).
        _ if s[0] & 0xe000 != 0x2000
            || (s[0] == 0x2001 && s[1] < 0x0200)
            || (s[0] == 0x2001 && s[1] == 0x0db8)
            || (s[0] == 0x3fff && s[1] & 0xf000 == 0) =>
        {
            AddressClass::Reserved
        }
        _ => return None,
    })
}

/// Why `ip` is refused as a destination, or `None` when it is global unicast.
pub fn address_class(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(a) => class_v4(a),
        IpAddr::V6(a) => class_v6(a),
    }
}

/// The address rules of one grant: global unicast is reachable, the rest only inside `cidrs`.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Ranges the operator opened (e.g. `127.0.0.1/32` for a local test server).
    pub cidrs: Vec<IpNet>,
}

impl AddressPolicy {
    /// `Ok` when `ip` may be connected to, or the class that refuses it. A CIDR covers an
    /// address written in any form: `::ffff:127.0.0.1` is covered by `127.0.0.1/32`.
    pub fn check(&self, ip: IpAddr) -> Result<(), AddressClass> {
        let Some(class) = address_class(ip) else {
            return Ok(());
        };
        let canonical = match ip {
            IpAddr::V6(a) => embedded_v4(&a).map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        if self
            .cidrs
            .iter()
            .any(|c| c.contains(&ip) || c.contains(&canonical))
        {
            Ok(())
        } else {
            Err(class)
        }
    }
}

/// The network grant of one call.
#[derive(Clone)]
pub struct NetConfig {
    /// Allowed destinations. Empty: no network.
    pub rules: Vec<NetRule>,
    /// Which non-global addresses are reachable.
    pub addresses: AddressPolicy,
    /// Resolves names for HTTP requests and `tcp://` rules.
    pub resolver: Arc<dyn Resolver>,
    /// Most bytes of one HTTP response body (`None`: the call's memory limit).
    pub max_response_body: Option<u64>,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            addresses: AddressPolicy::default(),
            resolver: Arc::new(SystemResolver),
            max_response_body: None,
        }
    }
}

impl fmt::Debug for NetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self.rules.iter().map(ToString::to_string).collect();
        f.debug_struct("NetConfig")
            .field("rules", &rules)
            .field("addresses", &self.addresses)
            .field("max_response_body", &self.max_response_body)
            .finish_non_exhaustive()
    }
}

impl NetConfig {
    /// Whether any rule allows `scheme`.
    pub fn allows_scheme(&self, scheme: Scheme) -> bool {
        self.rules.iter().any(|r| r.scheme == scheme)
    }
}

/// Why a destination was refused. Never holds a secret: only what the tool itself asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetDenied {
    /// No rule names `scheme://host:port`.
    #[error("{scheme}://{host}:{port} is not in the grant's [net] allow")]
    NotAllowed {
        /// Scheme.
        scheme: Scheme,
        /// Host as the tool wrote it.
        host: String,
        /// Port.
        port: u16,
    },
    /// The host is not a well-formed name or standard address literal.
    #[error("`{0}` is not a valid host (a DNS name or a standard IP literal)")]
    BadHost(String),
    /// The host (or one of its resolved addresses) is in a refused range.
    #[error("{host} resolves to {addr}, a {class} address the grant does not open")]
    Address {
        /// Host as the tool wrote it.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// Its class.
        class: AddressClass,
    },
}

/// Check every address of one destination: all must pass, or the whole destination is refused
/// (a mixed answer is how DNS rebinding smuggles an internal address past a check).
pub fn check_all(policy: &AddressPolicy, host: &Host, addrs: &[IpAddr]) -> Result<(), NetDenied> {
    for &addr in addrs {
        policy.check(addr).map_err(|class| NetDenied::Address {
            host: host.to_string(),
            addr,
            class,
        })?;
    }
    Ok(())
}

/// Host calls every sandbox refuses whatever the grant, as (interface, function, why). WASI has
/// no "denied" answer for some of them (`resolve-addresses` answers
/// `permanent-resolver-failure`), so the audit log takes its decision from here.
pub const ALWAYS_REFUSED: &[(&str, &str, &str)] = &[(
    "wasi:sockets/ip-name-lookup",
    "resolve-addresses",
    "name lookups are not offered: name hosts in the manifest's [net] grant instead",
)];

/// Host calls that only hand the tool an outcome an earlier call decided, as (interface,
/// function): a refused request's `future-incoming-response.get` returns the refusal that
/// `handle` already recorded, so its error is not a second refusal.
pub const REPORTS_ONLY: &[(&str, &str)] =
    &[("wasi:http/types", "[method]future-incoming-response.get")];

/// Set every socket switch of wasmtime-wasi for this grant.
///
/// TCP is on only when a `tcp://` rule exists, and then a connect is allowed only to an address
/// that a `tcp://` rule names (an address literal, or one of the host-resolved addresses of a
/// named rule) and that the address rules allow. The implicit wildcard bind a connect performs
/// is allowed; explicit binds to anything else, listening and accepting are not. UDP and
/// `ip-name-lookup` stay off.
pub(crate) fn apply_sockets(b: &mut WasiCtxBuilder, net: &NetConfig) {
    let tcp_rules: Vec<NetRule> = net
        .rules
        .iter()
        .filter(|r| r.scheme == Scheme::Tcp)
        .cloned()
        .collect();
    b.allow_udp(false).allow_ip_name_lookup(false);
    if tcp_rules.is_empty() {
        b.allow_tcp(false)
            .socket_addr_check(|_, _| Box::pin(std::future::ready(false)));
        return;
    }
    let rules = Arc::new(tcp_rules);
    let addresses = Arc::new(net.addresses.clone());
    let resolver = net.resolver.clone();
    b.allow_tcp(true)
        .socket_addr_check(move |addr: SocketAddr, usage: SocketAddrUse| {
            let rules = rules.clone();
            let addresses = addresses.clone();
            let resolver = resolver.clone();
            Box::pin(async move {
                match usage {
                    SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                    SocketAddrUse::TcpConnect => {
                        tcp_connect_allowed(&rules, &addresses, resolver.as_ref(), addr).await
                    }
                    _ => false,
                }
            })
        });
}

async fn tcp_connect_allowed(
    rules: &[NetRule],
    addresses: &AddressPolicy,
    resolver: &dyn Resolver,
    addr: SocketAddr,
) -> bool {
    let ip = addr.ip();
    let host = Host::Ip(ip);
    let decision = async {
        if addresses.check(ip).is_err() {
            return false;
        }
        if rules
            .iter()
            .any(|r| r.matches(Scheme::Tcp, &host, addr.port()))
        {
            return true;
        }
        // A named rule allows the addresses its name resolves to (checked as a whole, like
        // an HTTP request's). Only names the grant lists are ever looked up.
        for r in rules.iter().filter(|r| r.port == addr.port()) {
            let HostMatch::Name(name) = &r.host else {
                continue;
            };
            let Ok(answers) = resolver.resolve(name).await else {
                continue;
            };
            if answers.contains(&ip) && check_all(addresses, &host, &answers).is_ok() {
                return true;
            }
        }
        false
    };
    let allowed = decision.await;
    tracing::info!(
        target: "wasmgov::net",
        iface = "wasi:sockets/tcp",
        dest = %addr,
        decision = if allowed { "allow" } else { "deny" },
        "tcp connect"
    );
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_in_every_spelling() {
        for a in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.100.100.200",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "203.0.113.7",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(address_class(ip(a)).is_some(), "{a} was not refused");
        }
        assert_eq!(
            address_class(ip("169.254.169.254")),
            Some(AddressClass::Metadata)
        );
        assert_eq!(
            address_class(ip("fd00:ec2::254")),
            Some(AddressClass::Metadata)
        );
        assert_eq!(
            address_class(ip("::ffff:169.254.169.254")),
            Some(AddressClass::Metadata)
        );
    }

    #[test]
    fn global_unicast_is_reachable() {
        for a in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
        ] {
            assert_eq!(address_class(ip(a)), None, "{a}");
        }
    }

    #[test]
    fn a_cidr_opens_an_address_in_any_spelling() {
        let p = AddressPolicy {
            cidrs: vec!["127.0.0.1/32".parse().unwrap()],
        };
        assert!(p.check(ip("127.0.0.1")).is_ok());
        assert!(p.check(ip("::ffff:127.0.0.1")).is_ok());
        assert_eq!(p.check(ip("127.0.0.2")), Err(AddressClass::Loopback));
        assert_eq!(p.check(ip("::1")), Err(AddressClass::Loopback));
    }

    #[test]
    fn hosts_parse_strictly() {
        assert_eq!(Host::parse("127.0.0.1"), Some(Host::Ip(ip("127.0.0.1"))));
        assert_eq!(Host::parse("[::1]"), Some(Host::Ip(ip("::1"))));
        assert_eq!(
            Host::parse("API.Example.com."),
            Some(Host::Name("api.example.com".into()))
        );
        for bad in [
            "2130706433",
            "0x7f.1",
            "0177.0.0.1",
            "127.1",
            "[fe80::1%25eth0]",
            "a_b.com",
            "",
            "exa mple.com",
            "evil.com\0",
            "::1",
        ] {
            assert_eq!(Host::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rules_match_scheme_host_and_port() {
        let r = NetRule {
            scheme: Scheme::Https,
            host: HostMatch::Wildcard("example.com".into()),
            port: 443,
        };
        let h = |s: &str| Host::parse(s).unwrap();
        assert!(r.matches(Scheme::Https, &h("api.example.com"), 443));
        assert!(r.matches(Scheme::Https, &h("a.b.example.com"), 443));
        assert!(!r.matches(Scheme::Https, &h("example.com"), 443));
        assert!(!r.matches(Scheme::Https, &h("evilexample.com"), 443));
        assert!(!r.matches(Scheme::Http, &h("api.example.com"), 443));
        assert!(!r.matches(Scheme::Https, &h("api.example.com"), 8443));
    }
}
