//! Valid files: Compose's shorthand forms are read as Compose reads them, defaults are
//! filled in, and a loaded state serialises to a file that loads back the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use holdfast_spec::*;

fn vars() -> LoadOptions {
    LoadOptions {
        variables: Some(HashMap::from([(
            "FROM_HOST".to_string(),
            "yes".to_string(),
        )])),
        check_files: true,
        ..LoadOptions::default()
    }
}

fn good() -> (PathBuf, Loaded) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/good/compose_forms.yaml");
    let loaded = load_file(&path, &vars()).unwrap_or_else(|r| panic!("{}", r.render()));
    (path, loaded)
}

#[test]
fn plain_compose_file_validates_with_only_a_note_for_version() {
    let (_, loaded) = good();
    let notes: Vec<_> = loaded
        .report
        .diagnostics
        .iter()
        .map(|d| (d.severity, d.message.as_str()))
        .collect();
    assert_eq!(notes, vec![(Severity::Note, "`version` is ignored")]);
    // Without `name:` the project is named after the file's folder, as Compose does.
    assert_eq!(loaded.state.name, "good");
}

#[test]
fn shorthand_forms_are_expanded() {
    let (path, loaded) = good();
    let dir = path.parent().unwrap();
    let s = &loaded.state;
    let bot = &s.services["bot"];
    assert_eq!(
        bot.image.as_deref(),
        Some("registry.example/sleepcore/bot:1.4.2")
    );
    assert_eq!(
        bot.command.as_deref().unwrap(),
        ["node", "dist/main.js", "--port", "3000"]
    );
    assert_eq!(bot.environment["NODE_ENV"], "production");
    assert_eq!(bot.environment["FROM_HOST"], "yes");
    assert_eq!(
        bot.env_file,
        vec![EnvFile {
            path: dir.join("bot.env"),
            required: true
        }]
    );
    assert_eq!(
        bot.secrets,
        vec![ServiceSecret {
            source: "telegram_token".into(),
            target: "telegram_token".into()
        }]
    );
    assert_eq!(
        bot.restart,
        RestartPolicy::UnlessStopped,
        "from the merge key"
    );
    assert_eq!(bot.logging.as_ref().unwrap().options["max-file"], "3");
    assert_eq!(
        bot.ports,
        vec![
            Port {
                target: 3000,
                published: Some(3000),
                host_ip: "127.0.0.1".into(),
                protocol: Protocol::Tcp
            },
            Port {
                target: 9229,
                published: None,
                host_ip: "127.0.0.1".into(),
                protocol: Protocol::Tcp
            },
            Port {
                target: 9100,
                published: Some(9100),
                host_ip: "0.0.0.0".into(),
                protocol: Protocol::Udp
            },
        ]
    );
    let hc = bot.healthcheck.as_ref().unwrap();
    assert_eq!(
        hc.test,
        ["CMD-SHELL", "wget --spider -q http://localhost:3000/health"]
    );
    assert_eq!(hc.interval.unwrap().as_millis(), 30_000);
    assert_eq!(hc.retries, Some(3));
    let limits = &bot.deploy.resources.limits;
    assert_eq!(limits.memory.unwrap().bytes(), 512 << 20);
    assert_eq!(limits.cpus.unwrap().nano_cpus(), 500_000_000);
    assert_eq!(
        bot.deploy.resources.reservations.memory.unwrap().bytes(),
        256 << 20
    );
    assert_eq!(
        bot.depends_on["postgres"].condition,
        DependencyCondition::ServiceHealthy
    );
    assert_eq!(
        bot.depends_on["redis"].condition,
        DependencyCondition::ServiceStarted
    );
    assert_eq!(bot.stop_grace_period.unwrap().as_millis(), 90_000);
    assert_eq!(bot.user.as_deref(), Some("1000:1000"));

    let pg = &s.services["postgres"];
    assert_eq!(pg.environment["PGDATA_CHECKSUMS"], "true");
    assert_eq!(pg.secrets[0].target, "pg_pass");
    assert_eq!(
        pg.volumes,
        vec![
            Mount {
                kind: MountKind::Volume,
                source: Some("pgdata".into()),
                target: "/var/lib/postgresql/data".into(),
                read_only: false,
                ..Mount::default()
            },
            Mount {
                kind: MountKind::Bind,
                source: Some(dir.join("initdb").to_string_lossy().into_owned()),
                target: "/docker-entrypoint-initdb.d".into(),
                read_only: true,
                ..Mount::default()
            },
            Mount {
                kind: MountKind::Volume,
                source: None,
                target: "/var/lib/postgresql/tmp".into(),
                read_only: false,
                ..Mount::default()
            },
        ]
    );
    assert_eq!(pg.networks["backend"].aliases, ["db"]);
    assert_eq!(pg.restart, RestartPolicy::Always);

    let redis = &s.services["redis"];
    assert_eq!(redis.build.as_ref().unwrap().context, dir.join("redis"));
    assert_eq!(
        redis.restart,
        RestartPolicy::OnFailure {
            max_retries: Some(5)
        }
    );
    let web = &s.services["web"];
    let build = web.build.as_ref().unwrap();
    assert_eq!(build.dockerfile.as_deref(), Some("Dockerfile.prod"));
    assert_eq!(build.args["VERSION"], "2");
    assert_eq!(web.pull_policy, PullPolicy::Never);
    assert_eq!(web.container_name.as_deref(), Some("sleepcore-web"));
    assert_eq!(web.holdfast.drift, DriftMode::Report);
    assert_eq!(redis.holdfast.drift, DriftMode::Correct);

    assert!(s.networks["backend"].internal);
    assert!(s.volumes.contains_key("pgdata"));
    assert_eq!(
        s.secrets["postgres_password"].file,
        dir.join("secrets/postgres_password")
    );
}

#[test]
fn services_without_networks_join_default() {
    let (_, loaded) = good();
    let web = &loaded.state.services["web"];
    assert_eq!(web.networks.keys().collect::<Vec<_>>(), ["default"]);
    assert!(loaded.state.networks.contains_key(DEFAULT_NETWORK));
}

#[test]
fn serialised_state_loads_back_identical() {
    let (path, loaded) = good();
    let json = serde_json::to_string(&loaded.state).unwrap();
    // JSON is YAML; load it from the same folder so that paths resolve the same.
    let again = load_str(&path, &json, &vars()).unwrap_or_else(|r| panic!("{}", r.render()));
    assert_eq!(again.state, loaded.state);
    assert_eq!(again.state.content_hash(), loaded.state.content_hash());
}

#[test]
fn unset_variables_warn_and_do_not_fail() {
    let src =
        "name: x\nservices:\n  a:\n    image: \"busybox:${TAG}\"\n    environment: [FROM_HOST]\n";
    let opts = LoadOptions {
        variables: Some(HashMap::new()),
        check_files: true,
        ..LoadOptions::default()
    };
    let loaded = load_str(Path::new("x/holdfast.yaml"), src, &opts).unwrap();
    let warnings: Vec<_> = loaded
        .report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(
        loaded.state.services["a"].image.as_deref(),
        Some("busybox:")
    );
    assert!(loaded.state.services["a"].environment.is_empty());
}

#[test]
fn dotenv_beside_the_file_feeds_interpolation() {
    let dir = std::env::temp_dir().join(format!("holdfast-dotenv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".env"), "# tags\nHOLDFAST_TEST_TAG_7F3A=\"2.0\"\n").unwrap();
    let file = dir.join("holdfast.yaml");
    std::fs::write(
        &file,
        "name: x\nservices:\n  a: {image: \"busybox:${HOLDFAST_TEST_TAG_7F3A}\"}\n",
    )
    .unwrap();
    let loaded = load_file(&file, &LoadOptions::default());
    std::fs::remove_dir_all(&dir).unwrap();
    let loaded = loaded.unwrap_or_else(|r| panic!("{}", r.render()));
    assert_eq!(
        loaded.state.services["a"].image.as_deref(),
        Some("busybox:2.0")
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let report = load_file(
        Path::new("/nonexistent/holdfast.yaml"),
        &LoadOptions::default(),
    )
    .unwrap_err();
    let text = report.render();
    assert!(text.contains("/nonexistent/holdfast.yaml"), "{text}");
    assert!(text.contains("cannot read the file"), "{text}");
}

#[test]
fn schema_describes_every_service_field() {
    let schema = json_schema();
    let text = serde_json::to_string(&schema).unwrap();
    for field in [
        "image",
        "build",
        "pull_policy",
        "container_name",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "secrets",
        "ports",
        "volumes",
        "networks",
        "healthcheck",
        "restart",
        "deploy",
        "logging",
        "user",
        "init",
        "stop_grace_period",
        "labels",
        "depends_on",
    ]
    .into_iter()
    .chain(holdfast_spec::RUNTIME_OPTION_FIELDS)
    {
        assert!(
            schema["definitions"]["Service"]["properties"]
                .get(field)
                .is_some(),
            "schema lacks service field {field}: {text}"
        );
    }
    assert_eq!(
        schema["definitions"]["Service"]["additionalProperties"],
        serde_json::json!(false)
    );
    assert_eq!(schema["properties"]["services"]["type"], "object");
}

/// Writes `holdfast.yaml` (and `.env` when given) into a new folder and loads it with the
/// process environment and `.env`, as `holdfast validate` does.
fn load_with_dotenv(folder: &str, file: &str, dotenv: Option<&str>) -> Result<Loaded, Report> {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(text) = dotenv {
        std::fs::write(dir.join(".env"), text).unwrap();
    }
    std::fs::write(dir.join("holdfast.yaml"), file).unwrap();
    load_file(&dir.join("holdfast.yaml"), &LoadOptions::default())
}

#[test]
fn dotenv_values_use_the_variables_above_them_as_in_compose() {
    let dotenv = "HF_T1_USER=app\nHF_T1_HOST=\"db\"\nHF_T1_URL=postgres://${HF_T1_USER}@${HF_T1_HOST}/x\n\
                  HF_T1_RAW='${HF_T1_USER}'\nHF_T1_DEFAULT=${HF_T1_UNSET:-fallback}\n";
    let file = "name: x\nservices:\n  a:\n    image: busybox\n    environment:\n      \
                URL: ${HF_T1_URL}\n      RAW: ${HF_T1_RAW}\n      DEFAULT: ${HF_T1_DEFAULT}\n";
    let loaded =
        load_with_dotenv("p", file, Some(dotenv)).unwrap_or_else(|r| panic!("{}", r.render()));
    let env = &loaded.state.services["a"].environment;
    assert_eq!(env["URL"], "postgres://app@db/x");
    assert_eq!(
        env["RAW"], "${HF_T1_USER}",
        "single quotes keep `$` as written"
    );
    assert_eq!(env["DEFAULT"], "fallback");
}

#[test]
fn compose_project_name_names_the_project_and_is_a_variable() {
    // From `.env`, it wins over `name:`, as in Compose.
    let file = "name: written\nservices:\n  a:\n    image: busybox\n    labels: {p: \"${COMPOSE_PROJECT_NAME}\"}\n";
    let loaded = load_with_dotenv("folder", file, Some("COMPOSE_PROJECT_NAME=from-env\n")).unwrap();
    assert_eq!(loaded.state.name, "from-env");
    assert_eq!(loaded.state.services["a"].labels["p"], "from-env");
    // Without it, the variable is the project's name: `name:`, else the folder's.
    let loaded = load_with_dotenv("folder", file, None).unwrap();
    assert_eq!(loaded.state.name, "written");
    assert_eq!(loaded.state.services["a"].labels["p"], "written");
    let unnamed =
        "services:\n  a:\n    image: busybox\n    labels: {p: \"${COMPOSE_PROJECT_NAME:-none}\"}\n";
    let loaded = load_with_dotenv("My_Folder", unnamed, None).unwrap();
    assert_eq!(loaded.state.name, "my_folder");
    assert_eq!(loaded.state.services["a"].labels["p"], "my_folder");
    // An invalid one is an error that says where it came from.
    let report =
        load_with_dotenv("folder", file, Some("COMPOSE_PROJECT_NAME=Bad Name\n")).unwrap_err();
    assert!(
        report
            .render()
            .contains("`COMPOSE_PROJECT_NAME` is `Bad Name`, which is not a valid project name"),
        "{}",
        report.render()
    );
}

#[test]
fn external_networks_and_volumes_without_a_name_are_the_objects_of_their_key() {
    let loaded = load_str(
        Path::new("holdfast.yaml"),
        "name: shop\nservices:\n  a:\n    image: busybox\n    networks: [proxy, own]\n    \
         volumes: [\"data:/data\", \"certs:/certs\"]\nnetworks:\n  proxy: {external: true}\n  own: {}\n\
         volumes:\n  data: {external: true}\n  certs: {}\n",
        &vars(),
    )
    .unwrap_or_else(|r| panic!("{}", r.render()));
    let s = &loaded.state;
    assert_eq!(s.networks["proxy"].name.as_deref(), Some("proxy"));
    assert_eq!(
        s.networks["own"].name, None,
        "the project's own: `shop_own`"
    );
    assert_eq!(s.volumes["data"].name.as_deref(), Some("data"));
    assert_eq!(s.volumes["certs"].name, None);
}

#[test]
fn mount_targets_are_cleaned_as_compose_cleans_them() {
    let loaded = load_str(
        Path::new("/srv/app/holdfast.yaml"),
        "name: x\nservices:\n  a:\n    image: busybox\n    volumes:\n      - \"./html/:/var/www/html/\"\n      \
         - \"data:/var/lib//data/./x/../\"\n      - {type: bind, source: /etc/app, target: /etc/app/}\nvolumes:\n  data: {}\n",
        &vars(),
    )
    .unwrap_or_else(|r| panic!("{}", r.render()));
    let targets: Vec<&str> = loaded.state.services["a"]
        .volumes
        .iter()
        .map(|m| m.target.as_str())
        .collect();
    assert_eq!(targets, ["/var/www/html", "/var/lib/data", "/etc/app"]);
    // `/x` and `/x/` are one target: a clash, as in Compose.
    let report = load_str(
        Path::new("holdfast.yaml"),
        "name: x\nservices:\n  a:\n    image: busybox\n    volumes: [\"/a:/x\", \"/b:/x/\"]\n",
        &vars(),
    )
    .unwrap_err();
    assert!(
        report.render().contains("target `/x`"),
        "{}",
        report.render()
    );
}
