//! Running a batch of borrowed futures with a bounded number in flight:
//! how `read_at`/`write_at` keep `io_window` pieces on the wire.
//!
//! Hand-written (40 lines) rather than pulling in the `futures` crate: the
//! futures borrow disjoint parts of the caller's buffer, so they cannot be
//! spawned, and this is all of `buffer_unordered` the client needs.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Runs the futures of `iter` with at most `limit` polled at a time and
/// returns their results in iteration order, or the first error (the
/// futures still running are dropped).
pub(crate) async fn windowed<I, F, T, E>(iter: I, limit: usize) -> Result<Vec<T>, E>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>>,
{
    let mut pending = iter.into_iter().enumerate();
    let mut running: Vec<(usize, Pin<Box<F>>)> = Vec::new();
    let mut results: Vec<Option<T>> = Vec::new();
    let mut exhausted = false;
    let limit = limit.max(1);
    poll_fn(move |cx| loop {
        while !exhausted && running.len() < limit {
            match pending.next() {
                Some((i, f)) => {
                    if results.len() <= i {
                        results.resize_with(i + 1, || None);
                    }
                    running.push((i, Box::pin(f)));
                }
                None => exhausted = true,
            }
        }
        let mut finished_one = false;
        let mut k = 0;
        while k < running.len() {
            match running[k].1.as_mut().poll(cx) {
                Poll::Ready(Ok(v)) => {
                    let (i, _) = running.swap_remove(k);
                    results[i] = Some(v);
                    finished_one = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => k += 1,
            }
        }
        if exhausted && running.is_empty() {
            return Poll::Ready(Ok(std::mem::take(&mut results)
                .into_iter()
                .flatten()
                .collect()));
        }
        if !finished_one {
            return Poll::Pending;
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn bounded_and_ordered() {
        let live = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let futs = (0..20u64).map(|i| {
            let (live, peak) = (&live, &peak);
            async move {
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20 - i)).await;
                live.fetch_sub(1, Ordering::SeqCst);
                Ok::<u64, ()>(i)
            }
        });
        let out = windowed(futs, 4).await.unwrap();
        assert_eq!(out, (0..20).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 4);
        let failing = (0..5).map(|i| async move {
            if i == 3 {
                Err(i)
            } else {
                Ok(i)
            }
        });
        assert_eq!(windowed(failing, 2).await, Err(3));
    }
}
