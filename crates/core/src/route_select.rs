//! Deployment selection for LiteLLM's default `simple-shuffle` routing strategy.
//!
//! LiteLLM picks a deployment with `random.choices(..., weights=...)` over the healthy
//! deployments' `weight`, `rpm` or `tpm` (the first of the three that applies), else with
//! `random.choice`. This index holds those values for one model group and reproduces the pick
//! bit for bit from the same uniform draw (`random.random()`, drawn by the caller): the same
//! normalisation, the same running sums as `itertools.accumulate`, the same `bisect`. Without
//! excluded deployments the running sums are built once and a pick is a binary search; with
//! deployments in cooldown they are rebuilt over the rest (stock's weights change with them).
//!
//! Two LiteLLM generations differ in how weights are normalised:
//! * [`Normalize::ByTotal`] (LiteLLM 1.83.x): the key is chosen by the *first* healthy
//!   deployment; the others contribute their value or 0 when absent, and an explicit `None`
//!   is a `TypeError` in LiteLLM (we report [`Pick::NotCovered`]); weights are divided by
//!   their sum.
//! * [`Normalize::ByMax`] (LiteLLM 1.110.x): a key applies when its largest weight is
//!   positive; absent and `None` count 0; weights are divided by the largest.
//!
//! Anything where LiteLLM would raise (a zero or non-finite total) is [`Pick::NotCovered`]: the
//! caller hands the call to LiteLLM, which raises as it does.

/// LiteLLM's weight keys, in the order it tries them.
pub const WEIGHT_KEYS: [&str; 3] = ["weight", "rpm", "tpm"];

/// Above this, integer weights stop being exact as `f64` (Python sums ints exactly).
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalize {
    ByTotal,
    ByMax,
}

/// One deployment's value for one key of `litellm_params`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Missing,
    Null,
    Num(f64),
    /// Present but not a number LiteLLM can weigh by (it raises when it reads it).
    Other,
}

/// The outcome of one pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Weighted pick: this index into the group (not into the healthy subset).
    Index(usize),
    /// No key applies: LiteLLM's `random.choice` over the healthy deployments.
    Uniform,
    /// LiteLLM would raise (or the inputs are outside what is reproduced exactly).
    NotCovered,
}

/// Running sums of one weighting, as `random.choices` builds them.
#[derive(Clone, Debug, PartialEq)]
enum Plan {
    Weighted { cum: Vec<f64>, total: f64 },
    Uniform,
    NotCovered,
}

/// One model group's weights.
#[derive(Clone, Debug)]
pub struct ShuffleIndex {
    values: Vec<[Value; 3]>,
    normalize: Normalize,
    full: Plan,
}

/// `bisect.bisect_right(a, x, 0, hi)`, the same halving as CPython (so the same answer on any
/// array, sorted or not).
fn bisect_right(a: &[f64], x: f64, hi: usize) -> usize {
    let (mut lo, mut hi) = (0usize, hi);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if x < a[mid] {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// `list(accumulate(weights))` and `cum[-1] + 0.0`, with random.choices' checks.
fn running_sums(weights: impl Iterator<Item = f64>) -> Plan {
    let mut cum = Vec::new();
    let mut acc = 0.0f64;
    for (i, w) in weights.enumerate() {
        acc = if i == 0 { w } else { acc + w };
        cum.push(acc);
    }
    let total = match cum.last() {
        Some(t) => *t,
        None => return Plan::NotCovered,
    };
    // random.choices: "Total of weights must be greater than zero" / "... finite".
    if total.is_nan() || total <= 0.0 || !total.is_finite() {
        return Plan::NotCovered;
    }
    Plan::Weighted { cum, total }
}

impl ShuffleIndex {
    pub fn new(values: Vec<[Value; 3]>, normalize: Normalize) -> Self {
        let mut index = ShuffleIndex { values, normalize, full: Plan::NotCovered };
        let all: Vec<usize> = (0..index.values.len()).collect();
        index.full = index.plan(&all);
        index
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn plan(&self, healthy: &[usize]) -> Plan {
        if healthy.is_empty() {
            return Plan::NotCovered;
        }
        match self.normalize {
            Normalize::ByTotal => self.plan_by_total(healthy),
            Normalize::ByMax => self.plan_by_max(healthy),
        }
    }

    fn plan_by_total(&self, healthy: &[usize]) -> Plan {
        for key in 0..WEIGHT_KEYS.len() {
            match self.values[healthy[0]][key] {
                Value::Missing | Value::Null => continue, // `.get(key)` is None: next key
                Value::Other => return Plan::NotCovered,
                Value::Num(_) => {}
            }
            let mut weights = Vec::with_capacity(healthy.len());
            let (mut total, mut magnitude) = (0.0f64, 0.0f64);
            for &i in healthy {
                let w = match self.values[i][key] {
                    Value::Missing => 0.0,
                    Value::Null | Value::Other => return Plan::NotCovered, // sum(): TypeError
                    Value::Num(x) => x,
                };
                total += w;
                magnitude += w.abs();
                weights.push(w);
            }
            if magnitude >= EXACT_LIMIT {
                return Plan::NotCovered;
            }
            if total == 0.0 || total.is_nan() {
                return Plan::NotCovered; // ZeroDivisionError in LiteLLM
            }
            return running_sums(weights.into_iter().map(|w| w / total));
        }
        Plan::Uniform
    }

    fn plan_by_max(&self, healthy: &[usize]) -> Plan {
        for key in 0..WEIGHT_KEYS.len() {
            if healthy.iter().any(|&i| self.values[i][key] == Value::Other) {
                return Plan::NotCovered; // "Deployment {metric} must be numeric"
            }
            let weight = |i: usize| match self.values[i][key] {
                Value::Num(x) => x,
                _ => 0.0,
            };
            // max(): the first element, replaced by any later one that compares greater.
            let mut largest = weight(healthy[0]);
            for &i in &healthy[1..] {
                let w = weight(i);
                if w < 0.0 || w.is_nan() {
                    return Plan::NotCovered;
                }
                if w > largest {
                    largest = w;
                }
            }
            if largest < 0.0 || largest.is_nan() || weight(healthy[0]) < 0.0 {
                return Plan::NotCovered;
            }
            if largest <= 0.0 {
                continue;
            }
            // With no negative weights, sum(normalized) > 0 exactly when largest > 0.
            return running_sums(healthy.iter().map(|&i| weight(i) / largest));
        }
        Plan::Uniform
    }

    /// The pick LiteLLM makes from uniform draw `u` (`random.random()`), with the deployments
    /// at `excluded` (indices into the group, any order) left out.
    pub fn pick(&self, u: f64, excluded: &[usize]) -> Pick {
        if excluded.is_empty() {
            return Self::pick_in(&self.full, u, None);
        }
        let mut out = vec![false; self.values.len()];
        for &i in excluded {
            if i < out.len() {
                out[i] = true;
            }
        }
        let healthy: Vec<usize> = (0..self.values.len()).filter(|&i| !out[i]).collect();
        Self::pick_in(&self.plan(&healthy), u, Some(&healthy))
    }

    fn pick_in(plan: &Plan, u: f64, healthy: Option<&[usize]>) -> Pick {
        match plan {
            Plan::NotCovered => Pick::NotCovered,
            Plan::Uniform => Pick::Uniform,
            Plan::Weighted { cum, total } => {
                let at = bisect_right(cum, u * total, cum.len() - 1);
                Pick::Index(healthy.map_or(at, |h| h[at]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nums(ws: &[f64], key: usize) -> Vec<[Value; 3]> {
        ws.iter()
            .map(|&w| {
                let mut v = [Value::Missing; 3];
                v[key] = Value::Num(w);
                v
            })
            .collect()
    }

    #[test]
    fn bisect_matches_python_on_edges() {
        let a = [0.25, 0.5, 0.75, 1.0];
        assert_eq!(bisect_right(&a, 0.0, 3), 0);
        assert_eq!(bisect_right(&a, 0.25, 3), 1); // ties go right
        assert_eq!(bisect_right(&a, 0.9999, 3), 3);
        assert_eq!(bisect_right(&a, 2.0, 3), 3); // hi = n - 1 caps it
    }

    #[test]
    fn weights_by_total_pick_in_proportion() {
        let idx = ShuffleIndex::new(nums(&[1.0, 3.0], 0), Normalize::ByTotal);
        assert_eq!(idx.pick(0.0, &[]), Pick::Index(0));
        assert_eq!(idx.pick(0.2499, &[]), Pick::Index(0));
        assert_eq!(idx.pick(0.25, &[]), Pick::Index(1));
        assert_eq!(idx.pick(0.99, &[]), Pick::Index(1));
    }

    #[test]
    fn first_healthy_deployment_chooses_the_key_by_total() {
        // The first has no weight, the second has one: 1.83.x does a uniform pick.
        let mut v = nums(&[0.0, 5.0], 0);
        v[0][0] = Value::Missing;
        let idx = ShuffleIndex::new(v.clone(), Normalize::ByTotal);
        assert_eq!(idx.pick(0.5, &[]), Pick::Uniform);
        // With the first in cooldown, the second decides: weighted.
        assert_eq!(idx.pick(0.5, &[0]), Pick::Index(1));
        // 1.110.x looks at every deployment.
        let idx = ShuffleIndex::new(v, Normalize::ByMax);
        assert_eq!(idx.pick(0.5, &[]), Pick::Index(1));
    }

    #[test]
    fn rpm_then_tpm_when_weight_absent() {
        let mut v = nums(&[10.0, 30.0], 1);
        v[0][2] = Value::Num(1.0);
        v[1][2] = Value::Num(1.0);
        let idx = ShuffleIndex::new(v, Normalize::ByTotal);
        assert_eq!(idx.pick(0.3, &[]), Pick::Index(1)); // by rpm: 0.25 | 0.75
    }

    #[test]
    fn raising_cases_are_not_covered() {
        let mut v = nums(&[1.0, 1.0], 0);
        v[1][0] = Value::Null;
        assert_eq!(ShuffleIndex::new(v, Normalize::ByTotal).pick(0.5, &[]), Pick::NotCovered);
        assert_eq!(ShuffleIndex::new(nums(&[0.0, 0.0], 0), Normalize::ByTotal).pick(0.5, &[]), Pick::NotCovered);
        assert_eq!(ShuffleIndex::new(nums(&[1.0, 1.0], 0), Normalize::ByTotal).pick(0.5, &[0, 1]), Pick::NotCovered);
        // All-zero weights under 1.110.x fall through to the next key, then to a uniform pick.
        assert_eq!(ShuffleIndex::new(nums(&[0.0, 0.0], 0), Normalize::ByMax).pick(0.5, &[]), Pick::Uniform);
        assert_eq!(ShuffleIndex::new(nums(&[1.0, -1.0], 0), Normalize::ByMax).pick(0.5, &[]), Pick::NotCovered);
        assert_eq!(ShuffleIndex::new(nums(&[1e300, 1e300], 0), Normalize::ByTotal).pick(0.5, &[]), Pick::NotCovered);
    }

    #[test]
    fn no_weights_is_uniform() {
        let idx = ShuffleIndex::new(vec![[Value::Missing; 3]; 4], Normalize::ByTotal);
        assert_eq!(idx.pick(0.7, &[]), Pick::Uniform);
        assert_eq!(idx.pick(0.7, &[2]), Pick::Uniform);
    }

    #[test]
    fn exclusion_renormalises_over_the_rest() {
        let idx = ShuffleIndex::new(nums(&[1.0, 1.0, 2.0], 0), Normalize::ByTotal);
        // Without 1: weights 1/3, 2/3 over deployments 0 and 2.
        assert_eq!(idx.pick(0.33, &[1]), Pick::Index(0));
        assert_eq!(idx.pick(0.34, &[1]), Pick::Index(2));
    }

    #[test]
    fn distribution_follows_weights() {
        // A deterministic sweep of u: counts are exactly proportional (up to the grid).
        let idx = ShuffleIndex::new(nums(&[1.0, 2.0, 7.0], 2), Normalize::ByMax);
        let mut counts = [0usize; 3];
        let n = 100_000;
        for k in 0..n {
            match idx.pick((k as f64 + 0.5) / n as f64, &[]) {
                Pick::Index(i) => counts[i] += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(counts, [10_000, 20_000, 70_000]);
    }
}
