//! The per-deployment brake on replays.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::now_ms;

/// Per-deployment brake on replays: after `STRIKES` streams in a row that left the
/// envelope (replayed before their first byte, a second upstream call, or cut), the
/// deployment goes straight to Python for `COOL_DOWN_MS`. Non-streaming answers out of
/// the envelope are held, not replayed (`held.rs`): they cost no second call and no strike.
#[derive(Default)]
pub(crate) struct Guard {
    strikes: AtomicU64,
    disabled_until_ms: AtomicU64,
}

const STRIKES: u64 = 3;
const COOL_DOWN_MS: u64 = 60_000;

impl Guard {
    pub(crate) fn open(&self) -> bool {
        self.disabled_until_ms.load(Ordering::Relaxed) <= now_ms()
    }
    pub(crate) fn ok(&self) {
        if self.strikes.load(Ordering::Relaxed) != 0 {
            self.strikes.store(0, Ordering::Relaxed);
        }
    }
    pub(crate) fn strike(&self) {
        if self.strikes.fetch_add(1, Ordering::Relaxed) + 1 >= STRIKES {
            self.strikes.store(0, Ordering::Relaxed);
            self.disabled_until_ms.store(now_ms() + COOL_DOWN_MS, Ordering::Relaxed);
        }
    }
}
