//! A level-triggered work queue keyed by resource.
//!
//! - A key is queued at most once: adding a queued key again does nothing.
//! - A key is never handed out twice at the same time: adding a key that is being
//!   reconciled marks it dirty, and it is queued again when that reconcile is done.
//! - Delayed adds (retries, resyncs) keep the earliest deadline; an immediate add wins
//!   over a pending delay.
//! - Concurrency across keys is bounded by the number of workers that call
//!   [`WorkQueue::next`] ([`run_workers`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug)]
struct State<K> {
    ready: VecDeque<K>,
    in_ready: HashSet<K>,
    delayed: BTreeMap<(Instant, u64), K>,
    delayed_at: HashMap<K, (Instant, u64)>,
    active: HashSet<K>,
    dirty: HashSet<K>,
    seq: u64,
    closed: bool,
}

/// The queue. Share it with `Arc`.
#[derive(Debug)]
pub struct WorkQueue<K> {
    state: Mutex<State<K>>,
    wake: Notify,
}

impl<K: Clone + Eq + Hash> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash> WorkQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        WorkQueue {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                in_ready: HashSet::new(),
                delayed: BTreeMap::new(),
                delayed_at: HashMap::new(),
                active: HashSet::new(),
                dirty: HashSet::new(),
                seq: 0,
                closed: false,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        // A panic while holding the lock cannot leave the state half-changed in a way
        // that matters more than stopping the controller would, so keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` now.
    pub fn add(&self, key: K) {
        {
            let mut s = self.lock();
            if s.closed {
                return;
            }
            if let Some(at) = s.delayed_at.remove(&key) {
                s.delayed.remove(&at);
            }
            Self::make_ready(&mut s, key);
        }
        self.wake.notify_waiters();
    }

    fn make_ready(s: &mut State<K>, key: K) {
        if s.active.contains(&key) {
            s.dirty.insert(key);
        } else if s.in_ready.insert(key.clone()) {
            s.ready.push_back(key);
        }
    }

    /// Queues `key` after `delay`, unless it is due sooner already.
    pub fn add_after(&self, key: K, delay: Duration) {
        {
            let mut s = self.lock();
            if s.closed || s.in_ready.contains(&key) {
                return;
            }
            let at = Instant::now() + delay;
            if let Some(existing) = s.delayed_at.get(&key).copied() {
                if existing.0 <= at {
                    return;
                }
                s.delayed.remove(&existing);
            }
            s.seq += 1;
            let slot = (at, s.seq);
            s.delayed.insert(slot, key.clone());
            s.delayed_at.insert(key, slot);
        }
        self.wake.notify_waiters();
    }

    /// Waits for the next key to reconcile and marks it active. `None` once the queue
    /// is closed.
    pub async fn next(&self) -> Option<K> {
        loop {
            let mut notified = pin!(self.wake.notified());
            notified.as_mut().enable();
            let deadline = {
                let mut s = self.lock();
                if s.closed {
                    return None;
                }
                let now = Instant::now();
                while let Some((&slot, _)) = s.delayed.iter().next() {
                    if slot.0 > now {
                        break;
                    }
                    if let Some(key) = s.delayed.remove(&slot) {
                        s.delayed_at.remove(&key);
                        Self::make_ready(&mut s, key);
                    }
                }
                if let Some(key) = s.ready.pop_front() {
                    s.in_ready.remove(&key);
                    s.active.insert(key.clone());
                    return Some(key);
                }
                s.delayed.keys().next().map(|slot| slot.0)
            };
            match deadline {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Marks `key` as no longer active; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &K) {
        {
            let mut s = self.lock();
            s.active.remove(key);
            if s.dirty.remove(key) && !s.closed {
                Self::make_ready(&mut s, key.clone());
            }
        }
        self.wake.notify_waiters();
    }

    /// Keys waiting now or later (not the active ones).
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.ready.len() + s.delayed.len() + s.dirty.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops handing out keys; workers see `None` from [`WorkQueue::next`].
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_waiters();
    }
}

/// Runs `workers` tasks that take keys from `queue` and reconcile them with `reconcile`
/// until the queue is closed. At most `workers` keys are reconciled at once.
pub async fn run_workers<K, F, Fut>(queue: Arc<WorkQueue<K>>, workers: usize, reconcile: F)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    F: Fn(K) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let reconcile = reconcile.clone();
        tasks.spawn(async move {
            while let Some(key) = queue.next().await {
                reconcile(key.clone()).await;
                queue.done(&key);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_key_is_queued_at_most_once() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, Some("a"));
        assert_eq!(q.next().await, Some("b"));
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_active_key_is_not_handed_out_again_until_done() {
        let q = Arc::new(WorkQueue::new());
        q.add("a");
        assert_eq!(q.next().await, Some("a"));
        q.add("a"); // changed while being reconciled
        q.add("b");
        assert_eq!(q.next().await, Some("b"));
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { q.next().await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            !waiter.is_finished(),
            "`a` must wait for its running reconcile"
        );
        q.done(&"a");
        assert_eq!(waiter.await.unwrap(), Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_fire_at_their_deadline_and_the_earliest_wins() {
        let q = WorkQueue::new();
        let start = Instant::now();
        q.add_after("a", Duration::from_secs(10));
        q.add_after("a", Duration::from_secs(3));
        q.add_after("a", Duration::from_secs(30));
        assert_eq!(q.next().await, Some("a"));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert!(q.is_empty(), "the later deadlines were merged, not kept");
    }

    #[tokio::test(start_paused = true)]
    async fn an_immediate_add_overrides_a_pending_delay() {
        let q = WorkQueue::new();
        let start = Instant::now();
        q.add_after("a", Duration::from_secs(60));
        q.add("a");
        assert_eq!(q.next().await, Some("a"));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn close_releases_waiting_workers() {
        let q = Arc::new(WorkQueue::<&str>::new());
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { q.next().await })
        };
        tokio::task::yield_now().await;
        q.close();
        assert_eq!(waiter.await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn workers_bound_concurrency_and_never_overlap_a_key() {
        let q = Arc::new(WorkQueue::new());
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let per_key: Arc<Mutex<HashSet<u32>>> = Arc::default();
        let done = Arc::new(AtomicUsize::new(0));
        for _round in 0..3 {
            for k in 0..10u32 {
                q.add(k);
            }
        }
        let runner = {
            let (q, running, peak, per_key, done) = (
                q.clone(),
                running.clone(),
                peak.clone(),
                per_key.clone(),
                done.clone(),
            );
            tokio::spawn(run_workers(q.clone(), 3, move |k: u32| {
                let (q, running, peak, per_key, done) = (
                    q.clone(),
                    running.clone(),
                    peak.clone(),
                    per_key.clone(),
                    done.clone(),
                );
                async move {
                    assert!(
                        per_key.lock().unwrap().insert(k),
                        "key {k} reconciled twice at once"
                    );
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    if k == 0 && done.load(Ordering::SeqCst) == 0 {
                        q.add(0); // re-added while active: runs again afterwards
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    per_key.lock().unwrap().remove(&k);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }))
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while done.load(Ordering::SeqCst) < 11 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        q.close();
        runner.await.unwrap();
        assert_eq!(
            done.load(Ordering::SeqCst),
            11,
            "10 keys once each, plus key 0 again"
        );
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
