//! An engine cache for one project, in the style of kube-runtime's `reflector::Store`:
//! what observe needs to know of the engine, kept in memory so that a pass over
//! unchanged services costs no Docker API calls.
//!
//! - **What it holds:** the project's containers (`id →` [`LiveContainer`], the value
//!   `docker inspect` gives), its networks and volumes by name with their labels, and
//!   the images the services run (`reference →` [`ImageInfo`]).
//! - **How it is filled:** [`EngineCache::relist`] lists the project's containers,
//!   networks and volumes and inspects every container. The event follower
//!   ([`events::follow`](super::events::follow)) relists at start, after every
//!   reconnect of Docker's event stream, and every few minutes to heal anything
//!   missed.
//! - **How it is kept true:** for each event, [`EngineCache::on_event`] re-reads only the
//!   object the event names (one inspect of a container, one list of a network or
//!   volume by name; image events just drop the images), before the follower queues
//!   the service, so a reconcile never plans on an entry older than the event that
//!   queued it.
//! - **Write-through:** a reconcile that created, started or removed a container stores
//!   the one inspect it makes anyway ([`EngineCache::put_container`],
//!   [`EngineCache::forget_container`]).
//! - **When it is not trusted:** until the first relist, and from the moment the event
//!   stream fails until the next relist ([`EngineCache::is_live`]), and for a service
//!   whose last reconcile did not end settled (Ready, or drifted and reported): observe
//!   then asks the engine directly ([`EngineCache::set_settled`]). A one-shot `holdfast
//!   apply` relists once and never follows events; that rule is what lets it wait for
//!   a container to become healthy.
//!
//! Each read of a container takes a ticket ([`EngineCache::ticket`]) before it asks the
//! engine, and an entry is replaced only by a read that started later than the one
//! that wrote it (a removal leaves a tombstone with its ticket). So a slow write-through
//! can never put back what a later event removed or changed: the latest read wins, as
//! a resourceVersion would decide.
//!
//! The engine is reached through the [`Engine`] trait, so the cache's logic is tested
//! without Docker against a fake engine that counts its calls.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::models::EventMessage;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};

use super::image::{self, ImageInfo};
use super::ownership as labels;
use crate::resources::service::live::LiveContainer;
use crate::resources::service::observe;
use crate::runtime::lock;

/// The engine's error type.
pub type EngineError = bollard::errors::Error;

/// How many containers a relist inspects at once.
const INSPECT_CONCURRENCY: usize = 8;

/// The two kinds of object the cache keeps by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// Networks.
    Network,
    /// Volumes.
    Volume,
}

/// A network or volume as its list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedObject {
    /// Its Docker name, such as `shop_default`.
    pub name: String,
    /// The network ID (a volume's name).
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// What the cache asks of the engine. [`Docker`] implements it; the tests use a fake.
pub trait Engine: Send + Sync + std::fmt::Debug {
    /// The IDs of `project`'s containers, running or not, newest first.
    fn list_containers<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>>;
    /// One container; `None` when it is gone.
    fn inspect_container<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveContainer>, EngineError>>;
    /// `project`'s networks or volumes (only those named `name`, when given).
    fn list_named<'a>(
        &'a self,
        kind: Named,
        project: &'a str,
        name: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<NamedObject>, EngineError>>;
    /// A local image; `None` when it is not present.
    fn inspect_image<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<ImageInfo>, EngineError>>;
}

impl Engine for Docker {
    fn list_containers<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>> {
        async move {
            let owned = observe::owned_containers(self, project, None).await?;
            Ok(owned.into_iter().map(|(id, _)| id).collect())
        }
        .boxed()
    }

    fn inspect_container<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveContainer>, EngineError>> {
        observe::inspect(self, id).boxed()
    }

    fn list_named<'a>(
        &'a self,
        kind: Named,
        project: &'a str,
        name: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<NamedObject>, EngineError>> {
        async move {
            let mut filters = labels::label_filters(project, None);
            let found: Vec<NamedObject> = match kind {
                Named::Network => {
                    if let Some(name) = name {
                        filters.insert("name".to_string(), vec![format!("^{name}$")]);
                    }
                    let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
                        .filters(&filters)
                        .build();
                    self.list_networks(Some(options))
                        .await?
                        .into_iter()
                        .filter_map(|n| {
                            Some(NamedObject {
                                name: n.name?,
                                id: n.id.unwrap_or_default(),
                                labels: n.labels.unwrap_or_default().into_iter().collect(),
                            })
                        })
                        .collect()
                }
                Named::Volume => {
                    if let Some(name) = name {
                        // A substring match for volumes; the exact name is kept below.
                        filters.insert("name".to_string(), vec![name.to_string()]);
                    }
                    let options = bollard::query_parameters::ListVolumesOptionsBuilder::default()
                        .filters(&filters)
                        .build();
                    self.list_volumes(Some(options))
                        .await?
                        .volumes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|v| NamedObject {
                            id: v.name.clone(),
                            name: v.name,
                            labels: v.labels.into_iter().collect(),
                        })
                        .collect()
                }
            };
            Ok(found
                .into_iter()
                .filter(|n| name.is_none_or(|want| n.name == want))
                .collect())
        }
        .boxed()
    }

    fn inspect_image<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<ImageInfo>, EngineError>> {
        image::inspect(self, reference).boxed()
    }
}

/// One cached container.
#[derive(Debug, Clone)]
struct Entry {
    /// The ticket of the read that wrote it.
    ticket: u64,
    /// When it was first seen (a ticket): newer containers have larger ones.
    first_seen: u64,
    live: LiveContainer,
}

#[derive(Debug, Default)]
struct State {
    /// Filled by a relist and not invalidated since.
    live: bool,
    containers: HashMap<String, Entry>,
    /// Container ID → ticket of the read that found it gone.
    tombstones: HashMap<String, u64>,
    /// The ticket the last relist took before listing: a read that started before it
    /// may not add a container the relist did not see.
    floor: u64,
    /// Networks by name (several when a name is duplicated).
    networks: BTreeMap<String, Vec<NamedObject>>,
    /// Volumes by name.
    volumes: BTreeMap<String, Vec<NamedObject>>,
    images: HashMap<String, ImageInfo>,
    /// Counts image invalidations: an image read that started before the last one is
    /// not stored.
    image_epoch: u64,
    /// Services observed directly until a reconcile finds them settled.
    unsettled: HashSet<String>,
    /// `timeNano` of the last event seen.
    last_event_ns: Option<i64>,
    relists: u64,
}

/// What an event means for the cache and the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A container of the project changed; `gone` after `destroy`.
    Container {
        /// The container ID.
        id: String,
        /// Its service label.
        service: Option<String>,
        /// Docker's action, such as `die` or `health_status: healthy`.
        action: String,
    },
    /// A container was connected to or disconnected from a network.
    Attachment {
        /// The container ID.
        container: String,
        /// `connect` or `disconnect`.
        action: String,
    },
    /// A network that may be the project's was created or removed.
    Network {
        /// Its name.
        name: String,
        /// Whether it was removed.
        gone: bool,
    },
    /// A volume that may be the project's was created or removed.
    Volume {
        /// Its name.
        name: String,
        /// Whether it was removed.
        gone: bool,
    },
    /// An image was pulled, tagged, untagged, deleted, loaded or imported.
    Images,
    /// Nothing the project cares about.
    Ignored,
}

/// Container actions after which the container is inspected again. `kill` is not one:
/// the `die` that follows is.
pub const REINSPECT_ACTIONS: &[&str] = &[
    "create",
    "start",
    "restart",
    "die",
    "oom",
    "stop",
    "pause",
    "unpause",
    "rename",
    "update",
    "health_status",
];

/// Image actions that make a cached image stale.
pub const IMAGE_ACTIONS: &[&str] = &["pull", "tag", "untag", "delete", "import", "load"];

/// The first word of an action (`health_status: healthy` → `health_status`).
pub fn base_action(action: &str) -> &str {
    action.split(':').next().unwrap_or("").trim()
}

/// What `message` means for `project`'s cache.
pub fn classify(project: &str, message: &EventMessage) -> Change {
    use bollard::models::EventMessageTypeEnum as Type;
    let action = message.action.clone().unwrap_or_default();
    let base = base_action(&action).to_string();
    let actor = message.actor.clone().unwrap_or_default();
    let id = actor.id.unwrap_or_default();
    let attributes = actor.attributes.unwrap_or_default();
    let prefix = format!("{project}_");
    match message.typ {
        Some(Type::CONTAINER) => {
            if attributes.get(labels::PROJECT).map(String::as_str) != Some(project) {
                return Change::Ignored;
            }
            let watched = REINSPECT_ACTIONS.contains(&base.as_str())
                || super::events::WATCHED_ACTIONS.contains(&base.as_str());
            if !watched || id.is_empty() {
                return Change::Ignored;
            }
            Change::Container {
                id,
                service: attributes.get(labels::SERVICE).cloned(),
                action,
            }
        }
        Some(Type::NETWORK) => {
            let name = attributes.get("name").cloned().unwrap_or_default();
            if !name.starts_with(&prefix) && !matches!(base.as_str(), "connect" | "disconnect") {
                return Change::Ignored;
            }
            match base.as_str() {
                "connect" | "disconnect" => match attributes.get("container") {
                    Some(container) => Change::Attachment {
                        container: container.clone(),
                        action: base,
                    },
                    None => Change::Ignored,
                },
                "create" => Change::Network { name, gone: false },
                "destroy" | "remove" => Change::Network { name, gone: true },
                _ => Change::Ignored,
            }
        }
        Some(Type::VOLUME) => {
            if !id.starts_with(&prefix) {
                return Change::Ignored;
            }
            match base.as_str() {
                "create" => Change::Volume {
                    name: id,
                    gone: false,
                },
                "destroy" => Change::Volume {
                    name: id,
                    gone: true,
                },
                _ => Change::Ignored,
            }
        }
        Some(Type::IMAGE) if IMAGE_ACTIONS.contains(&base.as_str()) => Change::Images,
        _ => Change::Ignored,
    }
}

/// What the follower should tell the controller after the cache took an event in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Queue this service (the event's action, and the container).
    Service {
        /// The service.
        service: String,
        /// Docker's action.
        action: String,
        /// The container ID.
        container: String,
    },
    /// Look at every service again.
    All,
    /// Nothing to queue.
    Nothing,
}

/// What a relist found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relisted {
    /// Containers of the project.
    pub containers: usize,
    /// Networks of the project.
    pub networks: usize,
    /// Volumes of the project.
    pub volumes: usize,
}

/// The engine cache of one project. See the [module documentation](self).
#[derive(Debug)]
pub struct EngineCache {
    engine: Arc<dyn Engine>,
    project: String,
    tickets: AtomicU64,
    state: Mutex<State>,
    /// Image reference → the lock a read of it holds.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl EngineCache {
    /// An empty cache of `project` (not live until [`EngineCache::relist`]).
    pub fn new(engine: Arc<dyn Engine>, project: &str) -> Arc<Self> {
        Arc::new(EngineCache {
            engine,
            project: project.to_string(),
            tickets: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            inflight: Mutex::new(HashMap::new()),
        })
    }

    /// An empty cache of `project` on the Docker engine `docker`.
    pub fn for_docker(docker: Docker, project: &str) -> Arc<Self> {
        Self::new(Arc::new(docker), project)
    }

    /// The project it caches.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// A ticket for a read about to be made: entries are only replaced by reads with a
    /// later ticket.
    pub fn ticket(&self) -> u64 {
        self.tickets.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Whether the cache may be trusted: relisted, and the event stream not failed since.
    pub fn is_live(&self) -> bool {
        lock(&self.state).live
    }

    /// Marks the cache untrusted (the event stream failed) until the next relist.
    pub fn set_offline(&self) {
        lock(&self.state).live = false;
    }

    /// How many relists have completed.
    pub fn relists(&self) -> u64 {
        lock(&self.state).relists
    }

    /// `timeNano` of the last event seen, for resubscribing with `since`.
    pub fn last_event_ns(&self) -> Option<i64> {
        lock(&self.state).last_event_ns
    }

    /// Lists the project's containers, networks and volumes, inspects every container,
    /// replaces the cache with what it found, drops the cached images, and makes the
    /// cache live. Entries written by reads that started after the list are kept.
    pub async fn relist(&self) -> Result<Relisted, EngineError> {
        let floor = self.ticket();
        let ids = self.engine.list_containers(&self.project).await?;
        let networks = self
            .engine
            .list_named(Named::Network, &self.project, None)
            .await?;
        let volumes = self
            .engine
            .list_named(Named::Volume, &self.project, None)
            .await?;
        let mut reads = futures_util::stream::iter(ids.iter().rev().cloned())
            .map(|id| async move {
                let ticket = self.ticket();
                (id.clone(), ticket, self.engine.inspect_container(&id).await)
            })
            .buffered(INSPECT_CONCURRENCY);
        let mut found = Vec::new();
        while let Some((id, ticket, read)) = reads.next().await {
            found.push((id, ticket, read?));
        }
        let mut state = lock(&self.state);
        state.floor = state.floor.max(floor);
        let listed: HashSet<&String> = ids.iter().collect();
        state
            .containers
            .retain(|id, e| listed.contains(id) || e.ticket > floor);
        state.tombstones.retain(|_, t| *t > floor);
        for (id, ticket, live) in found {
            match live {
                Some(live) => put(&mut state, ticket, live),
                None => forget(&mut state, ticket, &id),
            }
        }
        state.networks = by_name(networks);
        state.volumes = by_name(volumes);
        state.images.clear();
        state.image_epoch += 1;
        state.live = true;
        state.relists += 1;
        Ok(Relisted {
            containers: state.containers.len(),
            networks: state.networks.len(),
            volumes: state.volumes.len(),
        })
    }

    /// Takes in one event: re-reads the one object it names (nothing for events of
    /// other projects), then says whom to queue.
    pub async fn on_event(&self, message: &EventMessage) -> Result<Effect, EngineError> {
        if let Some(t) = message.time_nano {
            let mut state = lock(&self.state);
            state.last_event_ns = Some(state.last_event_ns.map_or(t, |last| last.max(t)));
        }
        self.apply(classify(&self.project, message)).await
    }

    /// Takes in one classified event (see [`EngineCache::on_event`]).
    pub async fn apply(&self, change: Change) -> Result<Effect, EngineError> {
        match change {
            Change::Container {
                id,
                service,
                action,
            } => {
                let base = base_action(&action);
                let ticket = self.ticket();
                if base == "destroy" {
                    self.forget_container(ticket, &id);
                } else if REINSPECT_ACTIONS.contains(&base) {
                    match self.engine.inspect_container(&id).await? {
                        Some(live) => self.put_container(ticket, live),
                        None => self.forget_container(ticket, &id),
                    }
                }
                let watched = super::events::WATCHED_ACTIONS.contains(&base);
                Ok(match service {
                    Some(service) if watched => Effect::Service {
                        service,
                        action,
                        container: id,
                    },
                    _ => Effect::Nothing,
                })
            }
            Change::Attachment { container, action } => {
                let service = {
                    let state = lock(&self.state);
                    state
                        .containers
                        .get(&container)
                        .and_then(|e| labels::service_of(&e.live.labels).map(str::to_string))
                };
                let Some(service) = service else {
                    return Ok(Effect::Nothing);
                };
                let ticket = self.ticket();
                match self.engine.inspect_container(&container).await? {
                    Some(live) => self.put_container(ticket, live),
                    None => self.forget_container(ticket, &container),
                }
                Ok(Effect::Service {
                    service,
                    action: format!("network:{action}"),
                    container,
                })
            }
            Change::Network { name, gone } => self.named_changed(Named::Network, &name, gone).await,
            Change::Volume { name, gone } => self.named_changed(Named::Volume, &name, gone).await,
            Change::Images => {
                self.drop_images();
                Ok(Effect::Nothing)
            }
            Change::Ignored => Ok(Effect::Nothing),
        }
    }

    /// Stores what a read with `ticket` found, unless a later read got there first.
    pub fn put_container(&self, ticket: u64, live: LiveContainer) {
        put(&mut lock(&self.state), ticket, live);
    }

    /// Records that a read with `ticket` found container `id` gone (or that the caller
    /// removed it), unless a later read saw it since.
    pub fn forget_container(&self, ticket: u64, id: &str) {
        forget(&mut lock(&self.state), ticket, id);
    }

    /// Replaces the containers of `service` with what a direct list (taken with
    /// `ticket`) and inspect found.
    pub fn replace_service(&self, ticket: u64, service: &str, lives: &[LiveContainer]) {
        let mut state = lock(&self.state);
        let stale: Vec<String> = state
            .containers
            .iter()
            .filter(|(id, e)| {
                labels::service_of(&e.live.labels) == Some(service)
                    && !lives.iter().any(|l| &l.id == *id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            forget(&mut state, ticket, &id);
        }
        for live in lives {
            put(&mut state, ticket, live.clone());
        }
    }

    /// The cached containers of `service` (every service when `None`), newest first;
    /// `None` when the cache is not live or the service is unsettled, and observe must
    /// ask the engine.
    pub fn containers(&self, service: Option<&str>) -> Option<Vec<LiveContainer>> {
        let state = lock(&self.state);
        if !state.live || service.is_some_and(|s| state.unsettled.contains(s)) {
            return None;
        }
        let mut entries: Vec<&Entry> = state
            .containers
            .values()
            .filter(|e| labels::is_owned_by(&e.live.labels, &self.project))
            .filter(|e| service.is_none_or(|s| labels::service_of(&e.live.labels) == Some(s)))
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.first_seen));
        Some(entries.into_iter().map(|e| e.live.clone()).collect())
    }

    /// Records whether `service`'s last reconcile ended settled. An unsettled service is
    /// observed directly until one does.
    pub fn set_settled(&self, service: &str, settled: bool) {
        let mut state = lock(&self.state);
        if settled {
            state.unsettled.remove(service);
        } else {
            state.unsettled.insert(service.to_string());
        }
    }

    /// Whether the project has exactly one network (or volume) named `name`, so that
    /// there is nothing to create and no duplicate to remove, as far as a live cache
    /// knows.
    #[cfg(test)]
    pub fn has(&self, kind: Named, name: &str) -> bool {
        let mut state = lock(&self.state);
        state.live && state.named(kind).get(name).is_some_and(|n| n.len() == 1)
    }

    /// Whether, as a live cache knows, the project has exactly one network (or volume)
    /// named `name`, owned by the cache's project and made from the spec with hash `spec_hash` (or
    /// from before holdfast labelled the hash): nothing to create, recreate or report.
    pub fn has_current(&self, kind: Named, name: &str, spec_hash: &str) -> bool {
        let project = self.project.as_str();
        let mut state = lock(&self.state);
        state.live
            && state.named(kind).get(name).is_some_and(|found| {
                let [only] = found.as_slice() else {
                    return false;
                };
                only.labels.get(labels::PROJECT).map(String::as_str) == Some(project)
                    && only
                        .labels
                        .get(labels::SPEC_HASH)
                        .is_none_or(|hash| hash == spec_hash)
            })
    }

    /// Lists the network (or volume) `name` again (one call) and stores what was found.
    pub async fn refresh(&self, kind: Named, name: &str) -> Result<(), EngineError> {
        let found = self
            .engine
            .list_named(kind, &self.project, Some(name))
            .await?;
        let mut state = lock(&self.state);
        if found.is_empty() {
            state.named(kind).remove(name);
        } else {
            state.named(kind).insert(name.to_string(), found);
        }
        Ok(())
    }

    /// A network or volume that may be the project's was created or removed: reads it
    /// again, and asks for every service to be looked at when it is the project's.
    async fn named_changed(
        &self,
        kind: Named,
        name: &str,
        gone: bool,
    ) -> Result<Effect, EngineError> {
        let known = || lock(&self.state).named(kind).contains_key(name);
        let had = known();
        if gone {
            lock(&self.state).named(kind).remove(name);
        } else {
            self.refresh(kind, name).await?;
        }
        Ok(if had || known() {
            Effect::All
        } else {
            Effect::Nothing
        })
    }

    /// The cached image `reference`, when the cache is live and has it.
    pub fn image(&self, reference: &str) -> Option<ImageInfo> {
        let state = lock(&self.state);
        if !state.live {
            return None;
        }
        state.images.get(reference).cloned()
    }

    /// The local image `reference`: from the cache when it is live and has it,
    /// otherwise one inspect (stored in the cache). Concurrent reconciles of services
    /// that run the same image wait for one inspect.
    pub async fn image_or_inspect(
        &self,
        reference: &str,
    ) -> Result<Option<ImageInfo>, EngineError> {
        if let Some(info) = self.image(reference) {
            return Ok(Some(info));
        }
        let one = {
            let mut inflight = lock(&self.inflight);
            inflight
                .entry(reference.to_string())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        let _one = one.lock().await;
        if let Some(info) = self.image(reference) {
            return Ok(Some(info));
        }
        let epoch = self.image_epoch();
        let info = self.engine.inspect_image(reference).await?;
        if let Some(info) = &info {
            self.put_image(epoch, reference, info.clone());
        }
        Ok(info)
    }

    /// The image epoch, to be given back to [`EngineCache::put_image`] by a read that
    /// starts now.
    pub fn image_epoch(&self) -> u64 {
        lock(&self.state).image_epoch
    }

    /// Stores what a read of image `reference` that started at `epoch` found, unless
    /// the images were dropped since.
    pub fn put_image(&self, epoch: u64, reference: &str, info: ImageInfo) {
        let mut state = lock(&self.state);
        if state.image_epoch == epoch {
            state.images.insert(reference.to_string(), info);
        }
    }

    /// Drops every cached image (one was pulled, tagged, untagged or deleted).
    pub fn drop_images(&self) {
        let mut state = lock(&self.state);
        state.images.clear();
        state.image_epoch += 1;
    }
}

impl State {
    fn named(&mut self, kind: Named) -> &mut BTreeMap<String, Vec<NamedObject>> {
        match kind {
            Named::Network => &mut self.networks,
            Named::Volume => &mut self.volumes,
        }
    }
}

/// Objects by name, several when a name is duplicated.
fn by_name(objects: Vec<NamedObject>) -> BTreeMap<String, Vec<NamedObject>> {
    let mut out: BTreeMap<String, Vec<NamedObject>> = BTreeMap::new();
    for o in objects {
        out.entry(o.name.clone()).or_default().push(o);
    }
    out
}

fn put(state: &mut State, ticket: u64, live: LiveContainer) {
    if state.tombstones.get(&live.id).is_some_and(|t| *t > ticket) {
        return;
    }
    let first_seen = match state.containers.get(&live.id) {
        Some(e) if e.ticket > ticket => return,
        Some(e) => e.first_seen,
        // The last relist did not see it, and this read started before that relist.
        None if ticket < state.floor => return,
        None => ticket,
    };
    state.tombstones.remove(&live.id);
    state.containers.insert(
        live.id.clone(),
        Entry {
            ticket,
            first_seen,
            live,
        },
    );
}

fn forget(state: &mut State, ticket: u64, id: &str) {
    if state.containers.get(id).is_some_and(|e| e.ticket > ticket) {
        return;
    }
    state.containers.remove(id);
    let t = state.tombstones.entry(id.to_string()).or_insert(ticket);
    *t = (*t).max(ticket);
}

#[cfg(test)]
mod tests;
