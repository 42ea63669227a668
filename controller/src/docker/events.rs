//! Docker's event stream for a project: container, network, volume and image events,
//! taken into the project's [`EngineCache`] and turned into services to reconcile at
//! once.
//!
//! [`follow`] subscribes, relists the cache, and then, for each event, re-reads the one
//! object it names *before* telling the controller, so that the reconcile the event
//! triggers plans on what the event did. When the stream fails (the engine restarted,
//! the socket was cut) the cache is marked untrusted at once; the follower subscribes
//! again with `since` = the time of the last event it saw, so that nothing that
//! happened in between is missed, relists, and asks the controller to look at every
//! service again (level-triggered: "look again", not "replay what you missed"). A full
//! relist also runs every [`FollowOptions::relist_every`] to heal anything missed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::cache::{Effect, EngineCache};
use super::ownership as labels;

/// Container events that mean the live state may have left the desired state.
pub const WATCHED_ACTIONS: &[&str] = &[
    "start",
    "die",
    "oom",
    "stop",
    "kill",
    "destroy",
    "health_status",
    "pause",
    "rename",
    "update",
];

/// The event types followed.
pub const TYPES: &[&str] = &["container", "network", "volume", "image"];

/// A container event of an owned container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// The service named by the container's `io.holdfast.service` label.
    pub service: String,
    /// Docker's action, such as `die` or `health_status: unhealthy`.
    pub action: String,
    /// The container ID.
    pub container: String,
}

impl ContainerEvent {
    /// The event as the runtime hands it to every kind: a `container` event with the
    /// ownership labels of `project`'s service.
    pub fn host_event(&self, project: &str) -> crate::runtime::kind::HostEvent {
        crate::runtime::kind::HostEvent {
            object: "container".into(),
            action: self.action.clone(),
            id: self.container.clone(),
            labels: labels::ownership(project, &self.service),
        }
    }
}

/// What the follower tells the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A container of the project changed; the cache already shows it. Feed it to
    /// `Controller::on_host_event` (see [`ContainerEvent::host_event`]).
    Container(ContainerEvent),
    /// The cache was relisted (at start, after a reconnect, periodically) or a network
    /// or volume of the project changed: queue every service (`Controller::trigger_all`).
    Resynced,
}

/// How the follower behaves.
#[derive(Debug, Clone, Copy)]
pub struct FollowOptions {
    /// How often the cache is relisted in full even when the stream stays up.
    pub relist_every: Duration,
    /// The first delay before subscribing again after a failure; it doubles up to
    /// `max_backoff`.
    pub min_backoff: Duration,
    /// The longest delay between attempts while the engine does not answer.
    pub max_backoff: Duration,
}

impl Default for FollowOptions {
    /// A relist every 5 minutes; retries after 200 ms, doubling up to 1 s.
    fn default() -> Self {
        FollowOptions {
            relist_every: Duration::from_secs(300),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// How far back the first subscription reaches, so that events during the first relist
/// are not missed even when the engine's clock is a little behind.
const FIRST_SINCE_MARGIN: Duration = Duration::from_secs(1);

/// Docker's `since`: seconds since the epoch with nanoseconds.
fn since_arg(time_ns: i64) -> String {
    format!(
        "{}.{:09}",
        time_ns.div_euclid(1_000_000_000),
        time_ns.rem_euclid(1_000_000_000)
    )
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Why one subscription ended.
enum Ended {
    /// The receiver is gone: stop.
    Closed,
    /// The stream or a read failed: subscribe again.
    Failed(bollard::errors::Error),
    /// The stream ended without an error (the engine is shutting down).
    Eof,
}

/// Follows the engine's events for `cache`'s project until `tx` is closed: relists the
/// cache on every (re)subscription and every `options.relist_every`, takes each event
/// into the cache, and then sends what the controller should do on `tx`.
pub async fn follow(
    docker: Docker,
    cache: Arc<EngineCache>,
    tx: mpsc::Sender<Notice>,
    options: FollowOptions,
) {
    let mut delay = options.min_backoff;
    let mut since = cache
        .last_event_ns()
        .unwrap_or_else(|| now_ns() - i64::try_from(FIRST_SINCE_MARGIN.as_nanos()).unwrap_or(0));
    loop {
        let relists = cache.relists();
        match subscribe(&docker, &cache, &tx, since, options).await {
            Ended::Closed => return,
            Ended::Failed(e) => {
                tracing::warn!(project = cache.project(), error = %e, "docker event stream failed; the engine cache is not trusted until it reconnects");
            }
            Ended::Eof => {
                tracing::warn!(
                    project = cache.project(),
                    "docker event stream ended; reconnecting"
                );
            }
        }
        cache.set_offline();
        if let Some(last) = cache.last_event_ns() {
            since = last;
        }
        if tx.is_closed() {
            return;
        }
        if cache.relists() > relists {
            // It was up for a while: retry soon.
            delay = options.min_backoff;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(options.max_backoff);
    }
}

/// One subscription: subscribe from `since`, relist, then take events in until the
/// stream fails.
async fn subscribe(
    docker: &Docker,
    cache: &EngineCache,
    tx: &mpsc::Sender<Notice>,
    since: i64,
    options: FollowOptions,
) -> Ended {
    let filters: HashMap<String, Vec<String>> = HashMap::from([(
        "type".to_string(),
        TYPES.iter().map(|t| t.to_string()).collect(),
    )]);
    let query = EventsOptionsBuilder::default()
        .filters(&filters)
        .since(&since_arg(since))
        .build();
    // The request is sent when the stream is first polled; `since` makes the engine
    // replay what happens from now on, so relisting first loses nothing.
    let mut stream = docker.events(Some(query));
    match cache.relist().await {
        Ok(found) => {
            tracing::info!(
                project = cache.project(),
                containers = found.containers,
                networks = found.networks,
                volumes = found.volumes,
                "engine cache relisted"
            );
        }
        Err(e) => return Ended::Failed(e),
    }
    if tx.send(Notice::Resynced).await.is_err() {
        return Ended::Closed;
    }
    let mut relist = tokio::time::interval(options.relist_every);
    relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    relist.tick().await;
    loop {
        tokio::select! {
            item = stream.next() => {
                let message = match item {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => return Ended::Failed(e),
                    None => return Ended::Eof,
                };
                let effect = match cache.on_event(&message).await {
                    Ok(effect) => effect,
                    Err(e) => return Ended::Failed(e),
                };
                let notice = match effect {
                    Effect::Service { service, action, container } => {
                        Notice::Container(ContainerEvent { service, action, container })
                    }
                    Effect::All => Notice::Resynced,
                    Effect::Nothing => continue,
                };
                if tx.send(notice).await.is_err() {
                    return Ended::Closed;
                }
            }
            _ = relist.tick() => {
                if let Err(e) = cache.relist().await {
                    return Ended::Failed(e);
                }
                if tx.send(Notice::Resynced).await.is_err() {
                    return Ended::Closed;
                }
            }
            () = tx.closed() => return Ended::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_has_nanoseconds() {
        assert_eq!(since_arg(1_700_000_000_123_456_789), "1700000000.123456789");
        assert_eq!(since_arg(5), "0.000000005");
    }

    #[test]
    fn backoff_defaults_are_short() {
        let o = FollowOptions::default();
        assert_eq!(o.relist_every, Duration::from_secs(300));
        assert!(o.max_backoff <= Duration::from_secs(1));
    }
}
