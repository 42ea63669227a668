//! The engine-neutral pass against a fake engine: what is sent, and which routes are
//! isolated when the proxy refuses a configuration.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;
use crate::engine::BoxFuture;
use crate::model::fixtures::{model, route};

/// Renders each route as its first upstream; refuses any configuration with an
/// upstream of `bad`; counts applies.
#[derive(Default)]
struct Fake {
    live: Mutex<BTreeMap<String, String>>,
    applies: Mutex<u32>,
    down: bool,
}

impl Engine for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn render(&self, model: &ProxyModel) -> Rendered {
        let sections = model
            .routes
            .iter()
            .map(|(k, r)| (route_section(k), r.paths[0].upstreams[0].0.clone()))
            .collect::<BTreeMap<_, _>>();
        Rendered::new(sections.clone(), sections)
    }
    fn observe(&self) -> BoxFuture<'_, Result<Observed, ProxyError>> {
        Box::pin(async move {
            if self.down {
                return Err(ProxyError::Unreachable {
                    engine: "fake",
                    address: "nowhere".into(),
                    reason: "connection refused".into(),
                });
            }
            Ok(Observed {
                sections: self.live.lock().unwrap().clone(),
                ..Observed::default()
            })
        })
    }
    fn apply<'a>(&'a self, r: &'a Rendered) -> BoxFuture<'a, Result<Applied, ProxyError>> {
        Box::pin(async move {
            *self.applies.lock().unwrap() += 1;
            if r.sections.values().any(|v| v == "bad") {
                return Err(ProxyError::Rejected {
                    engine: "fake",
                    message: "bad upstream".into(),
                });
            }
            *self.live.lock().unwrap() = r.sections.clone();
            Ok(Applied {
                mutations: 1,
                reloads: 0,
            })
        })
    }
}

fn with(routes: &[(&str, &str)]) -> ProxyModel {
    let mut m = model(":80", ":443");
    m.routes = routes
        .iter()
        .map(|(n, u)| (n.to_string(), route(&[&format!("{n}.test")], u)))
        .collect();
    m
}

#[tokio::test]
async fn a_second_pass_sends_nothing() {
    let fake = Fake::default();
    let m = with(&[("a", "127.0.0.1:1"), ("b", "127.0.0.1:2")]);
    let first = converge(&fake, &m, None, true).await;
    assert_eq!(first.applied.map(|a| a.mutations), Some(1));
    let second = converge(&fake, &m, first.serving.as_ref(), true).await;
    assert!(second.drift.is_empty());
    assert_eq!(second.applied, None);
    assert_eq!(*fake.applies.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_refused_route_is_isolated_and_the_others_serve() {
    let fake = Fake::default();
    let good = with(&[("a", "127.0.0.1:1"), ("b", "127.0.0.1:2")]);
    let first = converge(&fake, &good, None, true).await;
    // b breaks, c is new and fine, a is unchanged.
    let next = with(&[("a", "127.0.0.1:1"), ("b", "bad"), ("c", "127.0.0.1:3")]);
    let out = converge(&fake, &next, first.serving.as_ref(), true).await;
    assert_eq!(out.routes["a"], RouteResult::Serving);
    assert_eq!(
        out.routes["b"],
        RouteResult::Rejected("bad upstream".into())
    );
    assert_eq!(out.routes["c"], RouteResult::Serving);
    let live = fake.live.lock().unwrap().clone();
    assert_eq!(
        live["route/b"], "127.0.0.1:2",
        "b keeps its last good version"
    );
    assert_eq!(live["route/c"], "127.0.0.1:3");
}

#[tokio::test]
async fn a_new_bad_route_is_left_out() {
    let fake = Fake::default();
    let m = with(&[("a", "127.0.0.1:1"), ("z", "bad")]);
    let out = converge(&fake, &m, None, true).await;
    assert_eq!(out.routes["a"], RouteResult::Serving);
    assert!(matches!(out.routes["z"], RouteResult::Rejected(_)));
    assert!(!fake.live.lock().unwrap().contains_key("route/z"));
}

#[tokio::test]
async fn drift_is_named_by_section_and_plan_mode_sends_nothing() {
    let fake = Fake::default();
    let m = with(&[("a", "127.0.0.1:1"), ("b", "127.0.0.1:2")]);
    converge(&fake, &m, None, true).await;
    {
        let mut live = fake.live.lock().unwrap();
        live.remove("route/a");
        live.insert("route/b".into(), "127.0.0.1:9".into());
        live.insert("route/x".into(), "127.0.0.1:7".into());
    }
    let out = converge(&fake, &m, None, false).await;
    let kinds: Vec<(&str, DriftWhat)> = out
        .drift
        .iter()
        .map(|d| (d.section.as_str(), d.what))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("route/a", DriftWhat::Missing),
            ("route/b", DriftWhat::Changed),
            ("route/x", DriftWhat::Unexpected)
        ]
    );
    assert_eq!(out.routes["a"], RouteResult::Differs);
    assert_eq!(
        *fake.applies.lock().unwrap(),
        1,
        "plan mode applies nothing"
    );
}

#[tokio::test]
async fn an_unreachable_proxy_fails_every_route_and_sends_nothing() {
    let fake = Fake {
        down: true,
        ..Fake::default()
    };
    let m = with(&[("a", "127.0.0.1:1")]);
    let out = converge(&fake, &m, None, true).await;
    assert!(matches!(out.routes["a"], RouteResult::Failed(_)));
    assert!(out.serving.is_none());
    assert_eq!(*fake.applies.lock().unwrap(), 0);
}
