//! MOUNT v3 (RFC 1813 appendix I): how clients get an export's first
//! file handle, and the bookkeeping `showmount` reads.
//!
//! MNT accepts an export's path or any directory below it, because libnfs
//! mounts the directory it is about to use (`nfs-cat nfs://h/export/sub/f`
//! mounts `/export/sub`), as knfsd's rpc.mountd allows. The path is matched
//! lexically (after dropping `.` and repeated `/`) against the canonical
//! export paths, longest match first; the rest is walked from the export
//! root one component at a time without following symlinks, so a mount
//! request can never leave the export. `..` is refused outright.
//!
//! Refusals follow rpc.mountd: a path under no export, a client the
//! export's rules do not admit, and an unprivileged source port on a
//! `secure` export are all MNT3ERR_ACCES.
//!
//! The mount list (DUMP, UMNT, UMNTALL) is advisory, as in every server:
//! NFSv3 is stateless and clients that never unmount are common, so it is
//! kept in memory only and bounded.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use nfsl_proto::mount3::*;
use nfsl_proto::nfs3::NfsFh3;
use nfsl_rpc_service::{CallContext, CallOutcome};
use rustix::fs::{openat, Mode, OFlags};
use rustix::io::Errno;

use crate::handle::{FileHandle, HandleError};
use crate::names::{validate_name, NameError};
use crate::nfs3::run;
use crate::reload::ExportRuntime;
use crate::server::ProgramState;

/// Most mount records kept; beyond this, new mounts still succeed but are
/// not recorded (the list only feeds `showmount`).
const MAX_MOUNT_RECORDS: usize = 10_000;

/// `AUTH_SYS`, the only flavor offered (what knfsd's mountd answers for
/// `sec=sys`; AUTH_NONE callers are served as the anonymous user anyway).
const AUTH_SYS: u32 = 1;

/// Mount records for DUMP: (client address, mounted path).
#[derive(Debug, Default)]
pub(crate) struct MountTable {
    records: Mutex<BTreeSet<(String, Vec<u8>)>>,
}

impl MountTable {
    /// The records; a panic elsewhere cannot corrupt a set of strings, so a
    /// poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, BTreeSet<(String, Vec<u8>)>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, host: String, path: Vec<u8>) {
        let mut records = self.lock();
        if records.len() < MAX_MOUNT_RECORDS {
            records.insert((host, path));
        } else {
            tracing::debug!(%host, "mount list full; mount not recorded");
        }
    }

    fn remove(&self, host: &str, path: &[u8]) {
        self.lock().retain(|(h, p)| !(h == host && p == path));
    }

    fn remove_host(&self, host: &str) {
        self.lock().retain(|(h, _)| h != host);
    }

    fn list(&self) -> MountList {
        MountList(
            self.lock()
                .iter()
                .map(|(h, p)| MountBody {
                    hostname: MountName(h.as_bytes().to_vec()),
                    directory: Dirpath(p.clone()),
                })
                .collect(),
        )
    }
}

/// The MOUNT v3 program.
#[derive(Debug)]
pub(crate) struct Mount3 {
    shared: Arc<ProgramState>,
    table: MountTable,
}

/// The client's address as recorded and listed (IPv4-mapped IPv6 shown
/// as IPv4, as export rules match it).
fn host_of(peer: SocketAddr) -> String {
    peer.ip().to_canonical().to_string()
}

/// `raw` as an absolute path without `.` components or repeated `/`.
/// Non-UTF-8 paths cannot name an export (exports files are text) and are
/// NOENT; relative paths are INVAL; `..` is ACCES, never resolved.
fn normalize(raw: &[u8]) -> Result<PathBuf, Mountstat3> {
    let text = std::str::from_utf8(raw).map_err(|_| Mountstat3::Noent)?;
    let path = Path::new(text);
    if !path.is_absolute() {
        return Err(Mountstat3::Inval);
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => return Err(Mountstat3::Acces),
            Component::Prefix(_) => return Err(Mountstat3::Inval),
        }
    }
    Ok(out)
}

fn walk_errno(e: Errno) -> Mountstat3 {
    match e {
        Errno::NOENT => Mountstat3::Noent,
        // A symlink met with O_NOFOLLOW | O_DIRECTORY, or a file.
        Errno::NOTDIR | Errno::LOOP => Mountstat3::Notdir,
        Errno::ACCESS | Errno::PERM => Mountstat3::Acces,
        Errno::NAMETOOLONG => Mountstat3::Nametoolong,
        _ => Mountstat3::Io,
    }
}

fn handle_mountstat(e: &HandleError) -> Mountstat3 {
    match e {
        // A mount point inside the export: not part of it.
        HandleError::OtherFilesystem => Mountstat3::Acces,
        HandleError::Stale => Mountstat3::Noent,
        HandleError::BadHandle | HandleError::TooBig(_) => Mountstat3::Serverfault,
        HandleError::Io(_) => Mountstat3::Io,
    }
}

/// The handle of `rel` (components below the export root), walked with
/// the server's credentials one directory at a time, never following a
/// symlink (`O_NOFOLLOW | O_DIRECTORY` refuses them) and never `..`.
fn walk(rt: &ExportRuntime, rel: &Path) -> Result<FileHandle, Mountstat3> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut cur: Option<OwnedFd> = None;
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return Err(Mountstat3::Acces);
        };
        validate_name(name.as_bytes()).map_err(|e| match e {
            NameError::TooLong => Mountstat3::Nametoolong,
            _ => Mountstat3::Inval,
        })?;
        let dir = cur.as_ref().map_or(rt.fs.root(), |fd| fd.as_fd());
        cur = Some(openat(dir, name, flags, Mode::empty()).map_err(walk_errno)?);
    }
    match cur {
        None => Ok(rt.fs.root_handle().clone()),
        Some(fd) => rt.fs.handle_for_fd(&fd).map_err(|e| handle_mountstat(&e)),
    }
}

impl Mount3 {
    pub(crate) fn new(shared: Arc<ProgramState>, table: MountTable) -> Mount3 {
        Mount3 { shared, table }
    }

    /// Executes one MOUNT v3 call.
    pub(crate) fn dispatch(
        &self,
        ctx: &CallContext,
        args: &[u8],
        out: &mut Vec<u8>,
    ) -> CallOutcome {
        let Some(procedure) = Mount3Procedure::from_u32(ctx.procedure) else {
            return CallOutcome::ProcUnavail;
        };
        let peer = ctx.peer;
        match procedure {
            Mount3Procedure::Null => run(args, out, |()| ()),
            Mount3Procedure::Mnt => run(args, out, |d: Dirpath| self.mnt(peer, &d.0)),
            Mount3Procedure::Dump => run(args, out, |()| self.table.list()),
            Mount3Procedure::Umnt => run(args, out, |d: Dirpath| {
                let key = normalize(&d.0).map_or(d.0, |p| p.into_os_string().into_vec());
                self.table.remove(&host_of(peer), &key);
            }),
            Mount3Procedure::Umntall => run(args, out, |()| self.table.remove_host(&host_of(peer))),
            Mount3Procedure::Export => run(args, out, |()| self.export_list()),
        }
    }

    fn mnt(&self, peer: SocketAddr, raw: &[u8]) -> Mountres3 {
        let shown = String::from_utf8_lossy(raw);
        match self.resolve(peer, raw) {
            Ok((fh, path)) => {
                tracing::info!(client = %peer, path = %shown, "authenticated mount request");
                self.table
                    .add(host_of(peer), path.into_os_string().into_vec());
                Mountres3::Ok(Mountres3Ok {
                    fhandle: NfsFh3(fh.as_bytes().to_vec()),
                    auth_flavors: vec![AUTH_SYS],
                })
            }
            Err((status, why)) => {
                // What an admin looks for first when a client cannot mount:
                // which rule said no (the client only sees MNT3ERR_ACCES).
                tracing::warn!("refused mount request from {peer} for {shown}: {why}");
                Mountres3::Err(status)
            }
        }
    }

    /// The handle for mount path `raw` and its normalized form, if `peer`
    /// may mount it; else the status and why, for the log.
    fn resolve(
        &self,
        peer: SocketAddr,
        raw: &[u8],
    ) -> Result<(FileHandle, PathBuf), (Mountstat3, String)> {
        let path = normalize(raw).map_err(|s| (s, "not an absolute path without ..".into()))?;
        let exports = self.shared.exports.load();
        let rt = exports
            .exports
            .iter()
            .filter(|rt| path.starts_with(&rt.export.path))
            .max_by_key(|rt| rt.export.path.components().count())
            .ok_or((Mountstat3::Acces, "not exported".to_string()))?;
        // Either refusal is MNT3ERR_ACCES, as knfsd's mountd answers.
        rt.export
            .admit(peer)
            .map_err(|r| (Mountstat3::Acces, r.explain(peer, &rt.export)))?;
        let rel = path
            .strip_prefix(&rt.export.path)
            .map_err(|_| (Mountstat3::Acces, "not exported".to_string()))?;
        let fh =
            walk(rt, rel).map_err(|s| (s, format!("{s:?} below {}", rt.export.path.display())))?;
        Ok((fh, path))
    }

    /// Every export with the client specifications of its rules (libnfs
    /// 4.0 calls EXPORT after MNT and fails the mount without an answer).
    fn export_list(&self) -> ExportList {
        ExportList(
            self.shared
                .exports
                .load()
                .exports
                .iter()
                .map(|rt| ExportNode {
                    dir: Dirpath(rt.export.path.as_os_str().as_bytes().to_vec()),
                    groups: rt
                        .export
                        .rules
                        .iter()
                        .map(|r| MountName(r.client.to_string().into_bytes()))
                        .collect(),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests;
