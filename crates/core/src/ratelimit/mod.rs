//! The counter store behind LiteLLM's proxy rate limiter.
//!
//! LiteLLM's proxy builds `ProxyLogging(...).max_parallel_request_limiter`
//! (`_PROXY_MaxParallelRequestsHandler`, `litellm/proxy/hooks/parallel_request_limiter.py`)
//! and, as its `parallel_request_limiter` proxy hook, `_PROXY_MaxParallelRequestsHandler_v3`.
//! Both keep their counters in `InternalUsageCache -> DualCache -> InMemoryCache`
//! (`litellm/caching/in_memory_cache.py`): a dict of values, a dict of expiry
//! times and a min-heap of `(expiry, key)` used for eviction, capped at
//! `max_size_in_memory` items (200 by default).
//!
//! [`TtlStore`] reproduces that cache's algorithm operation for operation
//! (same expiry comparisons, same heap pushes and pops, same cap eviction), so a
//! limiter reading and writing it makes the same decisions. It is generic over
//! the stored value; the Python layer stores the limiter's counter triples
//! `{"current_requests", "current_tpm", "current_rpm"}` and plain integers as
//! fixed-size Rust values, and anything else as an opaque object.
//!
//! Keys are kept as strings (shared between the map and the heap): the heap
//! breaks ties between equal expiry times by comparing the key strings, exactly
//! as Python compares `(expiry, key)` tuples, and the cache must be able to list
//! its keys (`async_get_oldest_n_keys`, the proxy's debug endpoints).
//!
//! `Flavor` selects the eviction details of each pinned LiteLLM version:
//! 1.110.2 compacts the heap when it grows past twice the cap and stops
//! cap-eviction when the heap is empty.

pub mod fixed;
mod mapped;
pub mod store110;
pub mod window;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// LiteLLM 1.83.x `InMemoryCache`.
    V1_83,
    /// LiteLLM 1.110.x `InMemoryCache` (heap compaction, guarded cap loop).
    V1_110,
}

#[derive(Clone, Debug)]
struct HeapItem {
    exp: f64,
    key: Arc<str>,
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for HeapItem {}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapItem {
    // Reversed: BinaryHeap is a max-heap, Python's heapq a min-heap on (exp, key).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .exp
            .partial_cmp(&self.exp)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.key.as_ref().cmp(self.key.as_ref()))
    }
}

#[derive(Clone, Debug)]
struct Entry<V> {
    key: Arc<str>,
    value: V,
    /// `ttl_dict[key]`; `None` when the key has a value but no expiry.
    exp: Option<f64>,
}

/// An exact model of LiteLLM's `InMemoryCache` over values of type `V`.
#[derive(Debug)]
pub struct TtlStore<V> {
    map: HashMap<Arc<str>, Entry<V>>,
    heap: BinaryHeap<HeapItem>,
    pub max_size: usize,
    pub default_ttl: f64,
    pub flavor: Flavor,
}

impl<V: Clone> TtlStore<V> {
    pub fn new(max_size: usize, default_ttl: f64, flavor: Flavor) -> Self {
        TtlStore { map: HashMap::new(), heap: BinaryHeap::new(), max_size, default_ttl, flavor }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    fn ttl_of(&self, key: &str) -> Option<f64> {
        self.map.get(key).and_then(|e| e.exp)
    }

    fn remove_key(&mut self, key: &str) {
        self.map.remove(key);
    }

    fn heap_item_valid(&self, item: &HeapItem) -> bool {
        self.ttl_of(&item.key) == Some(item.exp)
    }

    /// `InMemoryCache.evict_cache`.
    pub fn evict(&mut self, now: f64) {
        while let Some(top) = self.heap.peek() {
            let ttl = self.ttl_of(&top.key);
            if ttl != Some(top.exp) {
                self.heap.pop();
            } else if top.exp <= now {
                let item = self.heap.pop().expect("peeked");
                self.remove_key(&item.key);
            } else {
                break;
            }
        }
        if self.flavor == Flavor::V1_110 && self.heap.len() > 2 * self.max_size {
            let items = std::mem::take(&mut self.heap).into_vec();
            let kept: Vec<HeapItem> = items.into_iter().filter(|i| self.heap_item_valid(i)).collect();
            self.heap = BinaryHeap::from(kept);
        }
        while self.map.len() >= self.max_size {
            // 1.83 pops an empty heap (IndexError); neither happens while every
            // stored key has a heap entry, which set() guarantees.
            let Some(item) = self.heap.pop() else { break };
            if self.ttl_of(&item.key) == Some(item.exp) {
                self.remove_key(&item.key);
            }
        }
    }

    fn allow_ttl_override(&self, key: &str, now: f64) -> bool {
        match self.ttl_of(key) {
            None => true,
            Some(t) => t < now,
        }
    }

    /// `InMemoryCache.set_cache` for a value that passed `check_value_size`.
    /// `ttl` is the caller's `ttl` kwarg (`None`: the default TTL).
    pub fn set(&mut self, key: &str, value: V, ttl: Option<f64>, now: f64) {
        if self.max_size == 0 {
            return;
        }
        self.evict(now);
        let allow = self.allow_ttl_override(key, now);
        let new_exp = if allow { Some(now + ttl.unwrap_or(self.default_ttl)) } else { None };
        match self.map.get_mut(key) {
            Some(e) => {
                e.value = value;
                if let Some(x) = new_exp {
                    e.exp = Some(x);
                }
            }
            None => {
                let k: Arc<str> = Arc::from(key);
                self.map.insert(k.clone(), Entry { key: k, value, exp: new_exp });
            }
        }
        if let Some(x) = new_exp {
            let k = self.map.get(key).expect("just set").key.clone();
            self.heap.push(HeapItem { exp: x, key: k });
        }
    }

    /// `InMemoryCache.get_cache` (removes the key when expired).
    pub fn get(&mut self, key: &str, now: f64) -> Option<V> {
        let e = self.map.get(key)?;
        if let Some(t) = e.exp {
            if now > t {
                self.remove_key(key);
                return None;
            }
        }
        Some(e.value.clone())
    }

    /// Like `get` without the expiry side effect (for views).
    pub fn peek(&self, key: &str) -> Option<&V> {
        self.map.get(key).map(|e| &e.value)
    }

    pub fn delete(&mut self, key: &str) {
        self.remove_key(key);
    }

    pub fn flush(&mut self) {
        self.map.clear();
        self.heap.clear();
    }

    pub fn ttl(&self, key: &str) -> Option<f64> {
        self.ttl_of(key)
    }

    /// Every (key, value, expiry), in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &V, Option<f64>)> {
        self.map.values().map(|e| (e.key.as_ref(), &e.value, e.exp))
    }

    /// The heap as (expiry, key) pairs, in no particular order.
    pub fn heap_items(&self) -> impl Iterator<Item = (f64, &str)> {
        self.heap.iter().map(|i| (i.exp, i.key.as_ref()))
    }

    /// Approximate bytes held (entries, keys and heap), for the benchmark's
    /// cross-check against RSS.
    pub fn approx_bytes(&self) -> usize {
        let per_entry = std::mem::size_of::<(Arc<str>, Entry<V>)>() + 8;
        let keys: usize = self.map.keys().map(|k| k.len() + 16).sum();
        self.map.capacity() * per_entry + keys + self.heap.capacity() * std::mem::size_of::<HeapItem>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_and_expiry() {
        let mut s: TtlStore<i64> = TtlStore::new(200, 600.0, Flavor::V1_83);
        s.set("a", 1, Some(60.0), 1000.0);
        assert_eq!(s.get("a", 1059.0), Some(1));
        assert_eq!(s.get("a", 1060.0), Some(1)); // not > exp
        assert_eq!(s.get("a", 1060.5), None);
        assert!(s.is_empty());
    }

    #[test]
    fn ttl_not_overridden_while_live() {
        let mut s: TtlStore<i64> = TtlStore::new(200, 600.0, Flavor::V1_83);
        s.set("a", 1, Some(60.0), 1000.0);
        s.set("a", 2, Some(60.0), 1030.0);
        assert_eq!(s.ttl("a"), Some(1060.0));
        assert_eq!(s.heap_len(), 1);
        s.set("a", 3, None, 1070.0); // expired ttl: default ttl applies
        assert_eq!(s.ttl("a"), Some(1670.0));
    }

    #[test]
    fn cap_evicts_earliest_then_smallest_key() {
        let mut s: TtlStore<i64> = TtlStore::new(3, 600.0, Flavor::V1_83);
        s.set("c", 1, Some(60.0), 0.0);
        s.set("b", 1, Some(60.0), 0.0);
        s.set("a", 1, Some(61.0), 0.0);
        s.set("d", 1, Some(60.0), 0.0); // evicts ("b", 60) before ("c", 60)
        assert!(s.peek("b").is_none());
        assert!(s.peek("c").is_some() && s.peek("a").is_some() && s.peek("d").is_some());
    }

    #[test]
    fn compaction_v110() {
        let mut s: TtlStore<i64> = TtlStore::new(2, 600.0, Flavor::V1_110);
        for i in 0..10 {
            s.set("k", i, Some(1.0), i as f64 * 2.0);
        }
        assert!(s.heap_len() <= 5);
        assert_eq!(s.len(), 1);
    }
}
