//! Turning `/`-separated paths inside the export into handles: LOOKUP
//! component by component, following symbolic links on the way (and at
//! the end when asked), as a POSIX client would.
//!
//! A link's target is resolved inside the export: relative targets from
//! the link's directory, absolute ones from the export root after
//! removing the export's own path (a link written on the server as
//! `/srv/export/dir`). An absolute target outside the export (`/tmp`,
//! or the export's parent) is an error that says so: nothing outside the
//! export is reachable (NFSv3 has no way to cross to it), and reading
//! such a target from the export root instead would find other files, or
//! loop when the link names one of the export's ancestors.

use std::collections::VecDeque;

use nfsl_proto::nfs3::*;

use crate::error::{Error, Result};
use crate::procedures::ok;
use crate::session::Nfs;
use crate::types::{FileHandle, Metadata};

/// Symbolic links followed in one resolution before giving up (Linux's
/// limit).
const MAX_SYMLINKS: usize = 40;

/// The components of `path` (empty ones and `.` dropped).
pub(crate) fn components(path: &str) -> VecDeque<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

/// The arguments naming `name` in the directory `dir`. A name is one
/// component: not empty, without `/` or NUL. Names split from a path
/// always are; one from elsewhere (a server's READDIR entry) that is not
/// is refused here instead of being sent.
pub(crate) fn dir_op(dir: &FileHandle, name: &str) -> Result<DirOpArgs3> {
    if name.is_empty() || name.contains(['/', '\0']) {
        return Err(Error::InvalidArgument(format!(
            "{name:?} is not a file name"
        )));
    }
    Ok(DirOpArgs3 {
        dir: dir.to_wire(),
        name: Filename3(name.as_bytes().to_vec()),
    })
}

impl Nfs {
    /// LOOKUP of one name in a directory: the handle and attributes.
    pub(crate) async fn lookup_in(
        &self,
        dir: &FileHandle,
        name: &str,
    ) -> Result<(FileHandle, Metadata)> {
        let res = self
            .shared
            .procs
            .lookup(&Lookup3Args {
                what: dir_op(dir, name)?,
            })
            .await?;
        let found = ok(res, "LOOKUP", "")?;
        let fh = FileHandle::from(found.object);
        let md = match found.obj_attributes {
            Some(a) => a.into(),
            None => self.getattr(&fh).await?,
        };
        Ok((fh, md))
    }

    /// The contents of the symbolic link with handle `fh`.
    pub(crate) async fn readlink_handle(&self, fh: &FileHandle) -> Result<String> {
        let res = self
            .shared
            .procs
            .readlink(&Readlink3Args {
                symlink: fh.to_wire(),
            })
            .await?;
        Ok(String::from_utf8_lossy(&ok(res, "READLINK", "")?.data.0).into_owned())
    }

    /// Resolves `path` to a handle and attributes; a final symlink is
    /// followed only if `follow_last`.
    pub(crate) async fn resolve(
        &self,
        path: &str,
        follow_last: bool,
    ) -> Result<(FileHandle, Metadata)> {
        self.resolve_inner(path, follow_last)
            .await
            .map_err(|e| e.at(path))
    }

    async fn resolve_inner(&self, path: &str, follow_last: bool) -> Result<(FileHandle, Metadata)> {
        let root = self.shared.root.clone();
        let mut queue = components(path);
        if queue.is_empty() {
            let md = self.getattr(&root).await?;
            return Ok((root, md));
        }
        let mut dir = root.clone();
        let mut current: Option<(FileHandle, Metadata)> = None;
        let mut links = 0;
        while let Some(name) = queue.pop_front() {
            let (fh, md) = self.lookup_in(&dir, &name).await?;
            if md.is_symlink() && (!queue.is_empty() || follow_last) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Error::InvalidArgument(format!(
                        "{path}: too many levels of symbolic links"
                    )));
                }
                let target = self.readlink_handle(&fh).await?;
                let target = match self.inside_export(&target) {
                    Some(inside) => inside,
                    None => {
                        return Err(Error::InvalidArgument(format!(
                            "{path}: symbolic link to {target} leads outside the export {}",
                            self.export()
                        )))
                    }
                };
                if target.starts_with('/') {
                    dir = root.clone();
                    current = None;
                }
                for c in components(&target).into_iter().rev() {
                    queue.push_front(c);
                }
                continue;
            }
            if !queue.is_empty() {
                dir = fh.clone();
            }
            current = Some((fh, md));
        }
        match current {
            Some(found) => Ok(found),
            // Only symlinks to the root were followed.
            None => {
                let md = self.getattr(&dir).await?;
                Ok((dir, md))
            }
        }
    }

    /// A link target as a path to resolve: relative ones as they are,
    /// absolute ones inside the export as paths from its root, `None` for
    /// an absolute one outside it.
    fn inside_export(&self, target: &str) -> Option<String> {
        let export = self.export().trim_end_matches('/');
        if !target.starts_with('/') {
            return Some(target.to_string());
        }
        match target.strip_prefix(export) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => Some(format!("/{rest}")),
            _ => None,
        }
    }

    /// The directory that holds `path`'s last component (followed through
    /// symlinks) and that component's name.
    pub(crate) async fn resolve_parent(&self, path: &str) -> Result<(FileHandle, String)> {
        let mut comps = components(path);
        let name = comps
            .pop_back()
            .ok_or_else(|| Error::InvalidArgument(format!("{path:?} names the export root")))?;
        if name == ".." {
            return Err(Error::InvalidArgument(format!("{path:?} ends in ..")));
        }
        let parent: Vec<String> = comps.into_iter().collect();
        let (dir, md) = self.resolve(&parent.join("/"), true).await?;
        if !md.is_dir() {
            return Err(Error::nfs(Nfsstat3::Notdir, "LOOKUP", parent.join("/")));
        }
        Ok((dir, name))
    }

    /// The target of the symbolic link at `path`.
    pub async fn read_link(&self, path: &str) -> Result<String> {
        let (fh, md) = self.resolve(path, false).await?;
        if !md.is_symlink() {
            return Err(Error::nfs(Nfsstat3::Inval, "READLINK", path));
        }
        self.readlink_handle(&fh).await.map_err(|e| e.at(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_skip_empty_and_dot() {
        assert_eq!(components("/a//./b/"), ["a", "b"]);
        assert!(components("/").is_empty());
        assert!(components("").is_empty());
        assert_eq!(components("a/../b"), ["a", "..", "b"]);
    }

    #[test]
    fn dir_op_takes_one_component_only() {
        let dir = FileHandle::from_bytes(&[1; 8]);
        let args = dir_op(&dir, "..").unwrap();
        assert_eq!((args.dir.0, args.name.0), (vec![1; 8], b"..".to_vec()));
        for bad in ["", "a/b", "nul\0"] {
            let e = dir_op(&dir, bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{bad:?}");
        }
    }
}
