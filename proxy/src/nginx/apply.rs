//! Handing nginx a configuration: stage, test the whole tree, swap, reload, confirm.
//!
//! 1. the rendered files go to `<dir>.new/`;
//! 2. `nginx -t` runs on a temporary copy of the main file, next to it, in which the
//!    owned directory is replaced by the staged one, so that the test sees the whole
//!    tree as it will be (a refusal: [`ProxyError::Rejected`] with nginx's message,
//!    nothing swapped);
//! 3. `<dir>` becomes `<dir>.prev/` and `<dir>.new/` becomes `<dir>`;
//! 4. `nginx -s reload`;
//! 5. the generation endpoint is asked until it answers the new hash (at most
//!    [`CONFIRM_TIMEOUT`]). The master can still refuse what `-t` passed (a port
//!    already bound): it logs `[emerg]` and keeps its old workers. Then `<dir>.prev/`
//!    is put back, nginx reloaded, and the error is [`ProxyError::Rejected`] with the
//!    error log's lines.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::files::{self, sibling};
use super::probe::{self, Answer};
use super::render::SHARED_FILE;
use super::{ApplyTimings, NAME, Nginx, NginxConfig, blocking, io_error};
use crate::engine::{Applied, ProxyError, Rendered};

/// How long nginx may take to serve a configuration after `-s reload`.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one `nginx -t` or `nginx -s reload` may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the generation endpoint is asked while waiting.
const POLL: Duration = Duration::from_millis(10);

fn other(message: String) -> ProxyError {
    ProxyError::Other {
        engine: NAME,
        message,
    }
}

/// Applies `rendered` (see the module's documentation).
pub async fn apply(nginx: &Nginx, rendered: &Rendered) -> Result<Applied, ProxyError> {
    let _one_at_a_time = nginx.apply_lock.lock().await;
    let started = Instant::now();
    let cfg = &nginx.config;
    let dir = cfg.dir.clone();
    let live = {
        let dir = dir.clone();
        blocking(move || files::read_conf_files(&dir))
            .await
            .map_err(|e| io_error("cannot read", &cfg.dir, &e))?
    };
    let old_address = nginx.probe_address(live.get(SHARED_FILE).map(String::as_str));
    let before = match &old_address {
        Some(a) => probe::ask(a).await.ok(),
        None => None,
    };
    let mutations = changes(&live, &rendered.files);
    if mutations == 0 && before == Some(Answer::Generation(rendered.hash.clone())) {
        return Ok(Applied::default());
    }
    let address = nginx
        .probe_address(rendered.files.get(SHARED_FILE).map(String::as_str))
        .ok_or_else(|| {
            other("no address to ask the generation on: set NginxConfig::probe".into())
        })?;

    // Stage and test.
    let staged = sibling(&dir, ".new");
    {
        let (to, text) = (staged.clone(), rendered.files.clone());
        blocking(move || files::stage(&to, &text))
            .await
            .map_err(|e| io_error("cannot stage into", &staged, &e))?;
    }
    let tested = Instant::now();
    if let Err(e) = test(cfg, &staged).await {
        discard(&staged).await;
        return Err(e);
    }
    let test_time = tested.elapsed();

    // Swap.
    let prev = sibling(&dir, ".prev");
    {
        let (d, s, p) = (dir.clone(), staged.clone(), prev.clone());
        blocking(move || files::swap_in(&d, &s, &p))
            .await
            .map_err(|e| io_error("cannot swap in", &cfg.dir, &e))?;
    }

    // Reload and confirm.
    let log = error_log(cfg).await;
    let offset = log.as_deref().map(log_len).unwrap_or(0);
    let old_workers = workers(cfg).await;
    let reloaded = Instant::now();
    if let Err(reason) = reload(cfg).await {
        restore(cfg).await?;
        return Err(ProxyError::Unreachable {
            engine: NAME,
            address: cfg.nginx_conf.display().to_string(),
            reason,
        });
    }
    match confirm(&address, &rendered.hash, log.as_deref(), offset).await {
        Confirmed::Serving => {
            old_workers_stopped(&old_workers).await;
            let timings = ApplyTimings {
                test: test_time,
                reload_to_serving: reloaded.elapsed(),
                total: started.elapsed(),
            };
            tracing::debug!(
                test_ms = timings.test.as_millis() as u64,
                reload_to_serving_ms = timings.reload_to_serving.as_millis() as u64,
                total_ms = timings.total.as_millis() as u64,
                hash = %rendered.hash,
                "nginx serves the new configuration"
            );
            nginx.remember(timings);
            Ok(Applied {
                mutations,
                reloads: 1,
            })
        }
        failed => {
            restore(cfg).await?;
            let back = reload(cfg).await;
            if let (Ok(()), Some(Answer::Generation(old)), Some(a)) = (&back, &before, &old_address)
                && confirm(a, old, None, 0).await != Confirmed::Serving
            {
                tracing::warn!(generation = %old, "nginx did not come back to the previous generation");
            }
            Err(match failed {
                Confirmed::Unreachable(reason) => ProxyError::Unreachable {
                    engine: NAME,
                    address,
                    reason,
                },
                Confirmed::Refused(message) => ProxyError::Rejected {
                    engine: NAME,
                    message,
                },
                Confirmed::Serving => ProxyError::Other {
                    engine: NAME,
                    message: "confirmed and failed at once".into(),
                },
            })
        }
    }
}

/// How many files differ between the live directory and `files`: changed, added or
/// removed.
fn changes(live: &BTreeMap<String, String>, files: &BTreeMap<String, String>) -> u32 {
    let changed = files
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(v))
        .count();
    let removed = live.keys().filter(|k| !files.contains_key(*k)).count();
    u32::try_from(changed + removed).unwrap_or(u32::MAX)
}

async fn discard(dir: &Path) {
    let d = dir.to_path_buf();
    if let Err(e) = blocking(move || files::discard(&d)).await {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a staged folder");
    }
}

async fn restore(cfg: &NginxConfig) -> Result<(), ProxyError> {
    let (dir, prev) = (cfg.dir.clone(), sibling(&cfg.dir, ".prev"));
    blocking(move || files::restore(&dir, &prev))
        .await
        .map_err(|e| {
            io_error(
                "cannot restore the previous configuration into",
                &cfg.dir,
                &e,
            )
        })
}

/// `nginx ARGS -c CONF [-p PREFIX]`, bounded; `Err` with what it printed unless it
/// succeeds.
async fn nginx_command(cfg: &NginxConfig, args: &[&str], conf: &Path) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(&cfg.binary);
    cmd.args(args).arg("-c").arg(conf);
    if let Some(prefix) = &cfg.prefix {
        cmd.arg("-p").arg(prefix);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let shown = format!("{} {}", cfg.binary.display(), args.join(" "));
    let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
        .await
        .map_err(|_| {
            format!(
                "`{shown}` did not finish within {} s",
                COMMAND_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.trim().is_empty() {
        text = format!("{text}\n{}", stdout.trim());
    }
    if text.is_empty() {
        text = format!("`{shown}` failed ({})", out.status);
    }
    Err(text)
}

/// `nginx -t` on the main file with the owned directory replaced by `staged`.
async fn test(cfg: &NginxConfig, staged: &Path) -> Result<(), ProxyError> {
    let conf_text = tokio::fs::read_to_string(&cfg.nginx_conf)
        .await
        .map_err(|e| io_error("cannot read", &cfg.nginx_conf, &e))?;
    let dir = cfg.dir.display().to_string();
    let staged_s = staged.display().to_string();
    let (copy, found) = replace_path(&conf_text, &dir, &staged_s);
    if found == 0 {
        return Err(other(format!(
            "{} does not include {dir}: holdfast cannot test its part before it goes live \
             (write the path there as NginxConfig::dir spells it)",
            cfg.nginx_conf.display()
        )));
    }
    let name = cfg
        .nginx_conf
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "nginx.conf".into());
    let tmp = cfg
        .nginx_conf
        .with_file_name(format!(".{name}.holdfast-test"));
    {
        let to = tmp.clone();
        blocking(move || files::write_atomic(&to, &copy))
            .await
            .map_err(|e| io_error("cannot write", &tmp, &e))?;
    }
    let result = nginx_command(cfg, &["-t", "-q"], &tmp).await;
    let _ = tokio::fs::remove_file(&tmp).await;
    result.map_err(|message| ProxyError::Rejected {
        engine: NAME,
        message: without_stamps(&message.replace(&staged_s, &dir).replace(
            &tmp.display().to_string(),
            &cfg.nginx_conf.display().to_string(),
        )),
    })
}

/// nginx's lines without the time and process of each (`2024/05/01 10:00:00 [emerg]
/// 12#12: …` becomes `[emerg] …`), so that the same refusal reads the same at every
/// pass.
fn without_stamps(text: &str) -> String {
    text.lines()
        .map(without_stamp)
        .collect::<Vec<_>>()
        .join("\n")
}

fn without_stamp(line: &str) -> String {
    let Some((stamp, rest)) = line.split_at_checked(19) else {
        return line.to_string();
    };
    let is_stamp = stamp
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '/' | ':' | ' '))
        && rest.starts_with(" [");
    let Some((level, tail)) = rest.trim_start().split_once("] ") else {
        return line.to_string();
    };
    match tail.split_once(": ") {
        Some((pid, msg)) if is_stamp && pid.chars().all(|c| c.is_ascii_digit() || c == '#') => {
            format!("{level}] {msg}")
        }
        _ => line.to_string(),
    }
}

/// `text` with each occurrence of the path `from` (followed by the end of a path
/// component) replaced by `to`, and how many there were.
fn replace_path(text: &str, from: &str, to: &str) -> (String, usize) {
    let from = from.trim_end_matches('/');
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let after = rest[at + from.len()..].chars().next();
        let boundary = match after {
            None => true,
            Some(c) => !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')),
        };
        out.push_str(&rest[..at]);
        if boundary {
            out.push_str(to);
            count += 1;
        } else {
            out.push_str(from);
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    (out, count)
}

async fn reload(cfg: &NginxConfig) -> Result<(), String> {
    nginx_command(cfg, &["-s", "reload"], &cfg.nginx_conf).await
}

#[derive(Debug, PartialEq, Eq)]
enum Confirmed {
    Serving,
    Refused(String),
    Unreachable(String),
}

/// Asks `address` until it answers `hash`, the error log shows the master refused the
/// configuration, or [`CONFIRM_TIMEOUT`] passes.
async fn confirm(address: &str, hash: &str, log: Option<&Path>, offset: u64) -> Confirmed {
    let deadline = Instant::now() + CONFIRM_TIMEOUT;
    loop {
        let answer = probe::ask(address).await;
        if matches!(&answer, Ok(Answer::Generation(g)) if g == hash) {
            return Confirmed::Serving;
        }
        let logged = log.map(|l| log_since(l, offset)).unwrap_or_default();
        let refusals: Vec<&str> = logged
            .lines()
            .filter(|l| l.contains("[emerg]") || l.contains("[alert]"))
            .collect();
        if !refusals.is_empty() {
            return Confirmed::Refused(without_stamps(&refusals.join("\n")));
        }
        if Instant::now() >= deadline {
            return match answer {
                Err(reason) => Confirmed::Unreachable(reason),
                Ok(_) => {
                    let tail: Vec<&str> = logged.lines().rev().take(10).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    Confirmed::Refused(if tail.is_empty() {
                        format!(
                            "nginx did not serve generation {hash} within {} s of the reload",
                            CONFIRM_TIMEOUT.as_secs()
                        )
                    } else {
                        without_stamps(&tail.join("\n"))
                    })
                }
            };
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The main-level `error_log` file of the main configuration, if it names one.
/// The worker processes of the running master (from the `pid` file of the main
/// configuration, Debian's `/run/nginx.pid` by default), by reading `/proc`.
async fn workers(cfg: &NginxConfig) -> Vec<u32> {
    let text = tokio::fs::read_to_string(&cfg.nginx_conf)
        .await
        .unwrap_or_default();
    let pid_file = top_level(&text, "pid").unwrap_or_else(|| "/run/nginx.pid".to_string());
    let Some(master) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
    else {
        return Vec::new();
    };
    children(master)
}

/// How many workers of the running master are still shutting down after a reload:
/// each may hold requests to the upstreams of the configuration before it.
pub(super) async fn shutting_down(cfg: &NginxConfig) -> u64 {
    workers(cfg)
        .await
        .iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("shutting down"))
        })
        .count() as u64
}

fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // `pid (comm) state ppid ...`; comm may hold spaces.
                    let after = stat.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// Waits (bounded) until none of `old` still takes new connections: each has exited or
/// is "shutting down". A probe answered by a new worker does not prove that an old one
/// stopped accepting; until it has, a new connection may still get the old
/// configuration.
async fn old_workers_stopped(old: &[u32]) {
    let deadline = Instant::now() + CONFIRM_TIMEOUT;
    loop {
        let accepting = old.iter().any(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| !String::from_utf8_lossy(&c).contains("shutting down"))
                .unwrap_or(false)
        });
        if !accepting || Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn error_log(cfg: &NginxConfig) -> Option<PathBuf> {
    let text = tokio::fs::read_to_string(&cfg.nginx_conf).await.ok()?;
    let path = error_log_in(&text)?;
    let path = PathBuf::from(path);
    if path.is_absolute() {
        Some(path)
    } else {
        cfg.prefix.as_ref().map(|p| p.join(path))
    }
}

/// The file of the first `error_log` outside any block in `conf`.
fn error_log_in(conf: &str) -> Option<String> {
    top_level(conf, "error_log")
}

/// The first argument of the first `directive` outside any block in `conf`.
fn top_level(conf: &str, directive: &str) -> Option<String> {
    let mut depth = 0usize;
    for line in conf.lines() {
        let line = line.split('#').next().unwrap_or("");
        let trimmed = line.trim();
        if depth == 0
            && let Some(rest) = trimmed.strip_prefix(directive)
            && rest.starts_with(char::is_whitespace)
        {
            let file = rest
                .split_whitespace()
                .next()?
                .trim_end_matches(';')
                .trim_matches(['"', '\'']);
            if file == "stderr" || file.starts_with("syslog:") || file.starts_with("memory:") {
                return None;
            }
            return Some(file.to_string());
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
    }
    None
}

fn log_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// What the log got after `offset` (all of it when it was rotated).
fn log_since(path: &Path, offset: u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = if len < offset { 0 } else { offset };
    if f.seek(SeekFrom::Start(from)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(64 * 1024).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owned_path_is_replaced_whole() {
        let conf = "include /etc/nginx/hf/*.conf;\ninclude /etc/nginx/hf-other/*.conf;\ninclude \"/etc/nginx/hf\";\n";
        let (out, n) = replace_path(conf, "/etc/nginx/hf", "/etc/nginx/hf.new");
        assert_eq!(n, 2);
        assert_eq!(
            out,
            "include /etc/nginx/hf.new/*.conf;\ninclude /etc/nginx/hf-other/*.conf;\ninclude \"/etc/nginx/hf.new\";\n"
        );
    }

    #[test]
    fn the_main_error_log_is_found() {
        let conf = "# error_log /no;\nerror_log /tmp/x/error.log warn;\nhttp {\n error_log /tmp/inner;\n}\n";
        assert_eq!(error_log_in(conf).as_deref(), Some("/tmp/x/error.log"));
        let conf = "http {\n error_log /tmp/inner;\n}\nerror_log stderr;\n";
        assert_eq!(error_log_in(conf), None);
    }

    #[test]
    fn stamps_are_dropped() {
        assert_eq!(
            without_stamps(
                "2026/12/01 11:55:40 [emerg] 9839#9839: unknown directive \"bogus\"\nnginx: configuration file /x test failed"
            ),
            "[emerg] unknown directive \"bogus\"\nnginx: configuration file /x test failed"
        );
    }

    #[test]
    fn changes_count_files() {
        let a = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".into(), "2".into())]);
        let b = BTreeMap::from([("a".to_string(), "1".to_string()), ("c".into(), "3".into())]);
        assert_eq!(changes(&a, &a), 0);
        assert_eq!(changes(&a, &b), 2);
    }
}
