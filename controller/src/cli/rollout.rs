//! `holdfast rollout status service/NAME [-w]`, the service side of `holdfast rollback
//! service/NAME` and `holdfast history`: where start-first updates stand and how they
//! ended.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::output::{Format, SocketArg, age, block_on, fail, table};
use crate::api::types::{ServiceRollbackRequest, UpdateList};
use crate::resources::service::rollout::record::Finished;

/// Arguments of `holdfast rollout`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RolloutCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RolloutCommand {
    /// The phase of a service's update (starting, probing n/N, switching, draining with
    /// the requests in flight, stopping, monitoring) and each phase's time.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// The service: `service/NAME` or `NAME`.
    service: String,
    /// Follow until the update ends (at most 10 minutes).
    #[arg(short = 'w', long)]
    watch: bool,
    #[command(flatten)]
    socket: SocketArg,
}

/// The service's name in `service/NAME` or `NAME`.
pub fn service_name(target: &str) -> Option<&str> {
    match target.split_once('/') {
        Some(("service" | "services" | "svc", name)) if !name.is_empty() => Some(name),
        Some(_) => None,
        None => Some(target),
    }
}

/// `holdfast rollout …`.
pub fn run(args: &Args) -> ExitCode {
    match &args.command {
        RolloutCommand::Status(a) => status(a),
    }
}

/// How long `status -w` follows at most.
const WATCH_LIMIT: Duration = Duration::from_secs(600);

fn status(args: &StatusArgs) -> ExitCode {
    let Some(name) = service_name(&args.service) else {
        eprintln!(
            "error: `{}` is not a service: write service/NAME",
            args.service
        );
        return ExitCode::from(2);
    };
    block_on(async {
        let client = args.socket.client();
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let detail = match client.resource(&format!("service/{name}")).await {
                Ok(d) => d,
                Err(e) => return fail(e),
            };
            let s = &detail.status;
            let rollout = s.columns.get("ROLLOUT").cloned().unwrap_or_default();
            let mut text = format!("service/{name}: {}", s.phase);
            if !s.message.is_empty() {
                text.push_str(&format!(": {}", s.message));
            }
            if let Some(e) = &s.last_error {
                text.push_str(&format!("\nlast error: {e}"));
            }
            text.push_str(&format!(
                "\nrollout: {}",
                if rollout.is_empty() {
                    "none yet"
                } else {
                    &rollout
                }
            ));
            if text != last {
                println!("{text}");
                let _ = std::io::stdout().flush();
                last = text;
            }
            // An update under way shows its running phase with a trailing ellipsis.
            let under_way = rollout.ends_with('…');
            if !args.watch || (!under_way && s.phase.to_string() != "Progressing") {
                return ExitCode::SUCCESS;
            }
            if started.elapsed() > WATCH_LIMIT {
                eprintln!("still under way after {} s", WATCH_LIMIT.as_secs());
                return ExitCode::from(1);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// The table of finished updates, oldest first.
pub fn render_updates(items: &[Finished], format: Format, now: u64) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(items).unwrap_or_default() + "\n",
        Format::Yaml => super::output::yaml(&serde_json::to_value(items).unwrap_or_default()),
        Format::Table | Format::Wide => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|u| {
                    let took = u.ended_ms.saturating_sub(u.started_ms) as f64 / 1000.0;
                    let mut row = vec![
                        format!("service/{}", u.service),
                        format!("{} ago", age(now.saturating_sub(u.ended_ms))),
                        if u.rollback {
                            format!("{} (rollback)", u.result)
                        } else {
                            u.result.clone()
                        },
                        format!("{took:.1}s"),
                        format!(
                            "{} → {}",
                            u.from_image.as_deref().unwrap_or("<none>"),
                            u.to_image
                        ),
                    ];
                    if format == Format::Wide {
                        row.push(
                            u.phases
                                .iter()
                                .map(|p| format!("{} {:.1}s", p.phase.as_str(), p.seconds))
                                .collect::<Vec<_>>()
                                .join(", "),
                        );
                        row.push(u.reason.clone().unwrap_or_default());
                    }
                    row
                })
                .collect();
            let mut header = vec!["SERVICE", "ENDED", "RESULT", "TOOK", "IMAGE"];
            if format == Format::Wide {
                header.extend(["PHASES", "REASON"]);
            }
            table(&header, &rows)
        }
    }
}

/// The finished updates, or `None` when the controller has none to show.
pub async fn updates(socket: &SocketArg) -> Option<UpdateList> {
    socket
        .client()
        .updates()
        .await
        .ok()
        .filter(|l| !l.items.is_empty())
}

/// `holdfast rollback service/NAME [--to N]`: says what it goes back to, asks, then
/// asks the controller. Exit 0 when asked (or a dry run), 1 when refused or declined,
/// 2 when the controller cannot be reached.
pub fn rollback(
    service: &str,
    to: Option<u32>,
    yes: bool,
    dry_run: bool,
    socket: &SocketArg,
) -> ExitCode {
    block_on(async {
        let client = socket.client();
        let preview = match client
            .rollback_service(service, &ServiceRollbackRequest { to, dry_run: true })
            .await
        {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        let target = match preview.revision {
            0 => "the spec that served before the update under way".to_string(),
            n => format!("revision {n}"),
        };
        println!(
            "Roll service/{service} back from {} to {target} ({})",
            preview.from_image.as_deref().unwrap_or("<unknown>"),
            preview.to_image
        );
        if dry_run {
            return ExitCode::SUCCESS;
        }
        if !yes
            && let Err(code) = super::source::confirm_rollback(&format!(
                "Replace the running container start-first, and hold {target} until the file changes?"
            ))
        {
            return code;
        }
        match client
            .rollback_service(
                service,
                &ServiceRollbackRequest {
                    to: Some(preview.revision),
                    dry_run: false,
                },
            )
            .await
        {
            Ok(_) => {
                println!(
                    "Rolling back to {target}; follow it with `holdfast rollout status service/{service} -w`."
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}
