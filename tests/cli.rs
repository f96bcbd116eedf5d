//! The binary's subcommands: `migrate`, `keys create` (the key works against a running gateway
//! that sees it through the feed), `projections rebuild`, and strict configuration errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{config_for, wait, Backing, Gateway};

fn layerr(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layerr"));
    cmd.env("LAYERR_DATA_DIR", dir).env_remove("LAYERR_DATABASE_URL").env_remove("LAYERR_CONFIG").current_dir(dir);
    cmd
}

#[test]
fn migrate_then_a_bad_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = layerr(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sqlite"));
    assert!(dir.path().join("layerr.db").exists());

    let out = layerr(dir.path()).arg("migrate").env("LAYERR_LISTN", "x").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LAYERR_LISTN"));

    std::fs::write(dir.path().join("bad.toml"), "[server]\nlisten = 8080\n").unwrap();
    let out = layerr(dir.path()).args(["--config", "bad.toml", "migrate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_created_by_the_cli_works_against_the_running_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let backing = Backing::Sqlite(dir);
    let config = config_for(&backing);
    let gw = Gateway::start_with(backing, config).await;

    let out = layerr(&path).args(["keys", "create", "--workspace", "default", "--name", "ci"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("lyr_"), "{key}");

    // The running gateway picks the key up from the feed within its poll interval.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = gw.call("GET", "/api/workspaces/default", Some(&key), None).await;
        if status == 200 {
            assert_eq!(body["meta"]["workspaceId"], "default");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "CLI key never accepted: {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let out = layerr(&path).args(["keys", "create", "--workspace", "nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));

    let out = layerr(&path).args(["projections", "rebuild", "audit_log"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit_log rebuilt"));
    let out = layerr(&path).args(["projections", "rebuild", "nothing"]).output().unwrap();
    assert!(!out.status.success());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_one_admin_key_and_a_restart_keeps_state() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spawn = || {
        layerr(dir.path())
            .env_remove("LAYERR_ADMIN_KEY")
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let wait_up = || async {
        for _ in 0..200 {
            if client.get(format!("{base}/api/health")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway did not start");
    };

    let mut child = spawn();
    wait_up().await;
    let stop = |child: &mut std::process::Child| {
        // SIGTERM: a graceful shutdown.
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let status = child.wait().unwrap();
        assert!(status.success(), "graceful shutdown exits 0, got {status}");
    };
    stop(&mut child);
    let mut stdout = String::new();
    use std::io::Read;
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let key = stdout.split_whitespace().find(|w| w.starts_with("lyr_")).expect("admin key printed").to_string();

    let mut child = spawn();
    wait_up().await;
    let resp = client.get(format!("{base}/api/workspaces")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(resp.status(), 200, "the bootstrap key survives a restart");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["data"][0]["slug"], "default");
    stop(&mut child);
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert!(!stdout.contains("lyr_"), "a second start prints no key: {stdout}");
}

/// SIGTERM while requests are in flight: they finish, and every one of their trace events is
/// stored before the process exits (the appender drains after the last request, not at the signal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_in_flight_and_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mock = layerr_mock::spawn().await;
    mock.set_default(layerr_mock::Behavior::ok().delay_ms(700).forever());
    let mut child = layerr(dir.path())
        .env("LAYERR_ADMIN_KEY", common::ADMIN_KEY)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait::serving(&client, &base).await;
    let body = serde_json::json!({"id": "oa", "name": "oa", "type": "openai", "baseUrl": format!("{}/v1", mock.base_url()),
                                  "models": ["gpt-4o-mini"], "apiKey": "sk-test"});
    let resp =
        client.post(format!("{base}/api/providers")).bearer_auth(common::ADMIN_KEY).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201);

    const N: usize = 8;
    let mut inflight = Vec::new();
    for i in 0..N {
        let (client, base) = (client.clone(), base.clone());
        inflight.push(tokio::spawn(async move {
            let body = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("hi {i}")}]});
            let resp = client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(common::ADMIN_KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }));
    }
    // All requests are waiting on the slow upstream when the signal arrives.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while mock.requests().len() < N {
        assert!(tokio::time::Instant::now() < deadline, "requests never reached the upstream");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    for t in inflight {
        assert_eq!(t.await.unwrap(), 200, "a request in flight at SIGTERM completes");
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    let db = layerr_projections::Db::connect(&format!("sqlite://{}/layerr.db", dir.path().display())).await.unwrap();
    let completed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = 'RequestCompleted'")
        .fetch_one(&db.any)
        .await
        .unwrap();
    assert_eq!(completed, N as i64, "every request's trace was stored before exit");
}
