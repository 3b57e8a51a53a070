//! The address policy: which hosts and addresses a URL may reach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::error::{IngestError, Result};

/// Which destinations URLs may reach: `FETCH_ALLOW_PRIVATE`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AddressPolicy {
    /// `false`: globally routable addresses only.
    #[default]
    PublicOnly,
    /// `loopback`: also 127.0.0.0/8, `::1` and `localhost` names (local runs, demos, tests).
    Loopback,
    /// `true`: any address, private and link-local included (a user's own network).
    Any,
}

impl AddressPolicy {
    /// Checks what can be checked before any lookup: scheme, userinfo, IP literals in any
    /// spelling (the URL parser normalises decimal, octal and hex IPv4), and `localhost` names.
    pub fn check_url(&self, url: &Url) -> Result<()> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refused(url, &format!("scheme {:?} is not allowed", url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused(url, "URLs with user info are not allowed"));
        }
        match url.host() {
            None => Err(refused(url, "the URL has no host")),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)).map_err(|why| refused(url, &why)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)).map_err(|why| refused(url, &why)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if *self == Self::PublicOnly && (name == "localhost" || name.ends_with(".localhost")) {
                    Err(refused(url, "localhost is not allowed"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Checks one address a name resolved to, or an IP literal.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let allowed = match self {
            Self::PublicOnly => is_public(ip),
            // Canonical, so that ::ffff:127.0.0.1 counts as the loopback it reaches.
            Self::Loopback => is_public(ip) || ip.to_canonical().is_loopback(),
            Self::Any => true,
        };
        if allowed { Ok(()) } else { Err(format!("address {ip} is not a public address")) }
    }
}

fn refused(url: &Url, why: &str) -> IngestError {
    IngestError::UrlNotAllowed(format!("{}: {why}", redacted(url)))
}

/// The URL without query or fragment, which may carry tokens.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// True only for globally routable unicast addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", 0.0.0.0
        || a == 10                             // RFC 1918
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254)              // link-local, instance metadata
        || (a == 172 && (16..32).contains(&b)) // RFC 1918
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast
        || (a == 192 && b == 168)              // RFC 1918
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)    // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // Only global unicast (2000::/3), minus the special blocks inside it.
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] < 0x0200)   // 2001::/23 IETF protocol (Teredo, ORCHID, ...)
        && !(s[0] == 0x2001 && s[1] == 0x0db8)  // documentation
        && s[0] != 0x2002                      // 6to4, embeds any IPv4
        && !(s[0] == 0x3fff && s[1] < 0x1000) // documentation 3fff::/20
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str) -> Result<()> {
        AddressPolicy::PublicOnly.check_url(&Url::parse(raw).unwrap())
    }

    fn allows(policy: AddressPolicy, raw: &str) -> bool {
        policy.check_url(&Url::parse(raw).unwrap()).is_ok()
    }

    /// Private, link-local, unique-local and shared addresses: refused unless `true` opens them.
    const NON_PUBLIC: [&str; 7] = [
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://100.64.0.1/",
    ];

    #[test]
    fn every_spelling_of_a_private_address_is_refused() {
        for raw in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://192.0.2.1/",
            "http://198.51.100.7/",
            "http://203.0.113.9/",
            "http://[2001:db8::1]/",
            "http://[ff02::1]/",
            "http://[fc00::1]/",
            "http://[2002:7f00:1::]/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://0/",
            "http://[64:ff9b::7f00:1]/",
        ]
        .iter()
        .chain(&NON_PUBLIC)
        {
            let err = check(raw).expect_err(raw);
            assert_eq!(err.code(), "url_not_allowed", "{raw}");
        }
    }

    #[test]
    fn schemes_and_userinfo_are_refused() {
        for raw in ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://example.com/", "http://u:p@example.com/"]
        {
            assert_eq!(check(raw).unwrap_err().code(), "url_not_allowed", "{raw}");
        }
    }

    #[test]
    fn public_addresses_and_names_pass() {
        for raw in ["https://example.com/cats/tabby.jpg", "http://93.184.215.14/", "http://[2606:2800:21f:cb07::1]/"] {
            check(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        }
    }

    #[test]
    fn false_allows_public_destinations_only() {
        let policy = AddressPolicy::PublicOnly;
        assert_eq!(AddressPolicy::default(), policy);
        assert!(allows(policy, "http://93.184.215.14/"));
        for raw in ["http://127.0.0.1:8080/", "http://[::1]/", "http://localhost/", "http://10.0.0.1/"] {
            assert!(!allows(policy, raw), "{raw}");
        }
        assert!(policy.check_ip("127.0.0.1".parse().unwrap()).is_err());
    }

    #[test]
    fn loopback_allows_loopback_and_nothing_else_private() {
        let policy = AddressPolicy::Loopback;
        for raw in [
            "http://127.0.0.1:8080/x.png",
            "http://127.1.2.3/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:9000/",
            "http://LOCALHOST./",
            "http://cam.localhost/",
            "http://93.184.215.14/",
            "https://example.com/cats/tabby.jpg",
        ] {
            assert!(allows(policy, raw), "{raw}");
        }
        let others = ["http://[::ffff:10.0.0.1]/", "http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/"];
        for raw in NON_PUBLIC.iter().chain(&others).chain(&["file:///etc/passwd", "http://u:p@127.0.0.1/"]) {
            assert!(!allows(policy, raw), "{raw}");
        }
        assert!(policy.check_ip("127.0.0.53".parse().unwrap()).is_ok());
        assert!(policy.check_ip("169.254.169.254".parse().unwrap()).is_err());
    }

    #[test]
    fn true_allows_every_address_but_not_other_schemes() {
        let policy = AddressPolicy::Any;
        for raw in ["http://127.0.0.1:8080/x.png", "http://10.0.0.1/", "http://169.254.169.254/", "http://localhost/"] {
            assert!(allows(policy, raw), "{raw}");
        }
        assert!(!allows(policy, "file:///etc/passwd"));
        assert!(!allows(policy, "http://u:p@10.0.0.1/"));
    }

    #[test]
    fn refusals_do_not_echo_query_strings() {
        let err = check("http://10.0.0.1/x.png?token=secret").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
