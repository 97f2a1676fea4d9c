//! Handle tests run for both schemes; scheme-specific ones are in
//! `tests_inode.rs`.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::creds::Credentials;
use crate::exports::ExportId;

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

/// An export with a file `a`, a deep file `d/e/f/deep`, a symlink `link`
/// and a FIFO `fifo`.
pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("export");
    fs::create_dir_all(root.join("d/e/f")).unwrap();
    fs::write(root.join("a"), b"hello").unwrap();
    fs::write(root.join("d/e/f/deep"), b"deep").unwrap();
    std::os::unix::fs::symlink("a", root.join("link")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    Fixture { _dir: dir, root }
}

pub(super) fn key(b: u8) -> HandleKey {
    HandleKey::new([b; 32])
}

pub(super) fn open(root: &Path, scheme: Scheme) -> ExportFs {
    ExportFs::open_with_scheme(root, ExportId(7), key(1), scheme).unwrap()
}

/// The schemes this environment supports (Kernel needs root).
pub(super) fn schemes() -> Vec<Scheme> {
    let probe = fixture();
    match ExportFs::open_with_scheme(&probe.root, ExportId(1), key(1), Scheme::Kernel) {
        Ok(_) => vec![Scheme::Kernel, Scheme::Inode],
        Err(e) => {
            eprintln!("kernel scheme unavailable ({e}); testing the inode scheme only");
            vec![Scheme::Inode]
        }
    }
}

/// Looks up `rel` component by component, as a client would.
pub(super) fn lookup(efs: &ExportFs, rel: &str) -> FileHandle {
    let mut fh = efs.root_handle().clone();
    for comp in rel.split('/') {
        let dir = efs.resolve(fh.as_bytes(), Access::Path).unwrap();
        fh = efs.handle_for_child(&dir, comp.as_bytes()).unwrap();
    }
    fh
}

pub(super) fn ino(fd: &OwnedFd) -> u64 {
    rustix::fs::fstat(fd).unwrap().st_ino
}

pub(super) fn ino_of(p: &Path) -> u64 {
    fs::symlink_metadata(p).unwrap().ino()
}

fn errno(r: Result<impl std::fmt::Debug, HandleError>) -> i32 {
    match r {
        Err(HandleError::Io(e)) => e.raw_os_error().unwrap(),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

pub(super) fn is_stale(r: Result<OwnedFd, HandleError>) -> bool {
    matches!(r, Err(HandleError::Stale))
}

const NAMES: [&str; 6] = ["a", "d", "d/e", "d/e/f/deep", "link", "fifo"];

#[test]
fn round_trip() {
    for scheme in schemes() {
        let fx = fixture();
        let efs = open(&fx.root, scheme);
        assert_eq!(efs.scheme(), scheme);
        assert_eq!(efs.id(), ExportId(7));
        for name in NAMES {
            let fh = lookup(&efs, name);
            assert!(fh.as_bytes().len() <= FHSIZE);
            assert_eq!(handle_export_id(fh.as_bytes()), Some(ExportId(7)));
            let fd = efs.resolve(fh.as_bytes(), Access::Path).unwrap();
            assert_eq!(ino(&fd), ino_of(&fx.root.join(name)), "{scheme:?} {name}");
            assert_eq!(efs.handle_for_fd(&fd).unwrap(), fh, "{scheme:?} {name}");
        }
        let root = efs
            .resolve(efs.root_handle().as_bytes(), Access::Read)
            .unwrap();
        assert!(efs.is_root(&root).unwrap());
    }
}

#[test]
fn handles_survive_restart() {
    for scheme in schemes() {
        let fx = fixture();
        let handles: Vec<FileHandle> = {
            let efs = open(&fx.root, scheme);
            NAMES.iter().map(|n| lookup(&efs, n)).collect()
        };
        let efs = open(&fx.root, scheme);
        for (name, fh) in NAMES.iter().zip(&handles) {
            let fd = efs.resolve(fh.as_bytes(), Access::Path).unwrap();
            assert_eq!(ino(&fd), ino_of(&fx.root.join(name)), "{scheme:?} {name}");
        }
    }
}

#[test]
fn renamed_files_keep_their_handle() {
    for scheme in schemes() {
        let fx = fixture();
        let efs = open(&fx.root, scheme);
        let fh = lookup(&efs, "d/e/f/deep");
        let dir = lookup(&efs, "d/e");
        // The inode scheme finds files renamed within their directory, and
        // directories moved anywhere once the export is opened again
        // (tests_inode.rs); the kernel's handles survive any rename.
        let moved = match scheme {
            Scheme::Kernel => "moved",
            Scheme::Inode => "d/e/f/moved",
        };
        fs::rename(fx.root.join("d/e/f/deep"), fx.root.join(moved)).unwrap();
        fs::rename(fx.root.join("d/e"), fx.root.join("e2")).unwrap();
        let moved = moved.replace("d/e/", "e2/");
        let restarted = open(&fx.root, scheme);
        let mut servers = vec![&restarted];
        if scheme == Scheme::Kernel {
            servers.push(&efs);
        }
        for efs in servers {
            let fd = efs.resolve(dir.as_bytes(), Access::Path).unwrap();
            assert_eq!(ino(&fd), ino_of(&fx.root.join("e2")), "{scheme:?}");
            let fd = efs.resolve(fh.as_bytes(), Access::Read).unwrap();
            assert_eq!(ino(&fd), ino_of(&fx.root.join(&moved)), "{scheme:?}");
        }
    }
}

#[test]
fn every_bit_flip_is_rejected() {
    for scheme in schemes() {
        let fx = fixture();
        let efs = open(&fx.root, scheme);
        let fh = lookup(&efs, "d/e/f/deep");
        let bytes = fh.as_bytes();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.to_vec();
            b[i / 8] ^= 1 << (i % 8);
            let r = efs.resolve(&b, Access::Path);
            assert!(
                matches!(r, Err(HandleError::BadHandle | HandleError::Stale)),
                "{scheme:?} bit {i}: {r:?}"
            );
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(efs.resolve(&longer, Access::Path).is_err());
        assert!(efs
            .resolve(&bytes[..bytes.len() - 1], Access::Path)
            .is_err());
    }
}

#[test]
fn foreign_handles_are_rejected() {
    for scheme in schemes() {
        let fx = fixture();
        let efs = open(&fx.root, scheme);
        let fh = lookup(&efs, "a");
        let other_key = ExportFs::open_with_scheme(&fx.root, ExportId(7), key(2), scheme).unwrap();
        let r = other_key.resolve(fh.as_bytes(), Access::Path);
        assert!(matches!(r, Err(HandleError::BadHandle)), "{r:?}");
        let other_export =
            ExportFs::open_with_scheme(&fx.root.join("d"), ExportId(8), key(1), scheme).unwrap();
        assert!(is_stale(other_export.resolve(fh.as_bytes(), Access::Path)));
        let other_fh = lookup(&other_export, "e");
        assert_eq!(handle_export_id(other_fh.as_bytes()), Some(ExportId(8)));
        assert!(is_stale(efs.resolve(other_fh.as_bytes(), Access::Path)));
    }
}

#[test]
fn scheme_mismatch_is_stale() {
    let s = schemes();
    if s.len() < 2 {
        return;
    }
    let fx = fixture();
    let k = open(&fx.root, Scheme::Kernel);
    let i = open(&fx.root, Scheme::Inode);
    assert!(is_stale(
        i.resolve(lookup(&k, "a").as_bytes(), Access::Path)
    ));
    assert!(is_stale(
        k.resolve(lookup(&i, "a").as_bytes(), Access::Path)
    ));
}

#[test]
fn deleted_files_are_stale_even_if_the_inode_is_reused() {
    for scheme in schemes() {
        let fx = fixture();
        let efs = open(&fx.root, scheme);
        let fh = lookup(&efs, "a");
        let old_ino = ino_of(&fx.root.join("a"));
        fs::remove_file(fx.root.join("a")).unwrap();
        assert!(
            is_stale(efs.resolve(fh.as_bytes(), Access::Path)),
            "{scheme:?}"
        );
        // ext4 tends to hand the freed inode straight to the next file.
        let mut reused = false;
        for i in 0..200 {
            let p = fx.root.join(format!("new{i}"));
            fs::write(&p, b"x").unwrap();
            reused |= ino_of(&p) == old_ino;
            if reused {
                break;
            }
        }
        assert!(
            is_stale(efs.resolve(fh.as_bytes(), Access::Path)),
            "{scheme:?}"
        );
        assert!(is_stale(
            open(&fx.root, scheme).resolve(fh.as_bytes(), Access::Path)
        ));
        eprintln!("{scheme:?}: inode reused: {reused}");
    }
}

#[test]
fn access_modes() {
    for scheme in schemes() {
        let fx = fixture();
        let efs = open(&fx.root, scheme);
        let fd = efs
            .resolve(lookup(&efs, "a").as_bytes(), Access::Read)
            .unwrap();
        let mut buf = [0u8; 16];
        let n = rustix::io::read(&fd, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let fd = efs
            .resolve(lookup(&efs, "a").as_bytes(), Access::ReadWrite)
            .unwrap();
        assert_eq!(rustix::io::pwrite(&fd, b"J", 0).unwrap(), 1);
        let fd = efs
            .resolve(lookup(&efs, "a").as_bytes(), Access::Write)
            .unwrap();
        assert!(rustix::io::read(&fd, &mut buf).is_err());
        let d = lookup(&efs, "d");
        assert!(efs.resolve(d.as_bytes(), Access::Read).is_ok());
        assert_eq!(
            errno(efs.resolve(d.as_bytes(), Access::ReadWrite)),
            libc::EISDIR
        );
        let fifo = lookup(&efs, "fifo");
        assert_eq!(
            errno(efs.resolve(fifo.as_bytes(), Access::Read)),
            libc::EINVAL
        );
        let link = lookup(&efs, "link");
        assert_eq!(
            errno(efs.resolve(link.as_bytes(), Access::Read)),
            libc::EINVAL
        );
        let fd = efs.resolve(link.as_bytes(), Access::Path).unwrap();
        let target = rustix::fs::readlinkat(&fd, "", Vec::new()).unwrap();
        assert_eq!(target.as_bytes(), b"a");
    }
}

#[test]
fn dot_names_and_bad_names() {
    for scheme in schemes() {
        let fx = fixture();
        let efs = open(&fx.root, scheme);
        let root = efs.root();
        assert_eq!(
            &efs.handle_for_child(root, b"..").unwrap(),
            efs.root_handle()
        );
        assert_eq!(
            &efs.handle_for_child(root, b".").unwrap(),
            efs.root_handle()
        );
        let d = efs
            .resolve(lookup(&efs, "d/e").as_bytes(), Access::Path)
            .unwrap();
        let up = efs.handle_for_child(&d, b"..").unwrap();
        assert_eq!(up, lookup(&efs, "d"));
        assert_eq!(errno(efs.handle_for_child(root, b"d/e")), libc::EINVAL);
        assert_eq!(errno(efs.handle_for_child(root, b"")), libc::EINVAL);
        assert_eq!(
            errno(efs.handle_for_child(root, &[b'x'; 256])),
            libc::ENAMETOOLONG
        );
        assert_eq!(errno(efs.handle_for_child(root, b"missing")), libc::ENOENT);
    }
}

#[test]
fn other_mounts_get_no_handle() {
    let fx = fixture();
    let dev = fs::File::open("/dev").unwrap();
    if fs::metadata("/dev").unwrap().dev() == fs::metadata(&fx.root).unwrap().dev() {
        eprintln!("skipped: /dev is not a separate mount here");
        return;
    }
    for scheme in schemes() {
        let efs = open(&fx.root, scheme);
        let r = efs.handle_for_fd(dev.as_fd());
        assert!(
            matches!(r, Err(HandleError::OtherFilesystem)),
            "{scheme:?}: {r:?}"
        );
    }
}

#[test]
fn resolve_needs_server_credentials() {
    if !schemes().contains(&Scheme::Kernel) {
        return;
    }
    let fx = fixture();
    let efs = open(&fx.root, Scheme::Kernel);
    let fh = lookup(&efs, "a");
    std::thread::scope(|s| {
        s.spawn(|| {
            let guard = Credentials {
                uid: 65534,
                gid: 65534,
                groups: vec![],
            }
            .assume()
            .unwrap();
            // fsuid != 0 drops CAP_DAC_READ_SEARCH from the effective set.
            assert_eq!(errno(efs.resolve(fh.as_bytes(), Access::Path)), libc::EPERM);
            // Issuing handles needs no privilege.
            assert_eq!(efs.handle_for_child(efs.root(), b"a").unwrap(), fh);
            drop(guard);
            assert!(efs.resolve(fh.as_bytes(), Access::Path).is_ok());
        });
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_resolve(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let fx = FIXTURE.with(|f| f.root.clone());
        for scheme in [Scheme::Kernel, Scheme::Inode] {
            let Ok(efs) = ExportFs::open_with_scheme(&fx, ExportId(7), key(1), scheme) else {
                continue;
            };
            prop_assert!(efs.resolve(&bytes, Access::Path).is_err());
        }
    }

    #[test]
    fn plausible_headers_never_resolve(
        scheme_byte in 0u8..4,
        body in proptest::collection::vec(any::<u8>(), 0..58),
    ) {
        let fx = FIXTURE.with(|f| f.root.clone());
        let mut bytes = vec![1, scheme_byte, 0, 0, 0, 7];
        bytes.extend(body);
        let _ = handle_export_id(&bytes);
        for scheme in [Scheme::Kernel, Scheme::Inode] {
            let Ok(efs) = ExportFs::open_with_scheme(&fx, ExportId(7), key(1), scheme) else {
                continue;
            };
            prop_assert!(efs.resolve(&bytes, Access::Read).is_err());
        }
    }
}

thread_local! {
    static FIXTURE: Fixture = fixture();
}

#[test]
fn export_fs_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ExportFs>();
    assert_send_sync::<FileHandle>();
}

/// A directory moved out of the export while its handle is held: `..`
/// of it is never given out (issue 11, item 8), and `check_within`
/// refuses it and files below it, but accepts what is still inside.
#[test]
fn dotdot_never_leaves_the_export() {
    for scheme in schemes() {
        let fx = fixture();
        let efs = open(&fx.root, scheme);
        let e = lookup(&efs, "d/e");
        let deep = lookup(&efs, "d/e/f/deep");
        let inside = efs
            .resolve(lookup(&efs, "d").as_bytes(), Access::Path)
            .unwrap();
        assert!(efs.check_within(&inside).is_ok(), "{scheme:?}");
        let a = efs
            .resolve(lookup(&efs, "a").as_bytes(), Access::Path)
            .unwrap();
        assert!(efs.check_within(&a).is_ok(), "{scheme:?}");
        let outside = fx.root.parent().unwrap().join("outside");
        fs::rename(fx.root.join("d/e"), &outside).unwrap();
        let Ok(dir) = efs.resolve(e.as_bytes(), Access::Path) else {
            // The inode scheme only opens paths beneath the root.
            assert_eq!(scheme, Scheme::Inode);
            continue;
        };
        let up = efs.handle_for_child(&dir, b"..");
        assert!(matches!(up, Err(HandleError::Stale)), "{scheme:?}: {up:?}");
        assert!(matches!(efs.check_within(&dir), Err(HandleError::Stale)));
        let file = efs.resolve(deep.as_bytes(), Access::Path).unwrap();
        assert!(matches!(efs.check_within(&file), Err(HandleError::Stale)));
        // `..` of a directory inside is still fine.
        let f = rustix::fs::openat(
            &dir,
            "f",
            rustix::fs::OFlags::PATH,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        assert!(efs.check_within(&f).is_err());
        let d = efs
            .resolve(lookup(&efs, "d").as_bytes(), Access::Path)
            .unwrap();
        assert!(efs.handle_for_child(&d, b"..").unwrap() == *efs.root_handle());
    }
}
