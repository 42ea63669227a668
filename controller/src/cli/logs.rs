//! `holdfast logs service/NAME [-f] [--tail N]`

use std::io::Write;
use std::process::ExitCode;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;

use super::output::{SocketArg, block_on, fail};

/// Arguments of `holdfast logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The resource, such as `service/web`.
    #[arg(value_name = "KIND/NAME")]
    resource: String,
    /// Keep following the log.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    tail: Option<u64>,
    #[command(flatten)]
    socket: SocketArg,
}

/// Prints the service container's output: its stdout on stdout, its stderr on stderr.
pub fn run(args: &Args) -> ExitCode {
    block_on(async {
        let detail = match args.socket.client().resource(&args.resource).await {
            Ok(d) => d,
            Err(e) => return fail(e),
        };
        let Some(container) = detail
            .status
            .published
            .get(crate::resources::service::kind::CONTAINER)
            .cloned()
        else {
            eprintln!(
                "error: {} has no container right now ({})",
                args.resource, detail.status.message
            );
            return ExitCode::from(1);
        };
        let docker = match crate::docker::connect().await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let tail = args
            .tail
            .map_or_else(|| "all".to_string(), |n| n.to_string());
        let options = LogsOptionsBuilder::default()
            .follow(args.follow)
            .stdout(true)
            .stderr(true)
            .tail(&tail)
            .build();
        let mut stream = docker.logs(&container, Some(options));
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        while let Some(item) = stream.next().await {
            match item {
                Ok(LogOutput::StdErr { message }) => {
                    let _ = stderr.write_all(&message);
                }
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    let _ = stdout.write_all(&message);
                    let _ = stdout.flush();
                }
                Ok(LogOutput::StdIn { .. }) => {}
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        ExitCode::SUCCESS
    })
}
