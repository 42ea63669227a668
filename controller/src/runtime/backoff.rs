//! Per-resource exponential backoff with jitter.
//!
//! A failing key is retried after `min(cap, base * 2^n)`, spread by ±`jitter`, where `n`
//! counts the failures since the key's last success. A success resets the count. Both
//! halves are tested directly because field tools got them wrong: a cap that was never
//! reached (Argo CD #20976) and a count that never reset (Argo CD #21599).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// How retry delays grow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay, reached after enough failures and never exceeded (before jitter).
    pub cap: Duration,
    /// The spread, as a fraction of the delay: 0.2 gives a delay within ±20 %.
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    /// 1 s, doubling up to 5 min, ±20 %.
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl BackoffPolicy {
    /// The delay before retry number `failures` (1 for the first retry), before jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use holdfast::runtime::backoff::BackoffPolicy;
    /// let p = BackoffPolicy { base: Duration::from_secs(1), cap: Duration::from_secs(10), jitter: 0.0 };
    /// let delays: Vec<u64> = (1..=6).map(|n| p.nominal(n).as_secs()).collect();
    /// assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
    /// ```
    pub fn nominal(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(63);
        let factor = 1u64 << exponent;
        let nanos = self.base.as_nanos().saturating_mul(u128::from(factor));
        let capped = nanos.min(self.cap.as_nanos());
        Duration::from_nanos(u64::try_from(capped).unwrap_or(u64::MAX))
    }

    /// The delay with jitter; `unit` is a random number in `[0, 1)`.
    pub fn jittered(&self, failures: u32, unit: f64) -> Duration {
        let nominal = self.nominal(failures).as_secs_f64();
        let jitter = self.jitter.clamp(0.0, 1.0);
        let spread = 1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64(nominal * spread)
    }
}

/// Failure counts per key.
#[derive(Debug)]
pub struct Backoff<K> {
    policy: BackoffPolicy,
    failures: HashMap<K, u32>,
    rng: fastrand::Rng,
}

impl<K: Hash + Eq + Clone> Backoff<K> {
    /// No failures yet.
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoff {
            policy,
            failures: HashMap::new(),
            rng: fastrand::Rng::new(),
        }
    }

    /// With a fixed random seed, for repeatable tests.
    pub fn with_seed(policy: BackoffPolicy, seed: u64) -> Self {
        Backoff {
            policy,
            failures: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Records a failure of `key` and returns how long to wait before retrying it.
    pub fn failed(&mut self, key: &K) -> Duration {
        let count = self.failures.entry(key.clone()).or_insert(0);
        *count = count.saturating_add(1);
        let n = *count;
        self.policy.jittered(n, self.rng.f64())
    }

    /// Records a success: the next failure starts from `base` again.
    pub fn succeeded(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// Failures of `key` since its last success.
    pub fn failures(&self, key: &K) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
            jitter: 0.2,
        }
    }

    #[test]
    fn doubles_until_the_cap_and_stays_there() {
        let p = BackoffPolicy {
            jitter: 0.0,
            ..policy()
        };
        let secs: Vec<f64> = (1..=10).map(|n| p.nominal(n).as_secs_f64()).collect();
        assert_eq!(
            secs,
            [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
        );
        // Huge counts neither overflow nor pass the cap.
        assert_eq!(p.nominal(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut b = Backoff::with_seed(policy(), 7);
        let key = "service/web";
        let (mut lowest, mut highest) = (f64::MAX, 0.0f64);
        for n in 1..=2000u32 {
            let d = b.failed(&key).as_secs_f64();
            let nominal = policy().nominal(n).as_secs_f64();
            assert!(
                d >= nominal * 0.8 - 1e-9 && d <= nominal * 1.2 + 1e-9,
                "retry {n}: {d} vs {nominal}"
            );
            if nominal == 60.0 {
                lowest = lowest.min(d);
                highest = highest.max(d);
            }
        }
        // The jitter really spreads the delays (not a constant offset).
        assert!(lowest < 50.0 && highest > 70.0, "{lowest}..{highest}");
    }

    #[test]
    fn success_resets_the_count_for_that_key_only() {
        let p = BackoffPolicy {
            jitter: 0.0,
            ..policy()
        };
        let mut b = Backoff::new(p);
        for _ in 0..5 {
            b.failed(&"a");
        }
        b.failed(&"b");
        assert_eq!(b.failures(&"a"), 5);
        b.succeeded(&"a");
        assert_eq!(b.failures(&"a"), 0);
        assert_eq!(b.failed(&"a"), Duration::from_millis(500));
        assert_eq!(b.failed(&"b"), Duration::from_secs(1));
    }

    /// Drives the real queue with a paused clock: a resource that keeps failing is
    /// retried at the backoff's times, the delays reach the cap and stay there, and
    /// after one success the next failure starts from `base` again.
    #[tokio::test(start_paused = true)]
    async fn retries_through_the_queue_follow_the_sequence() {
        use crate::runtime::queue::WorkQueue;
        use tokio::time::Instant;

        let p = BackoffPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            jitter: 0.1,
        };
        let mut backoff = Backoff::with_seed(p, 42);
        let queue = WorkQueue::new();
        let key = "service/web";
        // Fails 8 times, succeeds once, then fails twice more.
        let outcomes = [
            false, false, false, false, false, false, false, false, true, false, false,
        ];
        let mut gaps = Vec::new();
        queue.add(key);
        let mut last = Instant::now();
        for ok in outcomes {
            let got = queue.next().await;
            assert_eq!(got, Some(key));
            let now = Instant::now();
            gaps.push(now - last);
            last = now;
            queue.done(&key);
            if ok {
                backoff.succeeded(&key);
                queue.add(key); // the next change arrives at once
            } else {
                queue.add_after(key, backoff.failed(&key));
            }
        }
        let nominal = [0, 1, 2, 4, 8, 16, 30, 30, 30, 0, 1];
        for (i, (gap, n)) in gaps.iter().zip(nominal).enumerate() {
            let (lo, hi) = (f64::from(n) * 0.9, f64::from(n) * 1.1);
            let g = gap.as_secs_f64();
            assert!(
                g >= lo - 1e-3 && g <= hi + 1e-3,
                "attempt {i}: waited {g:.3}s, expected {n}s ±10 %: {gaps:?}"
            );
        }
        assert_eq!(
            backoff.failures(&key),
            2,
            "two failures since the success, not ten"
        );
    }
}
