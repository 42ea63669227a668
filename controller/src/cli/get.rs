//! `holdfast get [services|all] [-o wide|json] [-w]`

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use super::output::{Format, SocketArg, age, block_on, fail, table};
use crate::api::types::{Phase, ResourceStatus};
use crate::runtime::store::now_ms;

/// Arguments of `holdfast get`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to list: `services` (the default), `source` or `all`.
    #[arg(default_value = "services", value_parser = ["services", "service", "svc", "source", "all"])]
    what: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Format,
    /// Keep watching and print a row whenever a resource changes.
    #[arg(short = 'w', long)]
    watch: bool,
    #[command(flatten)]
    socket: SocketArg,
}

fn ready(s: &ResourceStatus) -> &'static str {
    if s.phase == Phase::Ready {
        "1/1"
    } else {
        "0/1"
    }
}

fn row(s: &ResourceStatus, wide: bool, now: u64) -> Vec<String> {
    let mut row = vec![
        s.key.clone(),
        ready(s).to_string(),
        s.phase.to_string(),
        s.restarts.to_string(),
        age(now.saturating_sub(s.since)),
        s.message.clone(),
    ];
    if wide {
        row.insert(5, s.image.clone().unwrap_or_default());
        row.insert(
            6,
            if s.ports.is_empty() {
                "<none>".into()
            } else {
                s.ports.join(",")
            },
        );
        row.insert(
            7,
            s.applied_hash
                .as_deref()
                .map(|h| h.get(..12).unwrap_or(h).to_string())
                .unwrap_or_default(),
        );
        row.insert(
            8,
            s.revision
                .as_deref()
                .map(|r| crate::source::git::repo::short_id(r).to_string())
                .unwrap_or_else(|| "-".into()),
        );
    }
    row
}

/// Renders statuses as `holdfast get` prints them.
pub fn render(items: &[ResourceStatus], format: Format, now: u64) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(items).unwrap_or_default() + "\n",
        Format::Yaml => super::output::yaml(&serde_json::to_value(items).unwrap_or_default()),
        Format::Table | Format::Wide => {
            let wide = format == Format::Wide;
            let header: &[&str] = if wide {
                &[
                    "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IMAGE", "PORTS", "SPEC",
                    "REVISION", "MESSAGE",
                ]
            } else {
                &["NAME", "READY", "STATUS", "RESTARTS", "AGE", "MESSAGE"]
            };
            let rows: Vec<Vec<String>> = items.iter().map(|s| row(s, wide, now)).collect();
            table(header, &rows)
        }
    }
}

/// Prints the resources; with `-w`, then every change until interrupted.
pub fn run(args: &Args) -> ExitCode {
    if args.what == "source" {
        if args.watch {
            eprintln!("error: `get source` cannot watch; use `holdfast events -w --for source`");
            return ExitCode::from(2);
        }
        return super::source::get(args.output, &args.socket);
    }
    block_on(async {
        let client = args.socket.client();
        let list = match client.resources().await {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        if list.items.is_empty() && matches!(args.output, Format::Table | Format::Wide) {
            eprintln!(
                "No resources found in project {}.",
                list.project.as_deref().unwrap_or("(none loaded)")
            );
        } else {
            print!("{}", render(&list.items, args.output, now_ms()));
        }
        if !args.watch {
            return ExitCode::SUCCESS;
        }
        let mut seen: BTreeMap<String, ResourceStatus> =
            list.items.into_iter().map(|s| (s.key.clone(), s)).collect();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let list = match client.resources().await {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            for s in list.items {
                let changed = seen.get(&s.key).is_none_or(|old| {
                    old.phase != s.phase || old.message != s.message || old.restarts != s.restarts
                });
                if changed {
                    let text = render(std::slice::from_ref(&s), args.output, now_ms());
                    // Rows only: the header was printed once.
                    let body = if args.output == Format::Json {
                        text
                    } else {
                        text.lines().skip(1).map(|l| format!("{l}\n")).collect()
                    };
                    print!("{body}");
                    use std::io::Write;
                    let _ = std::io::stdout().flush();
                    seen.insert(s.key.clone(), s);
                }
            }
        }
    })
}
