//! Runs the real `nfsl serve` binary for a test: start, find its port,
//! restart with the same state directory, kill, and clean up on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};
use tempfile::TempDir;

/// How long the server may take to print its `listening on` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the server may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// What the server was told to serve.
#[derive(Debug, Clone)]
enum Launch {
    /// `nfsl serve DIR -o OPTIONS`.
    Dir { dir: PathBuf, options: String },
    /// `nfsl serve --exports FILE`.
    Exports(PathBuf),
}

/// The state directory: one the harness owns, or one the test gave.
enum StateDir {
    Owned(TempDir),
    Given(PathBuf),
}

impl StateDir {
    fn path(&self) -> &Path {
        match self {
            StateDir::Owned(t) => t.path(),
            StateDir::Given(p) => p,
        }
    }
}

/// A running `nfsl serve` child process.
pub struct NfslServer {
    child: Option<Child>,
    stderr_thread: Option<JoinHandle<()>>,
    port: u16,
    exports: Vec<String>,
    launch: Launch,
    state: StateDir,
    /// Extra `nfsl serve` arguments (e.g. `--no-localio`).
    extra_args: Vec<String>,
    /// A directory (mode 0755) for the LOCALIO socket, so parallel tests
    /// never share one and any local user can reach it.
    run_dir: TempDir,
    /// Everything the server wrote to stderr, across restarts.
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl NfslServer {
    /// Serves `dir` with exports(5) `options`, with a fresh state directory.
    pub fn start(dir: &Path, options: &str) -> Self {
        let state = StateDir::Owned(tempfile::tempdir().expect("state tempdir"));
        Self::launch(Self::dir_launch(dir, options), state)
    }

    /// Serves `dir` with `options`, keeping state (the handle key) in `state_dir`.
    pub fn start_with_state(dir: &Path, options: &str, state_dir: &Path) -> Self {
        Self::launch(
            Self::dir_launch(dir, options),
            StateDir::Given(state_dir.to_path_buf()),
        )
    }

    /// Serves `dir` with `options` and extra `nfsl serve` arguments
    /// (e.g. `--no-localio`), with a fresh state directory.
    pub fn start_with_args(dir: &Path, options: &str, extra_args: &[&str]) -> Self {
        let state = StateDir::Owned(tempfile::tempdir().expect("state tempdir"));
        Self::launch_with(
            Self::dir_launch(dir, options),
            state,
            extra_args.iter().map(|a| a.to_string()).collect(),
        )
    }

    /// Serves the exports listed in an exports(5) file.
    pub fn start_with_exports(file: &Path) -> Self {
        let state = StateDir::Owned(tempfile::tempdir().expect("state tempdir"));
        Self::launch(Launch::Exports(file.to_path_buf()), state)
    }

    fn dir_launch(dir: &Path, options: &str) -> Launch {
        Launch::Dir {
            dir: dir.to_path_buf(),
            options: options.to_string(),
        }
    }

    fn launch(launch: Launch, state: StateDir) -> Self {
        Self::launch_with(launch, state, Vec::new())
    }

    fn launch_with(launch: Launch, state: StateDir, extra_args: Vec<String>) -> Self {
        let run_dir = tempfile::tempdir().expect("run tempdir");
        std::fs::set_permissions(
            run_dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod run tempdir");
        let exports = match &launch {
            Launch::Dir { dir, .. } => vec![canonical(dir)],
            Launch::Exports(file) => export_paths(file),
        };
        let mut s = NfslServer {
            child: None,
            stderr_thread: None,
            port: 0,
            exports,
            launch,
            state,
            extra_args,
            run_dir,
            stderr: Arc::new(Mutex::new(Vec::new())),
        };
        if let Err(e) = s.spawn(0) {
            panic!("{e}");
        }
        s
    }

    /// The server process's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    /// The TCP port serving both MOUNT and NFS.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The (first) export's canonical path, as used in MNT and URLs.
    pub fn export(&self) -> &str {
        &self.exports[0]
    }

    /// The LOCALIO socket path the server is told to use (it exists only
    /// while the server runs with LOCALIO enabled).
    pub fn localio_socket(&self) -> PathBuf {
        self.run_dir.path().join("localio.sock")
    }

    /// The state directory in use.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// A libnfs URL for `path` (empty or starting with `/`) in the first export.
    pub fn url(&self, path: &str) -> String {
        self.url_in(self.export(), path)
    }

    /// A libnfs URL for `path` inside `export` (a canonical export path).
    pub fn url_in(&self, export: &str, path: &str) -> String {
        let p = self.port;
        format!("nfs://127.0.0.1{export}{path}?version=3&nfsport={p}&mountport={p}")
    }

    /// Waits (at most [`START_TIMEOUT`]) until the server's stderr holds
    /// `text`, which it may have written before the line that said it was
    /// ready (stderr is read on another thread); returns all of it.
    pub fn wait_for_stderr(&self, text: &str) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.stderr_text();
            if log.contains(text) || Instant::now() > deadline {
                return log;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the server has written to stderr so far.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Sends SIGHUP (re-read the exports file) and waits until the server
    /// has logged the outcome; returns that log line.
    pub fn sighup(&self) -> String {
        let count = |t: &str| t.matches("SIGHUP:").count();
        let before = count(&self.stderr_text());
        signal(
            self.child.as_ref().expect("server is not running"),
            Signal::HUP,
        );
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = self.stderr_text();
            if count(&text) > before {
                let mut lines = text.lines().filter(|l| l.contains("SIGHUP:"));
                return lines.nth(before).unwrap_or_default().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "nothing logged within {START_TIMEOUT:?} of SIGHUP; stderr:\n{text}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and waits for the exit; panics if it does not come.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        signal(&child, Signal::TERM);
        let status = wait_timeout(&mut child, STOP_TIMEOUT).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            self.join_stderr();
            panic!(
                "nfsl did not exit within {STOP_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                self.stderr_text()
            )
        });
        self.join_stderr();
        status
    }

    /// Kills the server with SIGKILL (a crash) and reaps it; `restart`
    /// brings it back.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server is not running");
        signal(&child, Signal::KILL);
        child.wait().expect("wait for killed nfsl");
        self.join_stderr();
    }

    /// Stops the server with SIGTERM (asserting a clean exit 0) if it runs,
    /// then starts it again with the same exports and state directory, on
    /// the same port when the port can be bound again, else on a new one.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop();
            assert!(
                status.success(),
                "nfsl exited with {status} after SIGTERM; stderr:\n{}",
                self.stderr_text()
            );
        }
        let old = self.port;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn(old) {
                Ok(()) => return,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(200)),
                Err(e) => {
                    eprintln!("restart on port {old} failed ({e}); using a new port");
                    break;
                }
            }
        }
        if let Err(e) = self.spawn(0) {
            panic!("{e}");
        }
    }

    /// Starts the binary on `port` (0 = any) and waits for `listening on`.
    fn spawn(&mut self, port: u16) -> Result<(), String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nfsl"));
        cmd.arg("serve");
        match &self.launch {
            Launch::Dir { dir, options } => {
                cmd.arg(dir).arg("-o").arg(options);
            }
            Launch::Exports(file) => {
                cmd.arg("--exports").arg(file);
            }
        }
        // Tests run many servers at once: none may take the host's
        // rpcbind registrations (tests/rpcbind.rs passes --rpcbind, which
        // overrides this).
        cmd.arg("--no-rpcbind");
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--state-dir")
            .arg(self.state.path())
            .arg("--localio-socket")
            .arg(self.localio_socket())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("spawning nfsl: {e}"))?;
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&self.stderr);
        self.stderr_thread = Some(thread::spawn(move || {
            let mut stderr = stderr;
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }));
        let lines = stdout_lines(child.stdout.take().unwrap());
        let failure = match lines.recv_timeout(START_TIMEOUT) {
            Ok(line) => match parse_listening(&line) {
                Some(p) if port == 0 || p == port => {
                    self.port = p;
                    self.child = Some(child);
                    return Ok(());
                }
                _ => format!("unexpected first stdout line {line:?} (port {port} asked)"),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                format!("no `listening on` line within {START_TIMEOUT:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => "nfsl exited before listening".into(),
        };
        let _ = child.kill();
        let status = child.wait().ok();
        self.join_stderr();
        Err(format!(
            "starting nfsl on port {port}: {failure} (exit {status:?}); stderr:\n{}",
            self.stderr_text()
        ))
    }

    fn join_stderr(&mut self) {
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for NfslServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.join_stderr();
        if thread::panicking() {
            let text = self.stderr_text();
            let mut start = text.len().saturating_sub(8000);
            while !text.is_char_boundary(start) {
                start += 1;
            }
            let tail = &text[start..];
            eprintln!("--- nfsl stderr (last 8000 bytes) ---\n{tail}\n--- end nfsl stderr ---");
        }
    }
}

/// Forwards stdout lines to a channel from a thread that then keeps
/// draining stdout, so the server never blocks on a full pipe.
fn stdout_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    let _ = tx.send(l);
                }
                Err(_) => break,
            }
        }
    });
    rx
}

/// The port of an exact `listening on 127.0.0.1:PORT` line.
fn parse_listening(line: &str) -> Option<u16> {
    line.strip_prefix("listening on 127.0.0.1:")?.parse().ok()
}

fn signal(child: &Child, sig: Signal) {
    let pid = Pid::from_raw(child.id() as i32).expect("child pid");
    kill_process(pid, sig).unwrap_or_else(|e| panic!("kill({pid:?}, {sig:?}): {e}"));
}

/// Waits for `child` up to `timeout`; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The canonical absolute form of `dir`, as the server names its export.
pub fn canonical(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .unwrap_or_else(|e| panic!("canonicalize {}: {e}", dir.display()))
        .to_str()
        .expect("UTF-8 export path")
        .to_string()
}

/// The export paths of an exports(5) file, in order (first field of each
/// non-empty, non-comment line).
fn export_paths(file: &Path) -> Vec<String> {
    let text =
        std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
    let paths: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        // A missing directory is skipped by the server too.
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .map(|p| p.display().to_string())
        .collect();
    assert!(!paths.is_empty(), "no exports in {}", file.display());
    paths
}
