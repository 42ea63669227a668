//! Several files merged as Compose merges them, `include:`, `extends:` and `profiles`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use holdfast_spec::*;

fn options(profiles: Option<Vec<String>>) -> LoadOptions {
    LoadOptions {
        variables: Some(HashMap::new()),
        check_files: false,
        profiles,
    }
}

/// Writes `files` (name, text) into a new folder and returns it with their paths.
fn folder(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    (dir, paths)
}

const BASE: &str = "name: shop
services:
  web:
    image: nginx:1.27
    command: [nginx, -g, daemon off;]
    environment: [A=1, B=2]
    labels: {team: web}
    ports: [\"8080:80\"]
    volumes: [\"data:/data\", \"./conf:/etc/nginx/conf.d:ro\"]
    healthcheck: {test: [CMD, true], interval: 10s}
    networks: [front]
networks:
  front: {}
volumes:
  data: {}
";

#[test]
fn an_override_merges_by_compose_rules() {
    let over = "services:
  web:
    command: [nginx]
    environment: {B: \"3\", C: \"4\"}
    labels: [tier=edge]
    ports: [\"8080:80\", \"8443:443\"]
    volumes: [\"./other:/etc/nginx/conf.d\"]
    healthcheck: {test: [CMD, false]}
    networks: {back: {aliases: [www]}}
networks:
  back: {}
";
    let (_dir, paths) = folder(&[("compose.yaml", BASE), ("compose.production.yaml", over)]);
    let loaded = load_files(&paths, &options(None)).unwrap();
    let web = &loaded.state.services["web"];
    assert_eq!(web.command.as_deref(), Some(&["nginx".to_string()][..]));
    let env: Vec<(&str, &str)> = web
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("A", "1"), ("B", "3"), ("C", "4")]);
    assert_eq!(web.labels.len(), 2);
    assert_eq!(web.ports.len(), 2, "the same port once, the new one added");
    assert_eq!(web.volumes.len(), 2, "volumes merge by target");
    let conf = web
        .volumes
        .iter()
        .find(|m| m.target == "/etc/nginx/conf.d")
        .unwrap();
    assert!(!conf.read_only, "the override's mount replaced the base's");
    // Relative paths in an override start from the first file's folder.
    assert!(conf.source.as_deref().unwrap().ends_with("/other"));
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD", "false"], "healthcheck.test is replaced");
    assert!(hc.interval.is_some(), "the rest of healthcheck merges");
    assert_eq!(
        web.networks.keys().collect::<Vec<_>>(),
        ["back", "front"],
        "networks merge by name"
    );
    assert_eq!(web.networks["back"].aliases, ["www"]);
}

#[test]
fn reset_and_override_tags() {
    let over = "services:
  web:
    ports: !reset []
    environment: !override {ONLY: \"1\"}
";
    let (_dir, paths) = folder(&[("compose.yaml", BASE), ("over.yaml", over)]);
    let web = load_files(&paths, &options(None)).unwrap().state.services["web"].clone();
    assert!(web.ports.is_empty());
    assert_eq!(web.environment.keys().collect::<Vec<_>>(), ["ONLY"]);
}

#[test]
fn an_error_in_the_override_names_the_overrides_place() {
    let over = "services:\n  web:\n    restart: sometimes\n";
    let (dir, paths) = folder(&[("compose.yaml", BASE), ("compose.production.yaml", over)]);
    let report = load_files(&paths, &options(None)).unwrap_err();
    let first = report.first_error().unwrap();
    let place = format!(
        "{}:3:14: ",
        dir.path().join("compose.production.yaml").display()
    );
    assert!(first.starts_with(&place), "{first}");
    let text = report
        .render()
        .replace(&dir.path().display().to_string(), "DIR");
    insta::assert_snapshot!(text);
}

#[test]
fn the_hash_covers_only_the_merged_result() {
    let moved_base = BASE.replace("    labels: {team: web}\n", "");
    let over = "services:\n  web:\n    labels: {team: web}\n";
    // One folder, so that relative paths resolve alike.
    let (_dir, paths) = folder(&[
        ("one.yaml", BASE),
        ("moved.yaml", &moved_base),
        ("over.yaml", over),
    ]);
    let a = load_files(&paths[..1], &options(None)).unwrap().state;
    let b = load_files(&paths[1..], &options(None)).unwrap().state;
    assert_eq!(
        a.services["web"].content_hash(),
        b.services["web"].content_hash()
    );
}

#[test]
fn default_files_are_found_as_compose_finds_them() {
    let (dir, _) = folder(&[
        ("docker-compose.yml", "services: {}\n"),
        ("compose.yaml", BASE),
        ("compose.override.yaml", "services: {}\n"),
    ]);
    let found = default_files(dir.path());
    let names: Vec<_> = found
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["compose.yaml", "compose.override.yaml"]);
}

#[test]
fn profiles_leave_inactive_services_out_before_validation() {
    // Both publish 9000: no clash while `debug` is inactive.
    let src = "name: p
services:
  app:
    image: busybox
    ports: [\"9000:9000\"]
  debug:
    image: busybox
    profiles: [debug]
    ports: [\"9000:9000\"]
";
    let (_dir, paths) = folder(&[("compose.yaml", src)]);
    let loaded = load_files(&paths, &options(None)).unwrap();
    assert_eq!(loaded.state.services.keys().collect::<Vec<_>>(), ["app"]);
    assert_eq!(loaded.inactive["debug"], ["debug"]);
    let report = load_files(&paths, &options(Some(vec!["debug".into()]))).unwrap_err();
    assert!(report.render().contains("9000"), "{}", report.render());
    let all = load_files(&paths, &options(Some(vec!["*".into()])));
    assert!(all.is_err());
}

#[test]
fn a_dependency_on_an_inactive_service_says_which_profile() {
    let src = "name: p
services:
  app:
    image: busybox
    depends_on: [tool]
  opt:
    image: busybox
    depends_on: {tool: {condition: service_started, required: false}}
  tool:
    image: busybox
    profiles: [tools]
";
    let (_dir, paths) = folder(&[("compose.yaml", src)]);
    let report = load_files(&paths, &options(None)).unwrap_err();
    assert_eq!(report.error_count(), 1, "{}", report.render());
    let text = report.render();
    assert!(text.contains("compose.yaml:5:18"), "{text}");
    assert!(text.contains("--profile tools"), "{text}");
}

#[test]
fn extends_in_the_same_file_and_another() {
    let common = "services:
  base:
    image: busybox
    environment: {FROM: common}
    volumes: [\"./data:/data\"]
";
    let src = "name: e
services:
  local:
    image: alpine
    command: [sleep, \"1\"]
  child:
    extends: local
    environment: {X: \"1\"}
  other:
    extends: {file: sub/common.yaml, service: base}
    environment: {Y: \"2\"}
";
    let (dir, paths) = folder(&[("compose.yaml", src), ("sub/common.yaml", common)]);
    let state = load_files(&paths[..1], &options(None)).unwrap().state;
    let child = &state.services["child"];
    assert_eq!(child.image.as_deref(), Some("alpine"));
    assert_eq!(child.command.as_ref().unwrap()[0], "sleep");
    let other = &state.services["other"];
    assert_eq!(other.image.as_deref(), Some("busybox"));
    assert_eq!(other.environment.len(), 2);
    // Paths in the extended file start from that file's folder.
    let data = other.volumes[0].source.clone().unwrap();
    assert_eq!(Path::new(&data), dir.path().join("sub/data"));
}

#[test]
fn extends_of_an_unknown_service_is_located() {
    let src = "name: e\nservices:\n  child:\n    extends: {service: lcoal}\n  local:\n    image: alpine\n";
    let (_dir, paths) = folder(&[("compose.yaml", src)]);
    let report = load_files(&paths, &options(None)).unwrap_err();
    let text = report.render();
    assert!(text.contains("compose.yaml:4:24"), "{text}");
    assert!(text.contains("did you mean `local`?"), "{text}");
}

#[test]
fn include_adds_the_included_definitions() {
    let inc = "services:\n  cache:\n    image: redis:7\n    volumes: [\"./conf:/conf\"]\n";
    let src = "name: i\ninclude: [lib/cache.yaml]\nservices:\n  app:\n    image: busybox\n    depends_on: [cache]\n";
    let (dir, paths) = folder(&[("compose.yaml", src), ("lib/cache.yaml", inc)]);
    let state = load_files(&paths[..1], &options(None)).unwrap().state;
    assert!(state.services.contains_key("cache"));
    let conf = state.services["cache"].volumes[0].source.clone().unwrap();
    assert_eq!(Path::new(&conf), dir.path().join("lib/conf"));
    // A name defined in both is an error, pointing at both.
    let clash = format!("{src}  cache:\n    image: redis:6\n");
    let (_d, paths) = folder(&[("compose.yaml", &clash), ("lib/cache.yaml", inc)]);
    let text = load_files(&paths[..1], &options(None))
        .unwrap_err()
        .render();
    assert!(
        text.contains("defined here and in an included file"),
        "{text}"
    );
    assert!(text.contains("cache.yaml:2:3"), "{text}");
}

#[test]
fn an_include_cycle_is_an_error() {
    let (_dir, paths) = folder(&[
        ("compose.yaml", "name: c\ninclude: [b.yaml]\nservices: {}\n"),
        ("b.yaml", "include: [compose.yaml]\n"),
    ]);
    let text = load_files(&paths[..1], &options(None))
        .unwrap_err()
        .render();
    assert!(text.contains("includes or extends itself"), "{text}");
}

#[test]
fn the_empty_profile_is_active_when_none_is_named_as_in_compose() {
    // dify's file: its default vector store has `profiles: ['', weaviate]`.
    let src = "name: p
services:
  app:
    image: busybox
  store:
    image: busybox
    profiles: ['', weaviate]
  other:
    image: busybox
    profiles: [qdrant]
";
    let (_dir, paths) = folder(&[("compose.yaml", src)]);
    let loaded = load_files(&paths, &options(None)).unwrap();
    assert_eq!(
        loaded.state.services.keys().collect::<Vec<_>>(),
        ["app", "store"]
    );
    let named = load_files(&paths, &options(Some(vec!["qdrant".into()]))).unwrap();
    assert_eq!(
        named.state.services.keys().collect::<Vec<_>>(),
        ["app", "other"]
    );
    let listed = LoadOptions {
        variables: Some(HashMap::from([(
            "COMPOSE_PROFILES".to_string(),
            "qdrant,".to_string(),
        )])),
        ..options(None)
    };
    let both = load_files(&paths, &listed).unwrap();
    assert_eq!(both.state.services.len(), 3);
}
