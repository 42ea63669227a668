//! Docker's event stream for a project's containers, handed to the runtime as
//! [`HostEvent`]s; each kind says which of its objects an event concerns.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::resources::service::labels;
use crate::runtime::kind::HostEvent;

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

/// Follows the engine's event stream for `project`'s containers and sends each relevant
/// event on `tx`, reconnecting after errors (the engine restarted, for example) until
/// `tx` is closed.
pub async fn follow(docker: Docker, project: String, tx: mpsc::Sender<HostEvent>) {
    let mut delay = Duration::from_millis(200);
    loop {
        let filters: HashMap<String, Vec<String>> = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "label".to_string(),
                vec![format!("{}={project}", labels::PROJECT)],
            ),
        ]);
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        let mut stream = docker.events(Some(options));
        while let Some(item) = stream.next().await {
            match item {
                Ok(message) => {
                    delay = Duration::from_millis(200);
                    let action = message.action.unwrap_or_default();
                    let base = action.split(':').next().unwrap_or("").trim();
                    if !WATCHED_ACTIONS.contains(&base) {
                        continue;
                    }
                    let actor = message.actor.unwrap_or_default();
                    let event = HostEvent {
                        object: "container".to_string(),
                        action,
                        id: actor.id.unwrap_or_default(),
                        labels: actor.attributes.unwrap_or_default().into_iter().collect(),
                    };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "docker event stream failed; reconnecting");
                    break;
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}
