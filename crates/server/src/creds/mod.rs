//! Who a caller is, and acting as them on the local filesystem.
//!
//! [`ExportOptions::credentials_for`] maps an RPC caller ([`CallerIdentity`])
//! to local [`Credentials`] by the export's squashing rules, exactly as knfsd
//! does. [`Credentials::assume`] then switches the *current thread's*
//! filesystem uid, gid and supplementary groups to them, so the kernel makes
//! every permission decision (modes, ACLs, sticky bits, ownership of new
//! files) as it would for that local user.
//!
//! Ordering rule: resolve file handles *before* assuming credentials.
//! Changing the fsuid away from 0 makes the kernel drop CAP_CHOWN,
//! CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID and
//! CAP_MAC_OVERRIDE from the thread's effective set (they return when the
//! fsuid goes back to 0), and `open_by_handle_at` needs CAP_DAC_READ_SEARCH.

mod switch;

#[cfg(test)]
mod tests;
#[cfg(test)]
use switch::probe as switch_probe;

pub use switch::CredentialGuard;

use crate::exports::{ExportOptions, Squash};

/// The caller as the RPC layer authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerIdentity {
    /// AUTH_NONE: always mapped to the export's anonymous uid/gid.
    Anonymous,
    /// AUTH_SYS (AUTH_UNIX) credentials as sent by the client.
    Unix {
        /// Claimed uid.
        uid: u32,
        /// Claimed primary gid.
        gid: u32,
        /// Claimed supplementary gids (at most 16 on the wire).
        groups: Vec<u32>,
    },
}

/// The local identity a request runs as, after squashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Filesystem uid.
    pub uid: u32,
    /// Filesystem gid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// The invalid id `(uid_t)-1`, which is never used as an identity.
const INVALID_ID: u32 = u32::MAX;

impl ExportOptions {
    /// Maps `caller` to local credentials under these options (knfsd's
    /// `nfsd_setuser`):
    /// - AUTH_NONE and `all_squash`: anonuid/anongid, no groups;
    /// - `root_squash`: uid 0 becomes anonuid, gid 0 becomes anongid, and
    ///   every 0 in the supplementary groups is replaced by anongid;
    /// - `no_root_squash`: as sent.
    ///
    /// In every case a uid or gid of `-1` becomes anonuid/anongid and `-1`
    /// is dropped from the groups (the kernel rejects it).
    pub fn credentials_for(&self, caller: &CallerIdentity) -> Credentials {
        let anon = Credentials {
            uid: self.anon_uid,
            gid: self.anon_gid,
            groups: Vec::new(),
        };
        let CallerIdentity::Unix { uid, gid, groups } = caller else {
            return anon;
        };
        let mut c = Credentials {
            uid: *uid,
            gid: *gid,
            groups: groups.clone(),
        };
        match self.squash {
            Squash::All => return anon,
            Squash::Root => {
                if c.uid == 0 {
                    c.uid = self.anon_uid;
                }
                if c.gid == 0 {
                    c.gid = self.anon_gid;
                }
                for g in &mut c.groups {
                    if *g == 0 {
                        *g = self.anon_gid;
                    }
                }
            }
            Squash::None => {}
        }
        if c.uid == INVALID_ID {
            c.uid = self.anon_uid;
        }
        if c.gid == INVALID_ID {
            c.gid = self.anon_gid;
        }
        c.groups.retain(|g| *g != INVALID_ID);
        c
    }
}
