//! `nfsl serve`: export directories over NFSv3 + MOUNT v3.
//!
//! One TCP port serves both programs (no rpcbind registration: clients are
//! told the port, e.g. libnfs's `nfsport=`/`mountport=`). The first line
//! on stdout is `listening on ADDR`, so scripts and tests that ask for
//! port 0 learn the port (by then the LOCALIO socket exists too);
//! everything else goes to stderr.
//!
//! LOCALIO is on by default: the server answers program 400122 on the NFS
//! port and listens on a Unix socket (`--localio-socket`, default from
//! `nfsl_localio::default_socket_path`; logged at startup) through which
//! same-host clients get exported files opened for them under the same
//! rules as RPC. `--no-localio` turns both off.
//!
//! SIGHUP re-reads `--exports FILE`, as `exportfs -r` does for knfsd: a
//! file that does not parse or validate is logged as one error and changes
//! nothing; otherwise the new table replaces the old one for every later
//! request (see `nfsl_server::reload`), and a summary is logged. Removing
//! or changing an export also ends the LOCALIO sessions that hold fds.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use nfsl_server::creds::UnprivilegedMode;
use nfsl_server::exports::{Export, ExportOptions, ExportTable};
use nfsl_server::state::ServerState;
use nfsl_server::{ExportsHandle, NfsServer, ServerConfig};
use nfsl_transport::TransportConfig;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Largest READ/WRITE payload offered (FSINFO rtmax/wtmax): 1 MiB, what
/// Linux clients and libnfs use at most.
pub const MAX_IO_SIZE: u32 = 1 << 20;

/// Room for the RPC and NFS headers of a WRITE beside its payload.
const WRITE_HEADER_ROOM: usize = 64 << 10;

/// How long blocking work (in-flight procedures) may keep the process
/// alive after the transport has shut down.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(5);

/// Arguments of `nfsl serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Directory to export (alternative to --exports).
    pub dir: Option<PathBuf>,
    /// exports(5) options for DIR, e.g. "rw,no_root_squash".
    #[arg(short = 'o', long = "options", default_value = "rw")]
    pub options: String,
    /// Exports file in exports(5) syntax. SIGHUP re-reads it (like
    /// `exportfs -r`): kept exports keep their file handles, removed ones
    /// answer STALE, changed options apply to the next request, LOCALIO
    /// sessions are revoked; an invalid file is logged and changes nothing.
    #[arg(long, conflicts_with = "dir")]
    pub exports: Option<PathBuf>,
    /// TCP port for NFS and MOUNT (0 = any free port).
    #[arg(long, default_value_t = 2049)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: std::net::IpAddr,
    /// Directory for persistent state (handle key) [default:
    /// /var/lib/nfsl as root, else $XDG_STATE_HOME/nfsl, else
    /// ~/.local/state/nfsl].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Serve LOCALIO (the default): same-host clients may open exported
    /// files themselves, under the same rules.
    #[arg(long = "localio", overrides_with = "no_localio")]
    pub localio: bool,
    /// Do not serve LOCALIO (program 400122 answers PROG_UNAVAIL).
    #[arg(long = "no-localio", overrides_with = "localio")]
    pub no_localio: bool,
    /// Register NFS and MOUNT (v3, TCP) with the local rpcbind when one
    /// runs (the default), and unregister them at exit.
    #[arg(long = "rpcbind", overrides_with = "no_rpcbind")]
    pub rpcbind: bool,
    /// Do not register with rpcbind.
    #[arg(long = "no-rpcbind", overrides_with = "rpcbind")]
    pub no_rpcbind: bool,
    /// LOCALIO socket [default: /run/nfsl/localio-PORT.sock as root, else
    /// $XDG_RUNTIME_DIR (or /run/user/UID)/nfsl/localio-PORT.sock; clients
    /// look in both places].
    #[arg(long, value_name = "PATH")]
    pub localio_socket: Option<PathBuf>,
    /// Run as an ordinary user (not root): `map` serves every client as
    /// this user (its files, its rights); `own-uid` serves only clients
    /// whose uid is this user's and refuses the others (NFS3ERR_ACCES).
    /// Ignored as root, where each caller acts as itself.
    #[arg(long, value_name = "MODE", default_value = "map", value_parser = parse_unprivileged)]
    pub unprivileged: UnprivilegedMode,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// What peers may hold (see README "Limits"): connections, and memory
/// before their calls are authenticated or while they leave replies unread.
#[derive(clap::Args, Debug, Clone)]
pub struct LimitArgs {
    /// Connections open at once; more are closed when accepted.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,
    /// Connections open at once from one client address.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub max_connections_per_address: usize,
    /// Close a connection idle (no call in flight, nothing received) this long.
    #[arg(long, default_value_t = 360, value_name = "SECONDS")]
    pub idle_timeout: u64,
    /// Memory for partial (not yet authenticated) records, all connections.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub record_memory_mib: usize,
    /// The share of --record-memory-mib one client address may hold.
    #[arg(long, default_value_t = 16, value_name = "MIB")]
    pub record_memory_per_address_mib: usize,
    /// Unsent replies one connection may have before its requests stop
    /// being read (back-pressure on a client that does not read).
    #[arg(long, default_value_t = 8, value_name = "MIB")]
    pub reply_memory_per_connection_mib: usize,
    /// Unsent replies all connections together may have.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub reply_memory_mib: usize,
}

impl LimitArgs {
    /// Applies the limits to `config`.
    fn apply(&self, config: &mut TransportConfig) -> anyhow::Result<()> {
        if self.max_connections == 0 || self.max_connections_per_address == 0 {
            anyhow::bail!("--max-connections and --max-connections-per-address must be at least 1");
        }
        if self.idle_timeout == 0 {
            anyhow::bail!("--idle-timeout must be at least 1 second");
        }
        let mib = |n: usize| n.saturating_mul(1 << 20);
        config.max_connections = fit_connections_to_fd_limit(self.max_connections);
        config.max_connections_per_address = self.max_connections_per_address;
        config.idle_timeout = Duration::from_secs(self.idle_timeout);
        config.record_memory_budget = mib(self.record_memory_mib);
        config.record_memory_per_address = mib(self.record_memory_per_address_mib);
        config.reply_memory_per_connection = mib(self.reply_memory_per_connection_mib);
        config.reply_memory_budget = mib(self.reply_memory_mib);
        Ok(())
    }
}

fn parse_unprivileged(text: &str) -> Result<UnprivilegedMode, String> {
    match text {
        "map" => Ok(UnprivilegedMode::MapToServerUser),
        "own-uid" => Ok(UnprivilegedMode::OwnUidOnly),
        _ => Err(format!("'{text}' is not map or own-uid")),
    }
}

/// Says once, at start, what serving as an ordinary user means.
fn warn_if_unprivileged(mode: UnprivilegedMode) {
    let uid = rustix::process::geteuid();
    if uid.is_root() {
        return;
    }
    let who = match mode {
        UnprivilegedMode::MapToServerUser => {
            "every client acts as this user (uid {uid}) on the exported files, whatever uid it sends"
        }
        UnprivilegedMode::OwnUidOnly => {
            "only clients sending uid {uid} are served; others get permission denied"
        }
    }
    .replace("{uid}", &uid.as_raw().to_string());
    tracing::warn!(
        "not running as root: {who}; file handles are inode-based (a file moved by something other than NFS is stale until the next start); see README, \"Serving as an ordinary user\""
    );
}

/// The exports the command line asks for.
fn export_table(args: &ServeArgs) -> anyhow::Result<ExportTable> {
    match (&args.exports, &args.dir) {
        (Some(file), _) => read_exports_file(file, true),
        (None, Some(dir)) => Ok(ExportTable::single(
            dir,
            ExportOptions::parse_list(&args.options)?,
        )),
        (None, None) => bail!("nothing to export: give a directory or --exports FILE"),
    }
}

/// Reads and parses an exports file as `exportfs` does: an entry or client
/// that cannot be used (bad options, an unresolvable host, a missing
/// directory) is logged as a warning and left out, the rest is served. At
/// least one export must remain, except that on reload an empty file
/// unexports everything, as `exportfs -r` does with an empty /etc/exports.
fn read_exports_file(file: &Path, at_startup: bool) -> anyhow::Result<ExportTable> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let (mut table, skipped) =
        ExportTable::parse_lenient(&text).with_context(|| format!("{}", file.display()))?;
    let refused = table.validate_lenient();
    for why in skipped.iter().chain(&refused) {
        tracing::warn!("{}: {why}; skipped", file.display());
    }
    // No export left: refuse (at startup, and on reload too when entries
    // were skipped, so a typo never unexports everything); an empty file
    // on reload is a deliberate "unexport all".
    let why: Vec<String> = skipped
        .iter()
        .chain(&refused)
        .map(|e| e.to_string())
        .collect();
    if table.exports.is_empty() && (at_startup || !why.is_empty()) {
        match why.is_empty() {
            true => bail!("{} lists no exports", file.display()),
            false => bail!("{}: no usable export: {}", file.display(), why.join("; ")),
        }
    }
    Ok(table)
}

/// Logs each export with its rules.
fn log_exports(exports: &[Export]) {
    for e in exports {
        let rules: Vec<String> = e
            .rules
            .iter()
            .map(|r| format!("{}({})", r.client, r.options))
            .collect();
        tracing::info!(path = %e.path.display(), id = %e.id, rules = %rules.join(" "), "export");
    }
}

/// SIGHUP: re-reads the exports file and swaps the new table in, or logs
/// why not (nothing changes then).
async fn reload_on_hup(mut hup: Signal, file: Option<PathBuf>, exports: ExportsHandle) {
    while hup.recv().await.is_some() {
        let Some(file) = file.clone() else {
            tracing::info!("SIGHUP: nothing to reload (exports come from the command line, not --exports FILE)");
            continue;
        };
        let handle = exports.clone();
        // Parsing resolves host names and validating touches the disk.
        let done = tokio::task::spawn_blocking(move || {
            let table = read_exports_file(&file, false)?;
            let summary = handle.reload(table)?;
            anyhow::Ok((file, summary))
        })
        .await;
        match done {
            Ok(Ok((file, summary))) => {
                let now = exports.exports();
                if now.is_empty() {
                    tracing::warn!(
                        "SIGHUP: exports reloaded from {}: {summary}; it lists none: nothing is exported now",
                        file.display()
                    );
                } else {
                    tracing::info!(
                        "SIGHUP: exports reloaded from {}: {summary}",
                        file.display()
                    );
                    if !summary.is_noop() {
                        log_exports(&now);
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::error!("SIGHUP: exports not reloaded, keeping the current ones: {e:#}")
            }
            Err(e) => tracing::error!("SIGHUP: exports reload failed: {e}"),
        }
    }
}

/// The transport settings for a server offering [`MAX_IO_SIZE`] I/O: room
/// for a whole WRITE in one record. `nfsl demo` uses them too.
pub fn transport_config() -> TransportConfig {
    let mut config = TransportConfig::default();
    config.max_record_len = config
        .max_record_len
        .max(MAX_IO_SIZE as usize + WRITE_HEADER_ROOM);
    config
}

/// The running LOCALIO listener: its stop signal and task.
type LocalioTask = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

/// Starts the LOCALIO local channel unless `--no-localio`. A socket that
/// cannot be made at the default path only disables LOCALIO (with a
/// warning); at a path given with `--localio-socket` it is an error.
fn start_localio(
    args: &ServeArgs,
    server: &mut NfsServer,
    nfs_port: u16,
) -> anyhow::Result<Option<LocalioTask>> {
    use nfsl_localio::{default_socket_path, ListenerConfig, LocalioListener, NonceRegistry};
    if args.no_localio {
        tracing::info!("LOCALIO disabled");
        return Ok(None);
    }
    let path = args
        .localio_socket
        .clone()
        .unwrap_or_else(|| default_socket_path(nfs_port));
    let registry = Arc::new(NonceRegistry::default());
    let bound = LocalioListener::bind(
        &ListenerConfig::new(&path),
        registry.clone(),
        server.localio_authorizer(),
    );
    let listener = match bound {
        Ok(l) => l,
        Err(e) if args.localio_socket.is_none() => {
            tracing::warn!(socket = %path.display(), error = %e, "LOCALIO disabled: cannot create its socket (use --localio-socket PATH)");
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("LOCALIO socket {}", path.display())),
    };
    server.enable_localio(registry);
    tracing::info!(socket = %path.display(), "LOCALIO local channel");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(listener.run(async {
        let _ = stopped.await;
    }));
    Ok(Some((stop, task)))
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let exports = export_table(&args)?;
    let state_dir = match args.state_dir.clone() {
        Some(d) => d,
        None => ServerState::default_dir()
            .context("cannot choose a state directory (no HOME); use --state-dir")?,
    };
    warn_if_unprivileged(args.unprivileged);
    let mut server = NfsServer::new(ServerConfig {
        exports,
        state_dir,
        max_io_size: MAX_IO_SIZE,
        unprivileged: args.unprivileged,
    })?;
    let mut config = transport_config();
    args.limits.apply(&mut config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(async {
        // Handlers first: a signal right after the `listening on` line must
        // already mean a clean shutdown, not the default death.
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
        let listener = tokio::net::TcpListener::bind((args.bind, args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.bind, args.port))?;
        let addr = listener.local_addr().context("listening address")?;
        // The LOCALIO socket exists before `listening on` is printed, so a
        // client started on that line finds it.
        let localio = start_localio(&args, &mut server, addr.port())?;
        // Registered before the `listening on` line, so whoever waits for
        // it can use a URL without ports.
        let registration = match args.no_rpcbind {
            true => None,
            false => tokio::task::spawn_blocking(move || crate::rpcbind::register(addr))
                .await
                .ok()
                .flatten(),
        };
        // The one machine-readable line, for scripts and tests that start
        // the server on port 0; on a terminal the log line below says it.
        let mut out = std::io::stdout().lock();
        if !out.is_terminal() {
            writeln!(out, "listening on {addr}")
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
        }
        drop(out);
        tracing::info!(state_dir = %server.state_dir().display(), "nfsl serving on {addr}");

        log_exports(&server.exports());
        let reloader = tokio::spawn(reload_on_hup(
            hup,
            args.exports.clone(),
            server.exports_handle(),
        ));
        let shutdown = async move {
            tokio::select! {
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            }
        };
        let stats = Arc::new(nfsl_transport::TransportStats::default());
        let trimmer = tokio::spawn(trim_when_load_goes(Arc::clone(&stats)));
        nfsl_transport::serve_with_stats(listener, Arc::new(server), config, stats, shutdown).await;
        trimmer.abort();
        reloader.abort();
        if let Some(registration) = registration {
            let _ = tokio::task::spawn_blocking(move || registration.unregister()).await;
        }
        if let Some((stop, task)) = localio {
            let _ = stop.send(());
            let _ = task.await;
        }
        anyhow::Ok(())
    });
    rt.shutdown_timeout(RUNTIME_SHUTDOWN);
    result
}

/// Gives memory back to the system when load goes: whenever the number of
/// connections has fallen to half or less since the last look (or to
/// none), the allocator's free memory is released (the transport has
/// already freed its buffers; the allocator would otherwise keep them).
async fn trim_when_load_goes(stats: Arc<nfsl_transport::TransportStats>) {
    let mut last = 0usize;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = stats.connections();
        if last > 0 && now <= last / 2 {
            crate::heap::trim();
        }
        last = now;
    }
}

/// File descriptors kept for everything but connections: files a request
/// opens, the LOCALIO socket and its sessions, logs.
const FDS_NOT_FOR_CONNECTIONS: u64 = 256;

/// Raises the open-file limit to its hard limit and returns how many
/// connections fit under it (at most `wanted`), so the connection limit,
/// not `EMFILE`, refuses connections: clients beyond it are closed at
/// once instead of hanging in the listen backlog.
fn fit_connections_to_fd_limit(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("cannot raise the open-file limit: {e}");
        }
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let room =
        usize::try_from(soft.saturating_sub(FDS_NOT_FOR_CONNECTIONS).max(16)).unwrap_or(usize::MAX);
    if wanted > room {
        tracing::warn!(
            wanted,
            allowed = room,
            open_file_limit = soft,
            "--max-connections lowered to fit the open-file limit"
        );
        room
    } else {
        wanted
    }
}
