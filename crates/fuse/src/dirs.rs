//! Directory streams: OPENDIR starts one, READDIRPLUS fills the kernel's
//! buffer from NFS READDIRPLUS pages as it goes (a large directory is
//! never loaded whole), and a seek elsewhere starts it again.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use fuser::{Errno, FileHandle as Fh, Generation, INodeNo, ReplyDirectoryPlus, ReplyOpen};
use nfsl_client::{DirEntry, FileHandle, FileType, Nfs, ReadDir};

use crate::attr::file_attr;
use crate::errno::from_error;
use crate::fs::Ctx;

/// One open directory.
pub(crate) struct DirStream {
    nfs: Nfs,
    dir: FileHandle,
    ino: u64,
    entries: ReadDir,
    /// Offset (entries handed out) of the next entry.
    pos: u64,
    /// An entry read but not handed out (the kernel's buffer was full).
    pending: Option<DirEntry>,
}

impl DirStream {
    fn restart(&mut self) {
        self.entries = self.nfs.read_dir_iter(&self.dir);
        self.pos = 0;
        self.pending = None;
    }

    /// The next entry: "." and ".." first (made here: not every server
    /// lists them), then the server's other names.
    async fn next(&mut self) -> Result<Option<DirEntry>, Errno> {
        if let Some(e) = self.pending.take() {
            return Ok(Some(e));
        }
        if self.pos < 2 {
            return Ok(Some(DirEntry {
                name: if self.pos == 0 { "." } else { ".." }.to_string(),
                handle: None,
                metadata: None,
                fileid: 0,
            }));
        }
        loop {
            match self.entries.next().await {
                None => return Ok(None),
                Some(Ok(e)) if e.name == "." || e.name == ".." => continue,
                Some(Ok(e)) => return Ok(Some(e)),
                Some(Err(e)) => return Err(from_error(&e)),
            }
        }
    }
}

impl Ctx {
    async fn lookup_entry(
        &self,
        nfs: &Nfs,
        dir: &FileHandle,
        name: &str,
    ) -> Result<(FileHandle, nfsl_client::Metadata), Errno> {
        use nfsl_client::nfs3::*;
        let found = crate::names::ok(
            nfs.procedures()
                .lookup(&Lookup3Args {
                    what: DirOpArgs3 {
                        dir: dir.to_wire(),
                        name: Filename3(name.as_bytes().to_vec()),
                    },
                })
                .await,
        )?;
        let fh = FileHandle::from(found.object);
        let md = crate::names::attrs(nfs, &fh, found.obj_attributes).await?;
        Ok((fh, md))
    }

    pub(crate) async fn opendir(&self, ino: INodeNo, reply: ReplyOpen) {
        let run = async {
            let dir = self.inner.handle(ino)?;
            let nfs = self.nfs().await?;
            let md = nfs.getattr(&dir).await.map_err(|e| from_error(&e))?;
            if md.file_type != FileType::Directory {
                return Err(Errno::ENOTDIR);
            }
            self.check_access(&nfs, &dir, libc::R_OK).await?;
            Ok::<_, Errno>(DirStream {
                entries: nfs.read_dir_iter(&dir),
                nfs,
                dir,
                ino: ino.0,
                pos: 0,
                pending: None,
            })
        };
        match run.await {
            Ok(stream) => {
                let fh = self.inner.next_fh.fetch_add(1, Ordering::Relaxed);
                self.inner
                    .dirs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(fh, Arc::new(tokio::sync::Mutex::new(stream)));
                reply.opened(Fh(fh), fuser::FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }

    pub(crate) async fn readdirplus(&self, fh: Fh, offset: u64, mut reply: ReplyDirectoryPlus) {
        let stream = self
            .inner
            .dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh.0)
            .cloned();
        let Some(stream) = stream else {
            return reply.error(Errno::EBADF);
        };
        let mut s = stream.lock().await;
        if offset != s.pos {
            // rewinddir or seekdir: read again from the start.
            s.restart();
            while s.pos < offset {
                match s.next().await {
                    Ok(Some(_)) => s.pos += 1,
                    Ok(None) => return reply.ok(),
                    Err(e) => return reply.error(e),
                }
            }
        }
        loop {
            let entry = match s.next().await {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    if s.pos == offset {
                        return reply.error(e);
                    }
                    // Entries already in the buffer are good: hand them out.
                    break;
                }
            };
            let dot = entry.name == "." || entry.name == "..";
            let name = entry.name.clone();
            let mut entry = entry;
            if !dot && (entry.handle.is_none() || entry.metadata.is_none()) {
                // The server left them out: a LOOKUP gives them.
                match self.lookup_entry(&s.nfs, &s.dir, &name).await {
                    Ok((h, md)) => {
                        entry.handle = Some(h);
                        entry.metadata = Some(md);
                    }
                    Err(_) => {
                        // Gone meanwhile: as if it had not been listed.
                        s.pos += 1;
                        continue;
                    }
                }
            }
            let full = match (&entry.handle, &entry.metadata) {
                (Some(h), Some(md)) if !dot => {
                    // The kernel holds a lookup of each entry it takes:
                    // count it now, undo it if the entry does not fit.
                    let mut t = self.inner.inodes.lock().unwrap_or_else(|p| p.into_inner());
                    let ino = t.lookup(h);
                    let attr = file_attr(ino, md);
                    let ttl = self.inner.ttl(md);
                    let full =
                        reply.add(INodeNo(ino), s.pos + 1, &name, &ttl, &attr, Generation(0));
                    if full {
                        t.forget(ino, 1);
                    }
                    full
                }
                (_, md) => {
                    // "." and "..": the kernel takes no lookup of these.
                    let shown = if entry.name == "." {
                        s.ino
                    } else {
                        entry.fileid.max(1)
                    };
                    let mut attr = match md {
                        Some(md) => file_attr(shown, md),
                        None => file_attr(shown, &placeholder()),
                    };
                    attr.ino = INodeNo(shown);
                    reply.add(
                        INodeNo(0),
                        s.pos + 1,
                        &name,
                        &std::time::Duration::ZERO,
                        &attr,
                        Generation(0),
                    )
                }
            };
            if full {
                s.pending = Some(entry);
                break;
            }
            s.pos += 1;
        }
        reply.ok();
    }
}

/// Attributes for a name the server sent without any (a directory).
fn placeholder() -> nfsl_client::Metadata {
    nfsl_client::Metadata {
        file_type: FileType::Directory,
        mode: 0o755,
        nlink: 1,
        uid: 0,
        gid: 0,
        size: 0,
        used: 0,
        rdev: (0, 0),
        fsid: 0,
        fileid: 0,
        atime: std::time::UNIX_EPOCH,
        mtime: std::time::UNIX_EPOCH,
        ctime: std::time::UNIX_EPOCH,
    }
}
