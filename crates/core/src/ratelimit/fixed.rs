//! The counter table behind LiteLLM's v3 proxy limiter
//! (`_PROXY_MaxParallelRequestsHandler_v3`, `litellm/proxy/hooks/parallel_request_limiter_v3.py`,
//! LiteLLM 1.83.x), what the proxy registers as its `parallel_request_limiter` hook.
//!
//! Stock v3 (no Redis) keeps, per descriptor string `D = "{key}:{value}"`, four
//! entries in `InMemoryCache`: `{D}:window` (the window's start second),
//! `{D}:requests`, `{D}:tokens` and `{D}:max_parallel_requests` (integers), each
//! with its own expiry time (`time.time() + ttl`, set only when the key has no
//! live expiry, so an overwrite keeps the old one). The decisions depend on those
//! expiry times (a window key can expire before its window ends, a token counter
//! created by a success callback lives for the cache's default TTL and is
//! carried into the next window), so every entry keeps its exact value and its
//! exact `f64` expiry:
//!
//! ```text
//! word 0      hash of D (64-bit keyed SipHash-2-4, per-table seed; 0 = empty slot)
//! word 1      slot lock (0 = free, else the owner's pid)
//! words 2..9  4 x (value i64, expiry f64 bits; ABSENT = no entry)
//! ```
//!
//! 80 bytes per descriptor, no string stored: the limiter only looks entries up
//! by a descriptor it already holds. Expiry follows `InMemoryCache` exactly: a
//! read sees an entry while `now <= expiry`; a write replaces the expiry when
//! there is none or `expiry <= now` (its `evict_cache` runs first and drops
//! entries with `expiry <= now`).
//!
//! Concurrency: each slot is updated under its own lock word (a CAS from 0 to the
//! owner's pid); a waiter that finds the owner process dead (`kill(pid, 0)` =
//! ESRCH) takes the lock over, so a worker dying mid-update never blocks the
//! others. New descriptors are placed under a table-wide insert lock (same
//! rule), which may reuse a slot whose four entries have all expired, so the
//! fixed-capacity shared table reclaims idle descriptors. The heap table also
//! grows (rebuilding without expired slots) at 90% load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use super::mapped::{hash_with, random_seed, Mapping, HEADER_WORDS};

pub const SLOT_WORDS: usize = 10;
pub const SLOT_BYTES: usize = SLOT_WORDS * 8;
const MAGIC: u64 = 0x464c_524c_5633_0001; // "FLRLV3" + layout version
const MIN_CAP: usize = 64;
const ABSENT: u64 = u64::MAX;

/// Entry indices within a slot.
pub const WINDOW: usize = 0;
pub const REQUESTS: usize = 1;
pub const TOKENS: usize = 2;
pub const MAX_PARALLEL: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A value left the range this table handles: the caller falls back to LiteLLM.
    Overflow,
    /// The fixed-capacity shared table has no free slot.
    Full,
    Io(String),
}

/// One descriptor of a check: limits for requests, tokens, max_parallel_requests
/// (`None`: not set, that counter is not touched).
#[derive(Clone, Copy, Debug)]
pub struct Desc {
    pub hash: u64,
    pub limits: [Option<i64>; 3],
}

/// One entry of LiteLLM's `RateLimitResponse.statuses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Index of the descriptor in the call.
    pub desc: usize,
    /// 0 requests, 1 tokens, 2 max_parallel_requests.
    pub kind: u8,
    pub over: bool,
    pub limit: i64,
    pub remaining: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub over: bool,
    pub statuses: Vec<Status>,
}

/// An increment from a success/failure callback: entry `entry` of descriptor
/// `hash` += `delta` (`InMemoryCache.async_increment`: `(get or 0) + delta`,
/// then a set with the cache's default TTL).
#[derive(Clone, Copy, Debug)]
pub struct Incr {
    pub hash: u64,
    pub entry: usize,
    pub delta: i64,
}

struct Slots {
    ptr: *const AtomicU64,
    cap: usize,
}

unsafe impl Send for Slots {}
unsafe impl Sync for Slots {}

static PID: AtomicU64 = AtomicU64::new(0);
static PID_ATFORK: std::sync::Once = std::sync::Once::new();

extern "C" fn forget_pid() {
    PID.store(0, Ordering::Relaxed);
}

/// This process's id, cached (`getpid` is a system call on every lock
/// otherwise); a `pthread_atfork` child handler clears the cache, so a forked
/// worker takes its own id.
fn pid() -> u64 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    PID_ATFORK.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forget_pid));
    });
    let p = std::process::id() as u64;
    PID.store(p, Ordering::Relaxed);
    p
}

/// The id this process writes into the slot locks it takes (its pid).
pub fn lock_owner_id() -> u64 {
    pid()
}

fn owner_dead(owner: u64) -> bool {
    if owner == pid() || owner == 0 {
        return false;
    }
    unsafe { libc::kill(owner as libc::pid_t, 0) != 0 && *libc::__errno_location() == libc::ESRCH }
}

fn lock_word(w: &AtomicU64) {
    let me = pid();
    let mut spins: u32 = 0;
    loop {
        let cur = w.load(Ordering::Relaxed);
        if cur == 0 {
            if w.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return;
            }
        } else {
            spins += 1;
            if spins % 1024 == 0 {
                if owner_dead(cur) && w.compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return;
                }
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

fn unlock_word(w: &AtomicU64) {
    w.store(0, Ordering::Release);
}

/// A locked slot; entry reads/writes follow `InMemoryCache`.
struct Guard<'a> {
    s: &'a Slots,
    i: usize,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        unlock_word(self.s.slot(self.i, 1));
    }
}

impl Guard<'_> {
    fn val(&self, e: usize) -> &AtomicU64 {
        self.s.slot(self.i, 2 + 2 * e)
    }
    fn exp(&self, e: usize) -> &AtomicU64 {
        self.s.slot(self.i, 3 + 2 * e)
    }
    /// `get_cache`: the value, or None when absent or expired (then removed).
    fn get(&self, e: usize, now: f64) -> Option<i64> {
        let x = self.exp(e).load(Ordering::Relaxed);
        if x == ABSENT {
            return None;
        }
        if now > f64::from_bits(x) {
            self.exp(e).store(ABSENT, Ordering::Relaxed);
            return None;
        }
        Some(self.val(e).load(Ordering::Relaxed) as i64)
    }
    /// `set_cache(key, value, ttl=ttl)`.
    fn set(&self, e: usize, value: i64, ttl: f64, now: f64) {
        let x = self.exp(e).load(Ordering::Relaxed);
        if x == ABSENT || f64::from_bits(x) <= now {
            self.exp(e).store((now + ttl).to_bits(), Ordering::Relaxed);
        }
        self.val(e).store(value as u64, Ordering::Relaxed);
    }
    fn all_expired(&self, now: f64) -> bool {
        (0..4).all(|e| {
            let x = self.exp(e).load(Ordering::Relaxed);
            x == ABSENT || now > f64::from_bits(x)
        })
    }
    fn clear(&self) {
        for e in 0..4 {
            self.exp(e).store(ABSENT, Ordering::Relaxed);
            self.val(e).store(0, Ordering::Relaxed);
        }
    }
}

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
    fn insert_lock(&self) -> &AtomicU64 {
        self.header(5)
    }
    fn start(&self, hash: u64) -> usize {
        ((hash as u128 * self.cap as u128) >> 64) as usize
    }

    /// The slot holding `hash`, if any (lock-free probe).
    fn lookup(&self, hash: u64) -> Option<usize> {
        let mut s = self.start(hash);
        for _ in 0..self.cap {
            let k = self.slot(s, 0).load(Ordering::Acquire);
            if k == hash {
                return Some(s);
            }
            if k == 0 {
                return None;
            }
            s += 1;
            if s == self.cap {
                s = 0;
            }
        }
        None
    }

    fn lock(&self, s: usize) -> Guard<'_> {
        lock_word(self.slot(s, 1));
        Guard { s: self, i: s }
    }

    /// The locked slot of `hash`; when `insert` and it has none, place it under
    /// the insert lock (reusing the first fully expired slot of its probe chain).
    fn locked(&self, hash: u64, insert: bool, now: f64) -> Result<Option<Guard<'_>>, Error> {
        loop {
            if let Some(s) = self.lookup(hash) {
                let g = self.lock(s);
                if self.slot(s, 0).load(Ordering::Acquire) == hash {
                    return Ok(Some(g));
                }
                continue; // reused for another descriptor meanwhile: probe again
            }
            if !insert {
                return Ok(None);
            }
            lock_word(self.insert_lock());
            let r = self.place(hash, now);
            unlock_word(self.insert_lock());
            match r {
                Ok(Some(g)) => return Ok(Some(g)),
                Ok(None) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn place(&self, hash: u64, now: f64) -> Result<Option<Guard<'_>>, Error> {
        // Inserts are serialised by the insert lock: if `hash` is not on its
        // probe chain now, it is nowhere, and it goes to the first slot of the
        // chain that is empty or whose entries have all expired.
        if self.lookup(hash).is_some() {
            return Ok(None);
        }
        let mut s = self.start(hash);
        for _ in 0..self.cap {
            let k = self.slot(s, 0).load(Ordering::Acquire);
            let g = self.lock(s);
            if k == 0 || g.all_expired(now) {
                if k == 0 {
                    self.used().fetch_add(1, Ordering::Relaxed);
                }
                g.clear();
                self.slot(s, 0).store(hash, Ordering::Release);
                return Ok(Some(g));
            }
            drop(g);
            s += 1;
            if s == self.cap {
                s = 0;
            }
        }
        Err(Error::Full)
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

/// The v3 limiter's table: in this process (grows) or in a shared file (fixed capacity).
pub struct FixedWindowTable {
    inner: RwLock<Inner>,
    shared: bool,
}

impl Default for FixedWindowTable {
    fn default() -> Self {
        Self::new()
    }
}

impl FixedWindowTable {
    pub fn new() -> Self {
        FixedWindowTable { inner: RwLock::new(heap_inner(MIN_CAP, random_seed())), shared: false }
    }

    /// Map (creating it if needed) a table of `cap` slots in the file at `path`
    /// (see `Mapping::open_shared`). A fresh file's entries are zero: they are
    /// marked absent (expiry words) lazily instead -- see `Guard::clear` on placement.
    pub fn open_shared(path: &str, cap: usize) -> Result<Self, Error> {
        let (map, cap) = Mapping::open_shared(path, cap, MIN_CAP, SLOT_WORDS, MAGIC).map_err(Error::Io)?;
        Ok(FixedWindowTable { inner: RwLock::new(Inner { slots: Slots { ptr: map.words(), cap }, _map: map }), shared: true })
    }

    pub fn is_shared(&self) -> bool {
        self.shared
    }

    pub fn hash(&self, key: &str) -> u64 {
        hash_with(self.inner.read().unwrap().slots.seed(), key.as_bytes())
    }

    fn reserve(&self, n: usize, now: f64) {
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
        let old = &g.slots;
        let used = old.used().load(Ordering::Relaxed) as usize;
        if (used + n) * 10 <= old.cap * 9 {
            return;
        }
        let mut live = Vec::new();
        for s in 0..old.cap {
            let k = old.slot(s, 0).load(Ordering::Relaxed);
            if k == 0 {
                continue;
            }
            let gd = Guard { s: old, i: s };
            let dead = gd.all_expired(now);
            std::mem::forget(gd);
            if !dead {
                live.push(s);
            }
        }
        let cap = (((live.len() + n) * 100).div_ceil(60)).max(MIN_CAP);
        let new = heap_inner(cap, old.seed());
        for &s in &live {
            let k = old.slot(s, 0).load(Ordering::Relaxed);
            let mut t = new.slots.start(k);
            while new.slots.slot(t, 0).load(Ordering::Relaxed) != 0 {
                t = if t + 1 == cap { 0 } else { t + 1 };
            }
            new.slots.slot(t, 0).store(k, Ordering::Relaxed);
            for w in 2..SLOT_WORDS {
                new.slots.slot(t, w).store(old.slot(s, w).load(Ordering::Relaxed), Ordering::Relaxed);
            }
            new.slots.used().fetch_add(1, Ordering::Relaxed);
        }
        *g = new;
    }

    /// LiteLLM's `should_rate_limit` (in-memory path, not read-only): the
    /// pre-check on current values, then the sliding-window increments of every
    /// set counter, then the final check. `now_int` is the limiter's clock
    /// second, `now` the cache's clock, `window_size` the limiter's window.
    pub fn check(&self, descs: &[Desc], now_int: i64, now: f64, window_size: i64) -> Result<Checked, Error> {
        self.reserve(descs.len(), now);
        let g = self.inner.read().unwrap();
        let slots = &g.slots;
        // 1. pre-check (read only)
        let mut cur: Vec<[Option<i64>; 3]> = Vec::with_capacity(descs.len());
        for d in descs {
            let mut v = [None; 3];
            if let Some(gd) = slots.locked(d.hash, false, now)? {
                for (k, slot) in v.iter_mut().enumerate() {
                    if d.limits[k].is_some() {
                        *slot = gd.get(k + 1, now);
                    }
                }
                // the batch read also reads (and may expire) the window key
                gd.get(WINDOW, now);
            }
            cur.push(v);
        }
        let pre = statuses(descs, &cur)?;
        if pre.over {
            return Ok(pre);
        }
        // 2. sliding window: every (window, counter) pair in order
        let ttl = window_size as f64;
        for (i, d) in descs.iter().enumerate() {
            if d.limits.iter().all(Option::is_none) {
                continue;
            }
            let gd = slots.locked(d.hash, true, now)?.expect("inserted");
            for k in 0..3 {
                if d.limits[k].is_none() {
                    continue;
                }
                let ws = gd.get(WINDOW, now);
                let fresh = match ws {
                    None => true,
                    Some(w) => now_int.checked_sub(w).ok_or(Error::Overflow)? >= window_size,
                };
                let v = if fresh {
                    gd.set(WINDOW, now_int, ttl, now);
                    1
                } else {
                    gd.get(k + 1, now).unwrap_or(0).checked_add(1).ok_or(Error::Overflow)?
                };
                gd.set(k + 1, v, ttl, now);
                cur[i][k] = Some(v);
            }
        }
        statuses(descs, &cur)
    }

    /// Success/failure callbacks' increments, each `(get or 0) + delta` then a
    /// set with `default_ttl`.
    pub fn increment(&self, ops: &[Incr], now: f64, default_ttl: f64) -> Result<(), Error> {
        self.reserve(ops.len(), now);
        let g = self.inner.read().unwrap();
        for op in ops {
            let gd = g.slots.locked(op.hash, true, now)?.expect("inserted");
            let v = gd.get(op.entry, now).unwrap_or(0).checked_add(op.delta).ok_or(Error::Overflow)?;
            gd.set(op.entry, v, default_ttl, now);
        }
        Ok(())
    }

    /// The value of one entry (None: absent or expired), without side effects.
    pub fn get(&self, hash: u64, entry: usize, now: f64) -> Option<i64> {
        let g = self.inner.read().unwrap();
        let s = g.slots.lookup(hash)?;
        let gd = g.slots.lock(s);
        let x = gd.exp(entry).load(Ordering::Relaxed);
        if x == ABSENT || now > f64::from_bits(x) {
            return None;
        }
        Some(gd.val(entry).load(Ordering::Relaxed) as i64)
    }

    pub fn capacity(&self) -> usize {
        self.inner.read().unwrap().slots.cap
    }
    pub fn used(&self) -> usize {
        self.inner.read().unwrap().slots.used().load(Ordering::Relaxed) as usize
    }
    pub fn bytes(&self) -> usize {
        (HEADER_WORDS + self.capacity() * SLOT_WORDS) * 8
    }
}

fn statuses(descs: &[Desc], cur: &[[Option<i64>; 3]]) -> Result<Checked, Error> {
    let mut out = Vec::with_capacity(descs.len() * 2);
    let mut over = false;
    for (i, d) in descs.iter().enumerate() {
        for k in 0..3 {
            let Some(limit) = d.limits[k] else { continue };
            let v = cur[i][k];
            let o = matches!(v, Some(x) if x > limit);
            over |= o;
            let remaining = match v {
                Some(x) => limit.checked_sub(x).ok_or(Error::Overflow)?,
                None => limit,
            };
            out.push(Status { desc: i, kind: k as u8, over: o, limit, remaining });
        }
    }
    Ok(Checked { over, statuses: out })
}

// -- LiteLLM 1.83's v3 descriptors for the common case, in one call -------------

/// The descriptor kinds the fused path builds, in LiteLLM's order
/// (`_create_rate_limit_descriptors`: api_key, user, team, team_member, end_user,
/// then `_add_model_per_key_rate_limit_descriptor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V3Kind {
    ApiKey,
    User,
    Team,
    TeamMember,
    EndUser,
    ModelPerKey,
}

impl V3Kind {
    pub const ALL: [V3Kind; 6] =
        [V3Kind::ApiKey, V3Kind::User, V3Kind::Team, V3Kind::TeamMember, V3Kind::EndUser, V3Kind::ModelPerKey];

    /// The descriptor's `key` in LiteLLM.
    pub fn name(self) -> &'static str {
        match self {
            V3Kind::ApiKey => "api_key",
            V3Kind::User => "user",
            V3Kind::Team => "team",
            V3Kind::TeamMember => "team_member",
            V3Kind::EndUser => "end_user",
            V3Kind::ModelPerKey => "model_per_key",
        }
    }
}

/// One of the two per-model limit maps LiteLLM's `get_key_model_{tpm,rpm}_limit`
/// returns for the requested model: `None` (no map), a map without the model, or
/// the model's value (`None` or an int).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelLimit {
    NoMap,
    NotListed,
    Listed(Option<i64>),
}

/// The fields of a `UserAPIKeyAuth` (and the request's model) the common-case v3
/// descriptors read. Strings are `None` for Python `None`; an empty string is
/// kept (it is falsy in LiteLLM's `if user_api_key_dict.api_key and ...`).
#[derive(Clone, Debug, Default)]
pub struct V3Request<'a> {
    pub api_key: Option<&'a str>,
    /// rpm_limit, tpm_limit, max_parallel_requests
    pub key_limits: [Option<i64>; 3],
    pub user_id: Option<&'a str>,
    /// user_rpm_limit, user_tpm_limit
    pub user_limits: [Option<i64>; 2],
    pub team_id: Option<&'a str>,
    pub team_limits: [Option<i64>; 2],
    pub team_member_limits: [Option<i64>; 2],
    pub end_user_id: Option<&'a str>,
    pub end_user_limits: [Option<i64>; 2],
    /// `data.get("model")` when a non-empty string (LiteLLM: `if not requested_model: return`).
    pub model: Option<&'a str>,
    /// (tpm, rpm) maps for the model; only read when `model` is set.
    pub model_limits: (ModelLimit, ModelLimit),
}

impl Default for ModelLimit {
    fn default() -> Self {
        ModelLimit::NoMap
    }
}

fn truthy(s: Option<&str>) -> Option<&str> {
    s.filter(|v| !v.is_empty())
}

fn shown(s: Option<&str>) -> &str {
    s.unwrap_or("None") // f"{x}" of None
}

/// A built descriptor: kind, `"{key}:{value}"`, limits (requests, tokens, max_parallel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V3Descriptor {
    pub kind: V3Kind,
    pub id: String,
    pub limits: [Option<i64>; 3],
}

impl V3Descriptor {
    /// The descriptor's `value` in LiteLLM.
    pub fn value(&self) -> &str {
        &self.id[self.kind.name().len() + 1..]
    }
}

fn push(out: &mut Vec<V3Descriptor>, kind: V3Kind, value: &[&str], limits: [Option<i64>; 3]) {
    let mut id = String::with_capacity(kind.name().len() + 1 + value.iter().map(|v| v.len() + 1).sum::<usize>());
    id.push_str(kind.name());
    id.push(':');
    for (i, v) in value.iter().enumerate() {
        if i > 0 {
            id.push(':');
        }
        id.push_str(v);
    }
    out.push(V3Descriptor { kind, id, limits });
}

/// LiteLLM 1.83's `_create_rate_limit_descriptors` (no dynamic limit types, no
/// team-model limits, no agent) followed by the team/project/organisation
/// additions, which add nothing in the common case the caller checked.
pub fn v3_descriptors(r: &V3Request<'_>) -> Vec<V3Descriptor> {
    let mut out = Vec::with_capacity(4);
    let [rpm, tpm, par] = r.key_limits;
    if let Some(ak) = truthy(r.api_key) {
        if rpm.is_some() || tpm.is_some() || par.is_some() {
            push(&mut out, V3Kind::ApiKey, &[ak], [rpm, tpm, par]);
        }
    }
    let uid = truthy(r.user_id);
    if let Some(u) = uid {
        if r.user_limits.iter().any(Option::is_some) {
            push(&mut out, V3Kind::User, &[u], [r.user_limits[0], r.user_limits[1], None]);
        }
    }
    if let Some(t) = truthy(r.team_id) {
        if r.team_limits.iter().any(Option::is_some) {
            push(&mut out, V3Kind::Team, &[t], [r.team_limits[0], r.team_limits[1], None]);
        }
    }
    if let Some(u) = uid {
        if r.team_member_limits.iter().any(Option::is_some) {
            let l = r.team_member_limits;
            push(&mut out, V3Kind::TeamMember, &[shown(r.team_id), u], [l[0], l[1], None]);
        }
    }
    if let Some(e) = truthy(r.end_user_id) {
        if r.end_user_limits.iter().any(Option::is_some) {
            push(&mut out, V3Kind::EndUser, &[e], [r.end_user_limits[0], r.end_user_limits[1], None]);
        }
    }
    if let Some(m) = truthy(r.model) {
        let (t, q) = r.model_limits;
        if t != ModelLimit::NoMap || q != ModelLimit::NoMap {
            let listed = |x: ModelLimit| match x {
                ModelLimit::Listed(v) => (true, v),
                _ => (false, None),
            };
            let (in_t, tv) = listed(t);
            let (in_r, rv) = listed(q);
            if (in_t || in_r) && (rv.is_some() || tv.is_some()) {
                push(&mut out, V3Kind::ModelPerKey, &[shown(r.api_key), m], [rv, tv, None]);
            }
        }
    }
    out
}

/// The two clocks LiteLLM's v3 limiter reads, from one reading of the system
/// clock (`CLOCK_REALTIME` in nanoseconds, what CPython's `time.time()` and
/// `datetime.now()` both read):
///
/// * the limiter's second, `int(datetime.now().timestamp())`: `datetime.now()`
///   truncates the nanoseconds to microseconds (`_PyTime_ROUND_FLOOR`) and goes
///   to local time with `fold` set for a repeated hour, and `.timestamp()` maps a
///   naive local time with its `fold` back to the same instant, so the value is
///   the integer part of the nanosecond time: `ns.div_euclid(10**9)`;
/// * the cache's `time.time()`: CPython's `_PyTime_AsSecondsDouble`, i.e.
///   `(ns / 10**9) as f64` when `ns` is a whole second, else `ns as f64 / 1e9`.
pub fn clocks_from_ns(ns: i64) -> (i64, f64) {
    const SEC: i64 = 1_000_000_000;
    let f = if ns % SEC == 0 { (ns / SEC) as f64 } else { ns as f64 / 1e9 };
    (ns.div_euclid(SEC), f)
}

/// [`clocks_from_ns`] of the system clock now.
pub fn system_clocks() -> (i64, f64) {
    let ns = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    };
    clocks_from_ns(ns)
}

impl FixedWindowTable {
    /// A hint, no effect on values: the slot of descriptor `id` will be read soon
    /// (issued before the caller's other reads, so the cache misses overlap).
    pub fn prefetch(&self, id: &str) {
        let g = self.inner.read().unwrap();
        let h = hash_with(g.slots.seed(), id.as_bytes());
        let p = g.slots.slot(g.slots.start(h), 0) as *const AtomicU64 as *const i8;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: prefetch never faults; `p` points into the mapped slot array.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch(p, _MM_HINT_T0);
            _mm_prefetch(p.wrapping_add(64), _MM_HINT_T0);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    /// [`v3_descriptors`] then [`FixedWindowTable::check`]; `None` when there is
    /// no descriptor (LiteLLM then checks nothing).
    pub fn check_request(
        &self,
        r: &V3Request<'_>,
        clocks: Option<(i64, f64)>,
        window_size: i64,
    ) -> Result<Option<(Vec<V3Descriptor>, Checked)>, Error> {
        let ds = v3_descriptors(r);
        if ds.is_empty() {
            return Ok(None);
        }
        let descs: Vec<Desc> = ds.iter().map(|d| Desc { hash: self.hash(&d.id), limits: d.limits }).collect();
        let (now_int, now) = clocks.unwrap_or_else(system_clocks);
        let c = self.check(&descs, now_int, now, window_size)?;
        Ok(Some((ds, c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn d(t: &FixedWindowTable, k: &str, rpm: i64) -> Desc {
        Desc { hash: t.hash(k), limits: [Some(rpm), None, None] }
    }

    #[test]
    fn v3_descriptors_follow_litellms_order_and_truthiness() {
        let r = V3Request {
            api_key: Some("sk-a"),
            key_limits: [Some(3), None, None],
            user_id: Some("u1"),
            user_limits: [None, None],
            team_id: None,
            team_member_limits: [Some(5), None],
            end_user_id: Some(""),
            end_user_limits: [Some(1), None],
            model: Some("gpt-4o"),
            model_limits: (ModelLimit::NotListed, ModelLimit::Listed(Some(7))),
            ..Default::default()
        };
        let ds = v3_descriptors(&r);
        let ids: Vec<&str> = ds.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["api_key:sk-a", "team_member:None:u1", "model_per_key:sk-a:gpt-4o"]);
        assert_eq!(ds[1].value(), "None:u1");
        assert_eq!(ds[2].limits, [Some(7), None, None]);
        // listed but both None: no model descriptor; empty api key: no key descriptor
        let r2 = V3Request {
            api_key: Some(""),
            key_limits: [Some(1), None, None],
            model: Some("m"),
            model_limits: (ModelLimit::Listed(None), ModelLimit::NoMap),
            ..Default::default()
        };
        assert!(v3_descriptors(&r2).is_empty());
    }

    #[test]
    fn clocks_from_ns_match_cpython() {
        assert_eq!(clocks_from_ns(1_767_225_000_999_999_999), (1_767_225_000, 1_767_225_000_999_999_999i64 as f64 / 1e9));
        assert_eq!(clocks_from_ns(1_767_225_000_000_000_000), (1_767_225_000, 1_767_225_000.0));
        assert_eq!(clocks_from_ns(-1), (-1, -1e-9));
    }

    #[test]
    fn three_rpm_admits_three_of_six() {
        let t = FixedWindowTable::new();
        let ok = (0..6).filter(|_| !t.check(&[d(&t, "api_key:sk-a", 3)], 1000, 1000.5, 60).unwrap().over).count();
        assert_eq!(ok, 3);
        // the 4th call counted (4 > 3), later ones refused by the pre-check
        assert_eq!(t.get(t.hash("api_key:sk-a"), REQUESTS, 1000.5), Some(4));
        // next window
        assert!(!t.check(&[d(&t, "api_key:sk-a", 3)], 1060, 1060.6, 60).unwrap().over);
    }

    #[test]
    fn window_key_expiry_is_kept_on_overwrite() {
        let t = FixedWindowTable::new();
        let k = d(&t, "api_key:k", 100);
        t.check(&[k], 0, 0.9, 60).unwrap(); // window 0, expires 60.9
        t.check(&[k], 60, 60.5, 60).unwrap(); // window 60 (expiry kept: 60.9)
        assert_eq!(t.get(k.hash, REQUESTS, 60.5), Some(1));
        t.check(&[k], 61, 61.0, 60).unwrap(); // window key expired: reset again
        assert_eq!(t.get(k.hash, WINDOW, 61.0), Some(61));
        assert_eq!(t.get(k.hash, REQUESTS, 61.0), Some(1));
    }

    #[test]
    fn grows_and_reuses() {
        let t = FixedWindowTable::new();
        for i in 0..5000 {
            t.check(&[d(&t, &format!("k{i}"), 5)], 0, 0.5, 60).unwrap();
        }
        for i in 0..5000 {
            assert_eq!(t.get(t.hash(&format!("k{i}")), REQUESTS, 1.0), Some(1));
        }
        let cap = t.capacity();
        for i in 0..5000 {
            t.check(&[d(&t, &format!("n{i}"), 5)], 100, 100.5, 60).unwrap();
        }
        assert!(t.capacity() <= cap * 2, "{} {}", t.capacity(), cap);
    }

    #[test]
    fn eight_threads_exact() {
        let t = Arc::new(FixedWindowTable::new());
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    let mut ok = 0;
                    for i in 0..5000 {
                        let k = format!("k{}", i % 50);
                        if !t.check(&[d(&t, &k, 300)], 5, 5.5, 60).unwrap().over {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 50 * 300);
    }

    #[test]
    fn shared_file_reuses_expired_slots() {
        let p = std::env::temp_dir().join(format!("flrl3-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let a = FixedWindowTable::open_shared(p.to_str().unwrap(), 64).unwrap();
        let b = FixedWindowTable::open_shared(p.to_str().unwrap(), 9).unwrap();
        assert_eq!(b.capacity(), 64);
        let ok = (0..10).filter(|i| {
            let t = if i % 2 == 0 { &a } else { &b };
            !t.check(&[d(t, "x", 4)], 3, 3.5, 60).unwrap().over
        }).count();
        assert_eq!(ok, 4);
        for round in 0..5 {
            let now = 1000.0 * (round + 1) as f64;
            for i in 0..60 {
                a.check(&[d(&a, &format!("r{round}-{i}"), 5)], now as i64, now, 60).unwrap();
            }
        }
        assert!(a.used() <= 64);
        std::fs::remove_file(&p).unwrap();
    }
}
