//! `nfs://` URLs in libnfs's form:
//! `nfs://host[:port]/export/path?version=3&nfsport=N&mountport=N&uid=N&gid=N`.
//!
//! Decisions, so the same URL means the same thing here and in libnfs:
//! - `host` may be a name, an IPv4 address or a bracketed IPv6 address;
//!   a `:port` after it is the NFS port (as `nfsport=`; both may be given
//!   only if they agree);
//! - `version` must be 3 when present (this client speaks NFSv3 only);
//! - libnfs options that only tune libnfs itself (`debug`, `dircache`,
//!   `autoreconnect`, `auto-traverse-mounts`, `tcp-syncnt`,
//!   `pagecache`, `timeo`, `retrans`, `if`, `sec`) are accepted and
//!   ignored; any other option is an error, so a typo such as `nfport=`
//!   is reported rather than silently dropped;
//! - `localio=auto|on|off` and `direct=auto|always|never` (nfsl's own)
//!   set [`crate::ClientConfig::localio`] and [`crate::ClientConfig::direct`]
//!   (see [`crate::local`]); `localio-socket=PATH` sets
//!   [`crate::ClientConfig::localio_socket`] (a server started with another
//!   socket than the default); `readahead=N` (libnfs's name) and
//!   `write-behind=N` set [`crate::ClientConfig::readahead`] and
//!   [`crate::ClientConfig::write_behind`], in bytes;
//! - the path is taken as written (no percent-decoding), must be absolute,
//!   and an empty path means `/`.

use std::fmt;

use crate::local::{direct_str, parse_direct, DirectPolicy, LocalioMode};

/// A parsed `nfs://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsUrl {
    /// Server host name or address (IPv6 without brackets).
    pub host: String,
    /// NFS port (`:port` or `nfsport=`); `None` asks the portmapper.
    pub nfs_port: Option<u16>,
    /// MOUNT port (`mountport=`); `None` asks the portmapper.
    pub mount_port: Option<u16>,
    /// Absolute path on the server: the export followed by the path inside
    /// it, e.g. `/srv/export/dir/file`.
    pub path: String,
    /// AUTH_SYS uid to use (`uid=`), overriding the configuration.
    pub uid: Option<u32>,
    /// AUTH_SYS gid to use (`gid=`), overriding the configuration.
    pub gid: Option<u32>,
    /// `localio=auto|on|off`, overriding the configuration.
    pub localio: Option<LocalioMode>,
    /// `direct=auto|always|never`, overriding the configuration.
    pub direct: Option<DirectPolicy>,
    /// `readahead=N` (bytes), overriding the configuration.
    pub readahead: Option<usize>,
    /// `write-behind=N` (bytes), overriding the configuration.
    pub write_behind: Option<usize>,
    /// `localio-socket=PATH`, overriding the configuration.
    pub localio_socket: Option<std::path::PathBuf>,
}

/// Why a string is not a usable `nfs://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid NFS URL {url:?}: {reason}")]
pub struct UrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

/// libnfs options that do not change what this client does.
const IGNORED_OPTIONS: &[&str] = &[
    "debug",
    "dircache",
    "autoreconnect",
    "auto-traverse-mounts",
    "tcp-syncnt",
    "pagecache",
    "timeo",
    "retrans",
    "if",
    "sec",
];

impl NfsUrl {
    /// Parses a libnfs-style URL (see the module documentation).
    pub fn parse(s: &str) -> Result<NfsUrl, UrlError> {
        let err = |reason: String| UrlError {
            url: s.to_string(),
            reason,
        };
        let rest = s
            .strip_prefix("nfs://")
            .ok_or_else(|| err("must start with nfs://".into()))?;
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.find('/') {
            Some(i) => before_query.split_at(i),
            None => (before_query, ""),
        };
        let authority = match authority.rsplit_once('@') {
            Some(_) => return Err(err("user names in the URL are not supported".into())),
            None => authority,
        };
        let (host, port) = split_host_port(authority).map_err(err)?;
        if host.is_empty() {
            return Err(err("no host".into()));
        }
        let mut url = NfsUrl {
            host,
            nfs_port: port,
            mount_port: None,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            uid: None,
            gid: None,
            localio: None,
            direct: None,
            readahead: None,
            write_behind: None,
            localio_socket: None,
        };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let num = |what: &str| -> Result<u32, UrlError> {
                value
                    .parse::<u32>()
                    .map_err(|_| err(format!("{what}={value:?} is not a number")))
            };
            let port = |what: &str| -> Result<u16, UrlError> {
                match value.parse::<u16>() {
                    Ok(p) if p != 0 => Ok(p),
                    _ => Err(err(format!("{what}={value:?} is not a port number"))),
                }
            };
            match key {
                "version" => {
                    if value != "3" {
                        return Err(err(format!(
                            "version={value} is not supported (this client speaks NFSv3 only)"
                        )));
                    }
                }
                "nfsport" => {
                    let p = port("nfsport")?;
                    if url.nfs_port.is_some_and(|q| q != p) {
                        return Err(err("the host's :port and nfsport= disagree".into()));
                    }
                    url.nfs_port = Some(p);
                }
                "mountport" => url.mount_port = Some(port("mountport")?),
                "uid" => url.uid = Some(num("uid")?),
                "gid" => url.gid = Some(num("gid")?),
                "localio" => {
                    url.localio =
                        Some(LocalioMode::parse(value).ok_or_else(|| {
                            err(format!("localio={value:?} must be auto, on or off"))
                        })?)
                }
                "direct" => {
                    url.direct = Some(parse_direct(value).ok_or_else(|| {
                        err(format!("direct={value:?} must be auto, always or never"))
                    })?)
                }
                "readahead" => url.readahead = Some(num("readahead")? as usize),
                "write-behind" => url.write_behind = Some(num("write-behind")? as usize),
                "localio-socket" => {
                    if !value.starts_with('/') || value.contains('&') {
                        return Err(err(format!(
                            "localio-socket={value:?} must be an absolute path"
                        )));
                    }
                    url.localio_socket = Some(value.into());
                }
                k if IGNORED_OPTIONS.contains(&k) => {}
                k => return Err(err(format!("unknown option {k:?}"))),
            }
        }
        Ok(url)
    }

    /// The URL of `path` (absolute) on the same server with the same options.
    pub fn with_path(&self, path: &str) -> NfsUrl {
        NfsUrl {
            path: path.to_string(),
            ..self.clone()
        }
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed [ in IPv6 host")?;
        // Brackets are for IPv6 literals only: anything else (`[[]`, `[x]`)
        // would be a host that cannot be written back as a URL.
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("[{h}] is not an IPv6 address"));
        }
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or("junk after ]")?)),
        }
    } else if authority.contains(['[', ']']) {
        return Err(format!(
            "{authority:?}: brackets only enclose an IPv6 address"
        ));
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => Some(n),
            _ => return Err(format!("{p:?} is not a port number")),
        },
    };
    Ok((host.to_string(), port))
}

impl fmt::Display for NfsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "nfs://[{}]{}", self.host, self.path)?;
        } else {
            write!(f, "nfs://{}{}", self.host, self.path)?;
        }
        f.write_str("?version=3")?;
        if let Some(p) = self.nfs_port {
            write!(f, "&nfsport={p}")?;
        }
        if let Some(p) = self.mount_port {
            write!(f, "&mountport={p}")?;
        }
        if let Some(u) = self.uid {
            write!(f, "&uid={u}")?;
        }
        if let Some(g) = self.gid {
            write!(f, "&gid={g}")?;
        }
        if let Some(m) = self.localio {
            write!(f, "&localio={}", m.as_str())?;
        }
        if let Some(d) = self.direct {
            write!(f, "&direct={}", direct_str(d))?;
        }
        if let Some(r) = self.readahead {
            write!(f, "&readahead={r}")?;
        }
        if let Some(w) = self.write_behind {
            write!(f, "&write-behind={w}")?;
        }
        if let Some(s) = &self.localio_socket {
            write!(f, "&localio-socket={}", s.display())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_libnfs_form() {
        let u = NfsUrl::parse(
            "nfs://127.0.0.1/srv/x/f?version=3&nfsport=2049&mountport=20048&uid=7&gid=8",
        )
        .unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!((u.nfs_port, u.mount_port), (Some(2049), Some(20048)));
        assert_eq!(u.path, "/srv/x/f");
        assert_eq!((u.uid, u.gid), (Some(7), Some(8)));
        assert_eq!(NfsUrl::parse(&u.to_string()).unwrap(), u);
    }

    #[test]
    fn localio_and_direct_options() {
        let u = NfsUrl::parse("nfs://h/e?localio=on&direct=always").unwrap();
        assert_eq!(u.localio, Some(LocalioMode::On));
        assert_eq!(u.direct, Some(DirectPolicy::Always));
        assert_eq!(NfsUrl::parse(&u.to_string()).unwrap(), u);
        let u = NfsUrl::parse("nfs://h/e?localio=off&direct=never").unwrap();
        assert_eq!(
            (u.localio, u.direct),
            (Some(LocalioMode::Off), Some(DirectPolicy::Never))
        );
        let u = NfsUrl::parse("nfs://h/e?localio=auto&direct=auto").unwrap();
        assert_eq!(
            (u.localio, u.direct),
            (Some(LocalioMode::Auto), Some(DirectPolicy::Auto))
        );
        assert_eq!(NfsUrl::parse("nfs://h/e").unwrap().localio, None);
    }

    #[test]
    fn readahead_option_is_libnfs_s_bytes() {
        let u = NfsUrl::parse("nfs://h/e?readahead=1048576&write-behind=0").unwrap();
        assert_eq!((u.readahead, u.write_behind), (Some(1 << 20), Some(0)));
        assert_eq!(NfsUrl::parse(&u.to_string()).unwrap(), u);
        assert!(NfsUrl::parse("nfs://h/e?readahead=lots").is_err());
    }

    #[test]
    fn localio_socket_option_is_an_absolute_path() {
        let u = NfsUrl::parse("nfs://h/e?localio-socket=/run/x/l.sock").unwrap();
        assert_eq!(u.localio_socket.as_deref(), Some("/run/x/l.sock".as_ref()));
        assert_eq!(NfsUrl::parse(&u.to_string()).unwrap(), u);
        assert!(NfsUrl::parse("nfs://h/e?localio-socket=rel.sock").is_err());
    }

    #[test]
    fn host_port_ipv6_and_defaults() {
        let u = NfsUrl::parse("nfs://[::1]:2050").unwrap();
        assert_eq!(
            (u.host.as_str(), u.nfs_port, u.path.as_str()),
            ("::1", Some(2050), "/")
        );
        assert_eq!(NfsUrl::parse(&u.to_string()).unwrap(), u);
        let u = NfsUrl::parse("nfs://server/export?debug=2").unwrap();
        assert_eq!((u.nfs_port, u.mount_port), (None, None));
    }

    #[test]
    fn rejects_bad_urls_clearly() {
        for (s, needle) in [
            ("http://x/y", "nfs://"),
            ("nfs://x/y?version=4", "NFSv3 only"),
            ("nfs://x/y?nfport=1", "unknown option"),
            ("nfs://x:0/y", "port"),
            ("nfs://x/y?mountport=70000", "port"),
            ("nfs:///y", "no host"),
            ("nfs://x:1/y?nfsport=2", "disagree"),
            ("nfs://x/y?uid=-1", "number"),
            ("nfs://x/y?localio=yes", "auto, on or off"),
            ("nfs://x/y?direct=sometimes", "auto, always or never"),
            ("nfs://[[]/y", "not an IPv6 address"),
            ("nfs://[host]/y", "not an IPv6 address"),
            ("nfs://a]b/y", "brackets"),
        ] {
            let e = NfsUrl::parse(s).unwrap_err();
            assert!(e.to_string().contains(needle), "{s}: {e}");
        }
    }
}
