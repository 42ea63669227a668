//! The cache's logic against a fake engine: event sequences, tickets, relists, and the
//! number of calls each costs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bollard::models::{EventActor, EventMessage, EventMessageTypeEnum};

use super::*;
use crate::resources::service::fixtures;
use crate::resources::service::live::ContainerState;

/// An engine in memory that counts the calls made to it.
#[derive(Debug, Default)]
struct Fake {
    containers: Mutex<BTreeMap<String, LiveContainer>>,
    networks: Mutex<Vec<NamedObject>>,
    volumes: Mutex<Vec<NamedObject>>,
    images: Mutex<BTreeMap<String, ImageInfo>>,
    calls: Mutex<Vec<String>>,
    down: Mutex<bool>,
}

fn unreachable_engine() -> EngineError {
    EngineError::DockerResponseServerError {
        status_code: 500,
        message: "the fake engine is down".into(),
    }
}

impl Fake {
    fn call(&self, what: &str) -> Result<(), EngineError> {
        lock(&self.calls).push(what.to_string());
        if *lock(&self.down) {
            return Err(unreachable_engine());
        }
        Ok(())
    }

    fn calls(&self) -> usize {
        lock(&self.calls).len()
    }

    fn add(&self, live: LiveContainer) {
        lock(&self.containers).insert(live.id.clone(), live);
    }

    fn set_state(&self, id: &str, state: ContainerState) {
        if let Some(c) = lock(&self.containers).get_mut(id) {
            c.state = state;
        }
    }

    fn remove(&self, id: &str) {
        lock(&self.containers).remove(id);
    }
}

impl Engine for Fake {
    fn list_containers<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>> {
        async move {
            self.call("list containers")?;
            // Newest first, as the engine lists them: the fake's IDs sort by age.
            Ok(lock(&self.containers)
                .values()
                .rev()
                .filter(|c| labels::is_owned_by(&c.labels, project))
                .map(|c| c.id.clone())
                .collect())
        }
        .boxed()
    }

    fn inspect_container<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveContainer>, EngineError>> {
        async move {
            self.call("inspect container")?;
            Ok(lock(&self.containers).get(id).cloned())
        }
        .boxed()
    }

    fn list_named<'a>(
        &'a self,
        kind: Named,
        _project: &'a str,
        name: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<NamedObject>, EngineError>> {
        async move {
            self.call(match kind {
                Named::Network => "list networks",
                Named::Volume => "list volumes",
            })?;
            let objects = match kind {
                Named::Network => &self.networks,
                Named::Volume => &self.volumes,
            };
            Ok(lock(objects)
                .iter()
                .filter(|n| name.is_none_or(|want| n.name == want))
                .cloned()
                .collect())
        }
        .boxed()
    }

    fn inspect_image<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<ImageInfo>, EngineError>> {
        async move {
            self.call("inspect image")?;
            Ok(lock(&self.images).get(reference).cloned())
        }
        .boxed()
    }
}

/// A running container `id` of service `service` of project `shop`.
fn container(id: &str, service: &str) -> LiveContainer {
    let (_, _, mut live) = fixtures::web();
    live.id = id.to_string();
    live.name = format!("shop-{service}");
    live.labels
        .insert(labels::SERVICE.to_string(), service.to_string());
    live
}

fn network(name: &str) -> NamedObject {
    NamedObject {
        name: name.to_string(),
        id: format!("id-{name}"),
        labels: labels::ownership("shop", "x"),
    }
}

fn event(
    typ: EventMessageTypeEnum,
    action: &str,
    id: &str,
    attrs: &[(&str, &str)],
) -> EventMessage {
    EventMessage {
        typ: Some(typ),
        action: Some(action.to_string()),
        actor: Some(EventActor {
            id: Some(id.to_string()),
            attributes: Some(
                attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }),
        scope: None,
        time: Some(1_700_000_000),
        time_nano: Some(1_700_000_000_000_000_000),
    }
}

fn container_event(action: &str, id: &str, service: &str) -> EventMessage {
    event(
        EventMessageTypeEnum::CONTAINER,
        action,
        id,
        &[(labels::PROJECT, "shop"), (labels::SERVICE, service)],
    )
}

async fn filled(fake: Arc<Fake>) -> Arc<EngineCache> {
    let cache = EngineCache::new(fake, "shop");
    cache.relist().await.unwrap();
    cache
}

fn states(cache: &EngineCache, service: &str) -> Vec<(String, ContainerState)> {
    cache
        .containers(Some(service))
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l.state))
        .collect()
}

#[tokio::test]
async fn relist_fills_and_a_pass_over_unchanged_services_costs_nothing() {
    let fake = Arc::new(Fake::default());
    for i in 0..20 {
        fake.add(container(&format!("c{i:02}"), &format!("s{i:02}")));
    }
    lock(&fake.networks).push(network("shop_default"));
    let cache = EngineCache::new(fake.clone(), "shop");
    assert!(!cache.is_live());
    assert_eq!(
        cache.containers(Some("s01")),
        None,
        "not trusted before a relist"
    );
    let found = cache.relist().await.unwrap();
    assert_eq!(
        found,
        Relisted {
            containers: 20,
            networks: 1,
            volumes: 0
        }
    );
    // One list of each kind and one inspect per container.
    assert_eq!(fake.calls(), 3 + 20);
    let before = fake.calls();
    for i in 0..20 {
        let service = format!("s{i:02}");
        assert_eq!(states(&cache, &service).len(), 1);
        assert!(cache.has(Named::Network, "shop_default"));
    }
    assert_eq!(fake.calls(), before, "reads from a live cache make no call");
}

#[tokio::test]
async fn a_kill_is_seen_before_the_service_is_queued() {
    let fake = Arc::new(Fake::default());
    fake.add(container("c1", "web"));
    let cache = filled(fake.clone()).await;
    let before = fake.calls();

    fake.set_state("c1", ContainerState::Exited { code: 137 });
    // `kill` is not re-read (the `die` that follows is) but it is passed on.
    let effect = cache
        .on_event(&container_event("kill", "c1", "web"))
        .await
        .unwrap();
    assert!(matches!(effect, Effect::Service { ref action, .. } if action == "kill"));
    assert_eq!(fake.calls(), before);
    let effect = cache
        .on_event(&container_event("die", "c1", "web"))
        .await
        .unwrap();
    assert_eq!(
        effect,
        Effect::Service {
            service: "web".into(),
            action: "die".into(),
            container: "c1".into()
        }
    );
    assert_eq!(fake.calls(), before + 1, "one inspect of the one container");
    assert_eq!(
        states(&cache, "web"),
        vec![("c1".to_string(), ContainerState::Exited { code: 137 })]
    );

    // `docker rm -f`: destroy removes it without a call.
    fake.remove("c1");
    let effect = cache
        .on_event(&container_event("destroy", "c1", "web"))
        .await
        .unwrap();
    assert!(matches!(effect, Effect::Service { .. }));
    assert_eq!(fake.calls(), before + 1);
    assert!(states(&cache, "web").is_empty());
    assert_eq!(cache.last_event_ns(), Some(1_700_000_000_000_000_000));
}

#[tokio::test]
async fn events_of_other_projects_and_exec_noise_cost_nothing() {
    let fake = Arc::new(Fake::default());
    let cache = filled(fake.clone()).await;
    let before = fake.calls();
    let other = event(
        EventMessageTypeEnum::CONTAINER,
        "die",
        "x1",
        &[(labels::PROJECT, "blog"), (labels::SERVICE, "web")],
    );
    assert_eq!(cache.on_event(&other).await.unwrap(), Effect::Nothing);
    let exec = container_event("exec_start: wget -q", "c1", "web");
    assert_eq!(cache.on_event(&exec).await.unwrap(), Effect::Nothing);
    let foreign_net = event(
        EventMessageTypeEnum::NETWORK,
        "create",
        "n1",
        &[("name", "blog_default")],
    );
    assert_eq!(cache.on_event(&foreign_net).await.unwrap(), Effect::Nothing);
    assert_eq!(fake.calls(), before);
}

#[tokio::test]
async fn a_container_made_by_hand_appears_with_its_create_event() {
    let fake = Arc::new(Fake::default());
    let cache = filled(fake.clone()).await;
    fake.add(container("c9", "web"));
    let effect = cache
        .on_event(&container_event("create", "c9", "web"))
        .await
        .unwrap();
    assert_eq!(effect, Effect::Nothing, "create alone queues nothing");
    assert_eq!(states(&cache, "web").len(), 1);
    let effect = cache
        .on_event(&container_event("start", "c9", "web"))
        .await
        .unwrap();
    assert!(matches!(effect, Effect::Service { .. }));
}

#[tokio::test]
async fn a_late_write_through_never_brings_back_a_removed_container() {
    let fake = Arc::new(Fake::default());
    fake.add(container("c1", "web"));
    let cache = filled(fake.clone()).await;
    // A reconcile took its ticket and read c1 running...
    let slow = cache.ticket();
    let seen = container("c1", "web");
    // ...then c1 was removed and the event taken in...
    fake.remove("c1");
    cache
        .on_event(&container_event("destroy", "c1", "web"))
        .await
        .unwrap();
    // ...before the reconcile wrote what it had read.
    cache.put_container(slow, seen);
    assert!(states(&cache, "web").is_empty());

    // Nor does an older read overwrite a newer one.
    fake.add(container("c2", "web"));
    let old = cache.ticket();
    let mut stale = container("c2", "web");
    stale.state = ContainerState::Created;
    cache
        .on_event(&container_event("start", "c2", "web"))
        .await
        .unwrap();
    cache.put_container(old, stale);
    assert_eq!(
        states(&cache, "web"),
        vec![("c2".to_string(), ContainerState::Running)]
    );
}

#[tokio::test]
async fn a_relist_heals_what_events_missed_and_keeps_newer_writes() {
    let fake = Arc::new(Fake::default());
    fake.add(container("c1", "web"));
    fake.add(container("c2", "db"));
    let cache = filled(fake.clone()).await;
    // Missed: db's container went away, web's died, a new one of `cache` appeared.
    fake.remove("c2");
    fake.set_state("c1", ContainerState::Exited { code: 1 });
    fake.add(container("c3", "cache"));
    cache.relist().await.unwrap();
    assert!(states(&cache, "db").is_empty());
    assert_eq!(
        states(&cache, "web"),
        vec![("c1".to_string(), ContainerState::Exited { code: 1 })]
    );
    assert_eq!(states(&cache, "cache").len(), 1);
    assert_eq!(cache.relists(), 2);
    // A read that started before the last relist cannot add a container it did not see.
    let before_relist = cache.ticket();
    cache.relist().await.unwrap();
    cache.put_container(before_relist, container("c4", "db"));
    assert!(states(&cache, "db").is_empty());
}

#[tokio::test]
async fn offline_and_unsettled_services_are_observed_directly() {
    let fake = Arc::new(Fake::default());
    fake.add(container("c1", "web"));
    let cache = filled(fake.clone()).await;
    cache.set_settled("web", false);
    assert_eq!(cache.containers(Some("web")), None);
    assert!(cache.containers(Some("db")).is_some());
    cache.set_settled("web", true);
    assert!(cache.containers(Some("web")).is_some());

    // The stream failed: nothing is trusted until a relist succeeds.
    lock(&fake.networks).push(network("shop_default"));
    cache.relist().await.unwrap();
    cache.set_offline();
    assert_eq!(cache.containers(Some("web")), None);
    assert!(!cache.has(Named::Network, "shop_default"));
    *lock(&fake.down) = true;
    assert!(cache.relist().await.is_err());
    assert!(!cache.is_live());
    *lock(&fake.down) = false;
    cache.relist().await.unwrap();
    assert!(cache.is_live() && cache.has(Named::Network, "shop_default"));
}

#[tokio::test]
async fn service_relists_replace_that_service_only() {
    let fake = Arc::new(Fake::default());
    fake.add(container("c1", "web"));
    fake.add(container("c2", "db"));
    let cache = filled(fake.clone()).await;
    let ticket = cache.ticket();
    let mut replacement = container("c5", "web");
    replacement.state = ContainerState::Created;
    cache.replace_service(ticket, "web", &[replacement]);
    assert_eq!(
        states(&cache, "web"),
        vec![("c5".to_string(), ContainerState::Created)]
    );
    assert_eq!(states(&cache, "db").len(), 1);
}

#[tokio::test]
async fn networks_volumes_and_images_follow_their_events() {
    let fake = Arc::new(Fake::default());
    let cache = filled(fake.clone()).await;
    let before = fake.calls();

    lock(&fake.networks).push(network("shop_backend"));
    let created = event(
        EventMessageTypeEnum::NETWORK,
        "create",
        "n1",
        &[("name", "shop_backend"), ("type", "bridge")],
    );
    assert_eq!(cache.on_event(&created).await.unwrap(), Effect::All);
    assert!(cache.has(Named::Network, "shop_backend"));
    assert_eq!(fake.calls(), before + 1, "one list of that network");
    // A duplicate (two networks with the name) is not "known": ensure must look.
    lock(&fake.networks).push(network("shop_backend"));
    cache.on_event(&created).await.unwrap();
    assert!(!cache.has(Named::Network, "shop_backend"));
    let destroyed = event(
        EventMessageTypeEnum::NETWORK,
        "destroy",
        "n1",
        &[("name", "shop_backend")],
    );
    assert_eq!(cache.on_event(&destroyed).await.unwrap(), Effect::All);
    assert!(!cache.has(Named::Network, "shop_backend"));

    lock(&fake.volumes).push(NamedObject {
        name: "shop_pgdata".into(),
        id: "shop_pgdata".into(),
        labels: BTreeMap::new(),
    });
    let vol = event(EventMessageTypeEnum::VOLUME, "create", "shop_pgdata", &[]);
    assert_eq!(cache.on_event(&vol).await.unwrap(), Effect::All);
    assert!(cache.has(Named::Volume, "shop_pgdata"));
    let vol_gone = event(EventMessageTypeEnum::VOLUME, "destroy", "shop_pgdata", &[]);
    cache.on_event(&vol_gone).await.unwrap();
    assert!(!cache.has(Named::Volume, "shop_pgdata"));

    let info = ImageInfo {
        id: "sha256:1".into(),
        ..ImageInfo::default()
    };
    cache.put_image(cache.image_epoch(), "busybox:1", info.clone());
    assert_eq!(cache.image("busybox:1"), Some(info.clone()));
    // A read that started before a drop does not store what it found.
    let epoch = cache.image_epoch();
    let tag = event(
        EventMessageTypeEnum::IMAGE,
        "tag",
        "sha256:2",
        &[("name", "busybox:1")],
    );
    let calls = fake.calls();
    assert_eq!(cache.on_event(&tag).await.unwrap(), Effect::Nothing);
    assert_eq!(fake.calls(), calls, "images are dropped, not read");
    assert_eq!(cache.image("busybox:1"), None);
    cache.put_image(epoch, "busybox:1", info);
    assert_eq!(cache.image("busybox:1"), None);
}

#[tokio::test]
async fn a_network_attachment_rereads_the_container() {
    let fake = Arc::new(Fake::default());
    fake.add(container("c1", "web"));
    let cache = filled(fake.clone()).await;
    let mut detached = container("c1", "web");
    detached.networks.clear();
    fake.add(detached);
    let disconnect = event(
        EventMessageTypeEnum::NETWORK,
        "disconnect",
        "n1",
        &[("name", "shop_default"), ("container", "c1")],
    );
    let effect = cache.on_event(&disconnect).await.unwrap();
    assert_eq!(
        effect,
        Effect::Service {
            service: "web".into(),
            action: "network:disconnect".into(),
            container: "c1".into()
        }
    );
    assert!(
        cache.containers(Some("web")).unwrap()[0]
            .networks
            .is_empty()
    );
    // A container the cache does not hold (another project's) costs nothing.
    let calls = fake.calls();
    let other = event(
        EventMessageTypeEnum::NETWORK,
        "connect",
        "n2",
        &[("name", "blog_default"), ("container", "zz")],
    );
    assert_eq!(cache.on_event(&other).await.unwrap(), Effect::Nothing);
    assert_eq!(fake.calls(), calls);
}

#[test]
fn classify_reads_docker_events() {
    assert_eq!(
        classify(
            "shop",
            &container_event("health_status: unhealthy", "c1", "web")
        ),
        Change::Container {
            id: "c1".into(),
            service: Some("web".into()),
            action: "health_status: unhealthy".into()
        }
    );
    assert_eq!(
        classify(
            "shop",
            &event(EventMessageTypeEnum::IMAGE, "pull", "busybox:1", &[])
        ),
        Change::Images
    );
    assert_eq!(
        classify(
            "shop",
            &event(EventMessageTypeEnum::IMAGE, "push", "busybox:1", &[])
        ),
        Change::Ignored
    );
    assert_eq!(
        classify(
            "shop",
            &event(EventMessageTypeEnum::DAEMON, "reload", "d", &[])
        ),
        Change::Ignored
    );
}
