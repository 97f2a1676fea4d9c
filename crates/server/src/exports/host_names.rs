//! The host name of a client address, for wildcard rules (`*.example.com`):
//! a reverse lookup confirmed by a forward one (the name must resolve back
//! to the address, so whoever controls an address's PTR record cannot
//! claim a name in someone else's domain), as rpc.mountd does. An address
//! with no confirmed name is named by its numeric form (so `192.0.2.*`
//! works as a wildcard too, as with knfsd).
//!
//! Lookups block and may be slow, so each answer is cached for a while;
//! the cache is bounded (a flood of new addresses empties it, it never
//! grows without limit).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a confirmed name is reused.
const NAME_TTL: Duration = Duration::from_secs(300);
/// How long "no confirmed name" is reused (a fixed DNS is seen soon).
const NO_NAME_TTL: Duration = Duration::from_secs(30);
/// Addresses kept at most; the cache is emptied when it is full.
const MAX_CACHED: usize = 4096;

type Cache = HashMap<IpAddr, (Instant, Option<String>)>;

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The name wildcard rules match `ip` against (lowercase).
pub(crate) fn name_of(ip: IpAddr) -> String {
    let now = Instant::now();
    let cached = {
        let c = cache().lock().unwrap_or_else(|p| p.into_inner());
        c.get(&ip).and_then(|(at, name)| {
            let ttl = if name.is_some() {
                NAME_TTL
            } else {
                NO_NAME_TTL
            };
            (now.duration_since(*at) < ttl).then(|| name.clone())
        })
    };
    let name = match cached {
        Some(name) => name,
        None => {
            let name = confirmed_name(ip);
            let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
            if c.len() >= MAX_CACHED {
                c.clear();
            }
            c.insert(ip, (now, name.clone()));
            name
        }
    };
    name.unwrap_or_else(|| ip.to_string())
}

/// The reverse name of `ip` if it resolves back to `ip`.
fn confirmed_name(ip: IpAddr) -> Option<String> {
    let name = dns_lookup::lookup_addr(&ip).ok()?;
    if name.parse::<IpAddr>().is_ok() {
        return None; // no PTR record: getnameinfo gave the number back
    }
    let forward = dns_lookup::lookup_host(&name).ok()?;
    forward
        .into_iter()
        .any(|a| a.to_canonical() == ip)
        .then(|| name.to_ascii_lowercase())
}

/// Whether `name` matches the shell pattern `pattern` (`*`, `?`, `[...]`
/// with ranges and `!`/`^` negation), case-insensitively, as fnmatch(3)
/// without flags does for host names.
pub(crate) fn wildcard_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    // Iterative matching with one backtrack point for the last `*`:
    // linear in practice, never exponential.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => {
                pi += 1;
                ni += 1;
                continue;
            }
            Some('[') => {
                if let Some((matched, next)) = class_matches(&p, pi, n[ni]) {
                    if matched {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                } else if n[ni] == '[' {
                    // An unclosed `[` is literal.
                    pi += 1;
                    ni += 1;
                    continue;
                }
            }
            Some(&c) if c == n[ni] => {
                pi += 1;
                ni += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether `c` is in the bracket expression starting at `p[start]`, and
/// the index after it; `None` if the bracket is not closed.
fn class_matches(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let &lo = p.get(i)?;
        if lo == ']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&hi| hi != ']') {
            let hi = p[i + 2];
            found |= lo <= c && c <= hi;
            i += 3;
        } else {
            found |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_as_fnmatch() {
        let yes = [
            ("*.example.com", "a.example.com"),
            ("*.example.com", "a.b.EXAMPLE.com"),
            ("host?", "host1"),
            ("host[0-9]", "host7"),
            ("host[!0-9]", "hostx"),
            ("*", "anything"),
            ("192.0.2.*", "192.0.2.77"),
            ("a*b*c", "aXbYbZc"),
        ];
        for (p, n) in yes {
            assert!(wildcard_matches(p, n), "{p} {n}");
        }
        let no = [
            ("*.example.com", "example.com"),
            ("*.example.com", "a.example.com.evil"),
            ("host?", "host12"),
            ("host[0-9]", "hostx"),
            ("host[!0-9]", "host7"),
            ("192.0.2.*", "192.0.20"),
        ];
        for (p, n) in no {
            assert!(!wildcard_matches(p, n), "{p} {n}");
        }
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        let name = "a".repeat(200);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!wildcard_matches(&pattern, &name));
    }

    #[test]
    fn loopback_is_named_from_etc_hosts() {
        // /etc/hosts names 127.0.0.1 localhost, forward and back.
        let name = name_of("127.0.0.1".parse().unwrap());
        assert!(wildcard_matches("local*", &name), "{name}");
    }
}
