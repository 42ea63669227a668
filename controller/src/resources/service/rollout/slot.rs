//! The two places a start-first service's containers take turns in: `blue` (the
//! service's ordinary name and routed ports) and `green` (`<name>-green`, its second
//! routed ports). An update starts the new container in the slot the old one does not
//! hold, so the old address is never reused while anything may still reach it.

use holdfast_spec::DesiredState;
use serde::{Deserialize, Serialize};

use crate::resources::route::ports;
use crate::resources::service::{DesiredContainer, LiveContainer};

/// The label that says which slot a container is in; a container without it is in
/// [`Slot::Blue`] (every container made before start-first updates).
pub const SLOT_LABEL: &str = "io.holdfast.slot";

/// One of the two slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    /// The service's ordinary name and ports.
    Blue,
    /// `<name>-green` and the second ports.
    Green,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::Blue => Slot::Green,
            Slot::Green => Slot::Blue,
        }
    }

    /// `blue` or `green`.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Blue => "blue",
            Slot::Green => "green",
        }
    }

    /// The slot `live` is in.
    pub fn of(live: &LiveContainer) -> Slot {
        match live.labels.get(SLOT_LABEL).map(String::as_str) {
            Some("green") => Slot::Green,
            _ => Slot::Blue,
        }
    }
}

/// `desired` (as [`DesiredContainer::new`] makes it: blue) moved to `slot`: for green,
/// its name gets `-green`, its routed ports become the second ports and it carries the
/// slot label. The spec hash stays the same: the slot is where a container runs, not
/// what it is.
///
/// `desired` is the container of replica `replica` (see
/// [`replicas`](crate::resources::service::replicas)), whose ports are that replica's.
pub fn in_slot(
    state: &DesiredState,
    desired: &DesiredContainer,
    slot: Slot,
    replica: u32,
) -> DesiredContainer {
    let mut out = desired.clone();
    if slot == Slot::Blue {
        return out;
    }
    out.name = format!("{}-green", desired.name);
    let (blue, green) = ports::allocate_all(state);
    let instance = ports::instance(&desired.service, replica);
    ports::rebind(
        &mut out.ports,
        |port| blue.get(&(instance.clone(), port)).copied(),
        |port| green.get(&(instance.clone(), port)).copied(),
    );
    out.labels
        .insert(SLOT_LABEL.to_string(), slot.as_str().to_string());
    out
}

/// The 127.0.0.1 address `live` serves container port `port` on, if it publishes it.
pub fn address(live: &LiveContainer, port: u16) -> Option<String> {
    live.ports
        .iter()
        .find(|p| p.container_port == port && p.host_ip == "127.0.0.1")
        .and_then(|p| p.host_port)
        .map(|h| format!("127.0.0.1:{h}"))
}

/// The marker file that moves the route of `instance` (a service, or one of its
/// replicas: [`ports::instance`]) to its green slot while it exists (see
/// [`SlotSwitch`](holdfast_proxy::model::SlotSwitch)): under `<state dir>/slots/`,
/// which the proxy's user must be able to read.
pub fn marker(state_dir: &std::path::Path, project: &str, instance: &str) -> std::path::PathBuf {
    state_dir
        .join("slots")
        .join(project)
        .join(format!("{instance}.green"))
}

/// Points the route at `slot`: creates the marker for green (write, then rename), removes
/// it for blue. Both are atomic: every request sees one slot or the other.
pub fn set_marker(marker: &std::path::Path, slot: Slot) -> std::io::Result<()> {
    match slot {
        Slot::Green => {
            let dir = marker.parent().unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(dir)?;
            let tmp = marker.with_extension("green.tmp");
            std::fs::write(&tmp, b"")?;
            std::fs::rename(&tmp, marker)
        }
        Slot::Blue => match std::fs::remove_file(marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// The slot switch a route renders for replica `replica` of `service`'s container
/// port `port`: both slot addresses and the marker under `state_dir`.
pub fn switch(
    state: &DesiredState,
    state_dir: &std::path::Path,
    service: &str,
    port: u16,
    replica: u32,
) -> Option<holdfast_proxy::model::SlotSwitch> {
    let instance = ports::instance(service, replica);
    let key = (instance.clone(), port);
    let (blue, green) = ports::allocate_all(state);
    let address = |p: &u16| holdfast_proxy::model::Upstream(format!("127.0.0.1:{p}"));
    Some(holdfast_proxy::model::SlotSwitch {
        blue: address(blue.get(&key)?),
        green: address(green.get(&key)?),
        marker: marker(state_dir, &state.name, &instance),
    })
}

/// The slot the marker points the route at.
pub fn marked(marker: &std::path::Path) -> Slot {
    if marker.exists() {
        Slot::Green
    } else {
        Slot::Blue
    }
}

/// The engines that switch slots by the marker (the others by a configuration change).
pub fn switches_by_marker(proxy: &holdfast_spec::Proxy) -> bool {
    !matches!(proxy.engine, holdfast_spec::ProxyEngine::Traefik)
}
