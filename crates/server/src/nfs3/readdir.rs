//! READDIR and READDIRPLUS, with cookies the kernel gives us.
//!
//! A page is read with `getdents64` from the position the client's cookie
//! names (`lseek(dir, cookie)`; 0 is the start), and each entry's cookie is
//! its `d_off`: the kernel's own position just after it. On ext4 (and xfs,
//! btrfs, tmpfs) those positions are hash values or stable indexes that
//! stay valid while entries are added or removed, so no server-side state
//! is kept between pages and a listing survives server restarts.
//!
//! `.` and `..` are listed, as knfsd does; `..` of the export root is
//! reported as the root itself so that no page reveals or hands out the
//! directory above the export.
//!
//! Reply sizes are accounted exactly in XDR bytes: READDIR's `count`
//! bounds the whole `READDIR3resok`; READDIRPLUS's `maxcount` bounds the
//! whole `READDIRPLUS3resok` and `dircount` the entries' fileid, name and
//! cookie bytes (0 means no such bound, for clients that leave it unset).
//! Both are first clamped to the server's largest reply
//! (`max_io_size`, FSINFO's `rtmax`), so no page exceeds it whatever the
//! client asks; a count too small for the fixed part and one entry is
//! NFS3ERR_TOOSMALL (RFC 1813).

use std::mem::MaybeUninit;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_xdr::padding;
use rustix::fs::{fstat, openat, statat, AtFlags, FileType, Mode, OFlags, RawDir, SeekFrom};
use rustix::io::Errno;

use super::attrs::fattr3;
use super::context::{Caller, Target};
use super::errors::{nfsstat_from_errno, nfsstat_from_io};
use super::Nfs3;
use crate::handle::Access;

/// XDR size of a `fattr3`.
const FATTR3_SIZE: usize = 84;
/// XDR size of a `post_op_attr` holding attributes.
const POST_OP_ATTR_SIZE: usize = 4 + FATTR3_SIZE;
/// The fixed part of a READDIR/READDIRPLUS resok: directory attributes,
/// cookie verifier, the list terminator and `eof`.
const PAGE_OVERHEAD: usize = POST_OP_ATTR_SIZE + 8 + 4 + 4;

/// XDR size of variable-length opaque data of `len` bytes.
fn opaque_size(len: usize) -> usize {
    4 + len + padding(len)
}

/// XDR size of an `entry3` (with its list marker) named `name_len` bytes;
/// also the part of an `entryplus3` that READDIRPLUS's `dircount` bounds
/// (fileid, name, cookie), plus the marker.
fn entry3_size(name_len: usize) -> usize {
    4 + 8 + opaque_size(name_len) + 8
}

/// XDR size of an `entryplus3` (with its list marker).
fn entryplus3_size(e: &Entryplus3) -> usize {
    let attrs = if e.name_attributes.is_some() {
        POST_OP_ATTR_SIZE
    } else {
        4
    };
    let fh = e
        .name_handle
        .as_ref()
        .map_or(4, |h| 4 + opaque_size(h.0.len()));
    entry3_size(e.name.0.len()) + attrs + fh
}

/// One entry as `getdents64` gave it, with `..` of the export root
/// already replaced by the root.
struct RawEntry<'a> {
    name: &'a [u8],
    fileid: u64,
    cookie: u64,
    /// `..` of the export root: describe the directory itself.
    is_root_parent: bool,
}

/// The cookie verifier of directory `t`: a hash of the export and the
/// directory's inode, so it is stable across pages and restarts (cookies
/// are kernel positions, valid as long as the directory exists) but
/// differs between directories, catching a cookie sent to the wrong one.
fn cookie_verifier(t: &Target) -> Cookieverf3 {
    let mut h = blake3::Hasher::new_derive_key("nfsl 2025 readdir cookie verifier v1");
    h.update(&t.fsid().to_le_bytes());
    h.update(&t.stat.st_ino.to_le_bytes());
    let mut v = [0u8; 8];
    v.copy_from_slice(&h.finalize().as_bytes()[..8]);
    // Zero means "no verifier" to clients: never send it.
    if v == [0; 8] {
        v[0] = 1;
    }
    v
}

/// Reads one page of `t` from `cookie`, handing each entry to `take`,
/// which answers whether it fitted. Returns whether the directory ended
/// (every entry from `cookie` on was taken).
///
/// The directory is opened and read, and `take` runs, under the caller's
/// credentials (one switch per page, not per entry): opening checks read
/// permission on the directory (knfsd opens with `NFSD_MAY_READ`, without
/// an owner override), and READDIRPLUS's per-entry lookups get the
/// kernel's search permission check.
fn scan(
    t: &Target,
    cookie: Cookie3,
    cookieverf: Cookieverf3,
    buf_size: usize,
    mut take: impl FnMut(&RawEntry<'_>) -> Result<bool, Nfsstat3>,
) -> Result<bool, Nfsstat3> {
    if t.file_type() != FileType::Directory {
        return Err(Nfsstat3::Notdir);
    }
    if cookie != 0 && cookieverf != [0; 8] && cookieverf != cookie_verifier(t) {
        return Err(Nfsstat3::BadCookie);
    }
    let pos = i64::try_from(cookie).map_err(|_| Nfsstat3::BadCookie)?;
    let at_root = t
        .export
        .fs
        .is_root(&t.fd)
        .map_err(|e| nfsstat_from_io(&e))?;
    let _g = t.assume()?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir = openat(&t.fd, ".", flags, Mode::empty()).map_err(nfsstat_from_errno)?;
    match rustix::fs::seek(&dir, SeekFrom::Start(pos as u64)) {
        Ok(_) => {}
        Err(Errno::INVAL | Errno::NXIO) => return Err(Nfsstat3::BadCookie),
        Err(e) => return Err(nfsstat_from_errno(e)),
    }
    let mut buf: Vec<u8> = Vec::with_capacity(buf_size);
    let mut entries = RawDir::new(&dir, buf.spare_capacity_mut() as &mut [MaybeUninit<u8>]);
    while let Some(e) = entries.next() {
        let e = e.map_err(nfsstat_from_errno)?;
        let name = e.file_name().to_bytes();
        let is_root_parent = at_root && name == b"..";
        let raw = RawEntry {
            name,
            fileid: if is_root_parent {
                t.stat.st_ino
            } else {
                e.ino()
            },
            cookie: e.next_entry_cookie(),
            is_root_parent,
        };
        if !take(&raw)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A `getdents64` buffer about the size of the reply: large enough that a
/// page rarely needs two calls, small enough not to read far past it.
fn dirent_buffer_size(reply_bytes: usize) -> usize {
    reply_bytes.clamp(4096, 64 << 10)
}

impl Nfs3 {
    /// The reply size a page may have: what the client asked for, but no
    /// more than the server's largest reply (FSINFO's `rtmax`), as knfsd
    /// clamps to its maximum payload. A client asking for 4 GiB gets pages
    /// of that size, not one reply over the record limit.
    fn reply_limit(&self, asked: u32) -> usize {
        asked.min(self.shared.max_io_size) as usize
    }

    pub(super) fn readdir(&self, c: &Caller, a: Readdir3Args) -> Readdir3Res {
        let t = match self.shared.target(c, &a.dir, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, None),
        };
        let count = self.reply_limit(a.count);
        let mut used = PAGE_OVERHEAD;
        let mut list = Vec::new();
        let scanned = scan(&t, a.cookie, a.cookieverf, dirent_buffer_size(count), |e| {
            let size = entry3_size(e.name.len());
            if used + size > count {
                return Ok(false);
            }
            used += size;
            list.push(Entry3 {
                fileid: e.fileid,
                name: Filename3(e.name.to_vec()),
                cookie: e.cookie,
            });
            Ok(true)
        });
        match page_status(scanned, list.is_empty(), count) {
            Ok(eof) => NfsResult::Ok(Readdir3ResOk {
                dir_attributes: t.post_op(),
                cookieverf: cookie_verifier(&t),
                reply: DirList { entries: list, eof },
            }),
            Err(s) => NfsResult::Err(s, t.post_op()),
        }
    }

    pub(super) fn readdirplus(&self, c: &Caller, a: Readdirplus3Args) -> Readdirplus3Res {
        let t = match self.shared.target(c, &a.dir, Access::Path) {
            Ok(t) => t,
            Err(s) => return NfsResult::Err(s, None),
        };
        let maxcount = self.reply_limit(a.maxcount);
        let dircount = match a.dircount {
            0 => usize::MAX,
            n => n as usize,
        };
        let (mut used, mut dir_used) = (PAGE_OVERHEAD, 0usize);
        let mut list = Vec::new();
        let scanned = scan(
            &t,
            a.cookie,
            a.cookieverf,
            dirent_buffer_size(maxcount),
            |e| {
                let dir_size = entry3_size(e.name.len());
                // Cheap test first, so a full page costs no stat of the next entry.
                if used + dir_size > maxcount || dir_used + dir_size > dircount {
                    return Ok(false);
                }
                let entry = describe(&t, e);
                let size = entryplus3_size(&entry);
                if used + size > maxcount {
                    return Ok(false);
                }
                used += size;
                dir_used += dir_size;
                list.push(entry);
                Ok(true)
            },
        );
        match page_status(scanned, list.is_empty(), maxcount) {
            Ok(eof) => NfsResult::Ok(Readdirplus3ResOk {
                dir_attributes: t.post_op(),
                cookieverf: cookie_verifier(&t),
                reply: DirList { entries: list, eof },
            }),
            Err(s) => NfsResult::Err(s, t.post_op()),
        }
    }
}

/// The page's `eof`, or why there is no page: TOOSMALL when not even the
/// fixed part and one entry fit, while entries remain.
fn page_status(
    scanned: Result<bool, Nfsstat3>,
    empty: bool,
    limit: usize,
) -> Result<bool, Nfsstat3> {
    let eof = scanned?;
    if (empty && !eof) || limit < PAGE_OVERHEAD {
        return Err(Nfsstat3::Toosmall);
    }
    Ok(eof)
}

/// A READDIRPLUS entry: the name with its attributes and handle, looked up
/// under the caller's credentials (already assumed by [`scan`]; without
/// search permission on the directory there are no attributes).
/// An entry that vanished since `getdents64`, or that is a mount point
/// (no handle in this export), is sent without attributes and handle
/// rather than failing the page: the client can still LOOKUP it.
fn describe(t: &Target, e: &RawEntry<'_>) -> Entryplus3 {
    let fs = &t.export.fs;
    let (attrs, handle) = if e.is_root_parent {
        (fstat(&t.fd).ok(), Some(fs.root_handle().clone()))
    } else {
        let st = statat(&t.fd, e.name, AtFlags::SYMLINK_NOFOLLOW).ok();
        let fh = st
            .as_ref()
            .and_then(|_| fs.handle_for_child(&t.fd, e.name).ok());
        match fh {
            Some(fh) => (st, Some(fh)),
            None => (None, None),
        }
    };
    Entryplus3 {
        fileid: attrs.as_ref().map_or(e.fileid, |st| st.st_ino),
        name: Filename3(e.name.to_vec()),
        cookie: e.cookie,
        name_attributes: attrs.map(|st| fattr3(&st, t.fsid())),
        name_handle: handle.map(|fh| NfsFh3(fh.as_bytes().to_vec())),
    }
}

#[cfg(test)]
#[path = "readdir_tests.rs"]
mod tests;
