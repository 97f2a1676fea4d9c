//! NFS-Ganesha as a peer NFSv3 server, run through
//! `../shared/peers/ganesha.sh` with a private state directory and ports
//! of its own, and always stopped on drop.
//!
//! The script leaves the daemon holding its stdout, so its output goes to
//! a file (never a pipe, which would stay open) and the
//! `pid=... nfsport=... mountport=...` line is read from there. Ganesha
//! caches what it serves: tests must change an exported directory only
//! through Ganesha.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, test_kill_process, Pid, Signal};
use tempfile::TempDir;

use super::peers::require_peer;

/// The peer script, relative to this crate.
pub const GANESHA_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/peers/ganesha.sh");

/// How long Ganesha may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running Ganesha exporting one directory.
pub struct Ganesha {
    state: TempDir,
    pid: i32,
    nfs_port: u16,
    mount_port: u16,
    export: String,
}

/// Whether Ganesha is installed (prints a SKIP line, or panics under
/// `NFSL_REQUIRE_PEERS=1`, when it is not).
pub fn ganesha_available() -> bool {
    require_peer("ganesha.nfsd") && Path::new(GANESHA_SH).exists()
}

/// A port that was free a moment ago (the kernel's choice for port 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

impl Ganesha {
    /// Starts Ganesha exporting `dir` (read-write, no root squash) on
    /// free ports; panics with its log if it does not come up.
    pub fn start(dir: &Path) -> Ganesha {
        let export = super::server::canonical(dir);
        let mut last = String::new();
        // A port picked as free may be taken by the time Ganesha binds it
        // (tests run in parallel): try a few pairs.
        for _ in 0..3 {
            let state = tempfile::tempdir().expect("ganesha state dir");
            let (nfs_port, mount_port) = (free_port(), free_port());
            match Self::try_start(&export, state.path(), nfs_port, mount_port) {
                Ok(pid) => {
                    return Ganesha {
                        state,
                        pid,
                        nfs_port,
                        mount_port,
                        export,
                    }
                }
                Err(e) => {
                    stop_state(state.path(), None);
                    last = e;
                }
            }
        }
        panic!("Ganesha did not start: {last}");
    }

    fn try_start(export: &str, state: &Path, nfs: u16, mnt: u16) -> Result<i32, String> {
        let out_path = state.join("start.out");
        let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let status = Command::new("bash")
            .arg(GANESHA_SH)
            .args(["start", export, &nfs.to_string(), &mnt.to_string()])
            .arg(state)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("running {GANESHA_SH}: {e}"))?;
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        let log = std::fs::read_to_string(state.join("ganesha.log")).unwrap_or_default();
        if !status.success() {
            return Err(format!(
                "{status}; output {text:?}; log tail:\n{}",
                tail(&log)
            ));
        }
        let field = |key: &str| {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse::<i64>().ok())
        };
        let (Some(pid), Some(n), Some(m)) = (field("pid="), field("nfsport="), field("mountport="))
        else {
            return Err(format!("unexpected output {text:?}"));
        };
        if (n, m) != (i64::from(nfs), i64::from(mnt)) {
            return Err(format!("asked ports {nfs}/{mnt}, got {text:?}"));
        }
        // The script waits for the log line; make sure it is still alive
        // (it exits at once if a port is taken).
        thread::sleep(Duration::from_millis(200));
        let pid = i32::try_from(pid).map_err(|_| format!("bad pid in {text:?}"))?;
        if !alive(pid) {
            return Err(format!("ganesha exited; log tail:\n{}", tail(&log)));
        }
        Ok(pid)
    }

    /// Its NFS port.
    pub fn nfs_port(&self) -> u16 {
        self.nfs_port
    }

    /// Its MOUNT port.
    pub fn mount_port(&self) -> u16 {
        self.mount_port
    }

    /// The exported path (canonical).
    pub fn export(&self) -> &str {
        &self.export
    }

    /// A libnfs URL for `path` (empty or starting with `/`) in the export.
    pub fn url(&self, path: &str) -> String {
        format!(
            "nfs://127.0.0.1{}{path}?version=3&nfsport={}&mountport={}",
            self.export, self.nfs_port, self.mount_port
        )
    }

    /// Ganesha's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("ganesha.log")).unwrap_or_default()
    }
}

fn tail(s: &str) -> &str {
    let mut start = s.len().saturating_sub(3000);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn alive(pid: i32) -> bool {
    Pid::from_raw(pid).is_some_and(|p| test_kill_process(p).is_ok())
}

/// Stops the Ganesha of `state` (via the script, then SIGKILL if it
/// lingers).
fn stop_state(state: &Path, pid: Option<i32>) {
    let _ = Command::new("bash")
        .arg(GANESHA_SH)
        .arg("stop")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let Some(pid) = pid.or_else(|| {
        std::fs::read_to_string(state.join("pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }) else {
        return;
    };
    let deadline = Instant::now() + STOP_TIMEOUT;
    while alive(pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    if let Some(p) = Pid::from_raw(pid) {
        if alive(pid) {
            let _ = kill_process(p, Signal::KILL);
        }
    }
}

impl Drop for Ganesha {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "--- ganesha log (tail) ---\n{}\n--- end ---",
                tail(&self.log())
            );
        }
        stop_state(self.state.path(), Some(self.pid));
    }
}
