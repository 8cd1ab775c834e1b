//! The guard against server-side request forgery: an endpoint's URL is the business's to
//! choose, so what it reaches is checked where the connection is made. The HTTP client
//! resolves names through [`GuardedResolver`], which drops every address that is not a
//! public unicast one, so a name that resolves (or re-resolves) to loopback, a private
//! network, link-local (the cloud's metadata service), multicast or a reserved range is never
//! connected to; a URL naming such an address literally is refused before any request;
//! redirects are not followed; no proxy is used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::EndpointUrl;

/// How far deliveries may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    /// Only `https` URLs (every deployment on AWS).
    pub https_only: bool,
    /// Loopback addresses too: the local runner's receivers in development and tests.
    pub loopback: bool,
}

impl Reach {
    /// What a deployment allows: public `https` only.
    pub const PUBLIC: Reach = Reach {
        https_only: true,
        loopback: false,
    };
    /// The local runner with `WHATATALK_WEBHOOKS_ALLOW_LOOPBACK=1`: `http` and loopback too.
    pub const LOOPBACK: Reach = Reach {
        https_only: false,
        loopback: true,
    };

    /// Whether a connection to `ip` may be made.
    pub fn allows(self, ip: IpAddr) -> bool {
        is_public(ip) || (self.loopback && ip.is_loopback())
    }

    /// Why `url` may not be registered or called, if it may not: a scheme this deployment
    /// refuses, or a literal address outside its reach. Names are checked when connecting.
    pub fn refusal(self, url: &EndpointUrl) -> Option<&'static str> {
        if self.https_only && !url.is_https() {
            return Some("must be an https URL");
        }
        match url.literal_ip() {
            Some(ip) if !self.allows(ip) => {
                Some("names a private, loopback, link-local or reserved address")
            }
            _ => None,
        }
    }
}

/// A public unicast address: not loopback, private, shared (CGNAT), link-local, multicast,
/// documentation, benchmarking or otherwise reserved, in IPv4 or IPv6 (mapped and NAT64
/// forms are judged by the IPv4 address they carry).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = a == 0                              // "this network"
        || a == 10                                     // private
        || (a == 100 && (64..128).contains(&b))        // shared address space (CGNAT)
        || a == 127                                    // loopback
        || (a == 169 && b == 254)                      // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))         // private
        || (a == 192 && b == 0 && c == 0)              // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)              // documentation
        || (a == 192 && b == 88 && c == 99)            // 6to4 relay anycast
        || (a == 192 && b == 168)                      // private
        || (a == 198 && (b == 18 || b == 19))          // benchmarking
        || (a == 198 && b == 51 && c == 100)           // documentation
        || (a == 203 && b == 0 && c == 113)            // documentation
        || a >= 224; // multicast, reserved, broadcast
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || s[0..6] == [0, 0, 0, 0, 0, 0]                 // IPv4-compatible (deprecated)
        || (s[0] & 0xfe00) == 0xfc00                    // unique local (fd00:ec2::254 is EC2's metadata)
        || (s[0] & 0xffc0) == 0xfe80                    // link-local
        || (s[0] & 0xffc0) == 0xfec0                    // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00                    // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)           // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])     // discard-only
        || (s[0] == 0x2001 && s[1] < 0x0200)            // IETF protocol assignments, Teredo
        || s[0] == 0x2002; // 6to4: carries an IPv4 address of any kind
    !reserved
}

/// Resolves names and keeps only the addresses `reach` allows; none left is an error, so
/// the request fails as a connection error and is retried like one.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    pub reach: Reach,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.reach;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| reach.allows(a.ip()))
                .collect();
            if found.is_empty() {
                return Err("the endpoint's name resolves to no public address".into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Longest wait for an endpoint's answer, connection included.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The client deliveries use: guarded names, no redirects, no proxy, a 10 s deadline.
pub fn client(reach: Reach) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { reach }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(DELIVERY_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent("WhatATalk-Webhooks/1")
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_are_reachable() {
        for bad in [
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
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::",
            "100::1",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(!is_public(ip), "{bad} is not public");
            assert!(!Reach::PUBLIC.allows(ip), "{bad}");
        }
        for good in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(good.parse().unwrap()), "{good} is public");
        }
        assert!(Reach::LOOPBACK.allows("127.0.0.1".parse().unwrap()));
        assert!(Reach::LOOPBACK.allows("::1".parse().unwrap()));
        assert!(!Reach::LOOPBACK.allows("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn urls_are_refused_for_their_scheme_or_literal_address() {
        let url = |u: &str| EndpointUrl::parse(u).unwrap();
        assert!(Reach::PUBLIC
            .refusal(&url("https://hooks.example.com/"))
            .is_none());
        assert!(Reach::PUBLIC
            .refusal(&url("http://hooks.example.com/"))
            .is_some());
        assert!(Reach::PUBLIC.refusal(&url("https://127.0.0.1/")).is_some());
        assert!(Reach::PUBLIC
            .refusal(&url("https://[::ffff:169.254.169.254]/"))
            .is_some());
        assert!(Reach::PUBLIC
            .refusal(&url("https://[fd00:ec2::254]/"))
            .is_some());
        assert!(Reach::LOOPBACK
            .refusal(&url("http://127.0.0.1:9/"))
            .is_none());
        assert!(Reach::LOOPBACK
            .refusal(&url("http://10.0.0.1:9/"))
            .is_some());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_never_connected_to() {
        // `localhost` resolves to loopback here: the public client has nowhere to connect.
        let c = client(Reach::PUBLIC).unwrap();
        let err = c.get("http://localhost:9/").send().await.unwrap_err();
        assert!(err.is_connect() || err.is_request(), "{err}");
    }
}
