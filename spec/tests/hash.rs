//! The content hash ignores key order and formatting, and changes with any field that
//! matters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use holdfast_spec::{LoadOptions, load_str};

const BASE: &str = r#"
name: shop
services:
  web:
    image: nginx:1.27
    command: ["nginx", "-g", "daemon off;"]
    environment: {MODE: production, WORKERS: "4"}
    ports: ["8080:80"]
    volumes: ["site:/usr/share/nginx/html:ro"]
    networks: [front]
    healthcheck: {test: ["CMD", "wget", "-q", "http://localhost/"], interval: 10s, retries: 3}
    restart: always
    deploy: {resources: {limits: {memory: 256M, cpus: "0.5"}}}
    logging: {driver: json-file, options: {max-size: 10m}}
    labels: {team: web}
    depends_on: [api]
  api:
    image: api:1
    networks: [front]
networks:
  front: {}
volumes:
  site: {}
"#;

/// Same content: keys reordered, flow style turned to block style, comments, quoting,
/// `1m` spelt `60s`, the environment as a list.
const REFORMATTED: &str = r#"
volumes: {site: }
networks:
  front:
services:
  api: {networks: ["front"], image: "api:1"}
  web:
    # the front end
    depends_on:
      - api
    labels:
      team: "web"
    logging:
      options: {"max-size": "10m"}
      driver: json-file
    deploy:
      resources:
        limits:
          cpus: 0.5
          memory: 256m
    restart: 'always'
    healthcheck:
      retries: 3
      interval: 10000ms
      test: [CMD, wget, -q, "http://localhost/"]
    networks:
      front: {}
    volumes:
      - type: volume
        source: site
        target: /usr/share/nginx/html
        read_only: true
    ports:
      - {target: 80, published: 8080}
    environment:
      - WORKERS=4
      - MODE=production
    command: nginx -g "daemon off;"
    image: "nginx:1.27"
name: shop
"#;

fn load(src: &str) -> holdfast_spec::DesiredState {
    let opts = LoadOptions {
        variables: Some(HashMap::new()),
        check_files: false,
        ..LoadOptions::default()
    };
    match load_str(Path::new("holdfast.yaml"), src, &opts) {
        Ok(l) => l.state,
        Err(r) => panic!("{}", r.render()),
    }
}

#[test]
fn stable_across_key_order_and_formatting() {
    let a = load(BASE);
    let b = load(REFORMATTED);
    assert_eq!(a, b);
    assert_eq!(a.content_hash(), b.content_hash());
    assert_eq!(
        a.services["web"].content_hash(),
        b.services["web"].content_hash()
    );
    assert_eq!(a.content_hash().len(), 64);
}

#[test]
fn changes_when_any_field_that_matters_changes() {
    let mutations: &[(&str, &str)] = &[
        ("image: nginx:1.27", "image: nginx:1.28"),
        (
            r#"command: ["nginx", "-g", "daemon off;"]"#,
            r#"command: ["nginx", "-g", "daemon on;"]"#,
        ),
        (
            r#"command: ["nginx", "-g", "daemon off;"]"#,
            r#"command: ["-g", "nginx", "daemon off;"]"#,
        ),
        ("MODE: production", "MODE: staging"),
        ("WORKERS: \"4\"", "WORKERS: \"5\""),
        ("WORKERS: \"4\"}", "WORKERS: \"4\", EXTRA: x}"),
        (r#"ports: ["8080:80"]"#, r#"ports: ["8081:80"]"#),
        (r#"ports: ["8080:80"]"#, r#"ports: ["0.0.0.0:8080:80"]"#),
        (r#"ports: ["8080:80"]"#, r#"ports: ["8080:80/udp"]"#),
        (
            "site:/usr/share/nginx/html:ro",
            "site:/usr/share/nginx/html",
        ),
        ("site:/usr/share/nginx/html:ro", "site:/srv:ro"),
        ("interval: 10s", "interval: 11s"),
        ("retries: 3", "retries: 4"),
        ("restart: always", "restart: unless-stopped"),
        ("memory: 256M", "memory: 257M"),
        ("cpus: \"0.5\"", "cpus: \"0.25\""),
        ("driver: json-file", "driver: local"),
        ("max-size: 10m", "max-size: 20m"),
        ("team: web", "team: ops"),
        (
            "depends_on: [api]",
            "depends_on: {api: {condition: service_healthy}}",
        ),
        (
            "    restart: always\n",
            "    restart: always\n    init: true\n",
        ),
        (
            "    restart: always\n",
            "    restart: always\n    user: \"1000\"\n",
        ),
        (
            "    restart: always\n",
            "    restart: always\n    stop_grace_period: 20s\n",
        ),
        (
            "    restart: always\n",
            "    restart: always\n    pull_policy: never\n",
        ),
        (
            "    restart: always\n",
            "    restart: always\n    entrypoint: [tini]\n",
        ),
        (
            "    networks: [front]\n    healthcheck",
            "    networks: {front: {aliases: [www]}}\n    healthcheck",
        ),
    ];
    let base = load(BASE);
    let mut seen = HashMap::new();
    seen.insert(base.content_hash(), "base".to_string());
    for (from, to) in mutations {
        assert!(BASE.contains(from), "mutation source not found: {from}");
        let changed = load(&BASE.replacen(from, to, 1));
        assert_ne!(changed, base, "{to}");
        let h = changed.content_hash();
        if let Some(prev) = seen.insert(h, to.to_string()) {
            panic!("`{to}` hashes the same as `{prev}`");
        }
        // Only the service that changed gets a new service hash.
        assert_ne!(
            changed.services["web"].content_hash(),
            base.services["web"].content_hash(),
            "{to}"
        );
        assert_eq!(
            changed.services["api"].content_hash(),
            base.services["api"].content_hash(),
            "{to}"
        );
    }
}

#[test]
fn top_level_definitions_change_the_whole_hash() {
    let base = load(BASE);
    for (from, to) in [
        ("name: shop", "name: shop2"),
        ("  front: {}", "  front: {internal: true}"),
        ("  site: {}", "  site: {driver: other}"),
    ] {
        assert_ne!(
            load(&BASE.replacen(from, to, 1)).content_hash(),
            base.content_hash(),
            "{to}"
        );
    }
}
