//! Converting the local file system's `stat` into NFSv3 attributes.

use nfsl_proto::nfs3::{Fattr3, Ftype3, Nfstime3, Specdata3, WccAttr, WccData};
use rustix::fs::{major, minor, FileType, Stat};

/// The NFSv3 file type of a local file mode.
pub fn ftype_of(st: &Stat) -> Ftype3 {
    match FileType::from_raw_mode(st.st_mode as _) {
        FileType::Directory => Ftype3::Dir,
        FileType::Symlink => Ftype3::Lnk,
        FileType::BlockDevice => Ftype3::Blk,
        FileType::CharacterDevice => Ftype3::Chr,
        FileType::Socket => Ftype3::Sock,
        FileType::Fifo => Ftype3::Fifo,
        _ => Ftype3::Reg,
    }
}

/// An `nfstime3` from seconds and nanoseconds since the epoch. Like knfsd,
/// seconds are truncated to 32 bits (times before 1970 wrap).
pub fn nfstime(seconds: i64, nanoseconds: i64) -> Nfstime3 {
    Nfstime3 {
        seconds: seconds as u32,
        nseconds: nanoseconds as u32,
    }
}

/// Full attributes of a file. `fsid` is the export's file system id, so
/// each export looks like a file system of its own to the client.
pub fn fattr3(st: &Stat, fsid: u64) -> Fattr3 {
    Fattr3 {
        ftype: ftype_of(st),
        mode: st.st_mode & 0o7777,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as u64,
        used: (st.st_blocks as u64).saturating_mul(512),
        rdev: Specdata3 {
            specdata1: major(st.st_rdev as _),
            specdata2: minor(st.st_rdev as _),
        },
        fsid,
        fileid: st.st_ino,
        atime: nfstime(st.st_atime, st.st_atime_nsec as i64),
        mtime: nfstime(st.st_mtime, st.st_mtime_nsec as i64),
        ctime: nfstime(st.st_ctime, st.st_ctime_nsec as i64),
    }
}

/// The pre-operation attributes weak cache consistency needs.
pub fn wcc_attr(st: &Stat) -> WccAttr {
    WccAttr {
        size: st.st_size as u64,
        mtime: nfstime(st.st_mtime, st.st_mtime_nsec as i64),
        ctime: nfstime(st.st_ctime, st.st_ctime_nsec as i64),
    }
}

/// Weak cache consistency data from optional before and after `stat`s.
pub fn wcc_data(before: Option<&Stat>, after: Option<&Stat>, fsid: u64) -> WccData {
    WccData {
        before: before.map(wcc_attr),
        after: after.map(|st| fattr3(st, fsid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{fstat, Mode, OFlags};

    #[test]
    fn attributes_of_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let fd = rustix::fs::open(&path, OFlags::RDONLY, Mode::empty()).unwrap();
        let st = fstat(&fd).unwrap();
        let a = fattr3(&st, 7);
        assert_eq!(a.ftype, Ftype3::Reg);
        assert_eq!(a.size, 5);
        assert_eq!(a.fsid, 7);
        assert_eq!(a.fileid, st.st_ino as u64);
        assert_eq!(a.nlink, 1);
        let dir_st = rustix::fs::stat(dir.path()).unwrap();
        assert_eq!(ftype_of(&dir_st), Ftype3::Dir);
        assert_eq!(wcc_attr(&st).size, 5);
    }
}
