use super::*;
use std::sync::Mutex;

/// A source of `len` bytes where byte i is `i % 251`, in 1000-byte parts
/// (as an NFS source hands over several records per chunk).
struct Counting(u64);

impl ChunkReader for Counting {
    async fn read_chunk(&self, offset: u64, len: usize, _: &BufferPool) -> anyhow::Result<Chunk> {
        let n = (self.0.saturating_sub(offset) as usize).min(len);
        let bytes: Vec<u8> = (0..n).map(|i| ((offset + i as u64) % 251) as u8).collect();
        let all = Bytes::from(bytes);
        let parts = (0..n)
            .step_by(1000)
            .map(|s| all.slice(s..(s + 1000).min(n)));
        Ok(Chunk(parts.collect()))
    }
}

struct Failing;

impl ChunkWriter for Failing {
    async fn write_chunk(&self, offset: u64, _: Chunk) -> anyhow::Result<()> {
        if offset > 0 {
            anyhow::bail!("disk full");
        }
        Ok(())
    }
}

fn check(len: u64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Arc::new(Mutex::new(Vec::new()));
    let n = rt
        .block_on(copy(
            &Counting(len),
            &StreamWriter(Arc::clone(&sink)),
            &Progress::hidden(),
        ))
        .unwrap();
    assert_eq!(n, len);
    let out = sink.lock().unwrap();
    assert_eq!(out.len() as u64, len);
    assert!(out.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
}

#[test]
fn copies_every_length_in_order() {
    for len in [0, 1, CHUNK as u64 - 1, CHUNK as u64, 3 * CHUNK as u64 + 17] {
        check(len);
    }
}

#[test]
fn a_write_error_stops_the_copy() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt
        .block_on(copy(
            &Counting(5 * CHUNK as u64),
            &Failing,
            &Progress::hidden(),
        ))
        .unwrap_err();
    assert_eq!(e.to_string(), "disk full");
}

#[test]
fn local_files_round_trip_through_pooled_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let data: Vec<u8> = (0..3 * CHUNK + 4097).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let dst = dir.path().join("dst");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n = rt
        .block_on(copy(
            &LocalReader(Arc::new(std::fs::File::open(&src).unwrap())),
            &LocalWriter(Arc::new(std::fs::File::create(&dst).unwrap())),
            &Progress::hidden(),
        ))
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert!(std::fs::read(&dst).unwrap() == data);
}

#[test]
fn pooled_buffers_come_back_when_dropped() {
    let pool = new_pool();
    let b = share(&pool, pool.take_filled(CHUNK), 10);
    let c = b.clone();
    assert_eq!(b.len(), 10);
    drop(b);
    assert_eq!(pool.spare_count(), 0, "still shared");
    drop(c);
    assert_eq!(pool.spare_count(), 1);
    assert_eq!(pool.take_filled(CHUNK).len(), CHUNK);
    assert_eq!(pool.spare_count(), 0);
}
