//! `holdfast events [--for service/NAME] [-w]`

use std::process::ExitCode;
use std::time::Duration;

use super::output::{SocketArg, age, block_on, fail, table};
use crate::api::types::EventEntry;
use crate::runtime::store::now_ms;

/// Arguments of `holdfast events`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only the events of this object, such as `service/web`.
    #[arg(long = "for", value_name = "KIND/NAME")]
    object: Option<String>,
    /// Keep watching and print new events as they happen.
    #[arg(short = 'w', long)]
    watch: bool,
    /// Output JSON lines instead of a table.
    #[arg(short = 'o', long = "output", value_parser = ["table", "json"], default_value = "table")]
    output: String,
    #[command(flatten)]
    socket: SocketArg,
}

/// Events with the same object, type, reason and message, folded into one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// The newest of them.
    pub last: EventEntry,
    /// How many.
    pub count: usize,
    /// When the first happened (unix ms).
    pub first_ms: u64,
}

/// Folds repeats, keeping the order of each group's newest event.
pub fn fold(events: &[EventEntry]) -> Vec<Folded> {
    let mut out: Vec<Folded> = Vec::new();
    for e in events {
        let same = |f: &Folded| {
            f.last.event.object == e.event.object
                && f.last.event.kind == e.event.kind
                && f.last.event.reason == e.event.reason
                && f.last.event.message == e.event.message
        };
        if let Some(i) = out.iter().position(same) {
            let mut f = out.remove(i);
            f.count += 1;
            f.last = e.clone();
            out.push(f);
        } else {
            out.push(Folded {
                last: e.clone(),
                count: 1,
                first_ms: e.event.time_ms,
            });
        }
    }
    out
}

/// Renders folded events as a table; `now` is unix ms.
pub fn render(events: &[EventEntry], now: u64) -> String {
    let rows: Vec<Vec<String>> = fold(events)
        .into_iter()
        .map(|f| {
            let e = &f.last.event;
            let mut message = e.message.clone();
            if f.count > 1 {
                message.push_str(&format!(
                    " (x{} over {})",
                    f.count,
                    age(e.time_ms.saturating_sub(f.first_ms))
                ));
            }
            vec![
                age(now.saturating_sub(e.time_ms)),
                e.kind.to_string(),
                e.reason.clone(),
                e.object.clone(),
                message,
            ]
        })
        .collect();
    table(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], &rows)
}

/// Prints recent events; with `-w`, new ones as they come.
pub fn run(args: &Args) -> ExitCode {
    block_on(async {
        let client = args.socket.client();
        let list = match client.events(args.object.as_deref(), 0, 500).await {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let json = args.output == "json";
        if json {
            for e in &list.items {
                println!("{}", serde_json::to_string(e).unwrap_or_default());
            }
        } else if list.items.is_empty() {
            eprintln!("No events.");
        } else {
            print!("{}", render(&list.items, now_ms()));
        }
        if !args.watch {
            return ExitCode::SUCCESS;
        }
        let mut last = list.items.last().map_or(0, |e| e.seq);
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let list = match client.events(args.object.as_deref(), last, 500).await {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            for e in list.items {
                last = last.max(e.seq);
                if json {
                    println!("{}", serde_json::to_string(&e).unwrap_or_default());
                } else {
                    let text = render(std::slice::from_ref(&e), now_ms());
                    print!(
                        "{}",
                        text.lines()
                            .skip(1)
                            .map(|l| format!("{l}\n"))
                            .collect::<String>()
                    );
                }
            }
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::{Event, EventKind};

    fn entry(seq: u64, t: u64, reason: &str) -> EventEntry {
        EventEntry {
            seq,
            event: Event {
                time_ms: t,
                project: "p".into(),
                object: "service/web".into(),
                kind: EventKind::Warning,
                reason: reason.into(),
                message: "unhealthy".into(),
            },
        }
    }

    #[test]
    fn repeats_fold_with_count_and_span() {
        let events: Vec<EventEntry> = (0..5)
            .map(|i| entry(i, 1_000 + i * 30_000, "Restarted"))
            .chain([entry(9, 200_000, "Created")])
            .collect();
        let text = render(&events, 200_000);
        assert!(text.starts_with("LAST SEEN"), "{text}");
        assert!(text.contains("unhealthy (x5 over 2m)"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
