//! Live against desired as text, for `holdfast diff`.
//!
//! [`render_desired`] and [`render_live`] write a container as the same stable,
//! YAML-like `key: value` lines, always in this order: `image`, `image_id`, `command`,
//! `entrypoint`, `env`, `ports`, `mounts`, `networks`, `limits`, `restart`, `labels`,
//! `state`. Maps are sorted by key, lists by a stable key, and values of variables and
//! labels whose names suggest a secret are [hidden](super::drift::is_secret_name).
//! holdfast's own `io.holdfast.*` labels are left out.
//!
//! [`render_pair`] renders both sides of one service so that they differ exactly
//! where [`drift`] sees a difference: what Docker lets differ without meaning anything
//! (the image's own variables and labels, a command left to the image, the host port
//! Docker chose, an anonymous volume's generated name, Docker's extra network aliases)
//! is written the same on both sides. [`unified`] then turns the two texts into a
//! unified diff with `--- live/<key>` and `+++ desired/<key>` headers.
//!
//! ```
//! use holdfast::resources::service::diff::unified;
//!
//! let diff = unified("service/web", "env:\n  MODE: a\n", "env:\n  MODE: b\n").unwrap();
//! assert!(diff.starts_with("--- live/service/web\n+++ desired/service/web\n"));
//! assert!(diff.contains("\n-  MODE: a\n+  MODE: b\n"));
//! assert_eq!(unified("service/web", "same\n", "same\n"), None);
//! ```

use std::collections::{BTreeMap, BTreeSet};

use holdfast_spec::MountKind;

use super::container::{MountSpec, PortBinding};
use super::desired::DesiredContainer;
use super::drift::{Field, HIDDEN, drift, is_secret_name};
use super::labels;
use super::live::{ImageDefaults, LiveContainer};

/// Written for a command or entrypoint that the file leaves to the image, when there is
/// no live container to show the image's.
pub const IMAGE_DEFAULT: &str = "(image default)";

/// Written for the desired image ID when the image is not on this host yet.
pub const NOT_PRESENT: &str = "(not present)";

/// Written on the desired side for a secret-looking value that differs from the live
/// one (both values stay hidden).
pub const HIDDEN_CHANGED: &str = "(hidden, changed)";

pub use crate::runtime::planning::CONTEXT_LINES;

/// The desired container as text.
///
/// ```
/// use holdfast::resources::service::{DesiredContainer, ResolvedInputs, diff};
///
/// let web = holdfast_spec::Service {
///     image: Some("nginx:1.27".into()),
///     ..Default::default()
/// };
/// let desired = DesiredContainer::new("shop", "web", &web, &ResolvedInputs::default()).unwrap();
/// let text = diff::render_desired(&desired);
/// assert!(text.starts_with("image: nginx:1.27\nimage_id: (not present)\n"));
/// assert!(text.ends_with("labels: {}\nstate: running\n"));
/// ```
pub fn render_desired(desired: &DesiredContainer) -> String {
    View::desired(desired).text()
}

/// The live container as text, without the variables, labels and `VOLUME`s that merely
/// repeat what the image sets (`image`).
pub fn render_live(live: &LiveContainer, image: &ImageDefaults) -> String {
    View::live(live, image).text()
}

/// The texts of one service as `(live, desired)`, written so that they differ only
/// where [`drift`] finds a difference (and when the spec hash differs although no
/// field shown does, in a last `spec_hash` line). A side that is `None` is the empty
/// text: a container still to be created, or a service no longer in the file.
pub fn render_pair(
    desired: Option<&DesiredContainer>,
    live: Option<&LiveContainer>,
    image: &ImageDefaults,
) -> (String, String) {
    match (desired, live) {
        (None, None) => (String::new(), String::new()),
        (Some(d), None) => (String::new(), render_desired(d)),
        (None, Some(l)) => (render_live(l, image), String::new()),
        (Some(d), Some(l)) => {
            let (lv, dv) = pair(d, l, image);
            (lv.text(), dv.text())
        }
    }
}

pub use crate::runtime::planning::unified;

/// One side, field by field, as the strings that are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    image: String,
    image_id: String,
    command: String,
    entrypoint: String,
    env: BTreeMap<String, String>,
    /// `(sort key, shown)`.
    ports: Vec<(String, String)>,
    /// `(target, shown)`.
    mounts: Vec<(String, String)>,
    networks: BTreeMap<String, String>,
    limits: String,
    restart: String,
    labels: BTreeMap<String, String>,
    state: String,
    spec_hash: Option<String>,
}

impl View {
    fn desired(d: &DesiredContainer) -> View {
        View {
            image: d.image.clone(),
            image_id: d
                .image_id
                .as_deref()
                .map_or_else(|| NOT_PRESENT.to_string(), short_id),
            command: d
                .cmd
                .as_deref()
                .map_or_else(|| IMAGE_DEFAULT.to_string(), argv),
            entrypoint: d
                .entrypoint
                .as_deref()
                .map_or_else(|| IMAGE_DEFAULT.to_string(), argv),
            env: shown_map(&d.env, &BTreeMap::new()),
            ports: d.ports.iter().map(port_entry).collect(),
            mounts: d.mounts.iter().map(mount_entry).collect(),
            networks: d
                .networks
                .iter()
                .map(|(name, aliases)| (name.clone(), show_aliases(aliases)))
                .collect(),
            limits: d.limits.to_string(),
            restart: d.restart.to_string(),
            labels: shown_map(&d.labels, &BTreeMap::new()),
            state: "running".to_string(),
            spec_hash: None,
        }
    }

    fn live(l: &LiveContainer, image: &ImageDefaults) -> View {
        View {
            image: l.image.clone(),
            image_id: short_id(&l.image_id),
            command: argv(l.cmd.as_deref().unwrap_or_default()),
            entrypoint: argv(l.entrypoint.as_deref().unwrap_or_default()),
            env: shown_map(&l.env, &image.env),
            ports: l.ports.iter().map(port_entry).collect(),
            mounts: l
                .mounts
                .iter()
                .filter(|m| !(m.kind == MountKind::Volume && image.volumes.contains(&m.target)))
                .map(mount_entry)
                .collect(),
            networks: l
                .networks
                .iter()
                .map(|(name, aliases)| (name.clone(), show_aliases(aliases)))
                .collect(),
            limits: l.limits.to_string(),
            restart: l.restart.to_string(),
            labels: shown_map(&l.labels, &image.labels),
            state: l.state.to_string(),
            spec_hash: None,
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, key: &str, value: &str| {
            out.push_str(&format!("{key}: {value}\n"));
        };
        let map = |out: &mut String, key: &str, map: &BTreeMap<String, String>| {
            if map.is_empty() {
                out.push_str(&format!("{key}: {{}}\n"));
                return;
            }
            out.push_str(&format!("{key}:\n"));
            for (k, v) in map {
                out.push_str(&format!("  {}: {v}\n", scalar(k)));
            }
        };
        let list = |out: &mut String, key: &str, items: &[(String, String)]| {
            if items.is_empty() {
                out.push_str(&format!("{key}: []\n"));
                return;
            }
            let mut items: Vec<&(String, String)> = items.iter().collect();
            items.sort();
            out.push_str(&format!("{key}:\n"));
            for (_, shown) in items {
                out.push_str(&format!("  - {shown}\n"));
            }
        };
        line(&mut out, "image", &self.image);
        line(&mut out, "image_id", &self.image_id);
        line(&mut out, "command", &self.command);
        line(&mut out, "entrypoint", &self.entrypoint);
        map(&mut out, "env", &self.env);
        list(&mut out, "ports", &self.ports);
        list(&mut out, "mounts", &self.mounts);
        map(&mut out, "networks", &self.networks);
        line(&mut out, "limits", &self.limits);
        line(&mut out, "restart", &self.restart);
        map(&mut out, "labels", &self.labels);
        line(&mut out, "state", &self.state);
        if let Some(hash) = &self.spec_hash {
            line(&mut out, "spec_hash", hash);
        }
        out
    }
}

/// Both sides of a service whose container exists, made to agree wherever drift does.
fn pair(d: &DesiredContainer, l: &LiveContainer, image: &ImageDefaults) -> (View, View) {
    // The image's values hide only what the file does not set itself.
    let image = ImageDefaults {
        env: without_keys(&image.env, &d.env),
        labels: without_keys(&image.labels, &d.labels),
        volumes: image
            .volumes
            .iter()
            .filter(|target| !d.mounts.iter().any(|m| &m.target == *target))
            .cloned()
            .collect(),
    };
    let mut dv = View::desired(d);
    let mut lv = View::live(l, &image);

    // Items that satisfy a desired one are shown as the desired one.
    lv.ports = matched_ports(&d.ports, &l.ports, &lv.ports);
    let mut desired_mounts: BTreeMap<&str, &MountSpec> = BTreeMap::new();
    for m in &d.mounts {
        desired_mounts.insert(&m.target, m);
    }
    for (target, shown) in &mut lv.mounts {
        let live = l.mounts.iter().find(|m| &m.target == target);
        if let (Some(want), Some(have)) = (desired_mounts.get(target.as_str()), live)
            && want.is_satisfied_by(have)
        {
            *shown = want.to_string();
        }
    }
    for (name, want) in &d.networks {
        if let Some(have) = l.networks.get(name)
            && want.is_subset(have)
        {
            lv.networks.insert(name.clone(), show_aliases(want));
        }
    }
    // A changed secret stays hidden, but shows as changed.
    for (env, (want, have)) in [(true, (&d.env, &l.env)), (false, (&d.labels, &l.labels))] {
        let shown = if env { &mut dv.env } else { &mut dv.labels };
        for (key, value) in want {
            if is_secret_name(key) && have.get(key).is_some_and(|h| h != value) {
                shown.insert(scalar(key), HIDDEN_CHANGED.to_string());
            }
        }
    }

    // Whatever drift does not report is the same on both sides.
    let drifted: BTreeSet<Field> = drift(d, l, &image).iter().map(|f| f.field).collect();
    for field in Field::ALL {
        if drifted.contains(&field) {
            continue;
        }
        match field {
            Field::Image => {
                if d.image_id.is_none() {
                    dv.image_id = lv.image_id.clone();
                }
                lv.image = dv.image.clone();
                lv.image_id = dv.image_id.clone();
            }
            Field::Command if d.cmd.is_none() => dv.command = lv.command.clone(),
            Field::Command => lv.command = dv.command.clone(),
            Field::Entrypoint if d.entrypoint.is_none() => dv.entrypoint = lv.entrypoint.clone(),
            Field::Entrypoint => lv.entrypoint = dv.entrypoint.clone(),
            Field::Env => lv.env = dv.env.clone(),
            Field::Ports => lv.ports = dv.ports.clone(),
            Field::Mounts => lv.mounts = dv.mounts.clone(),
            Field::Limits => lv.limits = dv.limits.clone(),
            Field::RestartPolicy => lv.restart = dv.restart.clone(),
            Field::Networks => lv.networks = dv.networks.clone(),
            Field::Labels => lv.labels = dv.labels.clone(),
            Field::Running => lv.state = dv.state.clone(),
            // Not in the text; a change shows through the spec hash below.
            _ => {}
        }
    }

    // A change only in what the text does not show (health check, user, init,
    // logging, stop grace period, secret contents) still shows, as the spec hash.
    if lv == dv && l.spec_hash() != Some(d.spec_hash.as_str()) {
        lv.spec_hash = Some(
            l.spec_hash()
                .map_or_else(|| "(none)".to_string(), short_hash),
        );
        dv.spec_hash = Some(short_hash(&d.spec_hash));
    }
    (lv, dv)
}

/// The live ports, with each one that satisfies a desired port shown as that port.
/// Ports with a fixed host port are matched first, as drift does.
fn matched_ports(
    desired: &[PortBinding],
    live: &[PortBinding],
    shown: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out: Vec<Option<(String, String)>> = shown.iter().cloned().map(Some).collect();
    let mut taken = vec![false; live.len()];
    let fixed = desired.iter().filter(|p| p.host_port.is_some());
    let any = desired.iter().filter(|p| p.host_port.is_none());
    for want in fixed.chain(any) {
        let found = live
            .iter()
            .enumerate()
            .position(|(i, have)| !taken[i] && want.is_satisfied_by(have));
        if let Some(i) = found {
            taken[i] = true;
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(port_entry(want));
            }
        }
    }
    out.into_iter().flatten().collect()
}

/// `map` without the keys that `except` has.
fn without_keys(
    map: &BTreeMap<String, String>,
    except: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(k, _)| !except.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Variables or labels as printed: holdfast's own labels and what merely repeats the
/// image (`image`) left out, secret-looking values hidden.
fn shown_map(
    map: &BTreeMap<String, String>,
    image: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(k, v)| !labels::is_reserved(k) && image.get(*k) != Some(*v))
        .map(|(k, v)| {
            let shown = if is_secret_name(k) {
                HIDDEN.to_string()
            } else {
                scalar(v)
            };
            (scalar(k), shown)
        })
        .collect()
}

fn port_entry(p: &PortBinding) -> (String, String) {
    let host_port = p.host_port.map(|h| format!("{h:05}")).unwrap_or_default();
    let key = format!(
        "{:05}/{}/{}/{host_port}",
        p.container_port,
        p.protocol.as_str(),
        p.host_ip_normalized()
    );
    (key, p.to_string())
}

fn mount_entry(m: &MountSpec) -> (String, String) {
    (m.target.clone(), m.to_string())
}

fn show_aliases(aliases: &BTreeSet<String>) -> String {
    let aliases: Vec<String> = aliases.iter().map(|a| scalar(a)).collect();
    format!("[{}]", aliases.join(", "))
}

/// An argument vector as a JSON array, as drift shows it.
fn argv(argv: &[String]) -> String {
    serde_json::to_string(argv).unwrap_or_else(|_| argv.join(" "))
}

/// `sha256:<64 hex>` as its first 12 hex digits, as `docker images` shows it.
fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex).to_string()
}

fn short_hash(hash: &str) -> String {
    hash.get(..12).unwrap_or(hash).to_string()
}

/// A value as printed: as it is, or quoted (JSON-style) when it is empty, has spaces
/// at either end or holds control characters such as a newline, so that every value
/// stays on one line and reads back unambiguously.
fn scalar(s: &str) -> String {
    if s.is_empty() || s.trim() != s || s.chars().any(char::is_control) {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::service::ContainerState;
    use crate::resources::service::fixtures::{self, SHOP};
    use crate::resources::service::key;

    fn diff_of(
        desired: Option<&DesiredContainer>,
        live: Option<&LiveContainer>,
        image: &ImageDefaults,
    ) -> Option<String> {
        let (l, d) = render_pair(desired, live, image);
        unified(&key("web"), &l, &d)
    }

    /// The changed lines of a diff, without headers.
    fn changes(diff: &str) -> Vec<&str> {
        diff.lines()
            .filter(|l| {
                (l.starts_with('-') || l.starts_with('+'))
                    && !l.starts_with("---")
                    && !l.starts_with("+++")
            })
            .collect()
    }

    #[test]
    fn desired_renders_every_field_in_order() {
        let yaml = "name: shop\nservices:\n  web:\n    image: nginx:1.27\n    command: [nginx, -g, daemon off;]\n    environment: {MODE: a, DB_PASSWORD: hunter2, EMPTY: \"\", MULTI: \"a\\nb\"}\n    ports: [\"8080:80\", \"53/udp\"]\n    volumes: [\"data:/data\", \"/cache\"]\n    labels: {traefik.enable: \"true\"}\n    restart: unless-stopped\n    deploy: {resources: {limits: {memory: 64M, cpus: \"0.5\"}}}\nvolumes:\n  data: {}\n";
        let web = fixtures::desired(yaml, "web");
        let text = render_desired(&web);
        assert_eq!(
            text,
            r#"image: nginx:1.27
image_id: 111111111111
command: ["nginx","-g","daemon off;"]
entrypoint: (image default)
env:
  DB_PASSWORD: (hidden)
  EMPTY: ""
  MODE: a
  MULTI: "a\nb"
ports:
  - 127.0.0.1::53/udp
  - 127.0.0.1:8080:80/tcp
mounts:
  - volume /cache
  - volume shop_data:/data
networks:
  shop_default: [web]
limits: memory=64M, cpus=0.5
restart: unless-stopped
labels:
  traefik.enable: true
state: running
"#
        );
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("io.holdfast"));
    }

    #[test]
    fn a_container_made_as_desired_renders_the_same() {
        let (desired, image, live) = fixtures::web();
        let (l, d) = render_pair(Some(&desired), Some(&live), &image);
        assert_eq!(l, d);
        assert_eq!(diff_of(Some(&desired), Some(&live), &image), None);
        let db = fixtures::desired(SHOP, "db");
        let live_db = fixtures::live_of(&db);
        assert_eq!(diff_of(Some(&db), Some(&live_db), &image), None);
    }

    #[test]
    fn live_hides_what_the_image_sets_and_holdfast_labels() {
        let (_, image, live) = fixtures::web();
        let text = render_live(&live, &image);
        assert!(!text.contains("PATH"), "{text}");
        assert!(!text.contains("org.opencontainers"), "{text}");
        assert!(!text.contains("io.holdfast"), "{text}");
        assert!(!text.contains("/var/cache/image"), "{text}");
        assert!(text.contains("  NODE_ENV: production\n"), "{text}");
        assert!(text.contains("  traefik.enable: true\n"), "{text}");
    }

    #[test]
    fn a_desired_value_equal_to_the_image_default_is_no_difference() {
        let (mut desired, image, _) = fixtures::web();
        desired.env.insert("PATH".into(), image.env["PATH"].clone());
        let live = fixtures::live_of(&desired);
        assert_eq!(diff_of(Some(&desired), Some(&live), &image), None);
        // And when another variable differs, PATH is on both sides alike.
        let mut live = live;
        live.env.insert("NODE_ENV".into(), "development".into());
        let diff = diff_of(Some(&desired), Some(&live), &image).unwrap();
        assert_eq!(
            changes(&diff),
            vec!["-  NODE_ENV: development", "+  NODE_ENV: production"]
        );
        assert!(diff.contains("\n   PATH: /usr/local/bin"), "{diff}");
    }

    #[test]
    fn env_change_shows_as_one_line_each_side() {
        let (desired, image, mut live) = fixtures::web();
        live.env.insert("NODE_ENV".into(), "development".into());
        live.env.insert("DEBUG".into(), "1".into());
        let diff = diff_of(Some(&desired), Some(&live), &image).unwrap();
        assert!(
            diff.starts_with("--- live/service/web\n+++ desired/service/web\n@@ "),
            "{diff}"
        );
        assert_eq!(
            changes(&diff),
            vec![
                "-  DEBUG: 1",
                "-  NODE_ENV: development",
                "+  NODE_ENV: production"
            ]
        );
    }

    #[test]
    fn secrets_stay_hidden_but_show_as_changed() {
        let (desired, image, mut live) = fixtures::web();
        live.env.insert("API_KEY".into(), "old-s3cr3t".into());
        let diff = diff_of(Some(&desired), Some(&live), &image).unwrap();
        for secret in ["old-s3cr3t", "s3cr3t-value"] {
            assert!(!diff.contains(secret), "{diff}");
        }
        assert_eq!(
            changes(&diff),
            vec!["-  API_KEY: (hidden)", "+  API_KEY: (hidden, changed)"]
        );
    }

    #[test]
    fn a_stopped_container_differs_in_state() {
        let (desired, image, mut live) = fixtures::web();
        live.state = ContainerState::Exited { code: 137 };
        let diff = diff_of(Some(&desired), Some(&live), &image).unwrap();
        assert_eq!(
            changes(&diff),
            vec!["-state: exited (code 137)", "+state: running"]
        );
    }

    #[test]
    fn missing_container_and_removed_service_diff_against_nothing() {
        let (desired, image, live) = fixtures::web();
        let diff = diff_of(Some(&desired), None, &image).unwrap();
        assert!(diff.contains("@@ -0,0 +1,"), "{diff}");
        assert!(changes(&diff).iter().all(|l| l.starts_with('+')), "{diff}");
        assert!(diff.contains("+image: registry.example/shop/web:1.4.2\n"));

        let diff = diff_of(None, Some(&live), &image).unwrap();
        assert!(diff.contains("+++ desired/service/web\n@@ -1,"), "{diff}");
        assert!(changes(&diff).iter().all(|l| l.starts_with('-')), "{diff}");
        assert!(diff.contains("-state: running\n"));
        assert_eq!(diff_of(None, None, &image), None);
    }

    #[test]
    fn what_docker_chooses_is_no_difference_but_real_changes_are() {
        // Anonymous volume names, the image's VOLUME, extra aliases, chosen host ports.
        let yaml = "name: shop\nservices:\n  web:\n    image: nginx\n    ports: [\"80\", \"127.0.0.1:8080:80\"]\n    volumes: [/cache]\n";
        let desired = fixtures::desired(yaml, "web");
        let image = fixtures::image_defaults();
        let mut live = fixtures::live_of(&desired);
        for p in &mut live.ports {
            if p.host_port.is_none() {
                p.host_port = Some(49153);
            }
        }
        assert_eq!(diff_of(Some(&desired), Some(&live), &image), None);

        // One real change in each list shows alone.
        live.mounts.push(MountSpec {
            kind: MountKind::Bind,
            source: Some("/".into()),
            target: "/host".into(),
            read_only: false,
            options: Default::default(),
        });
        live.networks
            .insert("bridge".into(), BTreeSet::from(["x".to_string()]));
        let diff = diff_of(Some(&desired), Some(&live), &image).unwrap();
        assert_eq!(
            changes(&diff),
            vec!["-  - bind /:/host", "-  bridge: [x]"],
            "{diff}"
        );
    }

    #[test]
    fn command_left_to_the_image_shows_the_live_one() {
        let (mut desired, image, _) = fixtures::web();
        desired.cmd = None;
        let live = fixtures::live_of(&desired);
        let (l, d) = render_pair(Some(&desired), Some(&live), &image);
        assert_eq!(l, d);
        assert!(l.contains("command: [\"image-default-cmd\"]\n"), "{l}");
        // Without a container, the desired side says whose it is.
        assert!(render_desired(&desired).contains("command: (image default)\n"));
    }

    #[test]
    fn image_and_argv_changes() {
        let (desired, image, mut live) = fixtures::web();
        live.image_id = format!("sha256:{}", "2".repeat(64));
        live.cmd = Some(vec!["node".into(), "debug.js".into()]);
        let diff = diff_of(Some(&desired), Some(&live), &image).unwrap();
        assert_eq!(
            changes(&diff),
            vec![
                "-image_id: 222222222222",
                "-command: [\"node\",\"debug.js\"]",
                "+image_id: 111111111111",
                "+command: [\"node\",\"server.js\"]",
            ],
            "{diff}"
        );
    }

    #[test]
    fn a_change_the_text_does_not_show_shows_as_the_spec_hash() {
        let (desired, image, mut live) = fixtures::web();
        live.labels.insert(labels::SPEC_HASH.into(), "0".repeat(64));
        let diff = diff_of(Some(&desired), Some(&live), &image).unwrap();
        let added = format!("+spec_hash: {}", &desired.spec_hash[..12]);
        assert_eq!(
            changes(&diff),
            vec!["-spec_hash: 000000000000", added.as_str()]
        );
    }

    #[test]
    fn unified_is_none_when_equal_and_has_context() {
        assert_eq!(unified("service/a", "", ""), None);
        let live = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let desired = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let diff = unified("service/a", live, desired).unwrap();
        assert_eq!(
            diff,
            "--- live/service/a\n+++ desired/service/a\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
    }

    #[test]
    fn scalars_stay_on_one_line() {
        assert_eq!(scalar("plain value"), "plain value");
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(scalar(" x"), "\" x\"");
        assert_eq!(scalar("a\nb"), "\"a\\nb\"");
    }
}
