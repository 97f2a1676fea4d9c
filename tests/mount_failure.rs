//! Failures under `nfsl mount`: a server restart (kill -9, same state and
//! port) under files open for writing loses no acknowledged data and
//! operations resume on the same handles; a killed daemon leaves a mount
//! that answers ENOTCONN, which `nfsl umount` cleans up.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};

use common::*;

fn restart_keeps_acknowledged_data(options: &str) {
    if !fuse_available() {
        return;
    }
    let export = disk_tempdir();
    fs::create_dir(export.path().join("dir")).unwrap();
    let mut server = NfslServer::start(export.path(), "rw,no_root_squash");
    let url = format!(
        "{}&localio-socket={}",
        server.url(""),
        server.localio_socket().display()
    );
    let mount = FuseMount::mount(&url, options);
    let scratch = tempdir();
    let first = pseudo_random_bytes(2 << 20, 11);
    let second = pseudo_random_bytes(1 << 20, 12);
    fs::write(scratch.path().join("first"), &first).unwrap();
    fs::write(scratch.path().join("second"), &second).unwrap();
    // A separate process holds the file open across the restart: this
    // test process forks the new server, and an exec closes inherited
    // close-on-exec fds, which would flush a FUSE file of this process
    // (a COMMIT to the very server being started).
    let script = format!(
        "exec 3>'{}'; cat '{}' >&3; echo written; read go; cat '{}' >&3; exec 3>&-; echo closed",
        mount.join("dir/data").display(),
        scratch.path().join("first").display(),
        scratch.path().join("second").display()
    );
    let mut writer = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    // Acknowledged (write returned), not yet committed.
    assert_eq!(lines.next().unwrap().unwrap(), "written");
    let port = server.port();
    server.kill9();
    server.restart();
    assert_eq!(server.port(), port, "the server came back on another port");
    // The open file goes on, on its old handle, and its close COMMITs.
    writeln!(writer.stdin.as_mut().unwrap(), "go").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "closed");
    assert!(writer.wait().unwrap().success());
    let mut expected = first.clone();
    expected.extend_from_slice(&second);
    assert!(
        fs::read(export.path().join("dir/data")).unwrap() == expected,
        "data lost across the restart\n{}",
        mount.log()
    );
    // Names, attributes and new files resume too.
    assert_eq!(
        fs::metadata(mount.join("dir/data")).unwrap().len(),
        expected.len() as u64
    );
    fs::write(mount.join("dir/after"), b"after").unwrap();
    assert_eq!(fs::read(export.path().join("dir/after")).unwrap(), b"after");
    assert!(fs::read(mount.join("dir/data")).unwrap() == expected);
}

#[test]
fn server_restart_under_passthrough_loses_nothing() {
    restart_keeps_acknowledged_data("");
}

#[test]
fn server_restart_under_daemon_rpc_io_loses_nothing() {
    restart_keeps_acknowledged_data("localio=off");
}

#[test]
fn a_killed_daemon_gives_enotconn_and_umount_cleans_up() {
    if !fuse_available() {
        return;
    }
    let export = tempdir();
    fs::write(export.path().join("f"), b"x").unwrap();
    let server = NfslServer::start(export.path(), "rw,no_root_squash");
    let mut mount = FuseMount::mount(&server.url(""), "");
    assert_eq!(fs::read(mount.join("f")).unwrap(), b"x");
    let pid = mount.daemon_pid();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    // The kernel answers ENOTCONN once the daemon's /dev/fuse is closed.
    let mut errno = None;
    for _ in 0..100 {
        match fs::metadata(mount.join("f")) {
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                errno = Some(libc::ENOTCONN);
                break;
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    assert_eq!(errno, Some(libc::ENOTCONN));
    let (ok, err) = mount.umount();
    assert!(ok, "nfsl umount after the daemon died: {err}");
    // No longer mounted: the empty directory underneath.
    assert_eq!(fs::read_dir(mount.path()).unwrap().count(), 0);
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(&*mount.path().to_string_lossy()),
        "{mounts}"
    );
    // A second umount says it is not mounted, in one line.
    let (ok, err) = mount.umount();
    assert!(
        !ok && err.contains("not mounted") && err.lines().count() == 1,
        "{err}"
    );
}
