//! `holdfast reconcile [service/NAME]`, `holdfast suspend service/NAME`,
//! `holdfast resume service/NAME`: steer a running controller.

use std::process::ExitCode;
use std::time::Duration;

use super::common::parse_duration;
use super::output::{Format, SocketArg, block_on, fail};
use crate::api::types::{Phase, ReconcileRequest};
use crate::runtime::store::now_ms;

/// Arguments of `holdfast reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// The resource (`service/NAME`), or `source` to fetch the git source now;
    /// every service when absent.
    #[arg(value_name = "KIND/NAME")]
    resource: Option<String>,
    /// How long to wait for the pass.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    #[command(flatten)]
    socket: SocketArg,
}

/// Asks for a pass now, waits, prints the result. Exit 0 when every resource ended
/// Ready, 1 otherwise.
pub fn reconcile(args: &ReconcileArgs) -> ExitCode {
    if args.resource.as_deref() == Some("source") {
        return super::source::fetch(&args.socket);
    }
    block_on(async {
        let request = ReconcileRequest {
            key: args.resource.clone(),
            timeout_ms: Some(u64::try_from(args.timeout.as_millis()).unwrap_or(u64::MAX)),
        };
        match args.socket.client().reconcile(&request).await {
            Ok(r) => {
                print!(
                    "{}",
                    super::get::render(&r.items, &[], Format::Table, now_ms())
                );
                if !r.completed {
                    eprintln!(
                        "not every resource was reconciled within {:?}",
                        args.timeout
                    );
                }
                if r.completed && r.items.iter().all(|s| s.phase == Phase::Ready) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(e),
        }
    })
}

/// Arguments of `holdfast suspend` and `holdfast resume`.
#[derive(Debug, clap::Args)]
pub struct SuspendArgs {
    /// The resource, such as `service/web`; `resume source` unpins the git source
    /// after a rollback.
    #[arg(value_name = "KIND/NAME")]
    resource: String,
    #[command(flatten)]
    socket: SocketArg,
}

/// Suspends (`true`) or resumes a resource.
pub fn suspend(args: &SuspendArgs, suspended: bool) -> ExitCode {
    if args.resource == "source" {
        if suspended {
            eprintln!(
                "error: the source cannot be suspended; `holdfast rollback` pins it to a commit"
            );
            return ExitCode::from(1);
        }
        return super::source::resume(&args.socket);
    }
    block_on(async {
        match args
            .socket
            .client()
            .set_suspended(&args.resource, suspended)
            .await
        {
            Ok(s) => {
                println!(
                    "{} {}",
                    s.key,
                    if suspended { "suspended" } else { "resumed" }
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}
