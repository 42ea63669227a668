//! `holdfast diff -f FILE`: the live containers against the file, as unified diffs.
//!
//! Like `kubectl diff`: one diff per resource that differs, from `live/service/NAME`
//! to `desired/service/NAME`, for every service in the file and every service whose
//! containers are still there although it left the file. It compares the file with the
//! engine directly, through the same code path as `holdfast plan`
//! ([`planning::plan`](crate::runtime::planning::plan)), so it works with or without a running controller and
//! changes nothing.
//!
//! Exit codes as `kubectl diff`: 0 nothing differs, 1 something differs, 2 an error
//! (an invalid file, the engine unreachable, a service that could not be planned).

use std::io::IsTerminal;
use std::process::ExitCode;

use super::common::{self, FileArg};

/// Arguments of `holdfast diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: FileArg,
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Prints the diffs on stdout (coloured when stdout is a terminal and `NO_COLOR` is
/// unset). Exit 0 when nothing differs, 1 when something does, 2 on error.
pub fn run(args: &Args) -> ExitCode {
    let Some(state) = common::load(&args.file) else {
        return ExitCode::from(2);
    };
    let rt = match common::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    rt.block_on(async move {
        let docker = match common::docker().await {
            Ok(docker) => docker,
            Err(code) => return code,
        };
        let registry = crate::resources::kinds(
            &crate::docker::Host::new(docker),
            &crate::runtime::store::default_state_dir(),
        );
        let mut differs = false;
        let mut failed = false;
        for item in crate::runtime::planning::diffs(&registry, &state).await {
            if let Some(e) = &item.error {
                failed = true;
                eprintln!("error: {}: {e}", item.key);
            }
            if let Some(text) = &item.diff {
                differs = true;
                if colour {
                    print!("{}", colourize(text));
                } else {
                    print!("{text}");
                }
            }
        }
        if failed {
            ExitCode::from(2)
        } else if differs {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// A unified diff with ANSI colours: file headers bold, hunk headers cyan, removed
/// lines red, added lines green.
fn colourize(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() * 2);
    for line in diff.split_inclusive('\n') {
        let (text, newline) = match line.strip_suffix('\n') {
            Some(text) => (text, "\n"),
            None => (line, ""),
        };
        let style = if text.starts_with("---") || text.starts_with("+++") {
            Some(BOLD)
        } else if text.starts_with("@@") {
            Some(CYAN)
        } else if text.starts_with('-') {
            Some(RED)
        } else if text.starts_with('+') {
            Some(GREEN)
        } else {
            None
        };
        match style {
            Some(style) => out.push_str(&format!("{style}{text}{RESET}{newline}")),
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_by_line_kind() {
        let diff = "--- live/service/web\n+++ desired/service/web\n@@ -1,2 +1,2 @@\n image: x\n-  MODE: a\n+  MODE: b\n";
        assert_eq!(
            colourize(diff),
            "\x1b[1m--- live/service/web\x1b[0m\n\x1b[1m+++ desired/service/web\x1b[0m\n\x1b[36m@@ -1,2 +1,2 @@\x1b[0m\n image: x\n\x1b[31m-  MODE: a\x1b[0m\n\x1b[32m+  MODE: b\x1b[0m\n"
        );
    }
}
