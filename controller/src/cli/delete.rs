//! `holdfast delete -f FILE [--volumes]`: remove what the project owns.

use std::collections::HashMap;
use std::process::ExitCode;

use bollard::query_parameters::{
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveVolumeOptions,
};

use super::common::{FileArg, with_engine};
use crate::resources::service::{apply, labels, observe};

/// Arguments of `holdfast delete`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: FileArg,
    /// Remove the project's named volumes too (their data is lost).
    #[arg(long)]
    volumes: bool,
    /// Where status and events are kept; the project's statuses are cleared there.
    #[arg(long, env = "HOLDFAST_STATE_DIR", default_value_os_t = crate::runtime::store::default_state_dir())]
    state_dir: std::path::PathBuf,
}

/// Removes every container and network labelled with the project (and volumes with
/// `--volumes`). Exit 0 when all are gone.
pub fn run(args: &Args) -> ExitCode {
    with_engine(&args.file, |state, docker| async move {
        let project = state.name.as_str();
        let filters: HashMap<String, Vec<String>> = HashMap::from([(
            "label".to_string(),
            vec![format!("{}={project}", labels::PROJECT)],
        )]);
        let mut failed = false;
        match observe::owned_containers(&docker, project, None).await {
            Ok(containers) => {
                for (id, service) in containers {
                    match apply::stop_and_remove(&docker, &id, None).await {
                        Ok(()) => eprintln!("removed container of service/{service}"),
                        Err(e) => {
                            failed = true;
                            eprintln!("error: service/{service}: {e}");
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("error: Docker: {e}");
                return ExitCode::from(2);
            }
        }
        let networks = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .unwrap_or_default();
        for n in networks {
            let Some(name) = n.name else { continue };
            match docker.remove_network(&name).await {
                Ok(()) => eprintln!("removed network {name}"),
                Err(e) => {
                    failed = true;
                    eprintln!("error: network {name}: {e}");
                }
            }
        }
        let volumes = docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .ok()
            .and_then(|v| v.volumes)
            .unwrap_or_default();
        if args.volumes {
            for v in volumes {
                match docker
                    .remove_volume(&v.name, None::<RemoveVolumeOptions>)
                    .await
                {
                    Ok(()) => eprintln!("removed volume {}", v.name),
                    Err(e) => {
                        failed = true;
                        eprintln!("error: volume {}: {e}", v.name);
                    }
                }
            }
        } else if !volumes.is_empty() {
            let names: Vec<String> = volumes.into_iter().map(|v| v.name).collect();
            eprintln!(
                "kept {} volume(s) ({}); pass --volumes to remove them",
                names.len(),
                names.join(", ")
            );
        }
        // Forget the project's statuses, so that a later run starts afresh (RESTARTS, AGE).
        match crate::runtime::store::Store::open(&args.state_dir) {
            Ok(store) => {
                for status in store.statuses(Some(project)).unwrap_or_default() {
                    let _ = store.remove_status(project, &status.key);
                }
            }
            Err(e) => eprintln!("note: stored status was not cleared: {e}"),
        }
        if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    })
}
