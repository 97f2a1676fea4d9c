//! Why NFS calls were refused by an export's rules (client list, `secure`),
//! logged where an admin looks (warnings), at most once a minute for each
//! client address, export and rule: a refused client retries every call,
//! and the log must stay readable.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::exports::{Export, ExportId, Refusal};

/// How often the same refusal is logged at most.
const EVERY: Duration = Duration::from_secs(60);
/// Keys remembered at most; forgotten all at once when full (a flood of
/// addresses may then log again, never grow memory).
const MAX_KEYS: usize = 1024;

/// The last time each refusal was logged.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    logged: Mutex<HashMap<(IpAddr, ExportId, Refusal), Instant>>,
}

impl RefusalLog {
    /// Notes that `peer` was refused `export` for `why`, logging it unless
    /// the same was logged less than a minute ago; whether it was logged.
    pub(crate) fn note(&self, peer: SocketAddr, export: &Export, why: Refusal) -> bool {
        let now = Instant::now();
        let key = (peer.ip(), export.id, why);
        {
            let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
            if logged
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < EVERY)
            {
                return false;
            }
            if logged.len() >= MAX_KEYS {
                logged.clear();
            }
            logged.insert(key, now);
        }
        tracing::warn!(
            "refused NFS calls from {peer}: {}",
            why.explain(peer, export)
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exports::ExportTable;

    #[test]
    fn each_refusal_is_logged_once_a_minute_per_client_and_rule() {
        let table = ExportTable::parse("/srv 192.0.2.1(rw)").unwrap();
        let export = &table.exports[0];
        let log = RefusalLog::default();
        let a: SocketAddr = "198.51.100.1:700".parse().unwrap();
        let b: SocketAddr = "198.51.100.2:700".parse().unwrap();
        assert!(log.note(a, export, Refusal::NotListed));
        assert!(!log.note(a, export, Refusal::NotListed));
        assert!(log.note(a, export, Refusal::InsecurePort));
        assert!(log.note(b, export, Refusal::NotListed));
        let why = Refusal::NotListed.explain(a, export);
        assert!(
            why.contains("198.51.100.1 is not in the client list of /srv (192.0.2.1)"),
            "{why}"
        );
        let why = Refusal::InsecurePort.explain("192.0.2.1:2000".parse().unwrap(), export);
        assert!(
            why.contains("source port 2000") && why.contains("`secure`"),
            "{why}"
        );
    }
}
