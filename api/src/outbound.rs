//! Calls out of the gateway (CONTRACT §9): Stripe's API, restaurants' notification
//! endpoints, the operator's alert receiver.
//!
//! - HTTPS through rustls, with certificate and host-name verification against the
//!   roots OpenSSL and curl would trust: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set,
//!   else the operating system's store. A certificate that does not verify fails the
//!   call with a `tls: …` reason; it is never skipped.
//! - URLs that tenants choose are parsed as WHATWG URLs are (the `url` crate, which
//!   reqwest itself uses: `\` is `/`), userinfo is refused, and the address rule is
//!   applied to every address the host resolves to *when the connection is made* (a
//!   resolver hook), so a name that turned internal after it was saved is refused then.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use url::{Host, Url};

/// Who chose the URLs a client calls.
#[derive(Clone, Copy, Debug)]
pub enum Destinations {
    /// The operator (`STRIPE_API_BASE`, `ALERT_WEBHOOK_URL`): any address.
    Trusted,
    /// A tenant (notification endpoints): public addresses only, unless the operator
    /// allowed private ones (`NOTIFY_ALLOW_PRIVATE`).
    Public { allow_private: bool },
}

/// Makes ring rustls' crypto for the whole process, for any client built without
/// `client` (reqwest refuses to build one otherwise). Called first thing by `main`.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client for `destinations`, each request limited to `timeout`. Redirects are not
/// followed: a redirect would dial an address nobody checked.
pub fn client(timeout: Duration, destinations: Destinations) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls_config());
    if let Destinations::Public { allow_private } = destinations {
        builder = builder.dns_resolver(Arc::new(Guard { allow_private }));
    }
    builder
        .build()
        .expect("a client with rustls and a resolver builds")
}

fn tls_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots())
        .with_no_client_auth()
}

/// The trusted roots, loaded once per process.
fn roots() -> Arc<rustls::RootCertStore> {
    static ROOTS: OnceLock<Arc<rustls::RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            for e in &loaded.errors {
                tracing::warn!(error = %e, "a trusted root certificate could not be loaded");
            }
            let mut store = rustls::RootCertStore::empty();
            let (added, ignored) = store.add_parsable_certificates(loaded.certs);
            let source = match std::env::var_os("SSL_CERT_FILE") {
                Some(file) => format!("SSL_CERT_FILE {}", file.to_string_lossy()),
                None => "the operating system's store".into(),
            };
            if added == 0 {
                tracing::warn!(
                    %source,
                    "no trusted root certificates: every https call will fail (tls: invalid peer certificate); set SSL_CERT_FILE to a PEM bundle"
                );
            } else {
                tracing::debug!(%source, added, ignored, "trusted root certificates loaded");
            }
            Arc::new(store)
        })
        .clone()
}

/// Why a call failed, for an attempt list, a summary or a log: `tls: …` for a
/// certificate or handshake failure, `refused: …` for an address the rule forbids,
/// else the client's own words (never the URL, which may carry a token).
pub fn describe(e: &reqwest::Error) -> String {
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    let mut words = Vec::new();
    while let Some(err) = next {
        if let Some(reason) = named(err) {
            return reason;
        }
        let text = if words.is_empty() {
            reqwest_words(e)
        } else {
            err.to_string()
        };
        if !words.contains(&text) {
            words.push(text);
        }
        next = err.source();
    }
    if e.is_timeout() {
        words.push("timed out".into());
    }
    words.join(": ")
}

/// The reason `err` stands for, if it is (or wraps) a TLS failure or a refusal. The
/// errors in between are often boxed, and an `io::Error`'s `source` skips the error it
/// wraps, so both are opened here.
fn named(err: &(dyn StdError + 'static)) -> Option<String> {
    if let Some(refused) = err.downcast_ref::<Refused>() {
        return Some(refused.to_string());
    }
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(format!("tls: {tls}"));
    }
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        return io.get_ref().and_then(|inner| named(inner));
    }
    None
}

fn reqwest_words(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    // reqwest's own text names the URL in parentheses: leave it out.
    if let Some(at) = e.find(" for url (") {
        e.truncate(at);
    }
    e
}

/// An address the rule refused, found when the host was resolved to dial it.
#[derive(Debug)]
pub struct Refused {
    host: String,
    ip: IpAddr,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused: {} resolves to {}, an internal address (loopback, private, link-local or metadata); only public addresses are allowed",
            self.host, self.ip
        )
    }
}

impl StdError for Refused {}

/// The resolver of `Destinations::Public` clients: every address of the name is
/// checked as it is about to be dialled.
struct Guard {
    allow_private: bool,
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs = lookup(&host).await?;
            if !allow_private
                && let Some(ip) = addrs.iter().map(SocketAddr::ip).find(|ip| is_internal(*ip))
            {
                return Err(Box::new(Refused { host, ip }) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The addresses of `host` (port 0: the caller's port is put in by the client).
async fn lookup(host: &str) -> std::io::Result<Vec<SocketAddr>> {
    #[cfg(feature = "fault-injection")]
    if let Some(addrs) = fake_dns(host) {
        return Ok(addrs);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if addrs.is_empty() {
        return Err(std::io::Error::other(format!("{host} has no address")));
    }
    Ok(addrs)
}

/// With the `fault-injection` feature, `GATEWAY_FAKE_DNS` names a file of `NAME ADDRESS`
/// lines, read at every lookup: the tests make a name resolve to a public address
/// when an endpoint is saved and to loopback when it is called (DNS rebinding).
#[cfg(feature = "fault-injection")]
fn fake_dns(host: &str) -> Option<Vec<SocketAddr>> {
    let path = std::env::var_os("GATEWAY_FAKE_DNS")?;
    let text = std::fs::read_to_string(path).ok()?;
    let addrs: Vec<SocketAddr> = text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(name, _)| name.eq_ignore_ascii_case(host))
        .filter_map(|(_, ip)| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 0))
        .collect();
    (!addrs.is_empty()).then_some(addrs)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("the URL is not an http(s) URL with a host")]
    Malformed,
    #[error("the URL carries a user name or password; credentials do not belong in it")]
    Userinfo,
    #[error("the host does not resolve")]
    Unresolvable,
    #[error(
        "the URL reaches inside the platform (loopback, private, link-local or metadata address); only public addresses are allowed"
    )]
    Internal,
}

/// The URL a tenant gave, parsed as the client will parse it: http(s), a host, no
/// userinfo, and, where the host is an address, a public one (unless `allow_private`).
/// A name's addresses are checked when it is dialled (and by `check_url`).
pub fn parse_target(text: &str, allow_private: bool) -> Result<Url, UrlError> {
    if text.len() > 2000 {
        return Err(UrlError::Malformed);
    }
    let url = Url::parse(text).map_err(|_| UrlError::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Malformed);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Userinfo);
    }
    let ip = match url.host() {
        None => return Err(UrlError::Malformed),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
    };
    if !allow_private && ip.is_some_and(is_internal) {
        return Err(UrlError::Internal);
    }
    Ok(url)
}

/// `parse_target`, and every address the host resolves to now is public: what an
/// endpoint is checked with when it is saved. (When it is called, the resolver checks
/// again: the answer may have changed.)
pub async fn check_url(text: &str, allow_private: bool) -> Result<Url, UrlError> {
    let url = parse_target(text, allow_private)?;
    if let Some(Host::Domain(host)) = url.host() {
        let addrs = lookup(host).await.map_err(|_| UrlError::Unresolvable)?;
        if !allow_private && addrs.iter().any(|a| is_internal(a.ip())) {
            return Err(UrlError::Internal);
        }
    }
    Ok(url)
}

/// True for an address a tenant's URL must not reach: this machine, private and shared
/// networks, link-local (cloud metadata at 169.254.169.254), benchmarking, reserved
/// and multicast ranges, and every IPv6 form of them.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0 // "this network", 0.0.0.0/8
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18/15
        || a >= 240 // reserved, 240/4
}

fn is_internal_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| {
        is_internal_v4(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        ))
    };
    match s {
        // ::/96, IPv4-compatible (:: and ::1 included: 0.0.0.0/8)
        [0, 0, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // ::ffff:0:0/96, IPv4-mapped
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => embedded(hi, lo),
        // ::ffff:0:0:0/96, IPv4-translated
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => embedded(hi, lo),
        // 64:ff9b::/96, NAT64
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // 64:ff9b:1::/48, local-use NAT64
        [0x64, 0xff9b, 1, ..] => true,
        // 2002::/16, 6to4: the IPv4 address is the next 32 bits
        [0x2002, hi, lo, ..] => embedded(hi, lo),
        // 2001::/32, Teredo (its addresses are obfuscated); 2001:db8::/32, documentation
        [0x2001, 0, ..] | [0x2001, 0xdb8, ..] => true,
        // 100::/64, discard
        [0x100, 0, 0, 0, ..] => true,
        [first, ..] => {
            (first & 0xfe00) == 0xfc00 // fc00::/7, unique local
                || (first & 0xffc0) == 0xfe80 // fe80::/10, link-local
                || (first & 0xffc0) == 0xfec0 // fec0::/10, site-local
                || (first & 0xff00) == 0xff00 // ff00::/8, multicast
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_in_every_form() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:0:a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "100::1",
            "fd00::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_read_as_the_client_reads_them() {
        // The backslash is a slash: the host is 127.0.0.1, whatever follows the `@`.
        assert_eq!(
            parse_target("http://127.0.0.1:9\\@1.1.1.1/", false),
            Err(UrlError::Internal)
        );
        assert_eq!(
            parse_target("http://user:pw@1.1.1.1/", false),
            Err(UrlError::Userinfo)
        );
        assert_eq!(
            parse_target("http://1.1.1.1@127.0.0.1/", false),
            Err(UrlError::Userinfo)
        );
        // Numbers written as browsers accept them are still addresses.
        assert_eq!(
            parse_target("http://0x7f.1/", false),
            Err(UrlError::Internal)
        );
        assert_eq!(
            parse_target("http://2130706433/", false),
            Err(UrlError::Internal)
        );
        assert_eq!(
            parse_target("http://[::127.0.0.1]/", false),
            Err(UrlError::Internal)
        );
        assert_eq!(
            parse_target("ftp://example.com/", false),
            Err(UrlError::Malformed)
        );
        assert_eq!(parse_target("http://", false), Err(UrlError::Malformed));
        assert!(parse_target("https://example.com/hook", false).is_ok());
        assert!(parse_target("http://127.0.0.1:9/hook", true).is_ok());
    }

    #[tokio::test]
    async fn names_are_resolved_and_checked_when_saved() {
        assert_eq!(
            check_url("http://localhost/hook", false).await,
            Err(UrlError::Internal)
        );
        assert_eq!(
            check_url("http://[::1]:80/x", false).await,
            Err(UrlError::Internal)
        );
        assert!(check_url("http://localhost:9/hook", true).await.is_ok());
    }
}
