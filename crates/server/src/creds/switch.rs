//! Per-thread switching of filesystem credentials.
//!
//! Linux keeps credentials per thread; the C library's `setgroups`,
//! `setresuid` etc. broadcast a change to every thread of the process (a
//! POSIX requirement), which would let one request's identity leak into
//! another's. So everything here uses the raw system calls, which affect
//! only the calling thread: `setfsuid`/`setfsgid` via `libc::syscall`
//! (rustix has no wrapper) and `setgroups` via
//! [`rustix::thread::set_thread_groups`].

use std::io;
use std::marker::PhantomData;

use rustix::process::Gid;

use super::Credentials;

/// `setfsuid(2)` for this thread; returns the previous fsuid.
fn setfsuid(uid: u32) -> u32 {
    // SAFETY: setfsuid takes one integer argument and touches no memory of
    // ours; it cannot fail, returning the previous fsuid in every case.
    let prev = unsafe { libc::syscall(libc::SYS_setfsuid, libc::c_ulong::from(uid)) };
    prev as u32
}

/// `setfsgid(2)` for this thread; returns the previous fsgid.
fn setfsgid(gid: u32) -> u32 {
    // SAFETY: as for setfsuid: an integer in, the previous fsgid out.
    let prev = unsafe { libc::syscall(libc::SYS_setfsgid, libc::c_ulong::from(gid)) };
    prev as u32
}

/// The current fsuid: `setfsuid(-1)` changes nothing and returns it.
fn current_fsuid() -> u32 {
    setfsuid(u32::MAX)
}

/// The current fsgid: `setfsgid(-1)` changes nothing and returns it.
fn current_fsgid() -> u32 {
    setfsgid(u32::MAX)
}

fn set_groups(groups: &[u32]) -> io::Result<()> {
    let gids: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
    rustix::thread::set_thread_groups(&gids).map_err(io::Error::from)
}

/// Restores the thread's previous filesystem credentials when dropped.
///
/// Not `Send`: it must be dropped on the thread that created it. In async
/// code, never hold it across an `.await`; do the whole filesystem
/// operation synchronously (e.g. in `spawn_blocking`).
#[must_use = "credentials are restored when the guard is dropped"]
#[derive(Debug)]
pub struct CredentialGuard {
    prev_uid: u32,
    prev_gid: u32,
    /// `None` until the groups were changed (restoring them needs
    /// CAP_SETGID even when nothing changed).
    prev_groups: Option<Vec<u32>>,
    _not_send: PhantomData<*const ()>,
}

impl Credentials {
    /// Makes this thread's filesystem accesses use these credentials until
    /// the returned guard is dropped.
    ///
    /// Sets the supplementary groups, then the fsgid, then the fsuid, each
    /// with a per-thread system call and only if it differs from the
    /// thread's current one, and checks that each took effect (`setfsuid`
    /// reports failure only by not changing anything). Changing them
    /// requires CAP_SETUID and CAP_SETGID (i.e. running as root); on failure the
    /// previous credentials are restored and `PermissionDenied` returned.
    ///
    /// While a non-zero fsuid is assumed, the thread lacks the filesystem
    /// capabilities (see [the module docs](super)): resolve handles first.
    pub fn assume(&self) -> io::Result<CredentialGuard> {
        // Only what differs is changed (and later restored): requests
        // usually come with the credentials the thread already has (root
        // with no_root_squash; or the last caller's, on a pool thread), and
        // `setgroups` alone costs microseconds (it installs a new cred).
        let mut guard = CredentialGuard {
            prev_uid: current_fsuid(),
            prev_gid: current_fsgid(),
            prev_groups: None,
            _not_send: PhantomData,
        };
        // From here on, dropping `guard` undoes whatever was done.
        let prev_groups: Vec<u32> = rustix::process::getgroups()
            .map_err(io::Error::from)?
            .into_iter()
            .map(Gid::as_raw)
            .collect();
        if !same_groups(&prev_groups, &self.groups) {
            set_groups(&self.groups)?;
            guard.prev_groups = Some(prev_groups);
        }
        if guard.prev_gid != self.gid {
            setfsgid(self.gid);
            if current_fsgid() != self.gid {
                return Err(denied("setfsgid", self.gid));
            }
        }
        if guard.prev_uid != self.uid {
            setfsuid(self.uid);
            if current_fsuid() != self.uid {
                return Err(denied("setfsuid", self.uid));
            }
        }
        Ok(guard)
    }
}

/// Whether `wanted` names the same supplementary groups as `current`
/// (as `getgroups` reports them: the kernel keeps them sorted).
fn same_groups(current: &[u32], wanted: &[u32]) -> bool {
    if current.len() != wanted.len() {
        return false;
    }
    let mut sorted = wanted.to_vec();
    sorted.sort_unstable();
    let mut current = current.to_vec();
    current.sort_unstable();
    sorted == current
}

fn denied(call: &str, id: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{call}({id}) had no effect (not running as root?)"),
    )
}

impl Drop for CredentialGuard {
    fn drop(&mut self) {
        if current_fsuid() != self.prev_uid {
            setfsuid(self.prev_uid);
        }
        if current_fsgid() != self.prev_gid {
            setfsgid(self.prev_gid);
        }
        let groups = match &self.prev_groups {
            Some(g) => set_groups(g),
            None => Ok(()),
        };
        if groups.is_err() || current_fsuid() != self.prev_uid || current_fsgid() != self.prev_gid {
            // The thread would go on serving requests as the wrong user.
            // Restoring credentials we held a moment ago cannot normally
            // fail, so this is unrecoverable.
            tracing::error!(
                ?groups,
                "failed to restore filesystem credentials; aborting"
            );
            std::process::abort();
        }
    }
}

/// Read-only probes of this thread's fsuid/fsgid, for tests.
#[cfg(test)]
pub(super) mod probe {
    /// This thread's fsuid.
    pub fn fsuid() -> u32 {
        super::current_fsuid()
    }
    /// This thread's fsgid.
    pub fn fsgid() -> u32 {
        super::current_fsgid()
    }
}
