//! The logging queue: one compact JSON record per request the front served, for
//! LiteLLM's success logging (callbacks, spend, Prometheus) in the Python proxy.
//!
//! The request path only ever calls `push`, which never blocks: when the queue is
//! full the record is dropped and counted. A Python drainer takes batches with
//! `drain` (blocking with a timeout, GIL released by the binding) and delivers them to
//! the LiteLLM proxy process (see `python/fast_litellm/fastlane/replay.py`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default, Debug)]
pub struct LogStats {
    pub queued: AtomicU64,
    pub dropped: AtomicU64,
    pub drained: AtomicU64,
}

pub struct LogQueue {
    tx: SyncSender<String>,
    capacity: u64,
    pub stats: &'static LogStats,
}

static STATS: LogStats = LogStats { queued: AtomicU64::new(0), dropped: AtomicU64::new(0), drained: AtomicU64::new(0) };
static RX: Mutex<Option<Receiver<String>>> = Mutex::new(None);

impl LogQueue {
    /// A queue of `capacity` records (plus `slack` places for pushes racing past `full()`);
    /// its receiving end becomes the one `drain` reads.
    pub fn install(capacity: usize, slack: usize) -> LogQueue {
        let (tx, rx) = sync_channel(capacity.max(1) + slack);
        *RX.lock().unwrap() = Some(rx);
        LogQueue { tx, capacity: capacity.max(1) as u64, stats: &STATS }
    }

    /// No room left (approximately: other threads may push or drain meanwhile).
    pub fn full(&self) -> bool {
        let queued = self.stats.queued.load(Ordering::Relaxed);
        let drained = self.stats.drained.load(Ordering::Relaxed);
        queued.saturating_sub(drained) >= self.capacity
    }

    /// Never blocks: a full (or closed) queue drops the record and counts it.
    pub fn push(&self, record: String) {
        match self.tx.try_send(record) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Up to `max` records, waiting at most `timeout_ms` for the first one.
/// `None` once the front has stopped and the queue is empty (or no queue exists).
pub fn drain(max: usize, timeout_ms: u64) -> Option<Vec<String>> {
    let guard = RX.lock().unwrap();
    let rx = guard.as_ref()?;
    let mut out = Vec::new();
    match rx.recv_timeout(Duration::from_millis(timeout_ms)) {
        Ok(r) => out.push(r),
        Err(RecvTimeoutError::Timeout) => return Some(out),
        Err(RecvTimeoutError::Disconnected) => return None,
    }
    while out.len() < max.max(1) {
        match rx.try_recv() {
            Ok(r) => out.push(r),
            Err(_) => break,
        }
    }
    STATS.drained.fetch_add(out.len() as u64, Ordering::Relaxed);
    Some(out)
}

/// `(queued, dropped, drained)` since the process started.
pub fn stats() -> (u64, u64, u64) {
    (STATS.queued.load(Ordering::Relaxed), STATS.dropped.load(Ordering::Relaxed), STATS.drained.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_and_counts_and_drain_ends_when_the_front_is_gone() {
        let q = LogQueue::install(2, 0);
        let (q0, d0, r0) = stats();
        for i in 0..3 {
            q.push(format!("{{\"n\":{i}}}"));
        }
        let (q1, d1, _) = stats();
        assert_eq!((q1 - q0, d1 - d0), (2, 1));
        assert_eq!(drain(10, 10), Some(vec!["{\"n\":0}".to_string(), "{\"n\":1}".to_string()]));
        assert_eq!(drain(10, 10), Some(vec![]));
        drop(q);
        assert_eq!(drain(10, 10), None);
        assert_eq!(stats().2 - r0, 2);
    }
}
