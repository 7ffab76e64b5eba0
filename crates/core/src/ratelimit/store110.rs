//! The local counter store behind LiteLLM 1.110.x's v3 proxy limiter
//! (`_PROXY_MaxParallelRequestsHandler_v3`, `litellm/proxy/hooks/parallel_request_limiter_v3.py`).
//!
//! Without Redis, 1.110.2's limiter keeps its windowed state in the memory tier
//! of its own native store (`litellm.redis.stores.rate_limits.RateLimitStore` on
//! `NativeRateLimits`): per descriptor scope `{key:value}` a `window` entry (the
//! window's start second, as a decimal string) and `requests`/`tokens` counters
//! (ints or floats), each with its own expiry. That store is capped at 200
//! entries (it evicts the soonest-expiring one beyond that) and is private to
//! one process. This table keeps the same entries with the same semantics
//! (read from its behaviour):
//!
//! * `set(entry, value, ttl)`: a live entry keeps its expiry (even "never");
//!   a missing or expired one gets `now + ttl` (`ttl` `None`: never expires;
//!   `ttl <= 0`: expired at once);
//! * `get`: the value while `now < expiry`;
//! * `incr(entry, amount, ttl)`: a live number gets `+ amount` keeping its
//!   expiry (int + int wraps at 64 bits; int + float is a float), a live string
//!   is left unchanged (no result), a missing one is `set(amount, ttl)`;
//!
//! but without the 200-entry cap, and optionally in a file mapped by every
//! worker of one host (`FAST_LITELLM_RATE_LIMIT_SHM` + `.v3b`).
//!
//! ```text
//! word 0   hash of the entry (64-bit keyed SipHash of key, value, suffix; 0 = empty)
//! word 1   tag: 1 int, 2 float, 3 decimal-int string, 4 held elsewhere (the caller's fallback)
//! word 2   value bits (i64 / f64)
//! word 3   expiry (f64 bits of the Unix time; +inf = never)
//! ```
//!
//! 32 bytes per entry, no string stored (the limiter only looks entries up by
//! a scope it holds). Slots are never emptied: an expired slot is reused by the
//! next insert whose probe chain passes it (after checking that the key is not
//! further along), so chains stay unbroken; the in-process table grows (rebuilt
//! with live entries only) at 75% occupancy, the shared one has a fixed
//! capacity and, when no slot is free, replaces the soonest-expiring entry of
//! the probe chain (as the stock store does at its cap).
//!
//! Concurrency: one table-wide lock word (owner = pid << 32 | thread id),
//! re-entrant for its owner, so the limiter's read-modify-write sections (a
//! window check and its increments) run atomically across threads and
//! processes: the caller takes the lock around the whole section, and every
//! single operation takes it too. A waiter that finds the owning process dead
//! (`kill(pid, 0)` = ESRCH) takes the lock over, so a worker dying inside a
//! section never blocks the others (its partial section stays applied).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use super::mapped::{hash_with, random_seed, Mapping, HEADER_WORDS};

pub const SLOT_WORDS: usize = 4;
pub const SLOT_BYTES: usize = SLOT_WORDS * 8;
const MAGIC: u64 = 0x464c_524c_3131_3001; // "FLRL110" + layout version
const MIN_CAP: usize = 1024;
const EVICT_SCAN: usize = 1024;

pub const TAG_INT: u64 = 1;
pub const TAG_FLOAT: u64 = 2;
pub const TAG_TEXT: u64 = 3;
pub const TAG_FOREIGN: u64 = 4;

/// A stored value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    Int(i64),
    Float(f64),
    /// A decimal string of an integer (the window start).
    Text(i64),
    /// Kept by the caller elsewhere (a value this table does not represent).
    Foreign,
}

/// An increment amount.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Io(String),
}

impl Val {
    fn encode(self) -> (u64, u64) {
        match self {
            Val::Int(i) => (TAG_INT, i as u64),
            Val::Float(f) => (TAG_FLOAT, f.to_bits()),
            Val::Text(i) => (TAG_TEXT, i as u64),
            Val::Foreign => (TAG_FOREIGN, 0),
        }
    }
    fn decode(tag: u64, bits: u64) -> Val {
        match tag {
            TAG_INT => Val::Int(bits as i64),
            TAG_FLOAT => Val::Float(f64::from_bits(bits)),
            TAG_TEXT => Val::Text(bits as i64),
            _ => Val::Foreign,
        }
    }
}

impl From<Num> for Val {
    fn from(n: Num) -> Val {
        match n {
            Num::Int(i) => Val::Int(i),
            Num::Float(f) => Val::Float(f),
        }
    }
}

/// Wall-clock seconds (comparable across the processes sharing a table).
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

thread_local! {
    static TID: Cell<u64> = const { Cell::new(0) };
}

fn owner_id() -> u64 {
    let tid = TID.with(|t| {
        if t.get() == 0 {
            let v = unsafe { libc::syscall(libc::SYS_gettid) } as u64;
            t.set(v & 0xffff_ffff);
        }
        t.get()
    });
    ((std::process::id() as u64) << 32) | tid
}

fn owner_dead(owner: u64) -> bool {
    let pid = (owner >> 32) as u32;
    if owner == 0 || pid == std::process::id() {
        return false;
    }
    unsafe { libc::kill(pid as libc::pid_t, 0) != 0 && *libc::__errno_location() == libc::ESRCH }
}

struct Inner {
    map: Mapping,
    cap: usize,
    seed: (u64, u64),
}

impl Inner {
    #[inline]
    fn word(&self, i: usize) -> &AtomicU64 {
        unsafe { &*self.map.words().add(i) }
    }
    #[inline]
    fn slot(&self, s: usize, w: usize) -> &AtomicU64 {
        self.word(HEADER_WORDS + s * SLOT_WORDS + w)
    }
    fn used(&self) -> &AtomicU64 {
        self.word(5)
    }
    fn start(&self, hash: u64) -> usize {
        ((hash as u128 * self.cap as u128) >> 64) as usize
    }
    fn expiry(&self, s: usize) -> f64 {
        f64::from_bits(self.slot(s, 3).load(Ordering::Relaxed))
    }
    fn write(&self, s: usize, hash: u64, v: Val, expiry: Option<f64>) {
        let (tag, bits) = v.encode();
        if let Some(x) = expiry {
            self.slot(s, 3).store(x.to_bits(), Ordering::Relaxed);
        }
        self.slot(s, 1).store(tag, Ordering::Relaxed);
        self.slot(s, 2).store(bits, Ordering::Relaxed);
        self.slot(s, 0).store(hash, Ordering::Release);
    }

    /// (the slot holding `hash`, the first reusable slot of its chain, the empty slot ending it).
    fn probe(&self, hash: u64, now: f64) -> (Option<usize>, Option<usize>, Option<usize>) {
        let mut s = self.start(hash);
        let mut reuse = None;
        for _ in 0..self.cap {
            let k = self.slot(s, 0).load(Ordering::Acquire);
            if k == hash {
                return (Some(s), reuse, None);
            }
            if k == 0 {
                return (None, reuse, Some(s));
            }
            if reuse.is_none() && !(now < self.expiry(s)) {
                reuse = Some(s);
            }
            s += 1;
            if s == self.cap {
                s = 0;
            }
        }
        (None, reuse, None)
    }

    /// A slot for a new entry `hash` (known absent).
    fn place(&self, hash: u64, reuse: Option<usize>, empty: Option<usize>) -> usize {
        if let Some(s) = reuse {
            return s;
        }
        if let Some(s) = empty {
            self.used().fetch_add(1, Ordering::Relaxed);
            return s;
        }
        // Full (shared table): replace the soonest-expiring entry near the chain start.
        let mut s = self.start(hash);
        let mut best = s;
        let mut best_x = f64::INFINITY;
        for _ in 0..EVICT_SCAN.min(self.cap) {
            let x = self.expiry(s);
            if x < best_x {
                best_x = x;
                best = s;
            }
            s += 1;
            if s == self.cap {
                s = 0;
            }
        }
        best
    }
}

pub struct Store110 {
    inner: RwLock<Inner>,
    shared: bool,
    /// The lock word of an in-process table (a shared table's is header word 4).
    local_lock: AtomicU64,
    /// Re-entry depth of the owner (only the owner touches it).
    depth: AtomicU64,
}

/// Releases the table lock on drop if this guard took it.
pub struct Entered<'a> {
    store: &'a Store110,
    took: bool,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if self.took {
            self.store.unlock();
        }
    }
}

impl Default for Store110 {
    fn default() -> Self {
        Self::new()
    }
}

impl Store110 {
    /// An in-process table (grows as needed).
    pub fn new() -> Store110 {
        Self::with_capacity(MIN_CAP)
    }

    pub fn with_capacity(cap: usize) -> Store110 {
        let cap = cap.max(MIN_CAP);
        let seed = random_seed();
        Store110 {
            inner: RwLock::new(Inner { map: Mapping::anonymous(cap, SLOT_WORDS, MAGIC, seed), cap, seed }),
            shared: false,
            local_lock: AtomicU64::new(0),
            depth: AtomicU64::new(0),
        }
    }

    /// The table in the file at `path`, shared with every process that opens it
    /// (`slots` when this call creates it).
    pub fn open(path: &str, slots: usize) -> Result<Store110, Error> {
        let (map, cap) = Mapping::open_shared(path, slots, MIN_CAP, SLOT_WORDS, MAGIC).map_err(Error::Io)?;
        let w = |i: usize| unsafe { (*map.words().add(i)).load(Ordering::Relaxed) };
        let seed = (w(2), w(3));
        Ok(Store110 { inner: RwLock::new(Inner { map, cap, seed }), shared: true, local_lock: AtomicU64::new(0), depth: AtomicU64::new(0) })
    }

    fn lock_word(&self) -> &AtomicU64 {
        if self.shared {
            // The shared mapping never moves (no growth).
            let inner = self.inner.read().unwrap();
            let p: *const AtomicU64 = inner.word(4);
            unsafe { &*p }
        } else {
            &self.local_lock
        }
    }

    /// Try to take the lock without waiting (re-entrant). True when held.
    pub fn try_lock(&self) -> bool {
        let me = owner_id();
        let w = self.lock_word();
        let cur = w.load(Ordering::Relaxed);
        if cur == me {
            self.depth.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if cur == 0 && w.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            self.depth.store(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Take the table lock (re-entrant), waiting for another owner; a dead
    /// owner's lock is taken over.
    pub fn lock(&self) {
        if self.try_lock() {
            return;
        }
        let me = owner_id();
        let w = self.lock_word();
        let mut spins: u32 = 0;
        loop {
            let cur = w.load(Ordering::Relaxed);
            if cur == 0 {
                if w.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    break;
                }
            } else {
                spins = spins.wrapping_add(1);
                if spins % 256 == 0 {
                    if owner_dead(cur) && w.compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                        break;
                    }
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        self.depth.store(1, Ordering::Relaxed);
    }

    /// Release one level of the lock (no-op if this thread does not hold it).
    pub fn unlock(&self) {
        let w = self.lock_word();
        if w.load(Ordering::Relaxed) != owner_id() {
            return;
        }
        if self.depth.fetch_sub(1, Ordering::Relaxed) <= 1 {
            self.depth.store(0, Ordering::Relaxed);
            w.store(0, Ordering::Release);
        }
    }

    /// Whether this thread holds the lock.
    pub fn held(&self) -> bool {
        self.lock_word().load(Ordering::Relaxed) == owner_id()
    }

    fn enter(&self) -> Entered<'_> {
        self.lock();
        Entered { store: self, took: true }
    }

    /// The entry hash of (`key`, `value`, `suffix`): the three strings,
    /// separated by 0xFF (a byte no UTF-8 string holds).
    pub fn hash(&self, key: &str, value: &str, suffix: &str) -> u64 {
        let seed = self.inner.read().unwrap().seed;
        let mut buf = Vec::with_capacity(key.len() + value.len() + suffix.len() + 2);
        buf.extend_from_slice(key.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(value.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(suffix.as_bytes());
        hash_with(seed, &buf)
    }

    pub fn get(&self, hash: u64, now: f64) -> Option<Val> {
        let _g = self.enter();
        let inner = self.inner.read().unwrap();
        match inner.probe(hash, now).0 {
            Some(s) if now < inner.expiry(s) => {
                Some(Val::decode(inner.slot(s, 1).load(Ordering::Relaxed), inner.slot(s, 2).load(Ordering::Relaxed)))
            }
            _ => None,
        }
    }

    /// The stored expiry of a live entry (`None`: absent; `+inf`: never).
    pub fn expiry(&self, hash: u64, now: f64) -> Option<f64> {
        let _g = self.enter();
        let inner = self.inner.read().unwrap();
        match inner.probe(hash, now).0 {
            Some(s) if now < inner.expiry(s) => Some(inner.expiry(s)),
            _ => None,
        }
    }

    fn grow_if_needed(&self, t: f64) {
        if self.shared {
            return;
        }
        {
            let inner = self.inner.read().unwrap();
            if (inner.used().load(Ordering::Relaxed) as usize) * 4 < inner.cap * 3 {
                return;
            }
        }
        let mut inner = self.inner.write().unwrap();
        let live: Vec<usize> = (0..inner.cap).filter(|&s| inner.slot(s, 0).load(Ordering::Relaxed) != 0 && t < inner.expiry(s)).collect();
        let cap = (live.len() * 2).next_power_of_two().max(MIN_CAP);
        let fresh = Inner { map: Mapping::anonymous(cap, SLOT_WORDS, MAGIC, inner.seed), cap, seed: inner.seed };
        for s in live {
            let h = inner.slot(s, 0).load(Ordering::Relaxed);
            let (_, _, empty) = fresh.probe(h, t);
            let d = fresh.place(h, None, empty);
            for w in 0..SLOT_WORDS {
                fresh.slot(d, w).store(inner.slot(s, w).load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        *inner = fresh;
    }

    fn expiry_for(ttl: Option<f64>, now: f64) -> f64 {
        match ttl {
            Some(t) => now + t,
            None => f64::INFINITY,
        }
    }

    /// `set_local(entry, value, ttl)`.
    pub fn set(&self, hash: u64, v: Val, ttl: Option<f64>, now: f64) {
        let _g = self.enter();
        self.grow_if_needed(now);
        let inner = self.inner.read().unwrap();
        let (found, reuse, empty) = inner.probe(hash, now);
        match found {
            Some(s) if now < inner.expiry(s) => inner.write(s, hash, v, None),
            Some(s) => inner.write(s, hash, v, Some(Self::expiry_for(ttl, now))),
            None => {
                let s = inner.place(hash, reuse, empty);
                inner.write(s, hash, v, Some(Self::expiry_for(ttl, now)));
            }
        }
    }

    /// The memory increment: the new value, `None` when the live entry is not a
    /// number (left unchanged), `Some(Foreign)` when it is held elsewhere.
    pub fn incr(&self, hash: u64, amount: Num, ttl: Option<f64>, now: f64) -> Option<Val> {
        let _g = self.enter();
        let cur = self.get(hash, now);
        let new = match (cur, amount) {
            (None, a) => Val::from(a),
            (Some(Val::Int(a)), Num::Int(b)) => Val::Int(a.wrapping_add(b)),
            (Some(Val::Int(a)), Num::Float(b)) => Val::Float(a as f64 + b),
            (Some(Val::Float(a)), Num::Int(b)) => Val::Float(a + b as f64),
            (Some(Val::Float(a)), Num::Float(b)) => Val::Float(a + b),
            (Some(Val::Text(_)), _) => return None,
            (Some(Val::Foreign), _) => return Some(Val::Foreign),
        };
        self.set(hash, new, ttl, now);
        Some(new)
    }

    pub fn shared(&self) -> bool {
        self.shared
    }
    pub fn capacity(&self) -> usize {
        self.inner.read().unwrap().cap
    }
    /// Slots ever occupied (live or expired-awaiting-reuse).
    pub fn used(&self) -> usize {
        self.inner.read().unwrap().used().load(Ordering::Relaxed) as usize
    }
    /// Live entries (a scan).
    pub fn live(&self, now: f64) -> usize {
        let inner = self.inner.read().unwrap();
        (0..inner.cap).filter(|&s| inner.slot(s, 0).load(Ordering::Relaxed) != 0 && now < inner.expiry(s)).count()
    }
    pub fn nbytes(&self) -> usize {
        (HEADER_WORDS + self.capacity() * SLOT_WORDS) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_expiry_semantics() {
        let t = Store110::new();
        let h = t.hash("api_key", "k", "requests");
        assert_eq!(t.get(h, 100.0), None);
        t.set(h, Val::Int(5), Some(10.0), 100.0);
        assert_eq!(t.get(h, 109.9), Some(Val::Int(5)));
        assert_eq!(t.get(h, 110.0), None);
        // live entry keeps its expiry on overwrite
        t.set(h, Val::Int(1), Some(10.0), 200.0);
        t.set(h, Val::Int(2), Some(100.0), 205.0);
        assert_eq!(t.get(h, 209.0), Some(Val::Int(2)));
        assert_eq!(t.get(h, 211.0), None);
        // never-expiring entry stays never
        t.set(h, Val::Int(1), None, 300.0);
        t.set(h, Val::Int(3), Some(1.0), 301.0);
        assert_eq!(t.get(h, 1e9), Some(Val::Int(3)));
        // ttl <= 0 on a fresh entry: expired at once
        let g = t.hash("api_key", "k", "tokens");
        t.set(g, Val::Int(1), Some(0.0), 5.0);
        assert_eq!(t.get(g, 5.0), None);
    }

    #[test]
    fn incr_semantics() {
        let t = Store110::new();
        let h = t.hash("user", "u", "tokens");
        assert_eq!(t.incr(h, Num::Int(10), Some(60.0), 0.0), Some(Val::Int(10)));
        assert_eq!(t.incr(h, Num::Float(2.5), Some(1.0), 1.0), Some(Val::Float(12.5)));
        assert_eq!(t.incr(h, Num::Int(-20), None, 2.0), Some(Val::Float(-7.5)));
        assert_eq!(t.get(h, 59.9), Some(Val::Float(-7.5)));
        assert_eq!(t.get(h, 60.0), None);
        t.set(h, Val::Int(i64::MAX), Some(60.0), 100.0);
        assert_eq!(t.incr(h, Num::Int(1), Some(60.0), 100.0), Some(Val::Int(i64::MIN)));
        t.set(h, Val::Text(17), Some(60.0), 300.0);
        assert_eq!(t.incr(h, Num::Int(1), Some(60.0), 300.0), None);
        assert_eq!(t.get(h, 300.0), Some(Val::Text(17)));
    }

    #[test]
    fn grows_and_reuses_expired_slots() {
        let t = Store110::new();
        for i in 0..10_000 {
            let h = t.hash("api_key", &format!("k{i}"), "requests");
            t.set(h, Val::Int(i), Some(10.0), 0.0);
        }
        assert!(t.capacity() >= 10_000);
        for i in 0..10_000 {
            let h = t.hash("api_key", &format!("k{i}"), "requests");
            assert_eq!(t.get(h, 1.0), Some(Val::Int(i)));
        }
        let dir = std::env::temp_dir().join(format!("flrl110-test-{}", std::process::id()));
        let path = dir.to_str().unwrap().to_string();
        let _ = std::fs::remove_file(&path);
        let s = Store110::open(&path, 1024).unwrap();
        for round in 0..5 {
            for i in 0..900 {
                let h = s.hash("api_key", &format!("r{round}-{i}"), "requests");
                s.set(h, Val::Int(i), Some(1.0), round as f64 * 10.0);
            }
        }
        assert_eq!(s.capacity(), 1024);
        assert!(s.used() <= 1024);
        assert_eq!(s.live(40.5), 900);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn eight_threads_exact() {
        let t = std::sync::Arc::new(Store110::new());
        let hs: Vec<u64> = (0..4).map(|i| t.hash("api_key", &format!("k{i}"), "requests")).collect();
        let mut js = Vec::new();
        for _ in 0..8 {
            let t = t.clone();
            let hs = hs.clone();
            js.push(std::thread::spawn(move || {
                for i in 0..5000 {
                    // a read-modify-write section under the table lock
                    t.lock();
                    let h = hs[i % 4];
                    let v = match t.get(h, 1.0) {
                        Some(Val::Int(v)) => v,
                        _ => 0,
                    };
                    t.set(h, Val::Int(v + 1), Some(60.0), 1.0);
                    t.unlock();
                    t.incr(hs[(i + 1) % 4], Num::Int(1), Some(60.0), 1.0);
                }
            }));
        }
        for j in js {
            j.join().unwrap();
        }
        let total: i64 = hs.iter().map(|&h| if let Some(Val::Int(v)) = t.get(h, 2.0) { v } else { 0 }).sum();
        assert_eq!(total, 8 * 5000 * 2);
    }
}
