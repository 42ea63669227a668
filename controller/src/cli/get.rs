//! `holdfast get [KIND|source|all] [-o wide|json|yaml] [-w]`

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use super::output::{Format, SocketArg, age, block_on, fail, table};
use crate::api::types::{KindInfo, Phase, ResourceStatus};
use crate::runtime::kind::Show;
use crate::runtime::store::now_ms;

/// Arguments of `holdfast get`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to list: a kind (`services`, as the controller names its kinds), `source`,
    /// or `all` (the default: every kind).
    #[arg(default_value = "all")]
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

/// The kind's columns shown in this format.
fn shown(kind: Option<&KindInfo>, wide: bool) -> Vec<&str> {
    kind.map(|k| {
        k.columns
            .iter()
            .filter(|c| c.show == Show::Table || (wide && c.show == Show::Wide))
            .map(|c| c.name.as_str())
            .collect()
    })
    .unwrap_or_default()
}

fn row(s: &ResourceStatus, columns: &[&str], wide: bool, now: u64) -> Vec<String> {
    let mut row = vec![
        s.key.clone(),
        ready(s).to_string(),
        s.phase.to_string(),
        s.restarts.to_string(),
        age(now.saturating_sub(s.since)),
    ];
    for column in columns {
        row.push(s.column(column).unwrap_or("<none>").to_string());
    }
    if wide {
        row.push(
            s.applied_hash
                .as_deref()
                .map(|h| h.get(..12).unwrap_or(h).to_string())
                .unwrap_or_default(),
        );
        row.push(
            s.revision
                .as_deref()
                .map(|r| crate::source::git::repo::short_id(r).to_string())
                .unwrap_or_else(|| "-".into()),
        );
    }
    row.push(s.message.clone());
    row
}

/// The kind of a status (statuses stored before kinds were recorded have it in the key).
fn kind_of(s: &ResourceStatus) -> &str {
    if s.kind.is_empty() {
        s.key.split('/').next().unwrap_or_default()
    } else {
        &s.kind
    }
}

/// Renders statuses as `holdfast get` prints them: one table per kind, each with the
/// kind's own columns.
pub fn render(items: &[ResourceStatus], kinds: &[KindInfo], format: Format, now: u64) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(items).unwrap_or_default() + "\n",
        Format::Yaml => super::output::yaml(&serde_json::to_value(items).unwrap_or_default()),
        Format::Table | Format::Wide => {
            let wide = format == Format::Wide;
            let mut by_kind: Vec<(&str, Vec<&ResourceStatus>)> = Vec::new();
            for s in items {
                let kind = kind_of(s);
                match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, list)) => list.push(s),
                    None => by_kind.push((kind, vec![s])),
                }
            }
            let mut tables = Vec::new();
            for (kind, list) in by_kind {
                let columns = shown(kinds.iter().find(|k| k.kind == kind), wide);
                let mut header = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
                header.extend(columns.iter().copied());
                if wide {
                    header.extend(["SPEC", "REVISION"]);
                }
                header.push("MESSAGE");
                let rows: Vec<Vec<String>> =
                    list.iter().map(|s| row(s, &columns, wide, now)).collect();
                tables.push(table(&header, &rows));
            }
            tables.join("\n")
        }
    }
}

/// Keeps the statuses of the kind `what` names (`all`: every kind); an unknown kind is
/// an error that lists the known ones.
pub fn filter(
    items: Vec<ResourceStatus>,
    kinds: &[KindInfo],
    what: &str,
) -> Result<Vec<ResourceStatus>, String> {
    if what == "all" {
        return Ok(items);
    }
    let Some(kind) = kinds.iter().find(|k| k.is_called(what)) else {
        let mut known: Vec<&str> = kinds.iter().map(|k| k.kind.as_str()).collect();
        known.extend(["source", "all"]);
        return Err(format!(
            "unknown kind `{what}`; known kinds: {}",
            known.join(", ")
        ));
    };
    Ok(items
        .into_iter()
        .filter(|s| kind_of(s) == kind.kind)
        .collect())
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
        let kinds = list.kinds.clone();
        let items = match filter(list.items, &kinds, &args.what) {
            Ok(items) => items,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        if items.is_empty() && matches!(args.output, Format::Table | Format::Wide) {
            eprintln!(
                "No resources found in project {}.",
                list.project.as_deref().unwrap_or("(none loaded)")
            );
        } else {
            print!("{}", render(&items, &kinds, args.output, now_ms()));
        }
        if !args.watch {
            return ExitCode::SUCCESS;
        }
        let mut seen: BTreeMap<String, ResourceStatus> =
            items.into_iter().map(|s| (s.key.clone(), s)).collect();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let list = match client.resources().await {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            let items = filter(list.items, &kinds, &args.what).unwrap_or_default();
            for s in items {
                let changed = seen.get(&s.key).is_none_or(|old| {
                    old.phase != s.phase || old.message != s.message || old.restarts != s.restarts
                });
                if changed {
                    let text = render(std::slice::from_ref(&s), &kinds, args.output, now_ms());
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
