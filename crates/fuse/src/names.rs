//! Namespace and attribute operations: LOOKUP, GETATTR, SETATTR,
//! READLINK, MKNOD, MKDIR, REMOVE, RMDIR, SYMLINK, RENAME, LINK, FSSTAT,
//! ACCESS, each sent as the caller.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use fuser::{
    AccessFlags, Errno, FileHandle as Fh, INodeNo, ReplyAttr, ReplyData, ReplyEmpty, ReplyEntry,
    ReplyStatfs, TimeOrNow,
};
use nfsl_client::nfs3::*;
use nfsl_client::{FileHandle, Metadata, Nfs, NfsResult, SetAttr, SetTime};

use crate::errno::{from_error, from_status};
use crate::fs::Ctx;

/// The success arm of an NFS call, or the errno for its failure.
pub(crate) fn ok<T, F>(r: nfsl_client::Result<NfsResult<T, F>>) -> Result<T, Errno> {
    match r {
        Ok(NfsResult::Ok(v)) => Ok(v),
        Ok(NfsResult::Err(status, _)) => Err(from_status(status)),
        Err(e) => Err(from_error(&e)),
    }
}

/// A name as NFS sends it.
pub(crate) fn wire_name(name: &OsString) -> Filename3 {
    Filename3(name.as_bytes().to_vec())
}

pub(crate) fn dir_op(dir: &FileHandle, name: &OsString) -> DirOpArgs3 {
    DirOpArgs3 {
        dir: dir.to_wire(),
        name: wire_name(name),
    }
}

/// Attributes the server returned, or a GETATTR when it returned none.
pub(crate) async fn attrs(nfs: &Nfs, fh: &FileHandle, post: PostOpAttr) -> Result<Metadata, Errno> {
    match post {
        Some(a) => Ok(a.into()),
        None => nfs.getattr(fh).await.map_err(|e| from_error(&e)),
    }
}

/// A SETATTR request from the kernel.
pub(crate) struct Change {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
}

fn set_time(t: Option<TimeOrNow>) -> Option<SetTime> {
    t.map(|t| match t {
        TimeOrNow::Now => SetTime::ServerNow,
        TimeOrNow::SpecificTime(t) => SetTime::At(t),
    })
}

/// Attributes for a new object: its mode (the kernel applied the umask).
pub(crate) fn mode_only(mode: u32) -> Sattr3 {
    (&SetAttr {
        mode: Some(mode & 0o7777),
        ..SetAttr::default()
    })
        .into()
}

impl Ctx {
    pub(crate) fn read_only(&self) -> Result<(), Errno> {
        if self.inner.opts.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    async fn new_object(
        &self,
        nfs: &Nfs,
        dir: &FileHandle,
        name: &OsString,
        res: nfsl_client::Result<NfsResult<NewObject3ResOk, WccData>>,
        reply: ReplyEntry,
    ) {
        let made = match ok(res) {
            Ok(m) => m,
            Err(e) => return reply.error(e),
        };
        let fh = match made.obj {
            Some(fh) => FileHandle::from(fh),
            None => {
                // The server made it but sent no handle: look it up.
                let res = nfs
                    .procedures()
                    .lookup(&Lookup3Args {
                        what: dir_op(dir, name),
                    })
                    .await;
                match ok(res) {
                    Ok(l) => FileHandle::from(l.object),
                    Err(e) => return reply.error(e),
                }
            }
        };
        match attrs(nfs, &fh, made.obj_attributes).await {
            Ok(md) => self.inner.reply_entry(reply, &fh, &md),
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn lookup(&self, parent: INodeNo, name: OsString, reply: ReplyEntry) {
        let run = async {
            let dir = self.inner.handle(parent)?;
            let nfs = self.nfs().await?;
            let found = ok(nfs
                .procedures()
                .lookup(&Lookup3Args {
                    what: dir_op(&dir, &name),
                })
                .await)?;
            let fh = FileHandle::from(found.object);
            let md = attrs(&nfs, &fh, found.obj_attributes).await?;
            Ok::<_, Errno>((fh, md))
        };
        match run.await {
            Ok((fh, md)) => self.inner.reply_entry(reply, &fh, &md),
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn getattr(&self, ino: INodeNo, fh: Option<Fh>, reply: ReplyAttr) {
        let open = fh.and_then(|fh| self.inner.open_file(fh));
        let md = match open {
            Some(f) => f.metadata().await,
            None => {
                async {
                    let handle = self.inner.handle(ino)?;
                    let nfs = self.nfs().await?;
                    nfs.getattr(&handle).await.map_err(|e| from_error(&e))
                }
                .await
            }
        };
        match md {
            Ok(md) => self.inner.reply_attr(reply, ino, &md),
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn setattr(&self, ino: INodeNo, c: Change, fh: Option<Fh>, reply: ReplyAttr) {
        let run = async {
            self.read_only()?;
            let handle = self.inner.handle(ino)?;
            let nfs = self.nfs().await?;
            let mut size = c.size;
            if let (Some(len), Some(f)) = (size, fh.and_then(|fh| self.inner.open_file(fh))) {
                // Through the open file: its unstable writes first, so a
                // later re-send cannot extend the file again.
                f.set_len(len).await?;
                size = None;
            }
            let attrs = SetAttr {
                mode: c.mode.map(|m| m & 0o7777),
                uid: c.uid,
                gid: c.gid,
                size,
                atime: set_time(c.atime),
                mtime: set_time(c.mtime),
            };
            let res = ok(nfs
                .procedures()
                .setattr(&Setattr3Args {
                    object: handle.to_wire(),
                    new_attributes: (&attrs).into(),
                    guard: None,
                })
                .await)?;
            attrs_after(&nfs, &handle, res.obj_wcc).await
        };
        match run.await {
            Ok(md) => self.inner.reply_attr(reply, ino, &md),
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn readlink(&self, ino: INodeNo, reply: ReplyData) {
        let run = async {
            let handle = self.inner.handle(ino)?;
            let nfs = self.nfs().await?;
            let res = ok(nfs
                .procedures()
                .readlink(&Readlink3Args {
                    symlink: handle.to_wire(),
                })
                .await)?;
            Ok::<_, Errno>(res.data.0)
        };
        match run.await {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn mknod(
        &self,
        parent: INodeNo,
        name: OsString,
        mode: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let (dir, nfs) = match self.dir_and_session(parent).await {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let attrs = mode_only(mode);
        let location = dir_op(&dir, &name);
        let res = match mode & libc::S_IFMT {
            libc::S_IFREG => {
                nfs.procedures()
                    .create(&Create3Args {
                        location,
                        how: CreateHow3::Guarded(attrs),
                    })
                    .await
            }
            kind => {
                let spec = Specdata3 {
                    specdata1: libc::major(rdev as libc::dev_t),
                    specdata2: libc::minor(rdev as libc::dev_t),
                };
                let what = match kind {
                    libc::S_IFIFO => Mknoddata3::Fifo(attrs),
                    libc::S_IFSOCK => Mknoddata3::Sock(attrs),
                    libc::S_IFCHR => Mknoddata3::Chr(Devicedata3 {
                        dev_attributes: attrs,
                        spec,
                    }),
                    libc::S_IFBLK => Mknoddata3::Blk(Devicedata3 {
                        dev_attributes: attrs,
                        spec,
                    }),
                    _ => return reply.error(Errno::EINVAL),
                };
                nfs.procedures().mknod(&Mknod3Args { location, what }).await
            }
        };
        self.new_object(&nfs, &dir, &name, res, reply).await
    }

    /// The directory's handle and the caller's session, for a change.
    pub(crate) async fn dir_and_session(
        &self,
        parent: INodeNo,
    ) -> Result<(FileHandle, Nfs), Errno> {
        self.read_only()?;
        let dir = self.inner.handle(parent)?;
        Ok((dir, self.nfs().await?))
    }

    pub(crate) async fn mkdir(
        &self,
        parent: INodeNo,
        name: OsString,
        mode: u32,
        reply: ReplyEntry,
    ) {
        let (dir, nfs) = match self.dir_and_session(parent).await {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let res = nfs
            .procedures()
            .mkdir(&Mkdir3Args {
                location: dir_op(&dir, &name),
                attributes: mode_only(mode),
            })
            .await;
        self.new_object(&nfs, &dir, &name, res, reply).await
    }

    pub(crate) async fn symlink(
        &self,
        parent: INodeNo,
        name: OsString,
        target: OsString,
        reply: ReplyEntry,
    ) {
        let (dir, nfs) = match self.dir_and_session(parent).await {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let res = nfs
            .procedures()
            .symlink(&Symlink3Args {
                location: dir_op(&dir, &name),
                symlink: Symlinkdata3 {
                    symlink_attributes: mode_only(0o777),
                    symlink_data: Nfspath3(target.into_vec()),
                },
            })
            .await;
        self.new_object(&nfs, &dir, &name, res, reply).await
    }

    pub(crate) async fn remove(
        &self,
        parent: INodeNo,
        name: OsString,
        dir: bool,
        reply: ReplyEmpty,
    ) {
        let run = async {
            let (d, nfs) = self.dir_and_session(parent).await?;
            let object = dir_op(&d, &name);
            if dir {
                ok(nfs.procedures().rmdir(&Rmdir3Args { object }).await)?;
            } else if !self.silly_rename(&nfs, &d, &name).await? {
                ok(nfs.procedures().remove(&Remove3Args { object }).await)?;
            }
            Ok::<_, Errno>(())
        };
        match run.await {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn rename(
        &self,
        parent: INodeNo,
        name: OsString,
        newparent: INodeNo,
        newname: OsString,
        reply: ReplyEmpty,
    ) {
        let run = async {
            let (from, nfs) = self.dir_and_session(parent).await?;
            let to = self.inner.handle(newparent)?;
            ok(nfs
                .procedures()
                .rename(&Rename3Args {
                    from: dir_op(&from, &name),
                    to: dir_op(&to, &newname),
                })
                .await)?;
            Ok::<_, Errno>(())
        };
        match run.await {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn link(
        &self,
        ino: INodeNo,
        newparent: INodeNo,
        newname: OsString,
        reply: ReplyEntry,
    ) {
        let run = async {
            let (dir, nfs) = self.dir_and_session(newparent).await?;
            let file = self.inner.handle(ino)?;
            let res = ok(nfs
                .procedures()
                .link(&Link3Args {
                    file: file.to_wire(),
                    link: dir_op(&dir, &newname),
                })
                .await)?;
            let md = attrs(&nfs, &file, res.file_attributes).await?;
            Ok::<_, Errno>((file, md))
        };
        match run.await {
            Ok((fh, md)) => self.inner.reply_entry(reply, &fh, &md),
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn statfs(&self, reply: ReplyStatfs) {
        let run = async {
            let nfs = self.nfs().await?;
            nfs.fs_stat().await.map_err(|e| from_error(&e))
        };
        match run.await {
            Ok(s) => {
                const BSIZE: u64 = 4096;
                reply.statfs(
                    s.tbytes / BSIZE,
                    s.fbytes / BSIZE,
                    s.abytes / BSIZE,
                    s.tfiles,
                    s.ffiles,
                    BSIZE as u32,
                    255,
                    BSIZE as u32,
                )
            }
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn access(&self, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let run = async {
            let handle = self.inner.handle(ino)?;
            let nfs = self.nfs().await?;
            let mask = mask.bits();
            if mask & libc::W_OK != 0 {
                self.read_only()?;
            }
            if mask == libc::F_OK {
                nfs.getattr(&handle).await.map_err(|e| from_error(&e))?;
                return Ok(());
            }
            self.check_access(&nfs, &handle, mask).await
        };
        match run.await {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    /// ACCESS for the `R_OK`/`W_OK`/`X_OK` bits of `mask`: EACCES unless
    /// the server grants all of them to the caller.
    pub(crate) async fn check_access(
        &self,
        nfs: &Nfs,
        handle: &FileHandle,
        mask: i32,
    ) -> Result<(), Errno> {
        self.check_access_and_ask(nfs, handle, mask, 0)
            .await
            .map(drop)
    }

    /// [`Self::check_access`] that also asks the server about the ACCESS3
    /// bits `also` (not required) in the same call; returns the bits the
    /// server granted.
    pub(crate) async fn check_access_and_ask(
        &self,
        nfs: &Nfs,
        handle: &FileHandle,
        mask: i32,
        also: u32,
    ) -> Result<u32, Errno> {
        let mut want = 0;
        if mask & libc::R_OK != 0 {
            want |= ACCESS3_READ;
        }
        if mask & libc::W_OK != 0 {
            want |= ACCESS3_MODIFY;
        }
        if mask & libc::X_OK != 0 {
            want |= ACCESS3_EXECUTE | ACCESS3_LOOKUP;
        }
        let res = ok(nfs
            .procedures()
            .access(&Access3Args {
                object: handle.to_wire(),
                access: want | also,
            })
            .await)?;
        // For X_OK either bit will do: EXECUTE for files, LOOKUP for dirs.
        let x = ACCESS3_EXECUTE | ACCESS3_LOOKUP;
        let granted = res.access;
        let missing = (want & !x) & !granted;
        if missing != 0 || (want & x != 0 && granted & x == 0) {
            return Err(Errno::EACCES);
        }
        Ok(granted)
    }
}

/// The attributes after a change (from its wcc data, else GETATTR).
pub(crate) async fn attrs_after(
    nfs: &Nfs,
    fh: &FileHandle,
    wcc: WccData,
) -> Result<Metadata, Errno> {
    attrs(nfs, fh, wcc.after).await
}
