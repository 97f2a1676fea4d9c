//! The libnfs command-line tools as an independent NFSv3 client: presence
//! checks, wrappers that can never hang a test, and a parser for `nfs-ls`.
//!
//! What `nfs-ls` (libnfs 4.0) prints, one line per entry, `.` and `..`
//! left out, in the server's READDIR order:
//! `printf("%c%s %2d %5d %5d %12ld %s\n", type, rwx, nlink, uid, gid, size, path)`
//! where `type` is `-`, `d`, `l`, `c` or `b` and is *omitted* for FIFOs and
//! sockets (the mode string is then 9 characters), and `path` is relative
//! to the URL's directory (`dir/name` with `-R`). `-s` adds a blank line
//! and a free-space summary. libnfs MNTs the URL's directory itself (for
//! `nfs-cat`/`nfs-cp`, the file's parent directory), so files in
//! subdirectories of an export need a server that mounts subdirectories.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use super::server::wait_timeout;

/// Longest a peer tool may run before it is killed and the test fails.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether `tool` is on PATH. When it is not, prints a SKIP line and
/// returns false, or panics if `NFSL_REQUIRE_PEERS=1`.
pub fn require_peer(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| is_executable(&d.join(tool))))
        .unwrap_or(false);
    if found {
        return true;
    }
    let package = match tool {
        "ganesha.nfsd" => "nfs-ganesha nfs-ganesha-vfs rpcbind",
        "rpcbind" => "rpcbind",
        "setpriv" => "util-linux",
        _ => "libnfs-utils",
    };
    let msg = format!("SKIP: {tool} not installed (apt-get install {package})");
    if std::env::var("NFSL_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    false
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs `cmd` to completion with [`PEER_TIMEOUT`], capturing its output;
/// kills it and panics (with what it printed) if it takes longer.
pub fn run_peer(mut cmd: Command) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait_timeout(&mut child, PEER_TIMEOUT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{what} did not finish within {PEER_TIMEOUT:?}; stderr:\n{}",
            String::from_utf8_lossy(&stderr)
        ),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Panics, showing the tool's output, unless it exited 0.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nfs-ls URL`.
pub fn nfs_ls(url: &str) -> Output {
    let mut c = Command::new("nfs-ls");
    c.arg(url);
    run_peer(c)
}

/// `nfs-ls -R URL`.
pub fn nfs_ls_recursive(url: &str) -> Output {
    let mut c = Command::new("nfs-ls");
    c.arg("-R").arg(url);
    run_peer(c)
}

/// `nfs-ls URL` that must succeed, parsed.
pub fn nfs_ls_entries(url: &str) -> Vec<LsEntry> {
    let out = nfs_ls(url);
    assert_success(&out, &format!("nfs-ls {url}"));
    parse_nfs_ls(&String::from_utf8_lossy(&out.stdout))
}

/// `nfs-cat URL` that must succeed; returns the file's bytes.
pub fn nfs_cat(url: &str) -> Vec<u8> {
    let mut c = Command::new("nfs-cat");
    c.arg(url);
    let out = run_peer(c);
    assert_success(&out, &format!("nfs-cat {url}"));
    out.stdout
}

/// `nfs-cp SRC DST` (each a local path or an nfs URL). It refuses to
/// overwrite a local file and creates remote files with exclusive CREATE.
pub fn nfs_cp(src: &str, dst: &str) -> Output {
    let mut c = Command::new("nfs-cp");
    c.arg(src).arg(dst);
    run_peer(c)
}

/// One line of `nfs-ls` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsEntry {
    /// `-`, `d`, `l`, `c`, `b`, or `?` when nfs-ls printed no type
    /// character (FIFOs and sockets).
    pub kind: char,
    /// The nine `rwx` characters.
    pub perms: String,
    /// Hard link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Path relative to the listed directory.
    pub name: String,
}

/// Parses every line of `nfs-ls` output; panics on a line that is not an
/// entry (except the `-s` summary), so format drift is caught.
pub fn parse_nfs_ls(stdout: &str) -> Vec<LsEntry> {
    stdout
        .lines()
        .filter(|l| !l.is_empty() && !l.ends_with(" bytes free."))
        .map(|l| parse_ls_line(l).unwrap_or_else(|| panic!("unparsable nfs-ls line {l:?}")))
        .collect()
}

fn parse_ls_line(line: &str) -> Option<LsEntry> {
    let mut rest = line;
    let mut fields = Vec::with_capacity(5);
    for _ in 0..5 {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ')?;
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    let name = rest.strip_prefix(' ')?.to_string();
    let mode = fields[0];
    let (kind, perms) = match mode.len() {
        10 => (mode.chars().next()?, &mode[1..]),
        9 => ('?', mode),
        _ => return None,
    };
    if !perms.chars().all(|c| "rwx-".contains(c)) || !"-dlcb?".contains(kind) {
        return None;
    }
    Some(LsEntry {
        kind,
        perms: perms.to_string(),
        nlink: fields[1].parse().ok()?,
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
        size: fields[4].parse().ok()?,
        name,
    })
}
