//! The check of every fd received over the LOCALIO channel against the
//! file's attributes fetched over the NFS connection, before any IO on it.
//!
//! The socket's server was authenticated when the channel was made
//! (`nfsl_localio::trust`: a root- or self-owned process, StrictModes on
//! the socket and its directory). This check proves the other half: that
//! the fd is the file the NFS server this client mounted calls by that
//! handle. The fd must be a regular file whose inode number is the NFS
//! `fileid`, whose size and ctime (to the nanosecond) are those GETATTR
//! reports, and whose device is the one every other fd of the same NFS
//! `fsid` had in this session (nfsl's `fsid` is the export's id, not a
//! device number, so the mapping is learned from the first verified fd of
//! each `fsid`). A file that changes between the open and the GETATTR
//! would show another size or ctime: the fd is `fstat`ed before and after
//! the GETATTR and either state may match, and the check is tried a few
//! times; an fd that is not the file ends the session, while a file that
//! keeps changing only sends that IO over RPC (which is always correct)
//! and is opened again at its next IO.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType as RawType, Stat};

use crate::types::{FileType, Metadata};

/// What one `fstat` of a received fd says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdState {
    dev: u64,
    ino: u64,
    regular: bool,
    size: u64,
    ctime: Option<SystemTime>,
}

impl FdState {
    /// `fstat` of `fd`.
    pub(crate) fn of(fd: impl AsFd) -> rustix::io::Result<FdState> {
        Ok(FdState::from_stat(&rustix::fs::fstat(fd)?))
    }

    fn from_stat(st: &Stat) -> FdState {
        let ctime = u64::try_from(st.st_ctime)
            .ok()
            .map(|s| UNIX_EPOCH + Duration::new(s, (st.st_ctime_nsec as u32).min(999_999_999)));
        FdState {
            dev: st.st_dev,
            ino: st.st_ino,
            regular: RawType::from_raw_mode(st.st_mode as _) == RawType::RegularFile,
            size: st.st_size as u64,
            ctime,
        }
    }

    /// Whether size and ctime are those of `attrs`.
    fn same_version(&self, attrs: &Metadata) -> bool {
        self.size == attrs.size && self.ctime == Some(attrs.ctime)
    }
}

/// The devices of the `fsid`s seen in one LOCALIO session.
#[derive(Debug, Default)]
pub(crate) struct Devices(Mutex<HashMap<u64, u64>>);

impl Devices {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `dev` may be the device of `fsid`: it is the one learned,
    /// or none was learned yet.
    fn allows(&self, fsid: u64, dev: u64) -> bool {
        self.map().get(&fsid).is_none_or(|d| *d == dev)
    }

    /// Records `dev` as the device of `fsid` (after a full check).
    fn learn(&self, fsid: u64, dev: u64) {
        self.map().entry(fsid).or_insert(dev);
    }
}

/// Why received fds were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FdMismatch {
    /// They are not the file the NFS server names: the channel's server
    /// cannot be trusted, the session must end.
    NotTheFile(String),
    /// They are that file, but it changed between the `fstat`s and the
    /// GETATTR (another writer): try again, or do this IO over RPC.
    Changing,
}

/// Checks received fds (`before`: each fd's `fstat` taken before the
/// GETATTR, `after`: the buffered fd's after it) against `attrs`, the
/// file's attributes from the NFS server.
pub(crate) fn check_fds(
    before: &[FdState],
    after: &FdState,
    attrs: &Metadata,
    devices: &Devices,
) -> Result<(), FdMismatch> {
    let not = |why: String| Err(FdMismatch::NotTheFile(why));
    let Some(first) = before.first() else {
        return not("no file descriptor".into());
    };
    if attrs.file_type != FileType::Regular {
        return not(format!(
            "NFS says {:?}, not a regular file",
            attrs.file_type
        ));
    }
    for st in before.iter().chain([after]) {
        if !st.regular {
            return not("a received fd is not a regular file".into());
        }
        if (st.dev, st.ino) != (first.dev, first.ino) {
            return not("the received fds are not the same file".into());
        }
    }
    if first.ino != attrs.fileid {
        return not(format!(
            "inode {} is not NFS fileid {}",
            first.ino, attrs.fileid
        ));
    }
    if !devices.allows(attrs.fsid, first.dev) {
        return not(format!(
            "device {:#x} is not the device of fsid {} in this session",
            first.dev, attrs.fsid
        ));
    }
    if !first.same_version(attrs) && !after.same_version(attrs) {
        return Err(FdMismatch::Changing);
    }
    devices.learn(attrs.fsid, first.dev);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn attrs_of(path: &std::path::Path, fsid: u64) -> Metadata {
        let m = std::fs::metadata(path).unwrap();
        Metadata {
            file_type: FileType::Regular,
            mode: m.mode() & 0o7777,
            nlink: m.nlink() as u32,
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            used: 0,
            rdev: (0, 0),
            fsid,
            fileid: m.ino(),
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH + Duration::new(m.ctime() as u64, m.ctime_nsec() as u32),
        }
    }

    #[test]
    fn only_the_named_file_in_its_state_passes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"the real file").unwrap();
        std::fs::write(&b, b"another file").unwrap();
        let fa = OwnedFd::from(std::fs::File::open(&a).unwrap());
        let fb = OwnedFd::from(std::fs::File::open(&b).unwrap());
        let sa = FdState::of(&fa).unwrap();
        let sb = FdState::of(&fb).unwrap();
        let devices = Devices::default();
        let attrs = attrs_of(&a, 7);
        let not_the_file = |r: Result<(), FdMismatch>| matches!(r, Err(FdMismatch::NotTheFile(_)));
        // A first fd that is another file does not teach its device.
        let mut elsewhere = sa;
        elsewhere.dev ^= 1;
        elsewhere.ino ^= 1;
        assert!(not_the_file(check_fds(
            &[elsewhere],
            &elsewhere,
            &attrs,
            &devices
        )));
        assert_eq!(check_fds(&[sa], &sa, &attrs, &devices), Ok(()));
        // Another file's fd, or a mix of two files.
        assert!(not_the_file(check_fds(&[sb], &sb, &attrs, &devices)));
        assert!(not_the_file(check_fds(&[sa, sb], &sa, &attrs, &devices)));
        // Changed since (size): the same file, changing.
        let mut grown = attrs.clone();
        grown.size += 1;
        assert_eq!(
            check_fds(&[sa], &sa, &grown, &devices),
            Err(FdMismatch::Changing)
        );
        let mut dir_attrs = attrs.clone();
        dir_attrs.file_type = FileType::Directory;
        assert!(not_the_file(check_fds(&[sa], &sa, &dir_attrs, &devices)));
        // Changed between the first fstat and the GETATTR: the later
        // state matches.
        std::fs::write(&a, b"the real file, longer").unwrap();
        let later = FdState::of(&fa).unwrap();
        assert_eq!(check_fds(&[sa], &later, &attrs_of(&a, 7), &devices), Ok(()));
        // A device that is not the one fsid 7 had.
        let mut elsewhere = sa;
        elsewhere.dev ^= 1;
        match check_fds(&[elsewhere], &elsewhere, &attrs, &devices) {
            Err(FdMismatch::NotTheFile(why)) => assert!(why.contains("device"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
