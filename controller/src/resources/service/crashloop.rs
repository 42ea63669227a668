//! Crash-loop backoff: a container that keeps dying by itself is started again after
//! growing delays, as Docker's restart policy and Kubernetes' CrashLoopBackOff do.
//!
//! Only deaths the container caused count. Docker's event stream tells them apart: a
//! container stopped, killed or removed through the API gets a `kill` event before its
//! `die`; a crash or an OOM kill does not. So an operator (or a chaos test) killing a
//! container is repaired at once, every time, while a crashing program is not
//! restarted in a tight loop. A container that stays up for [`STABLE_AFTER`] clears
//! its service's count.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::runtime::backoff::BackoffPolicy;

/// Running this long after a start clears the crash count.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct ServiceCrashes {
    count: u32,
    last_start: Option<Instant>,
}

/// Crash counts per service.
#[derive(Debug)]
pub struct CrashLoop {
    policy: BackoffPolicy,
    services: HashMap<String, ServiceCrashes>,
    /// Containers that got a `kill` (or were stopped) since they last started.
    killed: HashSet<String>,
}

impl Default for CrashLoop {
    /// 1 s, doubling up to 5 min, no jitter.
    fn default() -> Self {
        CrashLoop::new(BackoffPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            jitter: 0.0,
        })
    }
}

impl CrashLoop {
    /// Delays follow `policy` (jitter is ignored).
    pub fn new(policy: BackoffPolicy) -> Self {
        CrashLoop {
            policy,
            services: HashMap::new(),
            killed: HashSet::new(),
        }
    }

    /// Feeds one Docker event of a container of `service`.
    pub fn on_event(&mut self, service: &str, container: &str, action: &str) {
        match action.split(':').next().unwrap_or("").trim() {
            "kill" | "stop" | "destroy" => {
                self.killed.insert(container.to_string());
            }
            "start" => {
                self.killed.remove(container);
            }
            "die" | "oom" if !self.killed.contains(container) => {
                self.services.entry(service.to_string()).or_default().count += 1;
            }
            _ => {}
        }
    }

    /// Records that holdfast (re)started `service`'s container now.
    pub fn started(&mut self, service: &str) {
        self.services
            .entry(service.to_string())
            .or_default()
            .last_start = Some(Instant::now());
    }

    /// Records that `service` is running and well; clears its count once it has run for
    /// [`STABLE_AFTER`].
    pub fn ready(&mut self, service: &str) {
        if let Some(s) = self.services.get_mut(service)
            && s.last_start.is_none_or(|t| t.elapsed() >= STABLE_AFTER)
        {
            s.count = 0;
        }
    }

    /// How long `service` must wait before its next start, if at all.
    pub fn wait(&self, service: &str) -> Option<Duration> {
        let s = self.services.get(service)?;
        if s.count == 0 {
            return None;
        }
        let since = s.last_start?.elapsed();
        self.policy
            .nominal(s.count)
            .checked_sub(since)
            .filter(|d| !d.is_zero())
    }

    /// Crashes counted for `service`.
    pub fn count(&self, service: &str) -> u32 {
        self.services.get(service).map_or(0, |s| s.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn crashes_back_off_and_kills_do_not() {
        let mut c = CrashLoop::default();
        // An operator kills the container: not a crash.
        c.started("web");
        c.on_event("web", "c1", "kill");
        c.on_event("web", "c1", "die");
        assert_eq!(c.wait("web"), None);
        // It crashes by itself three times: 1 s, 2 s, 4 s.
        for (n, want) in [(1u32, 1u64), (2, 2), (3, 4)] {
            c.on_event("web", "c1", "start");
            c.on_event("web", "c1", "die");
            assert_eq!(c.count("web"), n);
            c.started("web");
            assert_eq!(c.wait("web"), Some(Duration::from_secs(want)));
            tokio::time::advance(Duration::from_millis(500)).await;
            assert_eq!(
                c.wait("web"),
                Some(Duration::from_millis(want * 1000 - 500))
            );
        }
        // Up for 10 s: the count clears.
        tokio::time::advance(STABLE_AFTER).await;
        c.ready("web");
        assert_eq!(c.count("web"), 0);
        assert_eq!(c.wait("web"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn ready_soon_after_a_start_keeps_the_count() {
        let mut c = CrashLoop::default();
        c.on_event("web", "c1", "die");
        c.started("web");
        c.ready("web");
        assert_eq!(c.count("web"), 1, "running for a moment is not stable");
        c.on_event("db", "c2", "oom");
        assert_eq!(c.count("db"), 1, "an OOM kill is the container's own doing");
    }
}
