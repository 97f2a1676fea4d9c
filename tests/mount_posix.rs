//! A POSIX behaviour suite for `nfsl mount`: every operation is done
//! inside a real FUSE mount and on a plain local directory (the export
//! itself for `nfsl serve`; a local directory beside Ganesha's export, which
//! must not be changed behind its back), and the results and errnos must
//! be the same.

mod common;

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use common::*;
use rustix::fs::{Mode, Timespec, Timestamps, UTIME_NOW, UTIME_OMIT};

/// What a step did: its visible result, or the errno it failed with.
type Outcome = Result<String, i32>;

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

fn io<T>(r: std::io::Result<T>) -> Result<T, i32> {
    r.map_err(errno)
}

fn rx<T>(r: rustix::io::Result<T>) -> Result<T, i32> {
    r.map_err(|e| e.raw_os_error())
}

/// The attributes a local file system and the mount must agree on.
fn describe(p: &Path) -> Outcome {
    let m = io(fs::symlink_metadata(p))?;
    let kind = match m.mode() & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "symlink",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "other",
    };
    let size = if kind == "dir" { 0 } else { m.size() };
    Ok(format!(
        "{kind} mode={:o} nlink={} size={size} uid={} gid={}",
        m.mode() & 0o7777,
        if kind == "dir" { 0 } else { m.nlink() },
        m.uid(),
        m.gid()
    ))
}

fn read_all(p: &Path) -> Outcome {
    let mut s = Vec::new();
    io(fs::File::open(p).and_then(|mut f| f.read_to_end(&mut s)))?;
    Ok(format!("{:?}", String::from_utf8_lossy(&s)))
}

fn listing(p: &Path) -> Outcome {
    let mut names: Vec<String> = io(fs::read_dir(p))?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names.join(","))
}

fn set_times(p: &Path, atime: Timespec, mtime: Timespec) -> Outcome {
    rx(rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &Timestamps {
            last_access: atime,
            last_modification: mtime,
        },
        rustix::fs::AtFlags::empty(),
    ))?;
    let m = io(fs::metadata(p))?;
    Ok(format!("atime={} mtime={}", m.atime(), m.mtime()))
}

fn at(sec: i64) -> Timespec {
    Timespec {
        tv_sec: sec,
        tv_nsec: 0,
    }
}

/// A named step of the suite.
type Step = (&'static str, fn(&Path) -> Outcome);

/// The steps, in order; each works inside `d` (a fresh directory).
fn steps() -> Vec<Step> {
    vec![
        ("create O_EXCL 0640", |d| {
            io(OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .open(d.join("f")))?;
            describe(&d.join("f"))
        }),
        ("create O_EXCL again: EEXIST", |d| {
            io(OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(d.join("f")))?;
            Ok("created".into())
        }),
        ("write and read back", |d| {
            io(fs::write(d.join("f"), b"hello world"))?;
            let r = read_all(&d.join("f"))?;
            Ok(format!("{r} {}", describe(&d.join("f"))?))
        }),
        ("pwrite past the end leaves a hole", |d| {
            let mut f = io(OpenOptions::new().write(true).open(d.join("f")))?;
            io(f.seek(SeekFrom::Start(100)))?;
            io(f.write_all(b"tail"))?;
            drop(f);
            read_all(&d.join("f"))
        }),
        ("O_APPEND appends", |d| {
            let mut f = io(OpenOptions::new().append(true).open(d.join("f")))?;
            io(f.write_all(b"+more"))?;
            drop(f);
            read_all(&d.join("f"))
        }),
        ("ftruncate shrinks", |d| {
            let f = io(OpenOptions::new().write(true).open(d.join("f")))?;
            io(f.set_len(5))?;
            drop(f);
            read_all(&d.join("f"))
        }),
        ("truncate by path extends", |d| {
            let c = CString::new(d.join("f").as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid C string; truncate(2) only reads it.
            if unsafe { libc::truncate(c.as_ptr(), 4096) } != 0 {
                return Err(errno(std::io::Error::last_os_error()));
            }
            describe(&d.join("f"))
        }),
        ("O_TRUNC empties", |d| {
            io(OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(d.join("f")))?;
            describe(&d.join("f"))
        }),
        ("chmod 0600", |d| {
            io(fs::set_permissions(
                d.join("f"),
                fs::Permissions::from_mode(0o600),
            ))?;
            describe(&d.join("f"))
        }),
        ("chown to 1234:5678", |d| {
            io(std::os::unix::fs::chown(
                d.join("f"),
                Some(1234),
                Some(5678),
            ))?;
            describe(&d.join("f"))
        }),
        ("utimes both", |d| {
            set_times(&d.join("f"), at(1_000_000), at(2_000_000))
        }),
        ("utimes atime UTIME_OMIT", |d| {
            let omit = Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            };
            set_times(&d.join("f"), omit, at(3_000_000))
        }),
        ("utimes mtime UTIME_NOW", |d| {
            let now = Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_NOW,
            };
            set_times(&d.join("f"), at(4_000_000), now)?;
            let m = io(fs::metadata(d.join("f")))?;
            let age = std::time::SystemTime::now()
                .duration_since(m.modified().unwrap())
                .unwrap_or_default();
            Ok(format!(
                "atime={} mtime recent={}",
                m.atime(),
                age.as_secs() < 60
            ))
        }),
        ("mkdir 0750", |d| {
            io(fs::DirBuilder::new().mode(0o750).create(d.join("sub")))?;
            describe(&d.join("sub"))
        }),
        ("mkdir existing: EEXIST", |d| {
            io(fs::create_dir(d.join("sub"))).map(|_| "made".into())
        }),
        ("mkdir over a file: EEXIST", |d| {
            io(fs::create_dir(d.join("f"))).map(|_| "made".into())
        }),
        ("file in subdir", |d| {
            io(fs::write(d.join("sub/inner"), b"x"))?;
            listing(&d.join("sub"))
        }),
        ("rmdir non-empty: ENOTEMPTY", |d| {
            io(fs::remove_dir(d.join("sub"))).map(|_| "gone".into())
        }),
        ("rmdir a file: ENOTDIR", |d| {
            io(fs::remove_dir(d.join("f"))).map(|_| "gone".into())
        }),
        ("unlink a directory: EISDIR", |d| {
            io(fs::remove_file(d.join("sub"))).map(|_| "gone".into())
        }),
        ("lookup through a file: ENOTDIR", |d| {
            describe(&d.join("f/x"))
        }),
        ("open missing: ENOENT", |d| read_all(&d.join("missing"))),
        ("open a directory for writing: EISDIR", |d| {
            io(OpenOptions::new().write(true).open(d.join("sub"))).map(|_| "opened".into())
        }),
        ("name of 256 bytes: ENAMETOOLONG", |d| {
            io(fs::write(d.join("n".repeat(256)), b"")).map(|_| "made".into())
        }),
        ("name of 255 bytes", |d| {
            io(fs::write(d.join("n".repeat(255)), b""))?;
            describe(&d.join("n".repeat(255)))
        }),
        ("symlink and readlink", |d| {
            io(std::os::unix::fs::symlink("f", d.join("ln")))?;
            let target = io(fs::read_link(d.join("ln")))?;
            Ok(format!(
                "{} {}",
                target.display(),
                describe(&d.join("ln"))?.split(' ').next().unwrap()
            ))
        }),
        ("stat through a symlink", |d| {
            describe(&io(fs::canonicalize(d.join("ln")))?)
        }),
        ("symlink over existing: EEXIST", |d| {
            io(std::os::unix::fs::symlink("x", d.join("ln"))).map(|_| "made".into())
        }),
        ("hard link", |d| {
            io(fs::hard_link(d.join("f"), d.join("hl")))?;
            describe(&d.join("hl"))
        }),
        ("hard link over existing: EEXIST", |d| {
            io(fs::hard_link(d.join("f"), d.join("hl"))).map(|_| "made".into())
        }),
        ("rename over an existing file", |d| {
            io(fs::write(d.join("r1"), b"one"))?;
            io(fs::write(d.join("r2"), b"two"))?;
            io(fs::rename(d.join("r1"), d.join("r2")))?;
            Ok(format!("{} {}", read_all(&d.join("r2"))?, listing(d)?))
        }),
        ("rename a file over a directory: EISDIR", |d| {
            io(fs::rename(d.join("r2"), d.join("sub"))).map(|_| "moved".into())
        }),
        ("rename a directory over a non-empty one: ENOTEMPTY", |d| {
            io(fs::create_dir(d.join("empty")))?;
            io(fs::create_dir(d.join("full")))?;
            io(fs::write(d.join("full/x"), b""))?;
            io(fs::rename(d.join("empty"), d.join("full"))).map(|_| "moved".into())
        }),
        ("rename a directory over an empty one", |d| {
            io(fs::create_dir(d.join("empty2")))?;
            io(fs::rename(d.join("full"), d.join("empty2")))?;
            listing(&d.join("empty2"))
        }),
        ("rename into a subdirectory", |d| {
            io(fs::rename(d.join("r2"), d.join("sub/r2")))?;
            listing(&d.join("sub"))
        }),
        ("mkfifo", |d| {
            rx(rustix::fs::mknodat(
                rustix::fs::CWD,
                d.join("fifo"),
                rustix::fs::FileType::Fifo,
                Mode::from_raw_mode(0o644),
                0,
            ))?;
            describe(&d.join("fifo"))
        }),
        ("unlink missing: ENOENT", |d| {
            io(fs::remove_file(d.join("missing"))).map(|_| "gone".into())
        }),
        ("rmdir missing: ENOENT", |d| {
            io(fs::remove_dir(d.join("missing"))).map(|_| "gone".into())
        }),
        ("access R_OK|W_OK", |d| {
            rx(rustix::fs::access(
                d.join("f"),
                rustix::fs::Access::READ_OK | rustix::fs::Access::WRITE_OK,
            ))?;
            Ok("ok".into())
        }),
        ("access missing: ENOENT", |d| {
            rx(rustix::fs::access(
                d.join("missing"),
                rustix::fs::Access::EXISTS,
            ))?;
            Ok("ok".into())
        }),
        ("fsync", |d| {
            let f = io(OpenOptions::new().write(true).open(d.join("f")))?;
            io(f.sync_all())?;
            Ok("synced".into())
        }),
        ("1500 entries listed (streamed READDIRPLUS)", |d| {
            io(fs::create_dir(d.join("many")))?;
            for i in 0..1500 {
                io(fs::write(d.join(format!("many/e{i:04}")), b""))?;
            }
            let l = listing(&d.join("many"))?;
            Ok(format!(
                "{} entries, hash {}",
                l.split(',').count(),
                blake3::hash(l.as_bytes())
            ))
        }),
        ("unlink, rmdir", |d| {
            io(fs::remove_file(d.join("hl")))?;
            io(fs::remove_file(d.join("fifo")))?;
            io(fs::remove_file(d.join("sub/inner")))?;
            io(fs::remove_file(d.join("sub/r2")))?;
            io(fs::remove_dir(d.join("sub")))?;
            listing(d)
        }),
        ("nlink after unlink", |d| describe(&d.join("f"))),
    ]
}

/// Runs every step in `mounted` and in `local`; returns the differences.
fn compare(mounted: &Path, local: &Path) -> Vec<String> {
    let mut diffs = Vec::new();
    for (name, step) in steps() {
        let (m, l) = (step(mounted), step(local));
        if m != l {
            diffs.push(format!("{name}: mount {m:?} vs local {l:?}"));
        }
    }
    diffs
}

#[test]
fn posix_behaviour_matches_the_exported_directory_with_nfsl_serve() {
    if !fuse_available() {
        return;
    }
    let export = disk_tempdir();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    for options in ["", "passthrough=off", "localio=off,noac"] {
        let url = format!(
            "{}&localio-socket={}",
            server.url(""),
            server.localio_socket().display()
        );
        let mount = FuseMount::mount(&url, options);
        let tag = if options.is_empty() {
            "default"
        } else {
            options
        };
        let (via_mount, direct) = (
            format!("m-{}", tag.replace([',', '='], "_")),
            format!("d-{}", tag.replace([',', '='], "_")),
        );
        fs::create_dir(mount.join(&via_mount)).unwrap();
        fs::create_dir(export.path().join(&direct)).unwrap();
        let diffs = compare(&mount.join(&via_mount), &export.path().join(&direct));
        assert!(
            diffs.is_empty(),
            "-o {options}:\n{}\n{}",
            diffs.join("\n"),
            mount.log()
        );
        // What the mount did is in the export itself.
        assert_eq!(
            listing(&export.path().join(&via_mount)),
            listing(&export.path().join(&direct))
        );
        assert_eq!(
            describe(&export.path().join(&via_mount).join("f")),
            describe(&export.path().join(&direct).join("f"))
        );
    }
}

#[test]
fn posix_behaviour_matches_a_local_directory_with_ganesha() {
    if !fuse_available() || !ganesha_available() {
        return;
    }
    let export = disk_tempdir();
    let local = disk_tempdir();
    let ganesha = Ganesha::start(export.path());
    let mount = FuseMount::mount(&ganesha.url(""), "");
    fs::create_dir(mount.join("suite")).unwrap();
    let diffs = compare(&mount.join("suite"), local.path());
    assert!(diffs.is_empty(), "{}\n{}", diffs.join("\n"), mount.log());
    assert!(
        mount.stats().contains("passthrough off"),
        "{}",
        mount.stats()
    );
}

#[test]
fn a_failed_mount_is_one_line_and_exit_1() {
    if !fuse_available() {
        return;
    }
    let export = tempdir();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let refused = server.url_in("/no/such/export", "");
    let err = FuseMount::try_mount(&refused, "")
        .err()
        .expect("mount of a missing export");
    assert!(
        err.starts_with("nfsl: mount ") && err.contains("MNT"),
        "{err}"
    );
    let dead = "nfs://127.0.0.1/x?version=3&nfsport=1&mountport=1";
    let err = FuseMount::try_mount(dead, "")
        .err()
        .expect("mount of a dead server");
    assert!(err.contains("Connection refused"), "{err}");
    let err = FuseMount::try_mount(&server.url(""), "bogus")
        .err()
        .expect("bad option");
    assert!(err.contains("bogus"), "{err}");
    // Mounting on a missing directory fails before anything is started.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nfsl"))
        .args(["mount", &server.url(""), "/no/such/mountpoint"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn read_only_mount_refuses_changes_with_erofs() {
    if !fuse_available() {
        return;
    }
    let export = tempdir();
    fs::write(export.path().join("f"), b"data").unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let mount = FuseMount::mount(&server.url(""), "ro");
    assert_eq!(fs::read(mount.join("f")).unwrap(), b"data");
    for r in [
        fs::write(mount.join("g"), b"x"),
        fs::create_dir(mount.join("d")),
        fs::remove_file(mount.join("f")),
        OpenOptions::new()
            .write(true)
            .open(mount.join("f"))
            .map(|_| ()),
    ] {
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EROFS));
    }
    assert_eq!(fs::read(export.path().join("f")).unwrap(), b"data");
}

/// A file unlinked while open stays readable and writable through its
/// open fds (as on a local file system; the kernel NFS client's silly
/// rename), and is gone from the server after the last close.
#[test]
fn unlinked_while_open_stays_usable_until_closed() {
    if !fuse_available() {
        return;
    }
    let export = disk_tempdir();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let url = format!(
        "{}&localio-socket={}",
        server.url(""),
        server.localio_socket().display()
    );
    for options in ["", "passthrough=off", "localio=off"] {
        let mut mount = FuseMount::mount(&url, options);
        let path = mount.join("tmpfile");
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.write_all(b"still here").unwrap();
        fs::remove_file(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        let mut back = String::new();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut back).unwrap();
        assert_eq!(back, "still here", "-o {options}");
        assert_eq!(f.metadata().unwrap().len(), 10, "-o {options}");
        f.write_all(b"!").unwrap();
        drop(f);
        // The kernel sends the release after close returns: the unmount
        // waits for it.
        let (ok, err) = mount.umount();
        assert!(ok, "{err}");
        let left: Vec<_> = fs::read_dir(export.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "-o {options}: left {left:?}");
    }
}
