//! LiteLLM's routing state as the front must respect it.
//!
//! With router settings (fallbacks, retries, timeouts, cooldowns) stock LiteLLM answers a
//! successful first attempt exactly as without them, so the front serves that case. Any
//! other outcome is replayed through LiteLLM, which runs its own retries and fallbacks and
//! may put deployments in cooldown (then it routes elsewhere or answers "no deployments
//! available"). The front cannot see LiteLLM's cooldown list, so after any failure it sends
//! the group, and every group LiteLLM may have called for it (its fallbacks,
//! transitively), to LiteLLM for a window at least as long as LiteLLM's cooldown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::HeaderMap;
use serde::Deserialize;

use crate::now_ms;

/// What the launcher computes from the config (`fastlane.launcher.router_plan`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// The front gives up on the upstream after this long (LiteLLM's timeout) and replays.
    pub timeout_ms: u64,
    /// LiteLLM's cooldown time plus a margin.
    pub cooldown_ms: u64,
    /// Group -> the groups LiteLLM may call while handling it (itself included).
    #[serde(default)]
    pub links: HashMap<String, Vec<String>>,
}

pub struct Router {
    timeout: Duration,
    cooldown_ms: u64,
    links: HashMap<String, Vec<String>>,
    until: HashMap<String, AtomicU64>,
    /// A request passed through to LiteLLM failed (model unknown to the front): every group.
    all_until: AtomicU64,
}

impl Router {
    pub fn new(cfg: &RouterConfig, groups: impl Iterator<Item = String>) -> Router {
        Router {
            timeout: Duration::from_millis(cfg.timeout_ms.max(1)),
            cooldown_ms: cfg.cooldown_ms,
            links: cfg.links.clone(),
            until: groups.map(|g| (g, AtomicU64::new(0))).collect(),
            all_until: AtomicU64::new(0),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// May the front serve `group` now?
    pub fn open(&self, group: &str) -> bool {
        let now = now_ms();
        self.all_until.load(Ordering::Relaxed) <= now
            && self.until.get(group).map_or(true, |u| u.load(Ordering::Relaxed) <= now)
    }

    fn window(&self, extra_ms: u64) -> u64 {
        now_ms() + self.cooldown_ms.max(extra_ms)
    }

    /// A request of `group` failed in the front (it is being replayed): `group` and its
    /// fallback groups go to LiteLLM for the cooldown window (at least `extra_ms`).
    pub fn failed(&self, group: &str, extra_ms: u64) {
        let until = self.window(extra_ms);
        let mark = |g: &str| {
            if let Some(u) = self.until.get(g) {
                u.fetch_max(until, Ordering::Relaxed);
            }
        };
        mark(group);
        if let Some(others) = self.links.get(group) {
            for g in others {
                mark(g);
            }
        }
    }

    /// A master-key request LiteLLM answered itself failed or needed retries/fallbacks:
    /// every group goes to LiteLLM for the window.
    pub fn failed_anywhere(&self, extra_ms: u64) {
        self.all_until.fetch_max(self.window(extra_ms), Ordering::Relaxed);
    }
}

/// The longest `Retry-After` in a LiteLLM answer (LiteLLM cools a deployment down for that
/// long when the provider sent one), in ms.
pub fn retry_after_ms(h: &HeaderMap) -> u64 {
    let mut best = 0u64;
    for (name, value) in h.iter() {
        let n = name.as_str();
        let Ok(v) = value.to_str() else { continue };
        let ms = if n.ends_with("retry-after-ms") {
            v.trim().parse::<f64>().ok().map(|x| x.max(0.0) as u64)
        } else if n.ends_with("retry-after") {
            // Seconds; an HTTP date cannot be read here: a long window then.
            Some(v.trim().parse::<f64>().map(|x| (x.max(0.0) * 1000.0) as u64).unwrap_or(60_000))
        } else {
            None
        };
        if let Some(ms) = ms {
            best = best.max(ms.saturating_add(1000));
        }
    }
    best
}

/// Did LiteLLM's answer to a master-key request involve a failure it may have counted
/// against a deployment? The statuses LiteLLM cools a deployment down for (429, 401, 402,
/// 404, 408, 5xx: `_is_cooldown_required` on both versions; other 4xx such as an unknown
/// model or a bad request never count), or a success after retries/fallbacks.
pub fn answer_had_failure(status: u16, h: &HeaderMap) -> bool {
    if matches!(status, 401 | 402 | 404 | 408 | 429) || status >= 500 {
        return true;
    }
    ["x-litellm-attempted-retries", "x-litellm-attempted-fallbacks"]
        .iter()
        .any(|k| h.get(*k).map_or(false, |v| v.as_bytes() != b"0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn failures_litellm_counts() {
        for s in [401, 402, 404, 408, 429, 500, 503] {
            assert!(answer_had_failure(s, &HeaderMap::new()), "{s}");
        }
        for s in [200, 400, 403, 422] {
            assert!(!answer_had_failure(s, &HeaderMap::new()), "{s}");
        }
        assert!(answer_had_failure(200, &headers(&[("x-litellm-attempted-fallbacks", "1")])));
        assert!(answer_had_failure(200, &headers(&[("x-litellm-attempted-retries", "2")])));
        assert!(!answer_had_failure(200, &headers(&[("x-litellm-attempted-retries", "0"), ("x-litellm-attempted-fallbacks", "0")])));
    }

    #[test]
    fn retry_after_windows() {
        assert_eq!(retry_after_ms(&HeaderMap::new()), 0);
        assert_eq!(retry_after_ms(&headers(&[("retry-after", "20")])), 21_000);
        assert_eq!(retry_after_ms(&headers(&[("llm_provider-retry-after-ms", "1500")])), 2_500);
        assert_eq!(retry_after_ms(&headers(&[("llm_provider-retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")])), 61_000);
        assert_eq!(retry_after_ms(&headers(&[("retry-after", "3"), ("llm_provider-retry-after", "40")])), 41_000);
    }

    #[test]
    fn group_and_its_fallbacks_cool_down_others_stay() {
        let cfg = RouterConfig {
            timeout_ms: 1000,
            cooldown_ms: 60_000,
            links: [("a".to_string(), vec!["a".to_string(), "b".to_string()])].into_iter().collect(),
        };
        let r = Router::new(&cfg, ["a", "b", "c"].iter().map(|s| s.to_string()));
        assert!(r.open("a") && r.open("b") && r.open("c"));
        r.failed("a", 0);
        assert!(!r.open("a") && !r.open("b") && r.open("c"));
        r.failed_anywhere(0);
        assert!(!r.open("c") && !r.open("unknown"));
    }
}
