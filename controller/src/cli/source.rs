//! The git source from the command line: `holdfast get source`, `describe source`,
//! `history`, `rollback [COMMIT]`, `resume source` and `reconcile source`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use super::output::{Format, SocketArg, age, block_on, fail, table};
use crate::api::types::{CommitInfo, HistoryEntry, RollbackRequest, SourceKind, SourceStatus};
use crate::runtime::store::now_ms;
use crate::source::git::repo::short_id;

fn commit_cell(c: Option<&CommitInfo>) -> String {
    c.map(|c| short_id(&c.id).to_string())
        .unwrap_or_else(|| "<none>".into())
}

fn ago(time: Option<u64>, now: u64) -> String {
    time.map(|t| format!("{} ago", age(now.saturating_sub(t))))
        .unwrap_or_else(|| "<never>".into())
}

fn until(time: Option<u64>, now: u64) -> String {
    time.map(|t| format!("in {}", age(t.saturating_sub(now))))
        .unwrap_or_else(|| "<none>".into())
}

/// A one-word summary of the source's state.
fn state(s: &SourceStatus) -> &'static str {
    if s.failed.is_some() {
        "Failed"
    } else if s.last_fetch_error.is_some() {
        "FetchFailing"
    } else if s.pinned.is_some() {
        "Pinned"
    } else if s.held_back.is_some() {
        "HeldBack"
    } else {
        "Ready"
    }
}

/// Renders the source as `holdfast get source` prints it.
pub fn render_get(s: &SourceStatus, format: Format, now: u64) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(s).unwrap_or_default() + "\n",
        Format::Yaml => super::output::yaml(&serde_json::to_value(s).unwrap_or_default()),
        Format::Table | Format::Wide if s.kind == SourceKind::File => table(
            &["KIND", "PATH"],
            &[vec!["file".to_string(), s.url.clone()]],
        ),
        Format::Table | Format::Wide => {
            let mut header = vec![
                "URL",
                "REF",
                "PATH",
                "STATUS",
                "FETCHED",
                "APPLIED",
                "LAST FETCH",
                "NEXT FETCH",
                "ERROR",
            ];
            let error = s
                .failed
                .as_ref()
                .map(|f| format!("commit {}: {}", short_id(&f.commit.id), f.error))
                .or_else(|| s.last_fetch_error.clone())
                .or_else(|| s.held_back.clone())
                .unwrap_or_default();
            let mut row = vec![
                s.url.clone(),
                s.reference.clone().unwrap_or_default(),
                s.path.clone().unwrap_or_default(),
                state(s).to_string(),
                commit_cell(s.last_fetched.as_ref()),
                commit_cell(s.last_applied.as_ref()),
                ago(s.last_fetch_time, now),
                until(s.next_fetch, now),
                error,
            ];
            if format == Format::Wide {
                header.insert(6, "PINNED");
                row.insert(6, commit_cell(s.pinned.as_ref()));
            }
            table(&header, &[row])
        }
    }
}

fn field(out: &mut String, name: &str, value: impl std::fmt::Display) {
    out.push_str(&format!("{:<18}{value}\n", format!("{name}:")));
}

fn commit_line(c: &CommitInfo) -> String {
    format!("{} {} ({})", short_id(&c.id), c.subject, c.author)
}

/// Renders the source as `holdfast describe source` prints it.
pub fn render_describe(s: &SourceStatus, now: u64) -> String {
    let mut out = String::new();
    field(
        &mut out,
        "Kind",
        match s.kind {
            SourceKind::File => "file",
            SourceKind::Git => "git",
        },
    );
    if s.kind == SourceKind::File {
        field(&mut out, "Path", &s.url);
        return out;
    }
    field(&mut out, "URL", &s.url);
    field(&mut out, "Reference", s.reference.as_deref().unwrap_or(""));
    field(&mut out, "Path", s.path.as_deref().unwrap_or(""));
    field(&mut out, "Status", state(s));
    if let Some(ms) = s.interval_ms {
        field(&mut out, "Interval", format!("{}s", ms / 1000));
    }
    let commit = |c: Option<&CommitInfo>| c.map(commit_line).unwrap_or_else(|| "<none>".into());
    field(&mut out, "Last fetched", commit(s.last_fetched.as_ref()));
    field(&mut out, "Last fetch", ago(s.last_fetch_time, now));
    field(&mut out, "Next fetch", until(s.next_fetch, now));
    field(&mut out, "Last applied", commit(s.last_applied.as_ref()));
    field(&mut out, "Applied", ago(s.last_applied_time, now));
    field(&mut out, "Pinned", commit(s.pinned.as_ref()));
    if let Some(e) = &s.last_fetch_error {
        field(&mut out, "Fetch error", e);
    }
    if let Some(h) = &s.held_back {
        field(&mut out, "Held back", h);
    }
    if let Some(f) = &s.failed {
        field(&mut out, "Failed commit", commit_line(&f.commit));
        field(&mut out, "Error", &f.error);
        if !f.details.is_empty() {
            out.push_str("Details:\n");
            for line in f.details.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out
}

/// `holdfast get source`.
pub fn get(format: Format, socket: &SocketArg) -> ExitCode {
    block_on(async {
        match socket.client().source().await {
            Ok(s) => {
                print!("{}", render_get(&s, format, now_ms()));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}

/// `holdfast describe source`.
pub fn describe(socket: &SocketArg) -> ExitCode {
    block_on(async {
        match socket.client().source().await {
            Ok(s) => {
                print!("{}", render_describe(&s, now_ms()));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}

/// `holdfast reconcile source`: fetch now, apply, print the source. Exit 0 when the
/// newest commit is in force (or pinned away from on purpose), 1 when it was refused,
/// held back or could not be fetched.
pub fn fetch(socket: &SocketArg) -> ExitCode {
    block_on(async {
        match socket.client().fetch_source().await {
            Ok(s) => {
                print!("{}", render_get(&s, Format::Table, now_ms()));
                if s.failed.is_some() || s.last_fetch_error.is_some() || s.held_back.is_some() {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => fail(e),
        }
    })
}

/// `holdfast resume source`.
pub fn resume(socket: &SocketArg) -> ExitCode {
    block_on(async {
        match socket.client().resume_source().await {
            Ok(s) => {
                println!(
                    "source resumed: following {} (applied {})",
                    s.reference.as_deref().unwrap_or("the reference"),
                    commit_cell(s.last_applied.as_ref())
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}

/// Arguments of `holdfast history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Format,
    #[command(flatten)]
    socket: SocketArg,
}

/// Renders the history, newest last.
pub fn render_history(items: &[HistoryEntry], format: Format, now: u64) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(items).unwrap_or_default() + "\n",
        Format::Yaml => super::output::yaml(&serde_json::to_value(items).unwrap_or_default()),
        Format::Table | Format::Wide => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|h| {
                    let mut row = vec![
                        short_id(&h.commit.id).to_string(),
                        format!("{} ago", age(now.saturating_sub(h.time))),
                        h.commit.author.clone(),
                        h.result.to_string(),
                        h.ready_after_ms
                            .map(|ms| format!("{:.1}s", ms as f64 / 1000.0))
                            .unwrap_or_else(|| "-".into()),
                        h.commit.subject.clone(),
                    ];
                    if format == Format::Wide {
                        row.push(h.message.clone());
                    }
                    row
                })
                .collect();
            let mut header = vec!["COMMIT", "TIME", "AUTHOR", "RESULT", "READY", "SUBJECT"];
            if format == Format::Wide {
                header.push("MESSAGE");
            }
            table(&header, &rows)
        }
    }
}

/// `holdfast history`.
pub fn history(args: &HistoryArgs) -> ExitCode {
    block_on(async {
        let commits = args.socket.client().history().await;
        let updates = super::rollout::updates(&args.socket).await;
        let now = now_ms();
        match (commits, updates) {
            (Ok(list), updates) => {
                if list.items.is_empty() {
                    eprintln!("No commits applied yet.");
                } else {
                    print!("{}", render_history(&list.items, args.output, now));
                }
                if let Some(u) = updates {
                    println!();
                    print!(
                        "{}",
                        super::rollout::render_updates(&u.items, args.output, now)
                    );
                }
                ExitCode::SUCCESS
            }
            // A file source has no commits; its service updates are the history.
            (Err(_), Some(u)) => {
                print!(
                    "{}",
                    super::rollout::render_updates(&u.items, args.output, now)
                );
                ExitCode::SUCCESS
            }
            (Err(e), None) => fail(e),
        }
    })
}

/// Asks `question [y/N]` on the terminal; `Err(exit code 1)` when it is declined or
/// there is no terminal to ask on (`--yes` skips the question).
pub fn confirm_rollback(question: &str) -> Result<(), ExitCode> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!("error: not a terminal to confirm on; pass --yes to roll back");
        return Err(ExitCode::from(1));
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if stdin.lock().read_line(&mut answer).is_err() || !matches!(answer.trim(), "y" | "Y" | "yes") {
        eprintln!("Rollback cancelled.");
        return Err(ExitCode::from(1));
    }
    Ok(())
}

/// Arguments of `holdfast rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The commit to go back to (full or abbreviated id; the previously applied good
    /// commit when absent), or `service/NAME` to put a start-first service back on an
    /// earlier image and spec.
    commit: Option<String>,
    /// With `service/NAME`: the revision to go back to (the one before the current
    /// when absent).
    #[arg(long)]
    to: Option<u32>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,
    /// Only show what would change.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    socket: SocketArg,
}

/// `holdfast rollback [COMMIT]`: shows what will change, asks, then pins the source.
/// Exit 0 when rolled back (or nothing asked), 1 when refused or declined, 2 when the
/// controller cannot be reached.
pub fn rollback(args: &RollbackArgs) -> ExitCode {
    if let Some(target) = args.commit.as_deref().filter(|t| t.contains('/')) {
        let Some(service) = super::rollout::service_name(target) else {
            eprintln!("error: only services roll back by name: write service/NAME, or a commit");
            return ExitCode::from(2);
        };
        return super::rollout::rollback(service, args.to, args.yes, args.dry_run, &args.socket);
    }
    if args.to.is_some() {
        eprintln!(
            "error: --to takes a revision of a service: holdfast rollback service/NAME --to N"
        );
        return ExitCode::from(2);
    }
    block_on(async {
        let client = args.socket.client();
        let preview = match client
            .rollback(&RollbackRequest {
                commit: args.commit.clone(),
                dry_run: true,
            })
            .await
        {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        println!(
            "Roll back from {} to {}",
            preview
                .current
                .as_ref()
                .map(commit_line)
                .unwrap_or_else(|| "<none>".into()),
            commit_line(&preview.target)
        );
        let changed: Vec<_> = preview
            .changes
            .iter()
            .filter(|c| c.diff.is_some())
            .collect();
        if changed.is_empty() {
            println!("No running service changes.");
        }
        for c in &changed {
            if let Some(d) = &c.diff {
                print!("{d}");
            }
        }
        for c in preview.changes.iter().filter(|c| c.error.is_some()) {
            println!("{}: {}", c.key, c.error.as_deref().unwrap_or_default());
        }
        if args.dry_run {
            return ExitCode::SUCCESS;
        }
        if !args.yes
            && let Err(code) = confirm_rollback(&format!(
                "Pin the source to {} until `holdfast resume source`?",
                short_id(&preview.target.id)
            ))
        {
            return code;
        }
        match client
            .rollback(&RollbackRequest {
                commit: Some(preview.target.id.clone()),
                dry_run: false,
            })
            .await
        {
            Ok(done) => {
                println!(
                    "Rolled back to {}; new commits are fetched but not applied until `holdfast resume source`.",
                    short_id(&done.target.id)
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}
