//! A compact, lock-free per-minute counter table for LiteLLM's v1 proxy limiter
//! (`_PROXY_MaxParallelRequestsHandler`, `litellm/proxy/hooks/parallel_request_limiter.py`).
//!
//! Stock LiteLLM keeps, per scope string `S` (an api key, `api_key::model`, a user,
//! team or end-user id) and local wall-clock minute `M`, a dict
//! `{"current_requests", "current_tpm", "current_rpm"}` under the cache key
//! `f"{S}::{M}::request_count"`. Only the current minute's entry is ever read, so
//! one fixed-size entry per scope string holds everything a decision needs:
//!
//! ```text
//! word 0  key hash (64-bit keyed SipHash-2-4 of S, seed per table; 0 = empty slot)
//! word 1  window (24 bits) | current_requests (20 bits) | current_rpm (20 bits)
//! word 2  window (24 bits) | current_tpm (40 bits)
//! ```
//!
//! 24 bytes per slot; the table keeps its load between 0.72 and 0.9, so
//! 26.7-33.3 bytes per live key. An entry whose word-1 window is not the
//! current minute is "missing" (stock: a different cache key); word 2 with an
//! old window reads as 0 tokens. The string itself is never needed back: the
//! limiter only looks counters up by the string it already has, and the only
//! reader of key lists in LiteLLM is a debug endpoint.
//!
//! Updates are compare-and-swap loops on word 1 (admission: check and
//! increment in-flight and rpm together) and word 2 (tokens), so counts are
//! exact under threads and, when the table lives in a shared memory-mapped
//! file, under processes; no lock is ever held across an update, so a process
//! dying mid-update leaves nothing locked. Slots are claimed with a CAS from 0,
//! so two writers of one key always meet in one slot.
//!
//! Reclaim: the heap table rebuilds itself, keeping only current-minute
//! entries, whenever it reaches 90% load (and grows only if the live entries
//! need it). The shared-memory table has a fixed capacity and is not
//! reclaimed (a slot belongs to its key for the file's lifetime); see
//! `SharedTable`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use super::mapped::{hash_with, random_seed, Mapping, HEADER_WORDS};

pub const WIN_BITS: u32 = 24;
const WIN_SHIFT: u32 = 40;
const WIN_MOD: u64 = (1 << WIN_BITS) - 1;
const FIELD_BITS: u32 = 20;
const FIELD_MAX: u64 = (1 << FIELD_BITS) - 1;
const TPM_MAX: u64 = (1 << WIN_SHIFT) - 1;
pub const SLOT_WORDS: usize = 3;
pub const SLOT_BYTES: usize = SLOT_WORDS * 8;
const MAGIC: u64 = 0x464c_524c_5631_0001; // "FLRLV1" + layout version
const MIN_CAP: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counts {
    pub requests: u64,
    pub tpm: u64,
    pub rpm: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A counter would not fit its field (> 1,048,575 requests or in-flight per
    /// minute per scope, > 2^40-1 tokens): the caller falls back to LiteLLM.
    Overflow,
    /// The fixed-capacity shared table has no free slot.
    Full,
    Io(String),
}

/// One scope of an admission check.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    pub hash: u64,
    pub max_parallel: i64,
    pub tpm_limit: i64,
    pub rpm_limit: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Every scope admitted; the values written, one per scope.
    Ok(Vec<Counts>),
    /// Scope `index` refused with its current counts (`None`: no entry this
    /// minute). Scopes before it were admitted and written, as in LiteLLM.
    Refused { index: usize, current: Option<Counts>, written: Vec<Counts> },
}

/// One scope of a release (success/failure callback): `requests -= released`
/// (floored at 0), `tpm += tokens`, starting from `default` when there is no
/// entry this minute.
#[derive(Clone, Copy, Debug)]
pub struct Release {
    pub hash: u64,
    pub released: u64,
    pub tokens: u64,
    pub default: Counts,
}

#[inline]
fn win_of(window: u64) -> u64 {
    window % WIN_MOD + 1 // never 0: a zeroed slot is "no entry"
}

#[inline]
fn pack1(w: u64, c: &Counts) -> u64 {
    (w << WIN_SHIFT) | (c.requests << FIELD_BITS) | c.rpm
}

#[inline]
fn pack2(w: u64, tpm: u64) -> u64 {
    (w << WIN_SHIFT) | tpm
}

fn check_fits(c: &Counts) -> Result<(), Error> {
    if c.requests > FIELD_MAX || c.rpm > FIELD_MAX || c.tpm > TPM_MAX {
        Err(Error::Overflow)
    } else {
        Ok(())
    }
}

/// The slot array (header + slots), wherever it lives.
struct Slots {
    ptr: *const AtomicU64,
    cap: usize,
}

unsafe impl Send for Slots {}
unsafe impl Sync for Slots {}

impl Slots {
    #[inline]
    fn word(&self, i: usize) -> &AtomicU64 {
        unsafe { &*self.ptr.add(i) }
    }
    #[inline]
    fn header(&self, i: usize) -> &AtomicU64 {
        self.word(i)
    }
    #[inline]
    fn slot(&self, s: usize, w: usize) -> &AtomicU64 {
        self.word(HEADER_WORDS + s * SLOT_WORDS + w)
    }
    fn seed(&self) -> (u64, u64) {
        (self.header(2).load(Ordering::Relaxed), self.header(3).load(Ordering::Relaxed))
    }
    fn used(&self) -> &AtomicU64 {
        self.header(4)
    }

    /// The slot of `hash`, claiming an empty one when `insert`.
    fn find(&self, hash: u64, insert: bool) -> Result<Option<usize>, Error> {
        let mut s = ((hash as u128 * self.cap as u128) >> 64) as usize;
        for _ in 0..self.cap {
            let k = self.slot(s, 0).load(Ordering::Acquire);
            if k == hash {
                return Ok(Some(s));
            }
            if k == 0 {
                if !insert {
                    return Ok(None);
                }
                match self.slot(s, 0).compare_exchange(0, hash, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        self.used().fetch_add(1, Ordering::Relaxed);
                        return Ok(Some(s));
                    }
                    Err(now) if now == hash => return Ok(Some(s)),
                    Err(_) => {}
                }
            }
            s += 1;
            if s == self.cap {
                s = 0;
            }
        }
        if insert {
            Err(Error::Full)
        } else {
            Ok(None)
        }
    }

    fn read(&self, s: usize, w: u64) -> Option<Counts> {
        self.read_from(s, self.slot(s, 1).load(Ordering::Acquire), w)
    }

    /// Store absolute counts (both words).
    fn store(&self, s: usize, w: u64, c: &Counts) -> Result<(), Error> {
        check_fits(c)?;
        self.slot(s, 2).store(pack2(w, c.tpm), Ordering::Release);
        self.slot(s, 1).store(pack1(w, c), Ordering::Release);
        Ok(())
    }

    fn admit(&self, window: u64, checks: &[Check]) -> Result<Admit, Error> {
        let w = win_of(window);
        let mut written = Vec::with_capacity(checks.len());
        // (hash, value before this call's first write): LiteLLM reads every
        // scope once before writing, so a scope string named twice in one call
        // is checked against that first read, and writes the same value again.
        let mut seen: Vec<(u64, Option<Counts>)> = Vec::with_capacity(checks.len());
        for (i, ck) in checks.iter().enumerate() {
            if let Some(&(_, snap)) = seen.iter().find(|(h, _)| *h == ck.hash) {
                match decide(ck, snap) {
                    Some(new) => {
                        let s = self.find(ck.hash, true)?.unwrap();
                        self.store(s, w, &new)?;
                        written.push(new);
                        continue;
                    }
                    None => return Ok(Admit::Refused { index: i, current: snap, written }),
                }
            }
            let s = self.find(ck.hash, true)?.unwrap();
            loop {
                let a = self.slot(s, 1).load(Ordering::Acquire);
                let cur = self.read_from(s, a, w);
                let new = match decide(ck, cur) {
                    Some(n) => n,
                    None => return Ok(Admit::Refused { index: i, current: cur, written }),
                };
                check_fits(&new)?;
                // tpm is unchanged by an admission: word 2 stays as it is (an
                // old window there already reads as 0).
                if self
                    .slot(s, 1)
                    .compare_exchange_weak(a, pack1(w, &new), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    seen.push((ck.hash, cur));
                    written.push(new);
                    break;
                }
            }
        }
        Ok(Admit::Ok(written))
    }

    /// The counts of slot `s` in window `w`, given its first word `a` as already loaded.
    #[inline]
    fn read_from(&self, s: usize, a: u64, w: u64) -> Option<Counts> {
        if a >> WIN_SHIFT != w {
            return None;
        }
        let b = self.slot(s, 2).load(Ordering::Acquire);
        Some(Counts {
            requests: (a >> FIELD_BITS) & FIELD_MAX,
            rpm: a & FIELD_MAX,
            tpm: if b >> WIN_SHIFT == w { b & TPM_MAX } else { 0 },
        })
    }

    fn release(&self, window: u64, ops: &[Release]) -> Result<(), Error> {
        let w = win_of(window);
        let mut seen: Vec<(u64, Option<Counts>)> = Vec::with_capacity(ops.len());
        for op in ops {
            let s = self.find(op.hash, true)?.unwrap();
            if let Some(&(_, snap)) = seen.iter().find(|(h, _)| *h == op.hash) {
                // LiteLLM computes every scope from one read and writes them
                // all at the end: the last write of a repeated scope wins.
                let new = released(op, snap)?;
                self.store(s, w, &new)?;
                continue;
            }
            // Word 1: in-flight down, rpm kept (or the default's when missing).
            let mut was: Option<Counts>;
            loop {
                let a = self.slot(s, 1).load(Ordering::Acquire);
                was = self.read_from(s, a, w);
                let base = was.unwrap_or(op.default);
                let new = Counts { requests: base.requests.saturating_sub(op.released), tpm: 0, rpm: base.rpm };
                check_fits(&new)?;
                if was.is_none() {
                    // New entry this minute: publish its tokens before word 1.
                    let tpm = op.default.tpm.checked_add(op.tokens).ok_or(Error::Overflow)?;
                    if tpm > TPM_MAX {
                        return Err(Error::Overflow);
                    }
                    if self
                        .slot(s, 1)
                        .compare_exchange_weak(a, pack1(w, &new), Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        self.add_tokens(s, w, tpm, true)?;
                        break;
                    }
                } else if self
                    .slot(s, 1)
                    .compare_exchange_weak(a, pack1(w, &new), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.add_tokens(s, w, op.tokens, false)?;
                    break;
                }
            }
            seen.push((op.hash, was));
        }
        Ok(())
    }

    /// `tpm += delta` for window `w` (an old window counts as 0); `reset`: the
    /// entry is new this minute, so an old value in word 2 is replaced.
    fn add_tokens(&self, s: usize, w: u64, delta: u64, reset: bool) -> Result<(), Error> {
        loop {
            let b = self.slot(s, 2).load(Ordering::Acquire);
            let base = if b >> WIN_SHIFT == w && !reset { b & TPM_MAX } else { 0 };
            let t = base.checked_add(delta).ok_or(Error::Overflow)?;
            if t > TPM_MAX {
                return Err(Error::Overflow);
            }
            if self
                .slot(s, 2)
                .compare_exchange_weak(b, pack2(w, t), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Ok(());
            }
        }
    }

    fn live(&self, w: u64) -> usize {
        (0..self.cap)
            .filter(|&s| self.slot(s, 0).load(Ordering::Relaxed) != 0 && self.slot(s, 1).load(Ordering::Relaxed) >> WIN_SHIFT == w)
            .count()
    }
}

fn released(op: &Release, snap: Option<Counts>) -> Result<Counts, Error> {
    let base = snap.unwrap_or(op.default);
    let c = Counts {
        requests: base.requests.saturating_sub(op.released),
        tpm: base.tpm.checked_add(op.tokens).ok_or(Error::Overflow)?,
        rpm: base.rpm,
    };
    check_fits(&c)?;
    Ok(c)
}

/// LiteLLM's `check_key_in_limits`: the new value, or `None` for a 429.
#[inline]
fn decide(ck: &Check, cur: Option<Counts>) -> Option<Counts> {
    match cur {
        None => {
            if ck.max_parallel == 0 || ck.tpm_limit == 0 || ck.rpm_limit == 0 {
                None
            } else {
                Some(Counts { requests: 1, tpm: 0, rpm: 1 })
            }
        }
        Some(c) => {
            if (c.requests as i64) < ck.max_parallel && (c.tpm as i64) < ck.tpm_limit && (c.rpm as i64) < ck.rpm_limit {
                Some(Counts { requests: c.requests + 1, tpm: c.tpm, rpm: c.rpm + 1 })
            } else {
                None
            }
        }
    }
}

struct Inner {
    slots: Slots,
    _map: Mapping,
}

fn heap_inner(cap: usize, seed: (u64, u64)) -> Inner {
    let map = Mapping::anonymous(cap, SLOT_WORDS, MAGIC, seed);
    Inner { slots: Slots { ptr: map.words(), cap }, _map: map }
}

/// The limiter's counter table. `new` keeps it in this process's heap (it
/// grows and reclaims); `open_shared` maps a file shared by every process that
/// opens the same path (fixed capacity).
pub struct WindowTable {
    inner: RwLock<Inner>,
    shared: bool,
}

impl WindowTable {
    pub fn new() -> Self {
        WindowTable { inner: RwLock::new(heap_inner(MIN_CAP, random_seed())), shared: false }
    }

    /// Map (creating it if needed) a table of `cap` slots in the file at `path`.
    /// The first opener sizes the file and writes the header under an `flock`
    /// held only during initialisation; later openers use the capacity in the
    /// header. Updates never lock.
    pub fn open_shared(path: &str, cap: usize) -> Result<Self, Error> {
        let (map, cap) = Mapping::open_shared(path, cap, MIN_CAP, SLOT_WORDS, MAGIC).map_err(Error::Io)?;
        Ok(WindowTable { inner: RwLock::new(Inner { slots: Slots { ptr: map.words(), cap }, _map: map }), shared: true })
    }

    pub fn is_shared(&self) -> bool {
        self.shared
    }

    pub fn hash(&self, key: &str) -> u64 {
        hash_with(self.inner.read().unwrap().slots.seed(), key.as_bytes())
    }

    pub fn hashes(&self, keys: &[&str]) -> Vec<u64> {
        let seed = self.inner.read().unwrap().slots.seed();
        keys.iter().map(|k| hash_with(seed, k.as_bytes())).collect()
    }

    /// Make room for `n` more keys in the heap table (rebuild at 90% load,
    /// keeping only entries of `window`).
    fn reserve(&self, window: u64, n: usize) {
        if self.shared {
            return;
        }
        {
            let g = self.inner.read().unwrap();
            let used = g.slots.used().load(Ordering::Relaxed) as usize;
            if (used + n) * 10 <= g.slots.cap * 9 {
                return;
            }
        }
        let mut g = self.inner.write().unwrap();
        let w = win_of(window);
        let old = &g.slots;
        let used = old.used().load(Ordering::Relaxed) as usize;
        if (used + n) * 10 <= old.cap * 9 {
            return;
        }
        let live = old.live(w) + n;
        // Load right after a rebuild: 0.72 (then grows back to 0.9).
        let cap = ((live * 100).div_ceil(72)).max(MIN_CAP);
        let new = heap_inner(cap, old.seed());
        for s in 0..old.cap {
            let k = old.slot(s, 0).load(Ordering::Relaxed);
            if k == 0 {
                continue;
            }
            let a = old.slot(s, 1).load(Ordering::Relaxed);
            if a >> WIN_SHIFT != w {
                continue;
            }
            let t = new.slots.find(k, true).unwrap().unwrap();
            new.slots.slot(t, 1).store(a, Ordering::Relaxed);
            new.slots.slot(t, 2).store(old.slot(s, 2).load(Ordering::Relaxed), Ordering::Relaxed);
        }
        *g = new;
    }

    pub fn admit(&self, window: u64, checks: &[Check]) -> Result<Admit, Error> {
        self.reserve(window, checks.len());
        self.inner.read().unwrap().slots.admit(window, checks)
    }

    pub fn release(&self, window: u64, ops: &[Release]) -> Result<(), Error> {
        self.reserve(window, ops.len());
        self.inner.read().unwrap().slots.release(window, ops)
    }

    pub fn get(&self, window: u64, hash: u64) -> Option<Counts> {
        let g = self.inner.read().unwrap();
        let s = g.slots.find(hash, false).ok()??;
        g.slots.read(s, win_of(window))
    }

    /// Slots in the table (capacity).
    pub fn capacity(&self) -> usize {
        self.inner.read().unwrap().slots.cap
    }

    /// Occupied slots.
    pub fn used(&self) -> usize {
        self.inner.read().unwrap().slots.used().load(Ordering::Relaxed) as usize
    }

    /// Exact bytes of the table (header + slots) in the heap or the mapping.
    pub fn bytes(&self) -> usize {
        (HEADER_WORDS + self.capacity() * SLOT_WORDS) * 8
    }

    /// Entries of `window` (live counters).
    pub fn live(&self, window: u64) -> usize {
        self.inner.read().unwrap().slots.live(win_of(window))
    }
}

impl Default for WindowTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ck(t: &WindowTable, k: &str, rpm: i64) -> Check {
        Check { hash: t.hash(k), max_parallel: i64::MAX, tpm_limit: i64::MAX, rpm_limit: rpm }
    }

    #[test]
    fn three_rpm_admits_three_of_six() {
        let t = WindowTable::new();
        let ok = (0..6).filter(|_| matches!(t.admit(10, &[ck(&t, "sk-a", 3)]).unwrap(), Admit::Ok(_))).count();
        assert_eq!(ok, 3);
        assert_eq!(t.get(10, t.hash("sk-a")), Some(Counts { requests: 3, tpm: 0, rpm: 3 }));
        // next minute: fresh window
        assert!(matches!(t.admit(11, &[ck(&t, "sk-a", 3)]).unwrap(), Admit::Ok(_)));
    }

    #[test]
    fn zero_limit_without_entry_refuses_with_none() {
        let t = WindowTable::new();
        assert_eq!(t.admit(1, &[ck(&t, "k", 0)]).unwrap(), Admit::Refused { index: 0, current: None, written: vec![] });
        let r = Release { hash: t.hash("k"), released: 1, tokens: 5, default: Counts { requests: 1, tpm: 0, rpm: 0 } };
        t.release(1, &[r]).unwrap();
        assert_eq!(t.get(1, t.hash("k")), Some(Counts { requests: 0, tpm: 5, rpm: 0 }));
        assert_eq!(
            t.admit(1, &[ck(&t, "k", 0)]).unwrap(),
            Admit::Refused { index: 0, current: Some(Counts { requests: 0, tpm: 5, rpm: 0 }), written: vec![] }
        );
    }

    #[test]
    fn duplicate_scope_uses_first_read() {
        let t = WindowTable::new();
        let a = ck(&t, "same", 100);
        assert_eq!(t.admit(1, &[a, a]).unwrap(), Admit::Ok(vec![Counts { requests: 1, tpm: 0, rpm: 1 }; 2]));
        assert_eq!(t.get(1, a.hash).unwrap().rpm, 1);
    }

    #[test]
    fn grows_and_reclaims_old_windows() {
        let t = WindowTable::new();
        for i in 0..10_000 {
            t.admit(1, &[ck(&t, &format!("k{i}"), 5)]).unwrap();
        }
        assert_eq!(t.live(1), 10_000);
        let per_key = t.bytes() as f64 / 10_000.0;
        assert!(per_key <= 38.0, "{per_key}");
        for i in 0..100 {
            t.admit(2, &[ck(&t, &format!("n{i}"), 5)]).unwrap();
        }
        for i in 0..10_000 {
            t.admit(2, &[ck(&t, &format!("m{i}"), 5)]).unwrap();
        }
        assert_eq!(t.live(2), 10_100);
        assert!(t.capacity() < 20_000, "{}", t.capacity());
    }

    #[test]
    fn eight_threads_exact() {
        let t = Arc::new(WindowTable::new());
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    let mut ok = 0;
                    for i in 0..20_000 {
                        let key = format!("k{}", i % 50);
                        if let Admit::Ok(_) = t.admit(7, &[ck(&t, &key, 1000)]).unwrap() {
                            ok += 1;
                            let r = Release { hash: t.hash(&key), released: 1, tokens: 3, default: Counts { requests: 1, tpm: 0, rpm: 0 } };
                            t.release(7, &[r]).unwrap();
                        }
                    }
                    ok
                })
            })
            .collect();
        let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 50 * 1000);
        for i in 0..50 {
            let c = t.get(7, t.hash(&format!("k{i}"))).unwrap();
            assert_eq!(c, Counts { requests: 0, tpm: 3000, rpm: 1000 });
        }
    }

    #[test]
    fn shared_file_between_two_mappings() {
        let p = std::env::temp_dir().join(format!("flrl-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let a = WindowTable::open_shared(p.to_str().unwrap(), 1024).unwrap();
        let b = WindowTable::open_shared(p.to_str().unwrap(), 99).unwrap();
        assert_eq!(b.capacity(), 1024);
        assert_eq!(a.hash("x"), b.hash("x"));
        let ok = (0..10)
            .filter(|i| {
                let t = if i % 2 == 0 { &a } else { &b };
                matches!(t.admit(3, &[ck(t, "x", 4)]).unwrap(), Admit::Ok(_))
            })
            .count();
        assert_eq!(ok, 4);
        std::fs::remove_file(&p).unwrap();
    }
}
