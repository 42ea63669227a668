//! One route's report, from the pass over the whole proxy.

use holdfast_proxy::converge::{ConvergeOutcome, DriftWhat, RouteResult};
use holdfast_proxy::driver::Changed;
use holdfast_proxy::model::{ProxyModel, RouteModel, TlsModel, route_section};

use super::ca::{CertInfo, cert_info};
use super::kind::RouteError;
use crate::runtime::kind::{Action, FieldDrift, Outcome, Report};

/// How the pass ran, and what else it learned.
#[derive(Debug, Clone, Copy)]
pub struct Mode<'a> {
    /// Plan only (`plan`, `diff`, suspended): nothing was sent.
    pub plan_only: bool,
    /// The route is report-only: its drift alone is never corrected.
    pub report_only: bool,
    /// Routes gone from the file may be removed.
    pub removal_allowed: bool,
    /// A `tls: auto` route whose certificate the proxy does not serve yet.
    pub awaiting_certificate: bool,
    /// The certificate the proxy serves for a `tls: auto` route, if it was asked.
    pub served: Option<&'a CertInfo>,
    /// What the engine says is off (an old Caddy).
    pub warnings: &'a [String],
    /// The route's `tls` mode as the file says it (`internal` and files both render
    /// as certificate files).
    pub tls_mode: &'a str,
}

/// The event reason of proxy drift.
pub const PROXY_DRIFT: &str = "ProxyDrift";

/// The report of route `name` after `outcome`. `changed` is what a pass (this one, or
/// another route's since this route last looked) changed in the route's section; in
/// plan mode it is `None` and the outcome's own drift is reported.
pub fn report(
    name: &str,
    engine: &'static str,
    model: &ProxyModel,
    outcome: &ConvergeOutcome,
    changed: Option<Changed>,
    mode: Mode<'_>,
) -> Result<Report, RouteError> {
    let section = route_section(name);
    let live = outcome
        .observed
        .as_ref()
        .and_then(|o| o.sections.get(&section));
    let rendered = outcome.rendered.sections.get(&section);
    let (drift, drifted, sent) = match &changed {
        Some(c) => (Some(&c.drift), c.drifted, true),
        None => {
            let d = outcome.route_drift(name);
            // Drift is a live section that left what holdfast applied unchanged; a
            // section that differs because the file (or an upstream) changed is a change.
            let before = outcome
                .before
                .as_ref()
                .and_then(|b| b.sections.get(&section));
            (
                d,
                d.is_some() && before.is_some() && before == rendered,
                false,
            )
        }
    };

    let Some(route) = model.routes.get(name) else {
        return removed(name, engine, outcome, live.is_some(), mode);
    };
    let result = outcome
        .routes
        .get(name)
        .cloned()
        .unwrap_or(RouteResult::Serving);
    match &result {
        RouteResult::Rejected(message) => {
            return Err(RouteError::Rejected {
                engine,
                route: name.to_string(),
                message: message.clone(),
            });
        }
        RouteResult::Failed(message) => return Err(RouteError::Proxy(message.clone())),
        RouteResult::Serving | RouteResult::Differs => {}
    }

    let waiting: Vec<&str> = route
        .paths
        .iter()
        .filter(|p| p.upstreams.is_empty())
        .map(|p| p.service.as_str())
        .collect();
    let mut out = Report::new(
        if result == RouteResult::Differs && mode.report_only && !mode.plan_only {
            Outcome::Drifted
        } else if mode.awaiting_certificate && !mode.plan_only {
            Outcome::Progressing {
                reason: format!(
                    "waiting for the proxy to obtain the ACME certificate of {}",
                    route.hosts.first().map(String::as_str).unwrap_or("?")
                ),
                retry_after: std::time::Duration::from_secs(2),
            }
        } else if !waiting.is_empty() {
            Outcome::Progressing {
                reason: format!(
                    "waiting for {} to be ready; the proxy answers 503 until then",
                    waiting
                        .iter()
                        .map(|s| format!("service/{s}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                retry_after: std::time::Duration::from_secs(30),
            }
        } else {
            Outcome::Ready
        },
    );
    out.drift_reason = PROXY_DRIFT;
    out.ready_message = "serving";
    if let Some(d) = drift {
        out.drift.push(FieldDrift {
            field: format!("{engine} config"),
            desired: "as rendered".to_string(),
            live: d.what.as_str().to_string(),
        });
        out.drifted = drifted;
        let verb = match (drifted, d.what) {
            (true, _) => "restore",
            (false, DriftWhat::Missing) => "add",
            _ => "update",
        };
        out.actions.push(Action {
            reason: if drifted {
                "ProxyRestored"
            } else {
                "ProxyApplied"
            },
            warning: drifted,
            description: format!("{verb} route/{name} in {engine} ({})", d.what.as_str()),
        });
        out.applied = sent;
    }
    if mode.plan_only {
        out.diff = Some((
            live.map(|t| pretty(t)).unwrap_or_default(),
            rendered.map(|t| pretty(t)).unwrap_or_default(),
        ));
    }
    out.spec_hash = Some(outcome.rendered.hash.clone());
    out.columns = columns(engine, route, outcome, drift.is_some(), mode);
    // What differed (and, in apply mode, was put back), for `describe`.
    let config_diff = drift.and_then(|_| {
        crate::runtime::planning::unified(
            &format!("route/{name}"),
            &live.map(|t| pretty(t)).unwrap_or_default(),
            &rendered.map(|t| pretty(t)).unwrap_or_default(),
        )
    });
    out.columns.insert(
        "CONFIG DIFF".into(),
        config_diff.unwrap_or_else(|| "<none>".into()),
    );
    Ok(out)
}

fn removed(
    name: &str,
    engine: &'static str,
    outcome: &ConvergeOutcome,
    still_live: bool,
    mode: Mode<'_>,
) -> Result<Report, RouteError> {
    if let Some(e) = &outcome.error {
        return Err(RouteError::Proxy(e.to_string()));
    }
    if !mode.removal_allowed {
        return Ok(Report::new(Outcome::RemovalRefused));
    }
    let mut out = Report::new(Outcome::Removed);
    if still_live {
        out.actions.push(Action {
            reason: "ProxyApplied",
            warning: false,
            description: format!("remove route/{name} from {engine}"),
        });
        out.applied = !mode.plan_only && outcome.applied.is_some();
    }
    Ok(out)
}

fn columns(
    engine: &'static str,
    route: &RouteModel,
    outcome: &ConvergeOutcome,
    differs: bool,
    mode: Mode<'_>,
) -> std::collections::BTreeMap<String, String> {
    let warnings = mode.warnings;
    let mut c = std::collections::BTreeMap::new();
    c.insert("HOSTS".into(), route.hosts.join(","));
    let (tls, issuer) = tls_column(route, mode.tls_mode, mode.served);
    c.insert("TLS".into(), tls);
    c.insert("ISSUER".into(), issuer);
    c.insert(
        "UPSTREAMS".into(),
        route
            .paths
            .iter()
            .map(|p| {
                let to = if p.upstreams.is_empty() {
                    format!("<{} not ready>", p.service)
                } else {
                    p.upstreams
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("|")
                };
                format!("{}→{to}", p.prefix)
            })
            .collect::<Vec<_>>()
            .join(","),
    );
    c.insert("ENGINE".into(), engine.to_string());
    c.insert(
        "CONFIG".into(),
        format!(
            "generation {}{}",
            outcome.rendered.hash,
            if differs && outcome.applied.is_none() {
                " (live config differs; see holdfast diff)"
            } else {
                ""
            }
        ),
    );
    c.insert(
        "LAST PROXY ERROR".into(),
        outcome
            .error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "<none>".into()),
    );
    c.insert(
        "WARNINGS".into(),
        if warnings.is_empty() {
            "<none>".into()
        } else {
            warnings.join("; ")
        },
    );
    c
}

/// `mode, expiry` and the issuer: from the certificate file where there is one, from
/// what the proxy serves for `auto`.
fn tls_column(route: &RouteModel, tls_mode: &str, served: Option<&CertInfo>) -> (String, String) {
    let with = |mode: &str, info: Option<CertInfo>, missing: &str| match info {
        Some(info) => {
            let left = info
                .not_after
                .duration_since(std::time::SystemTime::now())
                .map(|d| format!("{}d", d.as_secs() / 86_400))
                .unwrap_or_else(|_| "expired".into());
            (format!("{mode}, {left}"), info.issuer)
        }
        None => (format!("{mode}, {missing}"), "<unknown>".into()),
    };
    match &route.tls {
        TlsModel::Off => ("off".into(), "<none>".into()),
        TlsModel::Acme => with("auto", served.cloned(), "not served yet"),
        TlsModel::Files { cert, .. } => with(tls_mode, cert_info(cert), "unreadable"),
    }
}

fn pretty(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_string()) + "\n",
        Err(_) => text.to_string(),
    }
}
