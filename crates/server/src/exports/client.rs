//! Client specifications: `*`, addresses, networks, host names and
//! wildcard host names.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};

use super::host_names;

/// Which clients an [`ExportRule`](super::ExportRule) applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMatch {
    /// `*` (or an empty client name): every client. Lowest precedence.
    Any,
    /// A single host, written as an address literal or a host name resolved
    /// at parse time. Highest precedence.
    Host {
        /// The specification as written (for listings such as `showmount`).
        spec: String,
        /// Its addresses (IPv4-mapped IPv6 addresses stored as IPv4).
        addrs: Vec<IpAddr>,
    },
    /// An IP network (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `fe80::/10`),
    /// stored with its host bits cleared.
    Network {
        /// The network address.
        addr: IpAddr,
        /// Prefix length: at most 32 for IPv4, 128 for IPv6.
        prefix_len: u8,
    },
    /// A wildcard host name (`*.example.com`, `node[0-9]`), matched against
    /// the client's confirmed reverse name (see `host_names`), looked up
    /// when a request is checked, cached for minutes.
    Wildcard {
        /// The pattern as written.
        pattern: String,
    },
}

impl ClientMatch {
    /// Whether the client at `ip` is covered (IPv4-mapped IPv6 addresses
    /// are treated as IPv4).
    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match self {
            ClientMatch::Any => true,
            ClientMatch::Host { addrs, .. } => addrs.contains(&ip),
            ClientMatch::Network { addr, prefix_len } => {
                mask(ip, *prefix_len).is_some_and(|m| m == *addr)
            }
            ClientMatch::Wildcard { pattern } => {
                host_names::wildcard_matches(pattern, &host_names::name_of(ip))
            }
        }
    }

    /// Precedence rank, as exports(5) orders them: 0 single host, 1
    /// network, 2 wildcard, 3 anyone.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            ClientMatch::Host { .. } => 0,
            ClientMatch::Network { .. } => 1,
            ClientMatch::Wildcard { .. } => 2,
            ClientMatch::Any => 3,
        }
    }

    /// Parses one client specification (without its `(options)`).
    pub(crate) fn parse(
        spec: &str,
        resolve: &dyn Fn(&str) -> Result<Vec<IpAddr>, String>,
    ) -> Result<ClientMatch, String> {
        if spec.is_empty() || spec == "*" {
            return Ok(ClientMatch::Any);
        }
        if spec.starts_with('@') {
            return Err(format!(
                "NIS netgroups are not supported: '{spec}' \
                 (list the hosts, a network or a wildcard name instead)"
            ));
        }
        if spec.starts_with("gss/") {
            return Err(format!("RPCSEC_GSS clients are not supported: '{spec}'"));
        }
        if spec.contains(['*', '?', '[']) {
            let valid = spec
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._*?[]!^".contains(&b));
            if !valid {
                return Err(format!("invalid wildcard host name '{spec}'"));
            }
            return Ok(ClientMatch::Wildcard {
                pattern: spec.to_ascii_lowercase(),
            });
        }
        if let Some((addr, m)) = spec.split_once('/') {
            return parse_network(addr, m).map_err(|e| format!("'{spec}': {e}"));
        }
        if let Ok(ip) = spec.parse::<IpAddr>() {
            let addrs = vec![ip.to_canonical()];
            let spec = spec.to_owned();
            return Ok(ClientMatch::Host { spec, addrs });
        }
        if !is_host_name(spec) {
            return Err(format!("invalid client name '{spec}'"));
        }
        let mut addrs: Vec<IpAddr> = resolve(spec)
            .map_err(|e| format!("cannot resolve host name '{spec}': {e}"))?
            .into_iter()
            .map(|a| a.to_canonical())
            .collect();
        addrs.dedup();
        if addrs.is_empty() {
            return Err(format!("host name '{spec}' has no addresses"));
        }
        Ok(ClientMatch::Host {
            spec: spec.to_owned(),
            addrs,
        })
    }
}

impl fmt::Display for ClientMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientMatch::Any => f.write_str("*"),
            ClientMatch::Host { spec, .. } => f.write_str(spec),
            ClientMatch::Network { addr, prefix_len } => write!(f, "{addr}/{prefix_len}"),
            ClientMatch::Wildcard { pattern } => f.write_str(pattern),
        }
    }
}

/// Resolves a host name with the C library resolver (`/etc/hosts`, DNS...).
pub(crate) fn system_resolver(name: &str) -> Result<Vec<IpAddr>, String> {
    let addrs = (name, 0u16).to_socket_addrs().map_err(|e| e.to_string())?;
    Ok(addrs.map(|a| a.ip()).collect())
}

fn is_host_name(s: &str) -> bool {
    s.len() <= 253
        && !s.starts_with(['-', '.'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

fn parse_network(addr: &str, m: &str) -> Result<ClientMatch, String> {
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("invalid network address '{addr}'"))?;
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let prefix_len = if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) {
        m.parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("prefix length /{m} out of range 0..={max}"))?
    } else {
        match (ip, m.parse::<Ipv4Addr>()) {
            (IpAddr::V4(_), Ok(mask)) => {
                let bits = u32::from(mask);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(format!("netmask {m} is not contiguous"));
                }
                bits.leading_ones() as u8
            }
            _ => return Err(format!("invalid prefix length or netmask '{m}'")),
        }
    };
    // An IPv4-mapped IPv6 network is really an IPv4 network.
    let (ip, prefix_len) = match ip {
        IpAddr::V6(v6) if prefix_len >= 96 && v6.to_ipv4_mapped().is_some() => {
            (ip.to_canonical(), prefix_len - 96)
        }
        _ => (ip, prefix_len),
    };
    let addr = mask(ip, prefix_len).ok_or("invalid prefix length")?;
    Ok(ClientMatch::Network { addr, prefix_len })
}

/// `ip` with all but its first `prefix_len` bits cleared; `None` if the
/// prefix is too long for the address family.
fn mask(ip: IpAddr, prefix_len: u8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(a) if prefix_len <= 32 => {
            let m = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            Some(IpAddr::V4((u32::from(a) & m).into()))
        }
        IpAddr::V6(a) if prefix_len <= 128 => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            Some(IpAddr::V6((u128::from(a) & m).into()))
        }
        _ => None,
    }
}
