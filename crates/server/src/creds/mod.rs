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

use nfsl_proto::nfs3::Nfsstat3;

use crate::exports::{ExportOptions, Squash};

/// What an unprivileged server (one that cannot switch credentials, not
/// root) does with callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnprivilegedMode {
    /// Every caller acts as the server's own user (as unfs3 does when not
    /// root): the export is that user's, shared with every client.
    #[default]
    MapToServerUser,
    /// Only callers whose mapped uid is the server's own are served;
    /// others get NFS3ERR_ACCES.
    OwnUidOnly,
}

/// Whose rights requests run with, fixed when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerMapping {
    /// The server can switch credentials (root): each caller as mapped by
    /// the export's squashing rules.
    Switch,
    /// It cannot: every caller as the server's own user (`own`), or only
    /// callers that are that user (`only_own`).
    ServerUser {
        /// The server's own credentials.
        own: Credentials,
        /// Refuse callers that map to another uid.
        only_own: bool,
    },
}

impl CallerMapping {
    /// The mapping for this process: [`CallerMapping::Switch`] when it runs
    /// as root, else the server's user as `mode` says.
    pub fn for_this_process(mode: UnprivilegedMode) -> CallerMapping {
        if rustix::process::geteuid().is_root() {
            return CallerMapping::Switch;
        }
        let mut groups: Vec<u32> = rustix::process::getgroups()
            .unwrap_or_default()
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        CallerMapping::ServerUser {
            own: Credentials {
                uid: rustix::process::geteuid().as_raw(),
                gid: rustix::process::getegid().as_raw(),
                groups,
            },
            only_own: mode == UnprivilegedMode::OwnUidOnly,
        }
    }

    /// The credentials a request with (squashed) credentials `mapped`
    /// runs with, or ACCES for a caller this server does not serve.
    pub fn apply(&self, mapped: Credentials) -> Result<Credentials, Nfsstat3> {
        match self {
            CallerMapping::Switch => Ok(mapped),
            CallerMapping::ServerUser { own, only_own } => {
                if *only_own && mapped.uid != own.uid {
                    return Err(Nfsstat3::Acces);
                }
                Ok(own.clone())
            }
        }
    }
}

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
