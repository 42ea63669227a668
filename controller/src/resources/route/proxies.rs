//! The proxy in force, shared by the kinds that talk to it: routes drive it, and a
//! service updated start-first asks it which container it routes to and what still
//! holds the old one ([`Proxies::routed`], [`Proxies::in_flight`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use holdfast_proxy::driver::Driver;
use holdfast_proxy::engine::ProxyError;
use holdfast_proxy::model::SlotSwitch;
use holdfast_spec::Proxy;

use super::metrics::RouteMetrics;
use crate::runtime::lock;

/// One driver per `proxy:` spec: a changed `proxy:` gets a new one.
pub struct Proxies {
    debounce: Duration,
    driver: Mutex<Option<(String, Arc<Driver>)>>,
    metrics: RouteMetrics,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

impl Proxies {
    /// Drivers that coalesce passes within `debounce` and report applies to `metrics`.
    pub fn new(debounce: Duration, metrics: RouteMetrics) -> Self {
        Proxies {
            debounce,
            driver: Mutex::new(None),
            metrics,
        }
    }

    /// The driver of `proxy`, made on first use.
    pub fn driver_for(&self, proxy: &Proxy) -> Result<Arc<Driver>, String> {
        let key = serde_json::to_string(proxy).unwrap_or_default();
        let mut slot = lock(&self.driver);
        if let Some((k, d)) = slot.as_ref()
            && *k == key
        {
            return Ok(d.clone());
        }
        let metrics = self.metrics.clone();
        let d = super::engine::driver(proxy, self.debounce, move |engine, outcome| {
            metrics.observe_pass(engine, outcome)
        })?;
        *slot = Some((key, d.clone()));
        Ok(d)
    }

    /// [`Proxies::driver_for`] with its error as a [`ProxyError`].
    fn engine_of(&self, proxy: &Proxy) -> Result<Arc<Driver>, ProxyError> {
        self.driver_for(proxy).map_err(|message| ProxyError::Other {
            engine: "proxy",
            message,
        })
    }

    /// The driver made last, if any.
    pub fn current(&self) -> Option<Arc<Driver>> {
        lock(&self.driver).as_ref().map(|(_, d)| d.clone())
    }

    /// Which of `addresses` the live configuration of route section `route/NAME`
    /// for any of `routes` sends traffic to, read back from the proxy (never from
    /// memory, so that a restarted controller sees what the proxy really does). A
    /// route whose live configuration switches by `switch`'s marker sends traffic to
    /// the slot the marker picks.
    pub async fn routed(
        &self,
        proxy: &Proxy,
        routes: &[String],
        addresses: &[String],
        switch: Option<&SlotSwitch>,
    ) -> Result<Vec<String>, ProxyError> {
        let observed = self.engine_of(proxy)?.engine().observe().await?;
        let mut out = Vec::new();
        for route in routes {
            let Some(text) = observed
                .sections
                .get(&holdfast_proxy::model::route_section(route))
            else {
                continue;
            };
            if let Some(sw) = switch
                && text.contains(&sw.marker.display().to_string())
            {
                let picked = if sw.marker.exists() {
                    &sw.green
                } else {
                    &sw.blue
                };
                if !out.contains(&picked.0) {
                    out.push(picked.0.clone());
                }
                continue;
            }
            for a in addresses {
                if mentions(text, a) && !out.contains(a) {
                    out.push(a.clone());
                }
            }
        }
        Ok(out)
    }

    /// What still holds `address` after traffic moved off it (see
    /// [`Engine::in_flight`](holdfast_proxy::engine::Engine::in_flight)).
    pub async fn in_flight(&self, proxy: &Proxy, address: &str) -> Result<Option<u64>, ProxyError> {
        self.engine_of(proxy)?.engine().in_flight(address).await
    }
}

/// Whether `text` names `address` as a whole (`127.0.0.1:2000` is not in
/// `127.0.0.1:20001`).
fn mentions(text: &str, address: &str) -> bool {
    text.match_indices(address).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + address.len()..].chars().next();
        let edge = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.');
        edge(before) && edge(after)
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn an_address_is_found_whole() {
        let caddy = r#"{"upstreams":[{"dial":"127.0.0.1:20001"}]}"#;
        assert!(mentions(caddy, "127.0.0.1:20001"));
        assert!(!mentions(caddy, "127.0.0.1:2000"));
        assert!(!mentions(caddy, "27.0.0.1:20001"));
        assert!(mentions("server 127.0.0.1:20001;", "127.0.0.1:20001"));
        assert!(!mentions("server 127.0.0.1:200011;", "127.0.0.1:20001"));
    }
}
