//! Who a FUSE request is from, and the client session that speaks to the
//! server as that user: every request goes with the calling process's
//! uid, gid and supplementary groups as AUTH_SYS, so the server decides
//! permissions, as with the kernel NFS client.

use std::collections::HashMap;
use std::sync::Mutex;

use nfsl_client::Nfs;

/// Sessions kept at most; the least recently used one is dropped past
/// that (its connection closes once no open file uses it).
const MAX_SESSIONS: usize = 64;

/// An AUTH_SYS identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (at most 16 are sent).
    pub gids: Vec<u32>,
}

impl Identity {
    /// The caller of a request: uid and gid from the request, groups from
    /// `/proc/PID/status` (none when the process is gone or the file
    /// cannot be read: the server then decides on uid and gid alone).
    pub fn of_caller(uid: u32, gid: u32, pid: u32) -> Identity {
        let gids = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| parse_groups(&status))
            .unwrap_or_default();
        Identity { uid, gid, gids }
    }
}

/// The `Groups:` line of a `/proc/PID/status` text.
pub fn parse_groups(status: &str) -> Option<Vec<u32>> {
    let line = status.lines().find_map(|l| l.strip_prefix("Groups:"))?;
    let mut gids: Vec<u32> = line
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    gids.truncate(16);
    Some(gids)
}

/// One client session per identity, made on first use.
pub struct Sessions {
    base: Nfs,
    base_identity: Identity,
    /// `uid=`/`gid=` given: every request uses `base`.
    fixed: bool,
    map: tokio::sync::Mutex<HashMap<Identity, Nfs>>,
    order: Mutex<Vec<Identity>>,
}

impl Sessions {
    /// Sessions derived from `base`, the mount's own (whose identity is
    /// `base_identity`); with `fixed`, every request uses `base`.
    pub fn new(base: Nfs, base_identity: Identity, fixed: bool) -> Sessions {
        Sessions {
            base,
            base_identity,
            fixed,
            map: tokio::sync::Mutex::new(HashMap::new()),
            order: Mutex::new(Vec::new()),
        }
    }

    /// The mount's own session.
    pub fn base(&self) -> &Nfs {
        &self.base
    }

    /// The session for `who`.
    pub async fn get(&self, who: &Identity) -> nfsl_client::Result<Nfs> {
        if self.fixed || *who == self.base_identity {
            return Ok(self.base.clone());
        }
        let mut map = self.map.lock().await;
        self.touch(who);
        if let Some(nfs) = map.get(who) {
            return Ok(nfs.clone());
        }
        let nfs = self.base.with_identity(who.uid, who.gid, &who.gids).await?;
        tracing::debug!(
            "new session for uid {} gid {} groups {:?}",
            who.uid,
            who.gid,
            who.gids
        );
        map.insert(who.clone(), nfs.clone());
        if map.len() > MAX_SESSIONS {
            let oldest = self
                .order
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(0);
            map.remove(&oldest);
        }
        Ok(nfs)
    }

    fn touch(&self, who: &Identity) {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        order.retain(|i| i != who);
        order.push(who.clone());
    }

    /// Every session now (the base first), for statistics.
    pub async fn all(&self) -> Vec<Nfs> {
        let mut all = vec![self.base.clone()];
        all.extend(self.map.lock().await.values().cloned());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_from_proc_status() {
        let status = "Name:\tx\nUid:\t0\t0\t0\t0\nGroups:\t4 24 27 \nNStgid:\t1\n";
        assert_eq!(parse_groups(status), Some(vec![4, 24, 27]));
        assert_eq!(parse_groups("Groups:\n"), Some(vec![]));
        assert_eq!(parse_groups("Name: x\n"), None);
        let many: String = (0..40).map(|g| format!(" {g}")).collect();
        assert_eq!(parse_groups(&format!("Groups:{many}\n")).unwrap().len(), 16);
    }

    #[test]
    fn own_process_groups_are_read() {
        let me = Identity::of_caller(0, 0, std::process::id());
        let expected: Vec<u32> = rustix::process::getgroups()
            .unwrap()
            .into_iter()
            .map(|g| g.as_raw())
            .take(16)
            .collect();
        assert_eq!(me.gids, expected);
    }
}
