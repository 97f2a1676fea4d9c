//! The mount daemon: connects to the server, mounts the FUSE file system,
//! serves it until unmounted; and the background start that waits for it
//! to be mounted (or to fail) before returning.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{bail, Context};
use fuser::{Config, MountOption, SessionACL};
use nfsl_client::{ClientConfig, Nfs, NfsUrl};
use nfsl_fuse::{Identity, MountHandle, MountOptions, NfsFs};

use super::fusermount;
use super::runtime::MountFiles;
use crate::endpoint::parse_url;

/// What the daemon prints on stdout once mounted.
const READY: &str = "mounted";
/// The prefix of the one line it prints on stdout when the mount fails.
const FAILED: &str = "error: ";

/// Starts the daemon (`nfsl mount ... --daemon-child`) in its own session,
/// logging to the mount's log file, and waits until it has mounted or
/// failed.
pub fn start_in_background(args: &super::MountArgs, mountpoint: &Path) -> anyhow::Result<()> {
    let files = MountFiles::for_mountpoint(mountpoint)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&files.log)
        .with_context(|| format!("opening the log {}", files.log.display()))?;
    let exe = std::env::current_exe().context("finding the nfsl executable")?;
    let mut child = Command::new(exe)
        .arg("mount")
        .arg(&args.url)
        .arg(mountpoint)
        .arg("-o")
        .arg(&args.options)
        .arg("--daemon-child")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("starting the mount daemon")?;
    let stdout = child.stdout.take().context("the daemon's stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let line = line.trim_end();
    if line == READY {
        return Ok(());
    }
    let _ = child.wait();
    match line.strip_prefix(FAILED) {
        Some(e) => bail!("{e}"),
        None => bail!(
            "mount {}: the daemon exited before mounting; see {}",
            mountpoint.display(),
            files.log.display()
        ),
    }
}

/// Serves the mount in this process until it is unmounted (or SIGTERM /
/// SIGINT). `notify`: report readiness on stdout for the parent.
pub fn serve(args: &super::MountArgs, mountpoint: &Path, notify: bool) -> anyhow::Result<()> {
    if notify {
        // Out of the caller's session: its terminal closing must not end us.
        let _ = rustix::process::setsid();
    }
    match mount(args, mountpoint) {
        Ok(mounted) => {
            if notify {
                println!("{READY}");
                let _ = std::io::stdout().flush();
                // Let the parent's read end: stdout now goes nowhere.
                if let Ok(null) = std::fs::File::open("/dev/null") {
                    let _ = rustix::stdio::dup2_stdout(&null);
                }
            }
            mounted.run()
        }
        Err(e) => {
            let line = format!("mount {}: {}", mountpoint.display(), crate::one_line(&e));
            if notify {
                println!("{FAILED}{line}");
            }
            tracing::error!("{line}");
            Err(e)
        }
    }
}

/// A mounted file system, not yet served.
struct Mounted {
    session: fuser::Session<NfsFs>,
    rt: tokio::runtime::Runtime,
    nfs: Nfs,
    files: MountFiles,
    mountpoint: std::path::PathBuf,
    handle: MountHandle,
    via: Via,
}

/// How the file system was mounted, hence how it is unmounted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// mount(2) by this process (root): umount2.
    Kernel,
    /// The setuid fusermount3 helper: `fusermount3 -u`.
    Fusermount,
}

/// Mounts and starts the FUSE session: mount(2) directly as root, else
/// (or when the kernel refuses it) through fusermount3, as libfuse does.
fn open_session(
    make_fs: impl Fn() -> NfsFs,
    mountpoint: &Path,
    config: &Config,
    helper: &fusermount::HelperOptions<'_>,
) -> anyhow::Result<(fuser::Session<NfsFs>, MountHandle, Via)> {
    if rustix::process::geteuid().is_root() {
        let fs = make_fs();
        let handle = fs.handle();
        match fuser::Session::new(fs, mountpoint, config) {
            Ok(s) => return Ok((s, handle, Via::Kernel)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
                tracing::warn!("mounting directly was refused ({e}); trying fusermount3");
            }
            Err(e) => return Err(anyhow::Error::from(e).context("mounting")),
        }
    }
    let fd = fusermount::mount(mountpoint, helper).context("mounting")?;
    let fs = make_fs();
    let handle = fs.handle();
    match fuser::Session::from_fd(fs, fd, config.acl, config.clone()) {
        Ok(s) => Ok((s, handle, Via::Fusermount)),
        Err(e) => {
            // The mount exists but nobody will serve it.
            let _ = fusermount::unmount(mountpoint);
            Err(anyhow::Error::from(e).context("starting the FUSE session"))
        }
    }
}

fn mount(args: &super::MountArgs, mountpoint: &Path) -> anyhow::Result<Mounted> {
    let opts = MountOptions::parse(&args.options)?;
    let meta = std::fs::metadata(mountpoint).context("the mount point")?;
    if !meta.is_dir() {
        bail!("the mount point is not a directory");
    }
    let files = MountFiles::for_mountpoint(mountpoint)?;
    let mut url: NfsUrl = parse_url(&args.url)?;
    if let Some(m) = opts.localio {
        url.localio = Some(m);
    }
    if opts.uid.is_some() {
        url.uid = opts.uid;
    }
    if opts.gid.is_some() {
        url.gid = opts.gid;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let config = ClientConfig::default();
    let (nfs, root, identity) = rt.block_on(async {
        let (nfs, path) = Nfs::connect(&url, config).await?;
        let root = if path == "/" || path.is_empty() {
            nfs.root().clone()
        } else {
            let (fh, md) = nfs.lookup(&path).await?;
            if !md.is_dir() {
                bail!("{path} is not a directory");
            }
            fh
        };
        let c = nfs.config();
        let identity = Identity {
            uid: c.uid,
            gid: c.gid,
            gids: c.gids.clone(),
        };
        Ok::<_, anyhow::Error>((nfs, root, identity))
    })?;
    let make_fs = || {
        NfsFs::new(
            rt.handle().clone(),
            nfs.clone(),
            identity.clone(),
            root.clone(),
            opts.clone(),
        )
    };
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName(url.to_string()),
        MountOption::Subtype("nfsl".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if opts.read_only {
        config.mount_options.push(MountOption::RO);
    }
    if opts.allow_other {
        config.acl = SessionACL::All;
    }
    config.n_threads = Some(2);
    let fsname = url.to_string();
    let helper = fusermount::HelperOptions {
        fsname: &fsname,
        read_only: opts.read_only,
        allow_other: opts.allow_other,
    };
    let (session, stats, via) = match open_session(make_fs, mountpoint, &config, &helper) {
        Ok(s) => s,
        Err(e) => {
            let nfs = nfs.clone();
            rt.block_on(async move {
                let _ = nfs.unmount().await;
            });
            return Err(e);
        }
    };
    std::fs::write(&files.pid, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", files.pid.display()))?;
    serve_stats(&rt, &files.sock, stats.clone())?;
    match via {
        Via::Kernel => tracing::info!("mounted {url} on {}", mountpoint.display()),
        Via::Fusermount => tracing::info!(
            "mounted {url} on {} through {}",
            mountpoint.display(),
            fusermount::FUSERMOUNT
        ),
    }
    Ok(Mounted {
        session,
        via,
        rt,
        nfs,
        files,
        mountpoint: mountpoint.to_path_buf(),
        handle: stats,
    })
}

impl Mounted {
    /// Serves until unmounted; SIGTERM and SIGINT unmount.
    fn run(self) -> anyhow::Result<()> {
        let Mounted {
            mut session,
            rt,
            nfs,
            files,
            mountpoint,
            handle,
            via,
        } = self;
        let mut unmounter = session.unmount_callable();
        let signal_mountpoint = mountpoint.clone();
        rt.spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!("signal: unmounting");
            let done = match via {
                Via::Kernel => unmounter.unmount(),
                Via::Fusermount => fusermount::unmount(&signal_mountpoint),
            };
            if let Err(e) = done {
                tracing::warn!("unmounting: {e}");
            }
        });
        let result = session.run();
        if result.is_err() && via == Via::Fusermount {
            // fuser unmounts only the mounts it made itself.
            let _ = fusermount::unmount(&mountpoint);
        }
        tracing::info!("{} unmounted", mountpoint.display());
        rt.block_on(async move {
            handle.finish().await;
            let _ = nfs.unmount().await;
        });
        files.remove_state();
        rt.shutdown_background();
        result.context("serving the FUSE mount")
    }
}

/// Answers each connection to `sock` with the mount's statistics.
fn serve_stats(
    rt: &tokio::runtime::Runtime,
    sock: &Path,
    stats: MountHandle,
) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(sock);
    let listener = {
        let _guard = rt.enter();
        tokio::net::UnixListener::bind(sock)
            .with_context(|| format!("binding {}", sock.display()))?
    };
    let stats = Arc::new(stats);
    rt.spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut conn, _)) = listener.accept().await {
            let text = stats.render().await;
            let _ = conn.write_all(text.as_bytes()).await;
        }
    });
    Ok(())
}

/// The statistics of the mount at `mountpoint` (`nfsl stats MOUNTPOINT`).
pub fn mount_stats(mountpoint: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let files = MountFiles::for_mountpoint(mountpoint)?;
    let mut conn = std::os::unix::net::UnixStream::connect(&files.sock)
        .with_context(|| format!("no nfsl mount daemon answers at {}", files.sock.display()))?;
    let mut text = String::new();
    conn.read_to_string(&mut text)?;
    Ok(text)
}
