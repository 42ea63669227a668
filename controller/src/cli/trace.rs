//! `holdfast trace CONTAINER`: which project, service, file (or git commit) and
//! desired state produced a container.

use std::process::ExitCode;

use bollard::query_parameters::InspectContainerOptions;

use super::output::{SocketArg, block_on};
use crate::resources::service::labels;

/// Arguments of `holdfast trace`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A container name or ID.
    container: String,
    #[command(flatten)]
    socket: SocketArg,
}

/// Prints the container's holdfast labels and, when a controller answers, the file it
/// keeps and whether the container matches the desired state in force. Exit 1 when
/// holdfast did not create the container.
pub fn run(args: &Args) -> ExitCode {
    block_on(async {
        let docker = match crate::docker::connect().await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let inspect = match docker
            .inspect_container(&args.container, None::<InspectContainerOptions>)
            .await
        {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {}: {e}", args.container);
                return ExitCode::from(2);
            }
        };
        let l = inspect.config.and_then(|c| c.labels).unwrap_or_default();
        let (Some(project), Some(service)) = (l.get(labels::PROJECT), l.get(labels::SERVICE))
        else {
            println!(
                "{} was not created by holdfast (no {} label)",
                args.container,
                labels::PROJECT
            );
            return ExitCode::from(1);
        };
        let hash = l.get(labels::SPEC_HASH).cloned().unwrap_or_default();
        println!(
            "Container:  {}",
            inspect
                .name
                .as_deref()
                .unwrap_or("")
                .trim_start_matches('/')
        );
        println!("Project:    {project}");
        println!("Service:    service/{service}");
        println!("Spec hash:  {hash}");
        if let Some(revision) = l.get(labels::REVISION) {
            println!("Commit:     {revision}");
        }
        match args
            .socket
            .client()
            .resource(&format!("service/{service}"))
            .await
        {
            Ok(detail) if detail.status.project == *project => {
                let list = args.socket.client().resources().await.ok();
                let file = list
                    .and_then(|l| l.source)
                    .unwrap_or_else(|| "(unknown)".into());
                println!("File:       {file}");
                let current = detail.status.applied_hash.unwrap_or_default();
                if current == hash {
                    println!("State:      matches the desired state in force");
                } else {
                    println!(
                        "State:      differs from the desired state in force ({})",
                        current.get(..12).unwrap_or(&current)
                    );
                }
            }
            _ => println!(
                "File:       (no controller for project {project} answers on {})",
                args.socket.socket.display()
            ),
        }
        ExitCode::SUCCESS
    })
}
