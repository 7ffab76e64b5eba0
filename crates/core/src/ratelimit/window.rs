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

// -- LiteLLM's v1 pre-call check, whole (the fused path) ---------------------------

/// `sys.maxsize` on 64-bit CPython: LiteLLM's value for an unset limit.
pub const MAXSIZE: i64 = i64::MAX;

/// LiteLLM's `rate_limit_type` of a v1 scope (the model-per-key scope is not
/// part of the fused path: its limits come from LiteLLM's helpers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V1Kind {
    Key,
    User,
    Team,
    Customer,
}

impl V1Kind {
    pub const ALL: [V1Kind; 4] = [V1Kind::Key, V1Kind::User, V1Kind::Team, V1Kind::Customer];
    pub fn name(self) -> &'static str {
        match self {
            V1Kind::Key => "key",
            V1Kind::User => "user",
            V1Kind::Team => "team",
            V1Kind::Customer => "customer",
        }
    }
}

/// The fields of a `UserAPIKeyAuth` LiteLLM's v1 pre-call hook reads, for a
/// request with no per-model limit for the key and no global limit. `None`
/// limits are unset (`sys.maxsize`).
#[derive(Clone, Copy, Debug, Default)]
pub struct V1Request<'a> {
    /// The (logged) api key: `None` = no key scope.
    pub api_key: Option<&'a str>,
    /// `(max_parallel_requests, tpm_limit, rpm_limit)` of the key.
    pub key_limits: [Option<i64>; 3],
    /// `user_id` (`None`: no scope; `""` is a scope, as in LiteLLM) and its `(tpm, rpm)`.
    pub user_id: Option<&'a str>,
    pub user_limits: [Option<i64>; 2],
    pub team_id: Option<&'a str>,
    pub team_limits: [Option<i64>; 2],
    /// `end_user_id`: a scope only when truthy (LiteLLM's `if end_user_id:`).
    pub end_user_id: Option<&'a str>,
    pub end_user_limits: [Option<i64>; 2],
}

/// A refusal: the scope LiteLLM's `check_key_in_limits` raises for, with the
/// values it is called with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V1Refused<'a> {
    pub kind: V1Kind,
    pub scope: &'a str,
    pub max_parallel: i64,
    pub tpm_limit: i64,
    pub rpm_limit: i64,
    pub current: Option<Counts>,
}

impl<'a> V1Request<'a> {
    /// The scopes in LiteLLM's order: key, user, team, end user, as
    /// `(kind, scope string, max_parallel, tpm, rpm)`.
    pub fn scopes(&self) -> ([(V1Kind, &'a str, i64, i64, i64); 4], usize) {
        let m = |x: Option<i64>| x.unwrap_or(MAXSIZE);
        let mut out = [(V1Kind::Key, "", 0, 0, 0); 4];
        let mut n = 0;
        let mut push = |k: V1Kind, s: &'a str, p: i64, t: i64, r: i64| {
            out[n] = (k, s, p, t, r);
            n += 1;
        };
        if let Some(k) = self.api_key {
            let [p, t, r] = self.key_limits;
            push(V1Kind::Key, k, m(p), m(t), m(r));
        }
        if let Some(u) = self.user_id {
            push(V1Kind::User, u, MAXSIZE, m(self.user_limits[0]), m(self.user_limits[1]));
        }
        if let Some(u) = self.team_id {
            push(V1Kind::Team, u, MAXSIZE, m(self.team_limits[0]), m(self.team_limits[1]));
        }
        if let Some(u) = self.end_user_id.filter(|s| !s.is_empty()) {
            push(V1Kind::Customer, u, MAXSIZE, m(self.end_user_limits[0]), m(self.end_user_limits[1]));
        }
        (out, n)
    }
}

impl WindowTable {
    /// LiteLLM's v1 `async_pre_call_hook` for `r` in local minute `window`:
    /// every scope read once, checked in order, admitted scopes counted, the
    /// first refusal returned (earlier scopes stay counted, as in LiteLLM).
    pub fn check_v1<'a>(&self, window: u64, r: &V1Request<'a>) -> Result<Option<V1Refused<'a>>, Error> {
        let (scopes, n) = r.scopes();
        if n == 0 {
            return Ok(None);
        }
        let seed = self.inner.read().unwrap().slots.seed();
        let mut checks = [Check { hash: 0, max_parallel: 0, tpm_limit: 0, rpm_limit: 0 }; 4];
        for (c, s) in checks.iter_mut().zip(&scopes[..n]) {
            *c = Check { hash: hash_with(seed, s.1.as_bytes()), max_parallel: s.2, tpm_limit: s.3, rpm_limit: s.4 };
        }
        match self.admit(window, &checks[..n])? {
            Admit::Ok(_) => Ok(None),
            Admit::Refused { index, current, .. } => {
                let s = scopes[index];
                Ok(Some(V1Refused { kind: s.0, scope: s.1, max_parallel: s.2, tpm_limit: s.3, rpm_limit: s.4, current }))
            }
        }
    }
}

/// The identity of LiteLLM's `"%Y-%m-%d-%H-%M"` minute key for the local time
/// of Unix second `secs`: `date.toordinal() * 1440 + hour * 60 + minute`.
/// `datetime.now()` is `localtime_r` of the floored second of the system clock
/// (CPython: `_PyTime_localtime`), and so is this. None if `localtime_r` fails.
pub fn local_minute(secs: i64) -> Option<u64> {
    let t: libc::time_t = secs.try_into().ok()?;
    // SAFETY: plain C call writing into our zeroed `tm`.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    let year = tm.tm_year as i64 + 1900;
    if !(1..=9999).contains(&year) {
        return None;
    }
    let y = year - 1;
    let ordinal = y * 365 + y / 4 - y / 100 + y / 400 + tm.tm_yday as i64 + 1;
    Some((ordinal * 1440 + tm.tm_hour as i64 * 60 + tm.tm_min as i64) as u64)
}

/// The floored Unix second of the system clock (CPython's `datetime.now()` rounding).
pub fn system_second() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => {
            let d = e.duration();
            -(d.as_secs() as i64) - if d.subsec_nanos() > 0 { 1 } else { 0 }
        }
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
    fn check_v1_scopes_order_and_refusal() {
        let t = WindowTable::new();
        let r = V1Request {
            api_key: Some("sk-a"),
            key_limits: [None, None, Some(2)],
            user_id: Some("u"),
            user_limits: [None, Some(1)],
            end_user_id: Some(""),
            ..Default::default()
        };
        assert_eq!(r.scopes().1, 2); // "" end user: no scope
        assert_eq!(t.check_v1(5, &r).unwrap(), None);
        // user refuses on the second call; the key was counted first
        let got = t.check_v1(5, &r).unwrap().unwrap();
        assert_eq!(got.kind, V1Kind::User);
        assert_eq!((got.scope, got.max_parallel, got.tpm_limit, got.rpm_limit), ("u", MAXSIZE, MAXSIZE, 1));
        assert_eq!(got.current, Some(Counts { requests: 1, tpm: 0, rpm: 1 }));
        assert_eq!(t.get(5, t.hash("sk-a")), Some(Counts { requests: 2, tpm: 0, rpm: 2 }));
        // no scope at all: admitted, nothing counted
        assert_eq!(t.check_v1(5, &V1Request::default()).unwrap(), None);
    }

    #[test]
    fn local_minute_in_utc() {
        // TZ is process-wide: this test only checks the calendar arithmetic on a
        // known UTC instant when the process runs in UTC.
        if std::env::var("TZ").map(|v| v == "UTC").unwrap_or(false) {
            // 2026-01-01 00:00:00 UTC: ordinal 739617
            assert_eq!(local_minute(1_767_225_600), Some(739_617 * 1440));
            assert_eq!(local_minute(1_767_225_659), Some(739_617 * 1440));
            assert_eq!(local_minute(1_767_225_660), Some(739_617 * 1440 + 1));
        }
        assert!(local_minute(1_767_225_600).is_some());
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
