//! Allocator settings for the client commands and the demo.
//!
//! With glibc's defaults, every 1 MiB buffer the client library allocates
//! (an RPC reply record, a journalled WRITE piece) is a fresh `mmap` that
//! is unmapped again when freed, so a 1 GiB copy takes some 100,000 page
//! faults, each zeroing a page: measured, about 40% of `nfsl cp`'s CPU
//! time for a 1 GiB read and 35% for a write. Raising the mmap threshold
//! to 32 MiB and the trim threshold to 1 GiB makes freed buffers stay in
//! the heap and be reused instead. The price, a heap that keeps its peak
//! size until the command exits, is nothing for a command that exits when
//! its copy is done.
//!
//! `nfsl serve` does the opposite: it must give memory back when load goes
//! (a burst of connections, each holding a partial 1 MiB record, must not
//! leave the process at its peak size). glibc raises its mmap threshold
//! each time a large mapped block is freed, after which such blocks come
//! from the heap and stay there; a fixed threshold keeps every large
//! buffer a mapping that is unmapped when freed. The transport's own pool
//! recycles the buffers of a steady stream, so this costs page faults only
//! on bursts.

/// Keeps freed memory for reuse (see the module documentation). Call
/// before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    // SAFETY: mallopt only changes two tuning parameters of glibc's
    // allocator; it is called from `main` before any other thread exists.
    // Its result (0 on failure) needs no handling: failure leaves the
    // defaults, which are correct, only slower.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Other C libraries: nothing to tune.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}

/// Returns freed large buffers to the system (see the module
/// documentation). Call before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_freed_memory() {
    // SAFETY: as in `keep_freed_memory`: one tuning parameter, set from
    // `main` before any other thread exists; failure leaves the defaults.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}

/// Other C libraries: nothing to tune.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_freed_memory() {}

/// Gives the free memory of every allocator arena back to the system
/// (small buffers freed when connections close stay in the arenas of the
/// threads that served them otherwise).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() {
    // SAFETY: malloc_trim only releases free memory of glibc's own arenas;
    // it is thread-safe and takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other C libraries: nothing to trim.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
