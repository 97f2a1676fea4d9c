//! Directory operations: listing over READDIRPLUS (READDIR when the
//! server does not offer it), creating, removing and renaming names.

use std::collections::VecDeque;

use nfsl_proto::nfs3::*;

use crate::error::{Error, ErrorKind, Result};
use crate::names::is_dot_or_dotdot;
use crate::paths::{components, dir_op};
use crate::procedures::ok;
use crate::session::Nfs;
use crate::types::{DirEntry, FileHandle, Metadata};
use nfsl_proto::NfsResult;

/// Bytes of names and cookies asked per READDIRPLUS page.
const DIRCOUNT: u32 = 32 << 10;
/// Bytes of a whole READDIRPLUS / READDIR reply asked per page.
const MAXCOUNT: u32 = 256 << 10;
/// Pages read before a listing is declared endless (a server bug).
const MAX_PAGES: usize = 1 << 20;

fn new_object_attrs(mode: u32) -> Sattr3 {
    Sattr3 {
        mode: Some(mode & 0o7777),
        ..Sattr3::default()
    }
}

impl Nfs {
    /// Every entry of the directory at `path` except `.` and `..`, with
    /// handles and attributes where the server gave them.
    pub async fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let (fh, md) = self.resolve(path, true).await?;
        if !md.is_dir() {
            return Err(Error::nfs(Nfsstat3::Notdir, "READDIR", path));
        }
        self.read_dir_handle(&fh).await.map_err(|e| e.at(path))
    }

    /// Every entry of the directory with handle `dir`.
    pub async fn read_dir_handle(&self, dir: &FileHandle) -> Result<Vec<DirEntry>> {
        let mut it = self.read_dir_iter(dir);
        let mut out = Vec::new();
        while let Some(entry) = it.next().await {
            out.push(entry?);
        }
        Ok(out)
    }

    /// The entries of the directory with handle `dir`, fetched a page at a
    /// time as they are consumed (for directories too large to hold).
    pub fn read_dir_iter(&self, dir: &FileHandle) -> ReadDir {
        ReadDir {
            nfs: self.clone(),
            dir: dir.clone(),
            cookie: 0,
            cookieverf: [0; 8],
            page: VecDeque::new(),
            eof: false,
            plus: true,
            pages: 0,
        }
    }

    /// Creates the directory `path` with permission bits `mode`.
    pub async fn mkdir(&self, path: &str, mode: u32) -> Result<Metadata> {
        let (dir, name) = self.resolve_parent(path).await?;
        let res = self
            .shared
            .procs
            .mkdir(&Mkdir3Args {
                location: dir_op(&dir, &name)?,
                attributes: new_object_attrs(mode),
            })
            .await?;
        let made = ok(res, "MKDIR", path)?;
        match (made.obj_attributes, made.obj) {
            (Some(a), _) => Ok(a.into()),
            (None, Some(fh)) => self.getattr(&fh.into()).await,
            (None, None) => Ok(self.lookup_in(&dir, &name).await?.1),
        }
    }

    /// Creates `path` and every missing directory above it; existing
    /// directories are fine.
    pub async fn create_dir_all(&self, path: &str, mode: u32) -> Result<()> {
        let mut dir = self.shared.root.clone();
        let mut so_far = String::new();
        for name in components(path) {
            so_far.push('/');
            so_far.push_str(&name);
            let next = match self.lookup_in(&dir, &name).await {
                Ok(found) => found,
                Err(e) if e.is(ErrorKind::NotFound) => match self.mkdir(&so_far, mode).await {
                    Ok(_) => self.lookup_in(&dir, &name).await,
                    // Someone else made it meanwhile.
                    Err(e) if e.is(ErrorKind::Exists) => self.lookup_in(&dir, &name).await,
                    Err(e) => Err(e),
                }
                .map_err(|e| e.at(&so_far))?,
                Err(e) => return Err(e.at(&so_far)),
            };
            let (fh, md) = if next.1.is_symlink() {
                self.resolve(&so_far, true).await?
            } else {
                next
            };
            if !md.is_dir() {
                return Err(Error::nfs(Nfsstat3::Notdir, "MKDIR", so_far));
            }
            dir = fh;
        }
        Ok(())
    }

    /// Removes the non-directory `path` (REMOVE).
    pub async fn remove_file(&self, path: &str) -> Result<()> {
        self.remove_path(path, false).await
    }

    /// Removes the empty directory `path` (RMDIR).
    pub async fn remove_dir(&self, path: &str) -> Result<()> {
        self.remove_path(path, true).await
    }

    async fn remove_path(&self, path: &str, is_dir: bool) -> Result<()> {
        let (dir, name) = self.resolve_parent(path).await?;
        self.remove_in(&dir, &name, is_dir)
            .await
            .map_err(|e| e.at(path))
    }

    /// Removes `name` from `dir`: with RMDIR if it is a directory, else
    /// with REMOVE.
    async fn remove_in(&self, dir: &FileHandle, name: &str, is_dir: bool) -> Result<()> {
        let object = dir_op(dir, name)?;
        let procs = &self.shared.procs;
        if is_dir {
            let res = procs.rmdir(&Rmdir3Args { object }).await?;
            ok(res, "RMDIR", "").map(|_| ())
        } else {
            let res = procs.remove(&Remove3Args { object }).await?;
            ok(res, "REMOVE", "").map(|_| ())
        }
    }

    /// Removes `path` and, if it is a directory, everything below it. A
    /// symbolic link is removed, never followed.
    pub async fn remove_dir_all(&self, path: &str) -> Result<()> {
        let (parent, name) = self.resolve_parent(path).await?;
        let (fh, md) = self
            .lookup_in(&parent, &name)
            .await
            .map_err(|e| e.at(path))?;
        if md.is_dir() {
            self.empty_dir(&fh, path).await?;
        }
        self.remove_in(&parent, &name, md.is_dir())
            .await
            .map_err(|e| e.at(path))
    }

    /// Removes everything inside the directory `dir`, depth first.
    async fn empty_dir(&self, dir: &FileHandle, path: &str) -> Result<()> {
        let entries = self.read_dir_handle(dir).await.map_err(|e| e.at(path))?;
        for e in entries {
            let child = format!("{}/{}", path.trim_end_matches('/'), e.name);
            let (handle, is_dir) = match (&e.handle, &e.metadata) {
                (Some(h), Some(m)) => (h.clone(), m.is_dir()),
                _ => {
                    let (h, m) = self
                        .lookup_in(dir, &e.name)
                        .await
                        .map_err(|x| x.at(&child))?;
                    (h, m.is_dir())
                }
            };
            if is_dir {
                Box::pin(self.empty_dir(&handle, &child)).await?;
            }
            match self.remove_in(dir, &e.name, is_dir).await {
                // Gone already (someone else removed it): fine.
                Err(x) if !x.is(ErrorKind::NotFound) => return Err(x.at(&child)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Renames `from` to `to` (replacing `to` as the server allows).
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (from_dir, from_name) = self.resolve_parent(from).await?;
        let (to_dir, to_name) = self.resolve_parent(to).await?;
        let res = self
            .shared
            .procs
            .rename(&Rename3Args {
                from: dir_op(&from_dir, &from_name)?,
                to: dir_op(&to_dir, &to_name)?,
            })
            .await?;
        ok(res, "RENAME", from).map(|_| ())
    }

    /// Creates the symbolic link `link_path` pointing at `target`.
    pub async fn symlink(&self, target: &str, link_path: &str) -> Result<()> {
        let (dir, name) = self.resolve_parent(link_path).await?;
        let res = self
            .shared
            .procs
            .symlink(&Symlink3Args {
                location: dir_op(&dir, &name)?,
                symlink: Symlinkdata3 {
                    symlink_attributes: Sattr3::default(),
                    symlink_data: Nfspath3(target.as_bytes().to_vec()),
                },
            })
            .await?;
        ok(res, "SYMLINK", link_path).map(|_| ())
    }

    /// Creates `new_path` as another name (hard link) of `existing`.
    pub async fn hard_link(&self, existing: &str, new_path: &str) -> Result<()> {
        let (fh, _) = self.resolve(existing, false).await?;
        let (dir, name) = self.resolve_parent(new_path).await?;
        let res = self
            .shared
            .procs
            .link(&Link3Args {
                file: fh.to_wire(),
                link: dir_op(&dir, &name)?,
            })
            .await?;
        ok(res, "LINK", new_path).map(|_| ())
    }
}

/// A directory listing read page by page: READDIRPLUS, or READDIR if the
/// server does not support it. `.` and `..` are skipped; a page with any
/// other name that is not one valid path component (see [`DirEntry::name`])
/// ends the listing with [`Error::Protocol`], so no caller ever joins a
/// server's `../x` or `/x` onto a path.
pub struct ReadDir {
    nfs: Nfs,
    dir: FileHandle,
    cookie: Cookie3,
    cookieverf: Cookieverf3,
    page: VecDeque<DirEntry>,
    eof: bool,
    plus: bool,
    pages: usize,
}

impl ReadDir {
    /// The next entry, `None` at the end; after an error, `None`.
    pub async fn next(&mut self) -> Option<Result<DirEntry>> {
        loop {
            if let Some(e) = self.page.pop_front() {
                return Some(Ok(e));
            }
            if self.eof {
                return None;
            }
            if let Err(e) = self.fetch().await {
                self.eof = true;
                return Some(Err(e));
            }
        }
    }

    /// Reads the next page into `self.page`.
    async fn fetch(&mut self) -> Result<()> {
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(Error::Protocol(
                "directory listing never reached eof".into(),
            ));
        }
        let procs = &self.nfs.shared.procs;
        let (entries, eof) = if self.plus {
            let res = procs
                .readdirplus(&Readdirplus3Args {
                    dir: self.dir.to_wire(),
                    cookie: self.cookie,
                    cookieverf: self.cookieverf,
                    dircount: DIRCOUNT,
                    maxcount: MAXCOUNT,
                })
                .await?;
            let page = match res {
                NfsResult::Err(Nfsstat3::Notsupp, _) if self.cookie == 0 => {
                    self.plus = false;
                    self.pages -= 1;
                    return Ok(());
                }
                res => ok(res, "READDIRPLUS", "")?,
            };
            self.cookieverf = page.cookieverf;
            let entries = page
                .reply
                .entries
                .into_iter()
                .map(|e| match is_dot_or_dotdot(&e.name.0) {
                    true => Ok((e.cookie, None)),
                    false => Ok((e.cookie, Some(DirEntry::from_entryplus(e)?))),
                })
                .collect::<Result<Vec<_>>>()?;
            (entries, page.reply.eof)
        } else {
            let res = procs
                .readdir(&Readdir3Args {
                    dir: self.dir.to_wire(),
                    cookie: self.cookie,
                    cookieverf: self.cookieverf,
                    count: MAXCOUNT,
                })
                .await?;
            let page = ok(res, "READDIR", "")?;
            self.cookieverf = page.cookieverf;
            let entries = page
                .reply
                .entries
                .into_iter()
                .map(|e| match is_dot_or_dotdot(&e.name.0) {
                    true => Ok((e.cookie, None)),
                    false => Ok((e.cookie, Some(DirEntry::from_entry(e)?))),
                })
                .collect::<Result<Vec<_>>>()?;
            (entries, page.reply.eof)
        };
        if entries.is_empty() && !eof {
            return Err(Error::Protocol(
                "directory page with no entries and no eof".into(),
            ));
        }
        for (cookie, entry) in entries {
            self.cookie = cookie;
            self.page.extend(entry);
        }
        self.eof = eof;
        Ok(())
    }
}
