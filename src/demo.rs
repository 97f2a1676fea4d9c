//! `nfsl demo`: the whole stack in one command, with nothing to set up.
//!
//! It starts an nfsl server inside this process (the same server and
//! transport as `nfsl serve`) exporting a fresh temporary directory on
//! 127.0.0.1 and a port of its own, then, through the client library:
//! writes a file of `--size` bytes (UNSTABLE WRITEs, then COMMIT), lists
//! the directory, reads the file back and checks every byte, and checks
//! the server's on-disk copy too. It prints each step with its throughput.
//! The server is stopped and the directory removed when it ends, whether
//! it succeeded, failed or was interrupted (Ctrl-C).
//!
//! Each way of reaching the server is a [`DataPath`]; the demo runs every
//! path and prints them side by side with the ratio: the network (NFSv3
//! over TCP, `localio=off`) and LOCALIO (`localio=on`: the embedded server
//! serves LOCALIO on a socket in the demo's temporary directory, and the
//! client, finding the server on its own host, reads and writes the
//! exported file itself, with the server's permission). Then, where FUSE
//! mounts can be made, it shows `nfsl mount` ([`crate::demo_mount`]).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nfsl_client::{LocalioMode, OpenOptions};
use nfsl_server::exports::{ExportOptions, ExportTable};
use nfsl_server::{NfsServer, ServerConfig};
use tokio::sync::oneshot;

use crate::endpoint::{join, Remote};
use crate::format::{columns, human_size, mb_per_sec, perm_string, type_char};
use crate::progress::Progress;
use crate::serve::{transport_config, MAX_IO_SIZE};
use crate::transfer::{
    self, copy, BufferPool, Chunk, ChunkReader, ChunkWriter, NfsReader, NfsWriter, CHUNK,
};

/// Arguments of `nfsl demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Size of the file written and read back: bytes, or with a K, M or G
    /// suffix (powers of 1024).
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    pub size: u64,
}

/// Parses `256M`, `1G`, `64K` or a plain byte count.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 256M, 1G, 4096)"))?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))?;
    if bytes == 0 {
        return Err("the size must be at least 1 byte".into());
    }
    Ok(bytes)
}

/// A way for the client to reach the server's data.
#[derive(Debug, Clone, Copy)]
enum DataPath {
    /// NFSv3 over TCP on 127.0.0.1 (`localio=off`).
    Network,
    /// LOCALIO: the client does the IO on the exported file itself
    /// (`localio=on`).
    Localio,
}

impl DataPath {
    /// Every path the demo compares, in the order printed.
    const ALL: &'static [DataPath] = &[DataPath::Network, DataPath::Localio];

    fn label(self) -> &'static str {
        match self {
            DataPath::Network => "network (NFSv3/TCP)",
            DataPath::Localio => "LOCALIO",
        }
    }

    /// The short tag on each line of the path's steps.
    fn tag(self) -> &'static str {
        match self {
            DataPath::Network => "network",
            DataPath::Localio => "localio",
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            DataPath::Network => "demo-network.bin",
            DataPath::Localio => "demo-localio.bin",
        }
    }

    /// Mounts the export the way this path uses it; the LOCALIO mount
    /// fails if the server's socket does not confirm it is local.
    async fn mount(self, url: &nfsl_client::NfsUrl, socket: &Path) -> anyhow::Result<Remote> {
        let mut url = url.clone();
        url.localio = Some(match self {
            DataPath::Network => LocalioMode::Off,
            DataPath::Localio => LocalioMode::On,
        });
        Remote::connect_localio(&url, Some(socket.to_path_buf())).await
    }

    /// Checks from the client's counters that the data took this path.
    fn check_counters(self, s: &nfsl_client::ClientStats) -> anyhow::Result<()> {
        let (local, rpc) = (
            s.local_read_bytes + s.local_write_bytes,
            s.rpc_read_bytes + s.rpc_write_bytes,
        );
        match self {
            DataPath::Network if local > 0 => {
                anyhow::bail!("{local} bytes went through LOCALIO with localio=off")
            }
            DataPath::Localio if rpc > 0 => {
                anyhow::bail!("{rpc} bytes went over RPC instead of LOCALIO")
            }
            _ => Ok(()),
        }
    }
}

/// One path's measured figures.
struct Figures {
    path: DataPath,
    write: Duration,
    read: Duration,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("nfsl-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let tmp_path = tmp.path().to_path_buf();
    let result = demo(tmp.path(), args.size);
    let removed = tmp.close();
    if result.is_ok() {
        removed.with_context(|| format!("removing {}", tmp_path.display()))?;
        println!("cleaned up: server stopped, {} removed", tmp_path.display());
    }
    result
}

/// The embedded server runs on a multi-threaded runtime of its own, as
/// `nfsl serve` does; the client on a single-threaded one, as the client
/// commands do (see [`crate::commands::block_on`]). Both are stopped
/// before this returns, whatever happened.
fn demo(tmp: &Path, size: u64) -> anyhow::Result<()> {
    let export = tmp.join("export");
    std::fs::create_dir(&export).context("creating the export directory")?;
    let export = export.canonicalize().context("export path")?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("nfsl-demo-server")
        .build()
        .context("starting the server's runtime")?;
    let socket = tmp.join("localio.sock");
    let (port, stop, serving) =
        server_rt.block_on(start_server(&export, &tmp.join("state"), &socket))?;
    println!(
        "nfsl demo: embedded nfsl server on 127.0.0.1:{port}, exporting {}, LOCALIO socket {}",
        export.display(),
        socket.display()
    );
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the client's runtime");
    let outcome = client_rt.and_then(|rt| {
        let r = rt.block_on(async {
            tokio::select! {
                r = run_paths(&export, port, size, &socket) => r,
                _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            }
        });
        rt.shutdown_background();
        r
    });
    // The mount, while the server still runs (a separate daemon process).
    let mounted = outcome.as_ref().ok().map(|_| {
        let url = format!(
            "nfs://127.0.0.1{}?version=3&nfsport={port}&mountport={port}&localio-socket={}",
            export.display(),
            socket.display()
        );
        crate::demo_mount::show(tmp, &url, &export)
    });
    let _ = stop.send(());
    let _ = server_rt.block_on(serving);
    server_rt.shutdown_timeout(Duration::from_secs(5));
    let figures = outcome?;
    print_summary(&figures, size);
    mounted.unwrap_or(Ok(()))
}

/// Starts the server on 127.0.0.1, a port of its own, with LOCALIO on
/// `socket` (as `nfsl serve` does); returns the port, the sender that
/// stops it and its task (which also ends the LOCALIO listener).
async fn start_server(
    export: &Path,
    state: &Path,
    socket: &Path,
) -> anyhow::Result<(u16, oneshot::Sender<()>, tokio::task::JoinHandle<()>)> {
    use nfsl_localio::{ListenerConfig, LocalioListener, NonceRegistry};
    let mut server = NfsServer::new(ServerConfig {
        exports: ExportTable::single(
            export,
            ExportOptions::parse_list("rw,no_root_squash,insecure")?,
        ),
        state_dir: state.to_path_buf(),
        max_io_size: MAX_IO_SIZE,
        unprivileged: Default::default(),
    })
    .context("starting the embedded server")?;
    let registry = Arc::new(NonceRegistry::default());
    let localio = LocalioListener::bind(
        &ListenerConfig::new(socket),
        registry.clone(),
        server.localio_authorizer(),
    )
    .with_context(|| format!("LOCALIO socket {}", socket.display()))?;
    server.enable_localio(registry);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding 127.0.0.1")?;
    let port = listener.local_addr().context("listening address")?.port();
    let (stop, stopped) = oneshot::channel::<()>();
    let (stop_local, local_stopped) = oneshot::channel::<()>();
    let local_task = tokio::spawn(localio.run(async move {
        let _ = local_stopped.await;
    }));
    let serving = tokio::spawn(async move {
        nfsl_transport::serve(listener, Arc::new(server), transport_config(), async move {
            let _ = stopped.await;
        })
        .await;
        let _ = stop_local.send(());
        let _ = local_task.await;
    });
    Ok((port, stop, serving))
}

/// Runs every [`DataPath`] in turn.
async fn run_paths(
    export: &Path,
    port: u16,
    size: u64,
    socket: &Path,
) -> anyhow::Result<Vec<Figures>> {
    let url = format!(
        "nfs://127.0.0.1{}?version=3&nfsport={port}&mountport={port}",
        export.display()
    );
    let url = nfsl_client::NfsUrl::parse(&url)?;
    let mut figures = Vec::new();
    for &path in DataPath::ALL {
        let f = run_path(path, &url, export, size, socket)
            .await
            .with_context(|| path.label())?;
        figures.push(f);
    }
    Ok(figures)
}

async fn run_path(
    path: DataPath,
    url: &nfsl_client::NfsUrl,
    export: &Path,
    size: u64,
    socket: &Path,
) -> anyhow::Result<Figures> {
    let label = path.tag();
    let remote = path.mount(url, socket).await.context("mounting")?;
    println!("[{label}] mounted {}", remote.url);
    let file_path = join(&remote.path, path.file_name());
    let pattern = Pattern::new(size);

    let start = Instant::now();
    let opts = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644);
    let writer = NfsWriter(remote.nfs.open(&file_path, &opts).await?);
    let written = copy(&pattern, &writer, &Progress::hidden())
        .await
        .context("writing")?;
    writer.0.close().await.context("COMMIT")?;
    let write = start.elapsed();
    println!(
        "[{label}] wrote {} ({}) in {:.2} s: {:.0} MB/s, committed (stable on disk)",
        path.file_name(),
        human_size(written),
        write.as_secs_f64(),
        mb_per_sec(written, write)
    );

    for e in remote.nfs.read_dir(&remote.path).await? {
        let line = match &e.metadata {
            Some(m) => format!(
                "{}{} {:>12} {}",
                type_char(m.file_type),
                perm_string(m.mode),
                m.size,
                e.name
            ),
            None => e.name.clone(),
        };
        println!("[{label}] listed: {line}");
    }

    let start = Instant::now();
    let file = remote
        .nfs
        .open(&file_path, &OpenOptions::new().read(true))
        .await?;
    let read = copy(&NfsReader(file), &Verifier(&pattern), &Progress::hidden())
        .await
        .context("reading back")?;
    let read_time = start.elapsed();
    if read != size {
        anyhow::bail!("read back {read} bytes, wrote {size}");
    }
    println!(
        "[{label}] read back {} in {:.2} s: {:.0} MB/s, every byte verified",
        human_size(read),
        read_time.as_secs_f64(),
        mb_per_sec(read, read_time)
    );
    verify_on_disk(&export.join(path.file_name()), &pattern)?;
    println!("[{label}] the server's file on disk is identical");
    let stats = remote.nfs.stats();
    path.check_counters(&stats)?;
    println!(
        "[{label}] client counters: {} bytes via LOCALIO, {} bytes via RPC",
        stats.local_read_bytes + stats.local_write_bytes,
        stats.rpc_read_bytes + stats.rpc_write_bytes
    );
    Ok(Figures {
        path,
        write,
        read: read_time,
    })
}

/// Checks the file the server stored, through the local file system.
fn verify_on_disk(file: &Path, pattern: &Pattern) -> anyhow::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(file).with_context(|| format!("open {}", file.display()))?;
    let len = f.metadata()?.len();
    if len != pattern.len {
        anyhow::bail!(
            "{} has {len} bytes on disk, wrote {}",
            file.display(),
            pattern.len
        );
    }
    let mut buf = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < len {
        let n = (len - offset).min(CHUNK as u64) as usize;
        f.read_exact_at(&mut buf[..n], offset)
            .with_context(|| format!("reading {}", file.display()))?;
        if !pattern.matches(offset, &buf[..n]) {
            anyhow::bail!("{} differs on disk near offset {offset}", file.display());
        }
        offset += n as u64;
    }
    Ok(())
}

/// The paths side by side, and LOCALIO's ratio to the network.
fn print_summary(figures: &[Figures], size: u64) {
    let mut header = vec![format!("{} file", human_size(size))];
    header.extend(figures.iter().map(|f| f.path.label().to_string()));
    let network = figures.iter().find(|f| matches!(f.path, DataPath::Network));
    let localio = figures.iter().find(|f| matches!(f.path, DataPath::Localio));
    let ratio = network.zip(localio);
    if ratio.is_some() {
        header.push("LOCALIO/network".into());
    }
    let mut rows = vec![header];
    for (name, took) in [
        (
            "write MB/s",
            (|f: &Figures| f.write) as fn(&Figures) -> Duration,
        ),
        ("read MB/s", |f: &Figures| f.read),
    ] {
        let mut row = vec![name.to_string()];
        row.extend(
            figures
                .iter()
                .map(|f| format!("{:.0}", mb_per_sec(size, took(f)))),
        );
        if let Some((n, l)) = ratio {
            let r = took(n).as_secs_f64() / took(l).as_secs_f64().max(1e-9);
            row.push(format!("{r:.1}x"));
        }
        rows.push(row);
    }
    let right: Vec<bool> = (0..rows[0].len()).map(|i| i > 0).collect();
    println!();
    for line in columns(&rows, &right) {
        println!("{line}");
    }
}

/// The demo file's contents, made on the fly: one pseudo-random block of
/// [`CHUNK`] bytes repeated, whose first 8 bytes in each repetition are
/// replaced by its index, so misplaced or repeated chunks are caught as
/// well as corrupted bytes.
struct Pattern {
    block: Vec<u8>,
    len: u64,
}

impl Pattern {
    fn new(len: u64) -> Pattern {
        let mut state = 0x6e66_736c_u64; // "nfsl"
        let mut block = Vec::with_capacity(CHUNK);
        while block.len() < CHUNK {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            block.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        Pattern { block, len }
    }

    /// Whether `data` is what belongs at `offset` (any offset and length).
    fn matches(&self, mut offset: u64, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            let at = (offset % CHUNK as u64) as usize;
            let n = (CHUNK - at).min(data.len());
            let (part, rest) = data.split_at(n);
            let head = 8usize.saturating_sub(at).min(n);
            let index = (offset / CHUNK as u64).to_le_bytes();
            if part[..head] != index[at.min(8)..at.min(8) + head]
                || part[head..] != self.block[at + head..at + n]
            {
                return false;
            }
            offset += n as u64;
            data = rest;
        }
        true
    }

    /// Fills `buf` with what belongs at `offset` (a multiple of CHUNK).
    fn fill(&self, offset: u64, buf: &mut [u8]) {
        let n = buf.len();
        buf.copy_from_slice(&self.block[..n]);
        let head = n.min(8);
        buf[..head].copy_from_slice(&(offset / CHUNK as u64).to_le_bytes()[..head]);
    }
}

impl ChunkReader for Pattern {
    async fn read_chunk(
        &self,
        offset: u64,
        len: usize,
        pool: &BufferPool,
    ) -> anyhow::Result<Chunk> {
        let n = (self.len.saturating_sub(offset)).min(len as u64) as usize;
        if n == 0 {
            return Ok(Chunk::default());
        }
        let mut buf = pool.take_filled(n);
        self.fill(offset, &mut buf);
        Ok(Chunk(vec![transfer::share(pool, buf, n)]))
    }
}

/// Compares what is read back with the [`Pattern`].
struct Verifier<'a>(&'a Pattern);

impl ChunkWriter for Verifier<'_> {
    async fn write_chunk(&self, offset: u64, chunk: Chunk) -> anyhow::Result<()> {
        let mut at = offset;
        for part in &chunk.0 {
            if !self.0.matches(at, part) {
                anyhow::bail!("the data read back differs from what was written near offset {at}");
            }
            at += part.len() as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn the_pattern_catches_moved_and_changed_bytes() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let pool = transfer::new_pool();
        let p = Pattern::new(2 * CHUNK as u64 + 5);
        let read = |off: u64| {
            let c = rt.block_on(p.read_chunk(off, CHUNK, &pool)).unwrap();
            c.0.concat()
        };
        let (c0, c1, c2) = (read(0), read(CHUNK as u64), read(2 * CHUNK as u64));
        assert_eq!((c0.len(), c2.len()), (CHUNK, 5));
        assert!(p.matches(0, &c0) && p.matches(CHUNK as u64, &c1));
        assert!(p.matches(2 * CHUNK as u64, &c2));
        assert!(!p.matches(CHUNK as u64, &c0), "a chunk in the wrong place");
        // Arbitrary pieces, across chunk boundaries, as NFS reads come.
        let all = [c0.clone(), c1, c2].concat();
        for (start, len) in [
            (3, 100),
            (CHUNK - 4, 10),
            (CHUNK + 1, CHUNK),
            (0, all.len()),
        ] {
            assert!(
                p.matches(start as u64, &all[start..start + len]),
                "{start}+{len}"
            );
        }
        let mut bad = c0;
        bad[CHUNK / 2] ^= 1;
        assert!(!p.matches(0, &bad));
    }
}
