//! Opening and creating files: [`OpenOptions`] and [`Nfs::open`] (LOOKUP,
//! GUARDED or EXCLUSIVE CREATE, truncation by SETATTR).

use nfsl_proto::nfs3::*;

use crate::error::{Error, ErrorKind, Result};
use crate::file::File;
use crate::paths::dir_op;
use crate::procedures::ok;
use crate::session::Nfs;
use crate::types::{FileHandle, Metadata, SetAttr};

/// How [`Nfs::open`] opens a file (like `std::fs::OpenOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Create the file if it does not exist.
    pub create: bool,
    /// Create the file, failing if it exists (exclusive CREATE).
    pub create_new: bool,
    /// Truncate an existing file to 0 bytes.
    pub truncate: bool,
    /// Permission bits of a created file.
    pub mode: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read: false,
            write: false,
            create: false,
            create_new: false,
            truncate: false,
            mode: 0o644,
        }
    }
}

impl OpenOptions {
    /// Nothing set; mode 0644.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `read`.
    pub fn read(mut self, v: bool) -> Self {
        self.read = v;
        self
    }
    /// Sets `write`.
    pub fn write(mut self, v: bool) -> Self {
        self.write = v;
        self
    }
    /// Sets `create`.
    pub fn create(mut self, v: bool) -> Self {
        self.create = v;
        self
    }
    /// Sets `create_new`.
    pub fn create_new(mut self, v: bool) -> Self {
        self.create_new = v;
        self
    }
    /// Sets `truncate`.
    pub fn truncate(mut self, v: bool) -> Self {
        self.truncate = v;
        self
    }
    /// Sets the mode of a created file.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
}

impl Nfs {
    /// Opens (and maybe creates) the regular file at `path`, following
    /// symbolic links.
    pub async fn open(&self, path: &str, options: &OpenOptions) -> Result<File> {
        let (fh, md) = if options.create_new {
            self.create_exclusive(path, options.mode).await?
        } else if options.create {
            match self.resolve(path, true).await {
                Ok(found) => self.truncate_if(found, options, path).await?,
                Err(e) if e.is(ErrorKind::NotFound) => {
                    match self.create_guarded(path, options.mode).await {
                        Err(e) if e.is(ErrorKind::Exists) => {
                            let found = self.resolve(path, true).await?;
                            self.truncate_if(found, options, path).await?
                        }
                        other => other?,
                    }
                }
                Err(e) => return Err(e),
            }
        } else {
            let found = self.resolve(path, true).await?;
            self.truncate_if(found, options, path).await?
        };
        match md.file_type {
            crate::FileType::Regular => {}
            file_type => {
                return Err(Error::NotAFile {
                    path: path.to_string(),
                    is_dir: file_type == crate::FileType::Directory,
                })
            }
        }
        let writable = options.write || options.create || options.create_new || options.truncate;
        Ok(File::new(self.clone(), fh, path, writable))
    }

    /// Creates `path` (or truncates it) for writing, mode 0644.
    pub async fn create(&self, path: &str) -> Result<File> {
        self.open(
            path,
            &OpenOptions::new().write(true).create(true).truncate(true),
        )
        .await
    }

    /// Opens an existing file by handle, without a LOOKUP.
    pub fn open_handle(&self, handle: FileHandle) -> File {
        File::new(self.clone(), handle, "", false)
    }

    async fn truncate_if(
        &self,
        (fh, md): (FileHandle, Metadata),
        options: &OpenOptions,
        path: &str,
    ) -> Result<(FileHandle, Metadata)> {
        if options.truncate && md.is_file() && md.size > 0 {
            let attrs = SetAttr {
                size: Some(0),
                ..SetAttr::default()
            };
            let md = self
                .set_attr_handle(&fh, &attrs)
                .await
                .map_err(|e| e.at(path))?;
            return Ok((fh, md));
        }
        Ok((fh, md))
    }

    async fn create_call(
        &self,
        path: &str,
        how: CreateHow3,
    ) -> Result<(FileHandle, Option<Metadata>)> {
        let (dir, name) = self.resolve_parent(path).await?;
        let res = self
            .shared
            .procs
            .create(&Create3Args {
                location: dir_op(&dir, &name)?,
                how,
            })
            .await?;
        let made = ok(res, "CREATE", path)?;
        match made.obj {
            Some(fh) => Ok((fh.into(), made.obj_attributes.map(Metadata::from))),
            None => {
                let (fh, md) = self.lookup_in(&dir, &name).await.map_err(|e| e.at(path))?;
                Ok((fh, Some(md)))
            }
        }
    }

    async fn create_guarded(&self, path: &str, mode: u32) -> Result<(FileHandle, Metadata)> {
        let attrs = Sattr3 {
            mode: Some(mode & 0o7777),
            ..Sattr3::default()
        };
        let (fh, md) = self.create_call(path, CreateHow3::Guarded(attrs)).await?;
        match md {
            Some(md) => Ok((fh, md)),
            None => Ok((fh.clone(), self.getattr(&fh).await?)),
        }
    }

    /// Exclusive CREATE, then SETATTR of the mode (the server kept the
    /// verifier in the file's times, RFC 1813 §3.3.8).
    async fn create_exclusive(&self, path: &str, mode: u32) -> Result<(FileHandle, Metadata)> {
        let verf: Createverf3 = rand::random();
        let (fh, _) = self.create_call(path, CreateHow3::Exclusive(verf)).await?;
        let attrs = SetAttr {
            mode: Some(mode & 0o7777),
            atime: Some(crate::SetTime::ServerNow),
            mtime: Some(crate::SetTime::ServerNow),
            ..SetAttr::default()
        };
        let md = self
            .set_attr_handle(&fh, &attrs)
            .await
            .map_err(|e| e.at(path))?;
        Ok((fh, md))
    }
}
