//! A precise timer for the test server's token pacing and bench's trace dispatch: one
//! dedicated thread wakes futures at their deadline with the ~50 µs precision of a futex wait,
//! where tokio's timer wheel rounds every deadline up to the next millisecond.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

/// Wakes futures at their deadline from one dedicated thread, with the ~50 µs precision of a
/// futex wait instead of tokio's 1 ms timer wheel: the server's TTFT is the reference the
/// clients are judged against.
#[derive(Clone)]
pub struct PreciseTimer(Arc<(Mutex<BinaryHeap<Entry>>, Condvar)>);

struct Entry {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}
impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and the earliest deadline must come first.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

impl PreciseTimer {
    pub fn start() -> PreciseTimer {
        let timer = PreciseTimer(Arc::new((Mutex::new(BinaryHeap::new()), Condvar::new())));
        let shared = Arc::clone(&timer.0);
        std::thread::Builder::new()
            .name("precise-timer".into())
            .spawn(move || {
                // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
                unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
                let (heap, cv) = &*shared;
                let Ok(mut heap) = heap.lock() else { return };
                loop {
                    let now = Instant::now();
                    match heap.peek().map(|e| e.at) {
                        None => heap = cv.wait(heap).unwrap_or_else(|e| e.into_inner()),
                        Some(at) if at <= now => {
                            if let Some(e) = heap.pop() {
                                let _ = e.wake.send(());
                            }
                        }
                        Some(at) => {
                            heap = cv
                                .wait_timeout(heap, at - now)
                                .map_or_else(|e| e.into_inner().0, |r| r.0)
                        }
                    }
                }
            })
            .ok();
        timer
    }

    pub async fn sleep_until(&self, at: Instant) {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        if at <= Instant::now() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        let (heap, cv) = &*self.0;
        if let Ok(mut heap) = heap.lock() {
            heap.push(Entry { at, seq: SEQ.fetch_add(1, Ordering::Relaxed), wake: tx });
            cv.notify_one();
        }
        let _ = rx.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn precise_timer_is_not_early() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let timer = PreciseTimer::start();
        rt.block_on(async {
            let start = Instant::now();
            let at = start + Duration::from_millis(5);
            timer.sleep_until(at).await;
            assert!(Instant::now() >= at);
        });
    }
}
