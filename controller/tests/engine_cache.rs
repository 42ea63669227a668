//! The engine cache against the real engine: it shows what an event did before the
//! event's service is queued, it is relisted (and misses nothing) after its event
//! stream is cut, and observation through it costs what the issue asks, counted by a
//! proxy on the Docker socket: a no-op `holdfast apply` of N services at most N + 5
//! calls, a pass of the daemon over unchanged services at most 3.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use common::{assert_exit, cli, holdfast, start_controller_on};
use holdfast::docker::cache::EngineCache;
use holdfast::docker::events::{self, ContainerEvent, FollowOptions, Notice};
use holdfast::resources::service::ContainerState;
use holdfast_testkit::proxy::DockerProxy;
use holdfast_testkit::{BUSYBOX_IMAGE, TestProject, busybox_image, docker_ok, wait_until};
use tokio::sync::mpsc;

/// How long an expected notice may take.
const NOTICE: Duration = Duration::from_secs(20);

async fn connect(proxy: &DockerProxy) -> Docker {
    Docker::connect_with_unix(
        proxy.socket().to_str().unwrap(),
        120,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap()
    .negotiate_version()
    .await
    .unwrap()
}

/// Runs a container of `service` by hand, labelled as the project's.
fn run_by_hand(p: &TestProject, service: &str) -> String {
    docker_ok(&[
        "run",
        "-d",
        "--init",
        "--label",
        &format!("io.holdfast.project={}", p.name),
        "--label",
        &format!("io.holdfast.service={service}"),
        "--name",
        &format!("{}-{service}", p.name),
        BUSYBOX_IMAGE,
        "sleep",
        "3600",
    ])
}

/// Waits for the first notice that `matches`, skipping others.
async fn next_notice(
    rx: &mut mpsc::Receiver<Notice>,
    mut matches: impl FnMut(&Notice) -> bool,
) -> Notice {
    let found = tokio::time::timeout(NOTICE, async {
        while let Some(n) = rx.recv().await {
            if matches(&n) {
                return Some(n);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(n)) => n,
        other => panic!("no matching notice within {NOTICE:?}: {other:?}"),
    }
}

fn event_of<'a>(id: &'a str, action: &'a str) -> impl FnMut(&Notice) -> bool + 'a {
    move |n| {
        matches!(n, Notice::Container(ContainerEvent { container, action: a, .. })
            if container == id && a.starts_with(action))
    }
}

fn states(cache: &EngineCache) -> Vec<(String, ContainerState)> {
    cache
        .containers(Some("app"))
        .expect("the cache is live")
        .into_iter()
        .map(|l| (l.id, l.state))
        .collect()
}

struct Following {
    cache: Arc<EngineCache>,
    rx: mpsc::Receiver<Notice>,
    task: tokio::task::JoinHandle<()>,
}

async fn follow(docker: Docker, project: &str) -> Following {
    let cache = EngineCache::for_docker(docker.clone(), project);
    let (tx, mut rx) = mpsc::channel(256);
    let task = tokio::spawn(events::follow(
        docker,
        cache.clone(),
        tx,
        FollowOptions::default(),
    ));
    assert_eq!(
        next_notice(&mut rx, |n| *n == Notice::Resynced).await,
        Notice::Resynced
    );
    assert!(cache.is_live());
    Following { cache, rx, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_and_a_removal_by_hand_are_in_the_cache_before_the_service_is_queued() {
    busybox_image();
    let p = TestProject::new("cache-events");
    let proxy = DockerProxy::start();
    let mut f = follow(connect(&proxy).await, &p.name).await;
    assert!(states(&f.cache).is_empty());

    let id = run_by_hand(&p, "app");
    next_notice(&mut f.rx, event_of(&id, "start")).await;
    assert_eq!(
        states(&f.cache),
        vec![(id.clone(), ContainerState::Running)]
    );

    docker_ok(&["kill", &id]);
    // The notice that queues the service comes after the cache took the `die` in.
    next_notice(&mut f.rx, event_of(&id, "die")).await;
    let after_die = states(&f.cache);
    assert_eq!(after_die.len(), 1);
    assert!(
        matches!(after_die[0].1, ContainerState::Exited { .. }),
        "{after_die:?}"
    );

    docker_ok(&["rm", "-f", &id]);
    next_notice(&mut f.rx, event_of(&id, "destroy")).await;
    assert!(states(&f.cache).is_empty());
    f.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_is_followed_again_from_the_last_event_and_the_cache_relisted() {
    busybox_image();
    let p = TestProject::new("cache-cut");
    let proxy = DockerProxy::start();
    let mut f = follow(connect(&proxy).await, &p.name).await;
    let id = run_by_hand(&p, "app");
    next_notice(&mut f.rx, event_of(&id, "start")).await;
    assert_eq!(f.cache.relists(), 1);

    // The engine becomes unreachable for the follower; the cache stops being trusted.
    proxy.set_refusing(true);
    proxy.cut();
    assert!(
        wait_until(NOTICE, || !f.cache.is_live()).is_some(),
        "the cache stayed live after its stream was cut"
    );
    assert_eq!(f.cache.containers(Some("app")), None);
    // Meanwhile the container dies.
    docker_ok(&["kill", &id]);

    proxy.set_refusing(false);
    // The follower subscribes again from the last event it saw, so the `die` that
    // happened while it was away is delivered, and it relists.
    next_notice(&mut f.rx, |n| *n == Notice::Resynced).await;
    assert!(f.cache.relists() >= 2);
    next_notice(&mut f.rx, event_of(&id, "die")).await;
    let s = states(&f.cache);
    assert!(
        matches!(s.as_slice(), [(i, ContainerState::Exited { .. })] if *i == id),
        "{s:?}"
    );
    f.task.abort();
}

const SERVICES: usize = 4;

fn file() -> String {
    let mut text = "name: \"{{project}}\"\nservices:\n".to_string();
    for i in 0..SERVICES {
        text.push_str(&format!(
            "  s{i}:\n    image: \"{{{{image}}}}\"\n    command: [\"sleep\", \"3600\"]\n    init: true\n"
        ));
    }
    text
}

#[test]
fn a_no_op_apply_costs_at_most_n_plus_5_calls() {
    busybox_image();
    let p = TestProject::new("cache-apply-calls");
    p.write(&file());
    let proxy = DockerProxy::start();
    let apply = || {
        let file = p.file();
        let state = p.state_dir();
        holdfast(&p)
            .env("DOCKER_HOST", proxy.host())
            .args(["apply", "-f", file.to_str().unwrap(), "--state-dir"])
            .arg(state)
            .args(["--timeout", "40s"])
            .output()
            .unwrap()
    };
    assert_exit(&apply(), 0, "the first holdfast apply");
    let ids = p.container_ids();
    proxy.reset();
    assert_exit(&apply(), 0, "the no-op holdfast apply");
    let calls = proxy.total();
    assert!(
        calls <= SERVICES as u64 + 5,
        "{calls} calls for {SERVICES} services: {:?}",
        proxy.counts()
    );
    assert_eq!(p.container_ids(), ids, "nothing was replaced");
}

#[test]
fn a_daemon_pass_over_unchanged_services_costs_at_most_3_calls() {
    busybox_image();
    let p = TestProject::new("cache-pass-calls");
    p.write(&file());
    let proxy = DockerProxy::start();
    let controller = start_controller_on(&p, Some(&proxy.host()), &[]);
    let reconcile_all = || cli(&p, &["reconcile", "--timeout", "30s"]);
    let converged = wait_until(Duration::from_secs(60), || {
        (0..SERVICES).all(|i| p.is_ready(&format!("s{i}")))
            && controller.log().contains("engine cache relisted")
            && reconcile_all().status.success()
    });
    assert!(converged.is_some(), "{}", controller.log());
    // Each forced pass reconciles every service once and waits for it.
    const PASSES: u64 = 5;
    proxy.reset();
    for _ in 0..PASSES {
        assert_exit(&reconcile_all(), 0, "holdfast reconcile");
    }
    let calls = proxy.total();
    assert!(
        calls <= 3 * PASSES,
        "{calls} calls in {PASSES} passes over {SERVICES} services: {:?}\n{}",
        proxy.counts(),
        controller.log()
    );
}
