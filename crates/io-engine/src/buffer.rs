//! Buffers whose data starts where the kernel copies fastest.
//!
//! Why: the kernel's copies between user memory and the page cache
//! (`rep movsb` on this machine's AMD EPYC) run far slower when the user
//! buffer starts 16 bytes past a 64-byte cache line, which is where
//! `malloc` puts a large allocation: a 1 MiB buffered `pread` of cached
//! data ran at 8.7-8.9 GB/s into such a buffer and 19.6-20.5 GB/s into one
//! at 0 or 64 bytes; a 1 MiB `pwrite` from one, 9.2 against 13.1-13.6
//! GB/s (`cargo run --release -p nfsl-io-engine --example copy_cost`,
//! figures in `docs/BENCHMARKS.md`).

use bytes::{Buf, BytesMut};

/// The memory alignment that gets the fast copy: a cache line.
pub const COPY_ALIGN: usize = 64;

/// An empty `BytesMut` with room for `capacity` bytes whose data starts
/// at a multiple of `align` (a power of two). The allocation keeps that
/// start through `freeze` and `try_into_mut`, so a recycled buffer stays
/// aligned.
pub fn aligned_bytes_mut(capacity: usize, align: usize) -> BytesMut {
    debug_assert!(align.is_power_of_two());
    let mut b = BytesMut::with_capacity(capacity + align);
    let pad = b.as_ptr().align_offset(align);
    b.resize(pad, 0);
    b.advance(pad);
    b
}

/// A copy of `data` in a new buffer aligned to `align` (a direct write's
/// bounce buffer when its memory is misaligned); `None` if `align` is not
/// a power of two.
pub(crate) fn aligned_copy(data: &[u8], align: usize) -> Option<BytesMut> {
    align.is_power_of_two().then(|| {
        let mut b = aligned_bytes_mut(data.len(), align);
        b.extend_from_slice(data);
        b
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_copy_is_aligned_and_holds_data() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let b = aligned_copy(&data[3..], 4096).unwrap();
        assert_eq!(b.as_ptr() as usize % 4096, 0);
        assert_eq!(&b[..], &data[3..]);
        assert!(aligned_copy(&data, 3).is_none());
    }

    #[test]
    fn buffers_start_aligned_and_stay_aligned_when_recycled() {
        for align in [COPY_ALIGN, 4096] {
            let mut b = aligned_bytes_mut(1 << 20, align);
            assert!(b.is_empty() && b.capacity() >= 1 << 20);
            assert_eq!(b.as_ptr().align_offset(align), 0);
            b.resize(1 << 20, 7);
            let frozen = b.freeze();
            drop(frozen.slice(..4096));
            let back = frozen.try_into_mut().expect("no other reference");
            assert_eq!(back.as_ptr().align_offset(align), 0);
            assert_eq!(back.len(), 1 << 20);
            assert!(back.iter().all(|&x| x == 7));
        }
    }
}
