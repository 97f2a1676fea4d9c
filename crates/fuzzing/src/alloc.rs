//! A counting global allocator, so targets can check that a decoder's
//! memory is bounded by its input: "lengths checked before allocating"
//! as a property the fuzzer tries to break, not only a code-review rule.
//!
//! Counts are per thread (every decoder here runs on the caller's
//! thread), so a test harness running targets in parallel threads does
//! not mix their figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting the bytes each thread holds.
pub struct CountingAlloc;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(n);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
}

// SAFETY: every method forwards to `System` unchanged; the counting only
// touches const-initialised thread-locals without destructors, which
// never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller's contract is passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller's contract is passed through.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: the caller's contract is passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Both blocks may be live during the copy: count the new one first.
        grew(new_size);
        shrank(layout.size());
        // SAFETY: the caller's contract is passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and panics if the memory it held at its peak (beyond what
/// the thread held before) exceeds `limit` bytes.
pub fn bounded<R>(what: &str, limit: usize, f: impl FnOnce() -> R) -> R {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(Cell::get).saturating_sub(base);
    assert!(
        peak <= limit,
        "{what}: held {peak} bytes at its peak, over the bound of {limit}"
    );
    r
}

/// The bound for a decoder of `input` bytes: a fixed allowance plus a
/// small multiple of the input (decoded values are larger than their
/// wire form, and a growing `Vec` briefly holds two copies).
pub fn input_bound(input: usize) -> usize {
    64 * 1024 + 32 * input
}
