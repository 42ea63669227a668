//! Test fixtures: a desired-state file, the inputs observe would resolve for it, and
//! the live container Docker would report for a desired one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use holdfast_spec::{DesiredState, LoadOptions, load_str};

use super::container::RestartSpec;
use super::desired::{DesiredContainer, ResolvedInputs};
use super::live::{ContainerState, Health, ImageDefaults, LiveContainer};
use super::observe;
use crate::docker::image::ImageInfo;

/// The image ID every fixture's image resolves to.
pub(crate) const IMAGE_ID: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// The container ID of every fixture's live container.
pub(crate) const CONTAINER_ID: &str =
    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

/// A project with one service using most fields (`web`) and a database (`db`).
pub(crate) const SHOP: &str = r#"
name: shop
services:
  web:
    image: registry.example/shop/web:1.4.2
    command: ["node", "server.js"]
    environment: {NODE_ENV: production, API_KEY: s3cr3t-value}
    env_file: [./web.env]
    secrets: [api_token]
    ports: ["127.0.0.1:3000:3000", "0.0.0.0:5353:53/udp"]
    networks: [backend, default]
    labels: {traefik.enable: "true"}
    healthcheck:
      test: ["CMD", "wget", "--spider", "-q", "http://localhost:3000/health"]
      interval: 30s
      timeout: 10s
      retries: 3
      start_period: 5s
    restart: unless-stopped
    user: "1000:1000"
    init: true
    stop_grace_period: 1500ms
    deploy:
      resources:
        limits: {memory: 512M, cpus: "0.5"}
        reservations: {memory: 256M}
    logging: {driver: json-file, options: {max-size: 10m, max-file: "3"}}
  db:
    image: postgres:15-alpine
    container_name: shop-database
    environment: {POSTGRES_PASSWORD_FILE: /etc/pg/password}
    secrets: [{source: db_password, target: /etc/pg/password}]
    volumes:
      - pgdata:/var/lib/postgresql/data
      - /tmp/cache
      - ./pg.conf:/etc/postgresql/extra.conf:ro
    networks:
      backend: {aliases: [postgres]}
networks:
  backend: {}
volumes:
  pgdata: {}
secrets:
  api_token: {file: ./secrets/api_token}
  db_password: {file: ./secrets/db_password}
"#;

/// Loads a desired-state file as if it were `/srv/shop/holdfast.yaml`, without
/// touching the disk.
pub(crate) fn load(yaml: &str) -> DesiredState {
    let options = LoadOptions {
        variables: Some(Default::default()),
        check_files: false,
        ..LoadOptions::default()
    };
    match load_str(Path::new("/srv/shop/holdfast.yaml"), yaml, &options) {
        Ok(loaded) => loaded.state,
        Err(report) => panic!("fixture does not load:\n{}", report.render()),
    }
}

/// What observe would resolve for `service`: the image is present as [`IMAGE_ID`],
/// every env file holds `LOG_LEVEL=info` and `NODE_ENV=development`, and each secret's
/// digest is `digest-of-<name>`.
pub(crate) fn inputs_for(state: &DesiredState, service: &str) -> ResolvedInputs {
    let s = &state.services[service];
    ResolvedInputs {
        image_id: Some(IMAGE_ID.to_string()),
        env_files: s
            .env_file
            .iter()
            .map(|_| "LOG_LEVEL=info\nNODE_ENV=development\n".to_string())
            .collect(),
        secret_files: BTreeMap::new(),
        secret_digests: state
            .secrets
            .keys()
            .map(|name| (name.clone(), format!("digest-of-{name}")))
            .collect(),
        ..ResolvedInputs::default()
    }
    .with_secret_files_from(state)
}

/// The desired container for `service` of the file `yaml`, with [`inputs_for`].
pub(crate) fn desired(yaml: &str, service: &str) -> DesiredContainer {
    let state = load(yaml);
    let inputs = inputs_for(&state, service);
    DesiredContainer::new(&state.name, service, &state.services[service], &inputs)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The fixtures' image as [`image::inspect`](crate::docker::image::inspect) reports it:
/// [`IMAGE_ID`], an env var, a label and a `VOLUME`.
pub(crate) fn image() -> ImageInfo {
    ImageInfo {
        id: IMAGE_ID.to_string(),
        env: BTreeMap::from([
            (
                "PATH".to_string(),
                "/usr/local/bin:/usr/bin:/bin".to_string(),
            ),
            ("NODE_VERSION".to_string(), "22.1.0".to_string()),
        ]),
        labels: BTreeMap::from([(
            "org.opencontainers.image.source".to_string(),
            "https://example/web".to_string(),
        )]),
        volumes: BTreeSet::from(["/var/cache/image".to_string()]),
    }
}

/// The defaults of [`image`] as observe hands them to drift (through
/// [`observe::image_defaults`], so that a gap there shows as drift in the tests).
pub(crate) fn image_defaults() -> ImageDefaults {
    observe::image_defaults(&image())
}

/// What `docker inspect` reports for a container created from `desired` with
/// [`image`] and healthy: image env and labels merged in, Docker's own defaults for
/// what the spec leaves to the image, an anonymous volume for each of the image's
/// `VOLUME`s that nothing else is mounted at, a generated name for each anonymous
/// volume, the short ID as an extra alias, `0` for unset limits, `""` for `0.0.0.0`,
/// and lists in a different order.
pub(crate) fn live_of(desired: &DesiredContainer) -> LiveContainer {
    let image = image();
    let mut env = image.env.clone();
    env.extend(desired.env.clone());
    let mut labels = image.labels.clone();
    labels.extend(desired.labels.clone());

    let mut ports = desired.ports.clone();
    for p in &mut ports {
        if p.host_ip == "0.0.0.0" {
            p.host_ip = String::new();
        }
    }
    ports.reverse();

    let mut mounts = desired.mounts.clone();
    for (i, m) in mounts.iter_mut().enumerate() {
        if m.source.is_none() {
            m.source = Some(format!("{i:064x}"));
        }
    }
    for target in &image.volumes {
        if !mounts.iter().any(|m| &m.target == target) {
            mounts.push(super::MountSpec {
                kind: holdfast_spec::MountKind::Volume,
                source: Some("f00d".repeat(16)),
                target: target.clone(),
                read_only: false,
                options: Default::default(),
            });
        }
    }
    mounts.reverse();

    let networks = desired
        .networks
        .iter()
        .map(|(name, aliases)| {
            let mut aliases = aliases.clone();
            aliases.insert(CONTAINER_ID[..12].to_string());
            (name.clone(), aliases)
        })
        .collect();

    let limits = super::Limits {
        memory_bytes: Some(desired.limits.memory_bytes.unwrap_or(0)),
        memory_reservation_bytes: Some(desired.limits.memory_reservation_bytes.unwrap_or(0)),
        nano_cpus: Some(desired.limits.nano_cpus.unwrap_or(0)),
    };

    LiveContainer {
        id: CONTAINER_ID.to_string(),
        name: desired.name.clone(),
        image: desired.image.clone(),
        image_id: desired
            .image_id
            .clone()
            .unwrap_or_else(|| IMAGE_ID.to_string()),
        cmd: desired
            .cmd
            .clone()
            .or_else(|| Some(vec!["image-default-cmd".to_string()])),
        entrypoint: desired
            .entrypoint
            .clone()
            .or_else(|| Some(vec!["docker-entrypoint.sh".to_string()])),
        env,
        labels,
        ports,
        mounts,
        networks,
        addresses: BTreeMap::new(),
        limits,
        options: super::container::RuntimeOptions {
            network_mode: desired
                .options
                .docker_network_mode()
                .or_else(|| desired.networks.keys().next().cloned()),
            ..desired.options.clone()
        },
        restart: if desired.restart.name == "no" {
            RestartSpec {
                name: String::new(),
                max_retries: 0,
            }
        } else {
            desired.restart.clone()
        },
        state: ContainerState::Running,
        health: Health::Healthy,
        started_at: STARTED_AT.to_string(),
    }
}

/// When [`live_of`]'s container started.
pub(crate) const STARTED_AT: &str = "2026-01-01T10:00:00.5Z";

/// The `web` service of [`SHOP`], the image defaults, and its healthy live container.
pub(crate) fn web() -> (DesiredContainer, ImageDefaults, LiveContainer) {
    let desired = desired(SHOP, "web");
    let live = live_of(&desired);
    (desired, image_defaults(), live)
}
