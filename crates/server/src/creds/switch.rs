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

/// This thread's filesystem credentials as this module last set or read
/// them. Only this module changes them (with per-thread system calls), so
/// after one probe per thread they are known without asking the kernel:
/// a switch to what the thread already has costs no system call.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    uid: u32,
    gid: u32,
    /// Sorted, as the kernel keeps them.
    groups: Vec<u32>,
}

thread_local! {
    static KNOWN: std::cell::RefCell<Option<Known>> = const { std::cell::RefCell::new(None) };
}

/// The thread's credentials (probed from the kernel the first time).
fn known() -> io::Result<Known> {
    if let Some(k) = KNOWN.with(|k| k.borrow().clone()) {
        return Ok(k);
    }
    let mut groups: Vec<u32> = rustix::process::getgroups()
        .map_err(io::Error::from)?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    groups.sort_unstable();
    let k = Known {
        uid: current_fsuid(),
        gid: current_fsgid(),
        groups,
    };
    set_known(Some(k.clone()));
    Ok(k)
}

fn set_known(k: Option<Known>) {
    KNOWN.with(|cell| *cell.borrow_mut() = k);
}

fn sorted(groups: &[u32]) -> Vec<u32> {
    let mut g = groups.to_vec();
    g.sort_unstable();
    g.dedup();
    g
}

/// Switches this thread to `want`, changing only what differs from
/// `from`, and checks that each change took effect (`setfsuid` reports
/// failure only by not changing anything). Updates the known state to
/// what the thread has afterwards, also on failure.
fn switch(from: &Known, want: &Known) -> io::Result<()> {
    let mut now = from.clone();
    let result = (|| {
        if now.groups != want.groups {
            set_groups(&want.groups)?;
            now.groups = want.groups.clone();
        }
        if now.gid != want.gid {
            setfsgid(want.gid);
            now.gid = current_fsgid();
            if now.gid != want.gid {
                return Err(denied("setfsgid", want.gid));
            }
        }
        if now.uid != want.uid {
            setfsuid(want.uid);
            now.uid = current_fsuid();
            if now.uid != want.uid {
                return Err(denied("setfsuid", want.uid));
            }
        }
        Ok(())
    })();
    set_known(Some(now));
    result
}

/// Restores the thread's previous filesystem credentials when dropped.
///
/// Not `Send`: it must be dropped on the thread that created it. In async
/// code, never hold it across an `.await`; do the whole filesystem
/// operation synchronously (e.g. in `spawn_blocking`).
#[must_use = "credentials are restored when the guard is dropped"]
#[derive(Debug)]
pub struct CredentialGuard {
    prev: Known,
    _not_send: PhantomData<*const ()>,
}

impl Credentials {
    /// Makes this thread's filesystem accesses use these credentials until
    /// the returned guard is dropped.
    ///
    /// Sets the supplementary groups, then the fsgid, then the fsuid, each
    /// with a per-thread system call and only if it differs from the
    /// thread's current one (known without a system call after the
    /// thread's first switch), and checks that each took effect. Changing
    /// them requires CAP_SETUID and CAP_SETGID (i.e. running as root); on
    /// failure the previous credentials are restored and
    /// `PermissionDenied` returned.
    ///
    /// While a non-zero fsuid is assumed, the thread lacks the filesystem
    /// capabilities (see [the module docs](super)): resolve handles first.
    pub fn assume(&self) -> io::Result<CredentialGuard> {
        let prev = known()?;
        let want = Known {
            uid: self.uid,
            gid: self.gid,
            groups: sorted(&self.groups),
        };
        // From here on, dropping `guard` undoes whatever was done.
        let guard = CredentialGuard {
            prev: prev.clone(),
            _not_send: PhantomData,
        };
        if want != prev {
            switch(&prev, &want)?;
        }
        Ok(guard)
    }
}

fn denied(call: &str, id: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{call}({id}) had no effect (not running as root?)"),
    )
}

impl Drop for CredentialGuard {
    fn drop(&mut self) {
        let now = KNOWN.with(|k| k.borrow().clone());
        let restored = match now {
            Some(now) if now == self.prev => Ok(()),
            Some(now) => switch(&now, &self.prev),
            None => {
                set_known(None);
                known().and_then(|now| switch(&now, &self.prev))
            }
        };
        if let Err(e) = restored {
            // The thread would go on serving requests as the wrong user.
            // Restoring credentials we held a moment ago cannot normally
            // fail, so this is unrecoverable.
            tracing::error!(error = %e, "failed to restore filesystem credentials; aborting");
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
