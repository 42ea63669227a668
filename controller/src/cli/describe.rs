//! `holdfast describe KIND/NAME`

use std::process::ExitCode;

use super::output::{SocketArg, age, block_on, fail};
use crate::api::types::ResourceDetail;
use crate::runtime::store::now_ms;

/// Arguments of `holdfast describe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The resource, such as `service/web`, or `source`.
    #[arg(value_name = "KIND/NAME")]
    resource: String,
    #[command(flatten)]
    socket: SocketArg,
}

fn field(out: &mut String, name: &str, value: impl std::fmt::Display) {
    out.push_str(&format!("{:<14}{value}\n", format!("{name}:")));
}

/// `IMAGE` as `Image`, `LAST RUN` as `Last run`.
fn capitalised(header: &str) -> String {
    let lower = header.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Renders a resource like `kubectl describe`; `now` is unix ms.
pub fn render(d: &ResourceDetail, now: u64) -> String {
    let s = &d.status;
    let mut out = String::new();
    field(&mut out, "Name", &s.key);
    field(&mut out, "Project", &s.project);
    field(&mut out, "Phase", s.phase);
    field(&mut out, "Message", &s.message);
    for column in &d.columns {
        field(
            &mut out,
            &capitalised(&column.name),
            s.column(&column.name).unwrap_or("<none>"),
        );
    }
    field(
        &mut out,
        "Spec hash",
        s.applied_hash.as_deref().unwrap_or("<none>"),
    );
    field(
        &mut out,
        "Revision",
        s.revision.as_deref().unwrap_or("<none> (not from git)"),
    );
    field(&mut out, "Restarts", s.restarts);
    field(&mut out, "Suspended", s.suspended);
    field(
        &mut out,
        "Drift mode",
        if s.report_only { "report" } else { "correct" },
    );
    out.push_str("Conditions:\n");
    out.push_str(&format!(
        "  Ready         {}\n",
        s.phase == crate::api::types::Phase::Ready
    ));
    out.push_str(&format!("  Drifted       {}\n", !s.drift.is_empty()));
    out.push_str(&format!(
        "  Retrying      {}\n",
        if s.retries > 0 {
            format!(
                "true (retry {}, next in {})",
                s.retries,
                s.next_retry
                    .map(|t| age(t.saturating_sub(now)))
                    .unwrap_or_else(|| "?".into())
            )
        } else {
            "false".into()
        }
    ));
    out.push_str("Drift:\n");
    if s.drift.is_empty() {
        out.push_str("  <none>\n");
    } else {
        for f in &s.drift {
            out.push_str(&format!("  {f}\n"));
        }
    }
    if let Some(e) = &s.last_error {
        field(&mut out, "Last error", e);
    }
    out.push_str("Desired spec:\n");
    match &d.desired {
        Some(spec) => {
            let mut spec = spec.clone();
            if let Some(env) = spec.get_mut("environment").and_then(|e| e.as_object_mut()) {
                for (k, v) in env.iter_mut() {
                    if crate::resources::service::drift::is_secret_name(k) {
                        *v = serde_json::Value::String("(hidden)".into());
                    }
                }
            }
            for line in super::output::yaml(&spec).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        None => out.push_str("  <not in the file>\n"),
    }
    out.push_str("Events:\n");
    if d.events.is_empty() {
        out.push_str("  <none>\n");
    } else {
        for line in super::events::render(&d.events, now).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// Prints one resource.
pub fn run(args: &Args) -> ExitCode {
    if args.resource == "source" {
        return super::source::describe(&args.socket);
    }
    block_on(async {
        match args.socket.client().resource(&args.resource).await {
            Ok(detail) => {
                print!("{}", render(&detail, now_ms()));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}
