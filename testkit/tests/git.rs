//! The loopback git servers of `holdfast_testkit::git`, checked with the real `git`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use holdfast_testkit::git::{GitDaemon, HttpGitServer, Remote, git_ok, git_output};

const ALICE: (&str, &str) = ("Alice Example", "alice@example.invalid");

/// `git ls-remote URL` as `ref name -> commit id`.
fn ls_remote(dir: &Path, url: &str) -> BTreeMap<String, String> {
    git_ok(dir, &["ls-remote", url])
        .lines()
        .map(|line| {
            let (id, name) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("unexpected ls-remote line {line:?}"));
            (name.to_string(), id.to_string())
        })
        .collect()
}

/// A remote with two commits on `main`.
fn remote_with_history() -> (Remote, String, String) {
    let remote = Remote::new("main");
    let first = remote.commit(
        &[
            ("README.md", "first\n"),
            ("config/app.yaml", "replicas: 1\n"),
        ],
        "first",
        ALICE,
    );
    let second = remote.commit(&[("config/app.yaml", "replicas: 2\n")], "second", ALICE);
    (remote, first, second)
}

#[test]
fn remote_commits_tags_force_pushes_and_deletes_branches() {
    let (remote, first, second) = remote_with_history();
    let dir = remote.temp_dir();
    let url = remote.url_file();
    assert_eq!(first.len(), 40, "a full commit id: {first}");
    assert_ne!(first, second);
    assert_eq!(remote.head(), second);
    let refs = ls_remote(dir, &url);
    assert_eq!(refs["refs/heads/main"], second);
    assert_eq!(refs["HEAD"], second, "main is the default branch");

    // The commit has its author, message, parent and files.
    let bare = remote.bare_path();
    assert_eq!(
        git_ok(
            bare,
            &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%s|%P", &second]
        ),
        format!(
            "Alice Example <alice@example.invalid>|Alice Example <alice@example.invalid>|second|{first}"
        )
    );
    assert_eq!(
        git_ok(bare, &["show", &format!("{second}:config/app.yaml")]),
        "replicas: 2"
    );
    assert_eq!(
        git_ok(bare, &["show", &format!("{second}:README.md")]),
        "first"
    );
    // Identical files still make a new commit.
    let empty = remote.commit(&[], "nothing changed", ALICE);
    assert_ne!(empty, second);
    assert_eq!(remote.head(), empty);

    remote.tag("v1", &first);
    assert_eq!(ls_remote(dir, &url)["refs/tags/v1"], first);
    remote.tag("v1", &second);
    assert_eq!(ls_remote(dir, &url)["refs/tags/v1"], second, "a tag moves");

    let feature = remote.commit_on(
        "feature",
        &[("feature.txt", "on a branch\n")],
        "feature",
        ALICE,
    );
    assert_eq!(remote.head_of("feature").as_deref(), Some(feature.as_str()));
    assert_eq!(remote.head(), empty, "main does not move");
    assert_eq!(git_ok(bare, &["rev-parse", &format!("{feature}^")]), empty);
    let refs = ls_remote(dir, &url);
    assert_eq!(refs["refs/heads/feature"], feature);
    assert_eq!(refs["refs/heads/main"], empty);

    remote.force_push(&first);
    assert_eq!(remote.head(), first);
    assert_eq!(ls_remote(dir, &url)["refs/heads/main"], first);
    let after = remote.commit(&[("after.txt", "x\n")], "after the force push", ALICE);
    assert_eq!(git_ok(bare, &["rev-parse", &format!("{after}^")]), first);
    assert!(
        !git_output(bare, &["cat-file", "-e", &format!("{after}:feature.txt")])
            .status
            .success(),
        "main does not have the feature branch's file"
    );

    remote.delete_branch("feature");
    assert_eq!(remote.head_of("feature"), None);
    let refs = ls_remote(dir, &url);
    assert!(!refs.contains_key("refs/heads/feature"), "{refs:?}");
    assert_eq!(refs["refs/heads/main"], after);
    // A deleted branch can be made again, from main.
    let again = remote.commit_on("feature", &[], "again", ALICE);
    assert_eq!(git_ok(bare, &["rev-parse", &format!("{again}^")]), after);
}

#[test]
fn git_daemon_serves_clones_and_new_commits() {
    let (remote, _, second) = remote_with_history();
    let daemon = GitDaemon::serve(&remote);
    let url = daemon.url(&remote);
    assert_eq!(
        url,
        format!("git://127.0.0.1:{}/{}", daemon.port(), remote.name())
    );
    let dir = remote.temp_dir();
    git_ok(dir, &["clone", "-q", &url, "clone"]);
    let clone = dir.join("clone");
    assert_eq!(git_ok(&clone, &["rev-parse", "HEAD"]), second);
    assert_eq!(
        std::fs::read_to_string(clone.join("config/app.yaml")).expect("read the clone's file"),
        "replicas: 2\n"
    );
    let third = remote.commit(&[("config/app.yaml", "replicas: 3\n")], "third", ALICE);
    assert_eq!(ls_remote(dir, &url)["refs/heads/main"], third);
    git_ok(&clone, &["pull", "-q", "--ff-only"]);
    assert_eq!(
        std::fs::read_to_string(clone.join("config/app.yaml")).expect("read the clone's file"),
        "replicas: 3\n"
    );

    let port = daemon.port();
    drop(daemon);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the daemon still listens after drop"
    );
}

#[test]
fn http_clone_with_the_right_token() {
    let (remote, _, second) = remote_with_history();
    let server = HttpGitServer::serve(&remote, "alice", "s3cret");
    let url = server.url_with_credentials(&remote);
    assert_eq!(
        url,
        format!(
            "http://alice:s3cret@127.0.0.1:{}/{}",
            server.port(),
            remote.name()
        )
    );
    let dir = remote.temp_dir();
    git_ok(
        dir,
        &["-c", "credential.helper=", "clone", "-q", &url, "clone"],
    );
    let clone = dir.join("clone");
    assert_eq!(git_ok(&clone, &["rev-parse", "HEAD"]), second);
    for (file, want) in [
        ("README.md", "first\n"),
        ("config/app.yaml", "replicas: 2\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(clone.join(file)).expect("read the clone's file"),
            want,
            "{file}"
        );
    }

    let recorded = server.recorded();
    assert_eq!(server.requests(), recorded.len());
    assert!(recorded.len() >= 2, "{recorded:#?}");
    // git asks without credentials first, then answers the challenge.
    let first = &recorded[0];
    assert_eq!(
        first.request_line(),
        format!(
            "GET /{}/info/refs?service=git-upload-pack HTTP/1.1",
            remote.name()
        )
    );
    assert_eq!(first.status, 401);
    assert_eq!(first.header("authorization"), None);
    let authed: Vec<_> = recorded.iter().filter(|r| r.status == 200).collect();
    assert!(!authed.is_empty(), "{recorded:#?}");
    for r in &authed {
        assert_eq!(r.header("Authorization"), Some("Basic YWxpY2U6czNjcmV0"));
    }
    assert!(
        authed.iter().any(
            |r| r.method == "POST" && r.target == format!("/{}/git-upload-pack", remote.name())
        ),
        "{recorded:#?}"
    );
    assert!(
        authed
            .iter()
            .any(|r| r.header("Git-Protocol") == Some("version=2")),
        "git 2.26+ speaks protocol v2: {recorded:#?}"
    );

    // Fetching a new commit through the server works too.
    let third = remote.commit(&[("config/app.yaml", "replicas: 3\n")], "third", ALICE);
    let before = server.requests();
    git_ok(
        &clone,
        &["-c", "credential.helper=", "pull", "-q", "--ff-only"],
    );
    assert_eq!(git_ok(&clone, &["rev-parse", "HEAD"]), third);
    assert!(server.requests() > before);
}

#[test]
fn http_clone_with_a_wrong_token_fails() {
    let (remote, _, _) = remote_with_history();
    let server = HttpGitServer::serve(&remote, "alice", "s3cret");
    let url = format!(
        "http://alice:wrong@127.0.0.1:{}/{}",
        server.port(),
        remote.name()
    );
    let out = git_output(
        remote.temp_dir(),
        &["-c", "credential.helper=", "clone", "-q", &url, "clone"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "clone with a wrong token succeeded");
    assert!(
        stderr.contains("Authentication failed") || stderr.contains("401"),
        "{stderr}"
    );
    assert!(!remote.temp_dir().join("clone").exists());
    let recorded = server.recorded();
    assert!(!recorded.is_empty());
    assert!(recorded.iter().all(|r| r.status == 401), "{recorded:#?}");
    assert!(
        recorded
            .iter()
            .any(|r| r.header("Authorization") == Some("Basic YWxpY2U6d3Jvbmc=")),
        "git sent the wrong token: {recorded:#?}"
    );
}

#[test]
fn http_clone_without_credentials_fails() {
    let (remote, _, _) = remote_with_history();
    let server = HttpGitServer::serve(&remote, "alice", "s3cret");
    let out = git_output(
        remote.temp_dir(),
        &[
            "-c",
            "credential.helper=",
            "clone",
            "-q",
            &server.url(&remote),
            "clone",
        ],
    );
    assert!(!out.status.success(), "clone without credentials succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("terminal prompts disabled") || stderr.contains("401"),
        "{stderr}"
    );
    let recorded = server.recorded();
    assert_eq!(server.requests(), recorded.len());
    assert!(!recorded.is_empty());
    for r in &recorded {
        assert_eq!(r.status, 401);
        assert_eq!(r.header("Authorization"), None);
    }
}

/// Sends `request` as is and returns the whole answer.
fn raw_request(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("read the answer until the server closes");
    answer
}

#[test]
fn http_answers_401_with_a_basic_challenge_and_closes() {
    let (remote, _, second) = remote_with_history();
    let server = HttpGitServer::serve(&remote, "alice", "s3cret");
    let path = format!("/{}/info/refs?service=git-upload-pack", remote.name());

    let answer = raw_request(
        server.port(),
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Test: 1\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
    assert!(
        answer.contains("\r\nWWW-Authenticate: Basic realm=\"git\"\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");

    // The v0 advertisement lists main's tip.
    let answer = raw_request(
        server.port(),
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: basic YWxpY2U6czNjcmV0\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        answer.contains("\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("{second} refs/heads/main")),
        "{answer}"
    );

    // A repository that does not exist.
    let answer = raw_request(
        server.port(),
        "GET /nope.git/info/refs?service=git-upload-pack HTTP/1.1\r\nAuthorization: Basic YWxpY2U6czNjcmV0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");

    let recorded = server.recorded();
    assert_eq!(server.requests(), 3);
    assert_eq!(recorded[0].request_line(), format!("GET {path} HTTP/1.1"));
    assert_eq!(
        recorded[0].headers,
        vec![
            ("Host".to_string(), "x".to_string()),
            ("X-Test".to_string(), "1".to_string())
        ]
    );
    assert_eq!(
        recorded.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 200, 404]
    );

    let port = server.port();
    drop(server);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server still listens after drop"
    );
}

/// Bytes that do not compress, so that a pack holding them stays large.
fn noise(len: usize, mut seed: u64) -> String {
    (0..len)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'a' + ((seed >> 33) % 26) as u8)
        })
        .collect()
}

#[test]
fn http_gzip_requests_and_chunked_pushes() {
    let (remote, _, second) = remote_with_history();
    // Many tags on distinct commits make git's fetch request larger than 1 KiB, which
    // git sends gzipped.
    let bare = remote.bare_path();
    let mut tip = second.clone();
    for i in 0..30 {
        tip = git_ok(
            bare,
            &[
                "commit-tree",
                &format!("{second}^{{tree}}"),
                "-p",
                &tip,
                "-m",
                &format!("c{i}"),
            ],
        );
        git_ok(bare, &["update-ref", &format!("refs/tags/t{i}"), &tip]);
    }
    let server = HttpGitServer::serve(&remote, "alice", "s3cret");
    let url = server.url_with_credentials(&remote);
    let dir = remote.temp_dir();
    git_ok(
        dir,
        &["-c", "credential.helper=", "clone", "-q", &url, "clone"],
    );
    let clone = dir.join("clone");
    assert_eq!(git_ok(&clone, &["rev-parse", "t29"]), tip);
    let recorded = server.recorded();
    assert!(
        recorded
            .iter()
            .any(|r| r.status == 200 && r.header("Content-Encoding") == Some("gzip")),
        "no gzipped request: {recorded:#?}"
    );

    // A push of more than http.postBuffer goes chunked.
    std::fs::write(clone.join("big.txt"), noise(512 << 10, 7)).expect("write a big file");
    git_ok(&clone, &["add", "big.txt"]);
    git_ok(&clone, &["commit", "-q", "-m", "big"]);
    let pushed = git_ok(&clone, &["rev-parse", "HEAD"]);
    git_ok(
        &clone,
        &[
            "-c",
            "credential.helper=",
            "-c",
            "http.postBuffer=65536",
            "push",
            "-q",
            "origin",
            "HEAD:main",
        ],
    );
    assert_eq!(remote.head(), pushed);
    let recorded = server.recorded();
    assert!(
        recorded.iter().any(|r| r.status == 200
            && r.target.ends_with("/git-receive-pack")
            && r.header("Transfer-Encoding") == Some("chunked")),
        "no chunked push: {recorded:#?}"
    );
}

#[test]
fn servers_serve_concurrent_clients() {
    let (remote, _, second) = remote_with_history();
    let server = HttpGitServer::serve(&remote, "alice", "s3cret");
    let daemon = GitDaemon::serve(&remote);
    let urls = [server.url_with_credentials(&remote), daemon.url(&remote)];
    std::thread::scope(|s| {
        for i in 0..6 {
            let url = &urls[i % 2];
            let dir = remote.temp_dir();
            let second = &second;
            s.spawn(move || {
                let name = format!("clone-{i}");
                git_ok(
                    dir,
                    &["-c", "credential.helper=", "clone", "-q", url, &name],
                );
                assert_eq!(git_ok(&dir.join(&name), &["rev-parse", "HEAD"]), *second);
            });
        }
    });
}
