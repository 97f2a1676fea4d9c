//! Measures the client's sequential write and read throughput against a
//! server: `cargo run --release -p nfsl-client --example throughput --
//! nfs://HOST/EXPORT/FILE?nfsport=N&mountport=N [MIB]` (default 1024 MiB).
//! Writes the file in 8 MiB `write_at` calls, closes it (COMMIT), then
//! reads it back in 8 MiB `read_at` calls and prints MB/s for each.

use std::time::Instant;

use nfsl_client::{ClientConfig, Nfs, NfsUrl, OpenOptions};

const CHUNK: usize = 8 << 20;

fn main() -> nfsl_client::Result<()> {
    // NFSL_THROUGHPUT_RT=current runs everything on one thread.
    let mut rt = if std::env::var("NFSL_THROUGHPUT_RT").as_deref() == Ok("current") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    rt.enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run())
}

async fn run() -> nfsl_client::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: throughput URL [MIB]");
        std::process::exit(2);
    };
    let mib: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let url = NfsUrl::parse(&url)?;
    let mut config = ClientConfig::default();
    // NFSL_THROUGHPUT_UNSTABLE_MIB overrides max_unstable_bytes.
    if let Some(m) = std::env::var("NFSL_THROUGHPUT_UNSTABLE_MIB")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        config.max_unstable_bytes = m << 20;
    }
    let (nfs, path) = Nfs::connect(&url, config).await?;
    let data: Vec<u8> = (0..CHUNK).map(|i| (i * 31 + i / 4096) as u8).collect();
    let total = mib << 20;

    // NFSL_THROUGHPUT=read skips the write (the file must exist).
    let read_only = std::env::var("NFSL_THROUGHPUT").as_deref() == Ok("read");
    let start = Instant::now();
    if !read_only {
        let file = nfs.create(&path).await?;
        let mut off = 0;
        while off < total {
            let n = CHUNK.min(total - off);
            file.write_at(&data[..n], off as u64).await?;
            off += n;
        }
        file.close().await?;
    }
    let w = start.elapsed();

    let start = Instant::now();
    let file = nfs.open(&path, &OpenOptions::new().read(true)).await?;
    // NFSL_THROUGHPUT_COPY=1 reads into a buffer (read_at) instead of
    // taking the reply records' bytes (read_at_bytes).
    let copy = std::env::var_os("NFSL_THROUGHPUT_COPY").is_some();
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0u64;
    loop {
        let n = if copy {
            file.read_at(&mut buf, off).await?
        } else {
            let parts = file.read_at_bytes(off, CHUNK).await?;
            parts.iter().map(|b| b.len()).sum()
        };
        off += n as u64;
        if n < CHUNK {
            break;
        }
    }
    let r = start.elapsed();
    let mb = total as f64 / 1e6;
    println!(
        "{mib} MiB: write {:.0} MB/s ({:.2}s), read {:.0} MB/s ({:.2}s); {:?}",
        mb / w.as_secs_f64(),
        w.as_secs_f64(),
        mb / r.as_secs_f64(),
        r.as_secs_f64(),
        nfs.stats()
    );
    Ok(())
}
