//! Cross-node wake-ups on Postgres (`LISTEN/NOTIFY`): two gateways share one database with a poll
//! interval of a minute, so only a notification can make one see the other's (or the CLI's)
//! commits within a couple of seconds: in its in-memory state and in the SQL projections. The
//! listening connections are then killed; they come back and keep waking the nodes. Last, with
//! the trigger dropped, a change stays unseen on the other node for as long.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::future::Future;
use std::time::Duration;

use common::{config_for, Backing, Gateway, PgDatabase, ADMIN_KEY};

/// Far longer than the test: a node that only polled would see nothing in time.
const POLL_MS: u64 = 60_000;
/// How soon a change made elsewhere must be visible.
const BOUND: Duration = Duration::from_secs(2);

async fn node(backing: Backing) -> Gateway {
    let mut config = config_for(&backing);
    config.store.poll_interval_ms = POLL_MS;
    Gateway::start_with(backing, config).await
}

/// Polls `probe` until it holds and returns how long that took; fails after `BOUND`.
async fn within<F, Fut>(what: &str, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    loop {
        if probe().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < BOUND, "{what}: not seen within {BOUND:?} (poll interval {POLL_MS} ms)");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `layerr keys create` as its own process against the shared database: a commit neither
/// gateway makes, so neither gets an in-process wake-up for it.
async fn cli_key(url: &str, workspace: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_layerr"))
        .args(["keys", "create", "--workspace", workspace, "--name", "external"])
        .env("LAYERR_DATABASE_URL", url)
        .env("LAYERR_DATA_DIR", dir.path())
        .env_remove("LAYERR_CONFIG")
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("lyr_"), "{key}");
    key
}

async fn accepts(gw: &Gateway, key: &str, slug: &str) -> bool {
    gw.call("GET", &format!("/api/workspaces/{slug}"), Some(key), None).await.0 == 200
}

/// Both gateways accept `key`, and the SQL projections (run by both nodes, woken only by the
/// notification) have recorded it and moved their checkpoints to the head of the feed.
async fn seen_everywhere(a: &Gateway, b: &Gateway, pool: &sqlx::PgPool, key: &str, slug: &str, cli_keys: i64) {
    let took = within("node A accepts the CLI's key", || accepts(a, key, slug)).await;
    eprintln!("node A accepted the CLI's key after {took:?}");
    let took = within("node B accepts the CLI's key", || accepts(b, key, slug)).await;
    eprintln!("node B accepted the CLI's key after {took:?}");
    let (took, nudges) = projected(pool, cli_keys).await;
    eprintln!("the projections had the CLI's key after {took:?} ({nudges} extra notifications)");
}

/// Waits until the SQL projections (run by both nodes, woken here only by notifications) have
/// recorded the CLI's keys and moved every checkpoint to the head of the feed.
///
/// The feed serves an event to projections only once every older transaction in the whole
/// Postgres cluster has ended (its high-water mark, DESIGN.md §3), and tests running in other
/// databases of the same server can hold the mark back at the moment the runners read; a runner
/// then waits for the next notification. After a fair first chance the test plays the part of
/// that next commit: once the events are settled it sends `NOTIFY layerr_events` itself. Still
/// only a notification can wake a runner here (the poll is a minute), and the trigger is checked
/// by the in-memory state above. Returns the time taken and the number of such notifications.
async fn projected(pool: &sqlx::PgPool, cli_keys: i64) -> (Duration, u32) {
    const FIRST_CHANCE: Duration = Duration::from_millis(300);
    let start = tokio::time::Instant::now();
    let (mut nudges, mut last_nudge) = (0, start);
    loop {
        let audited: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE actor = 'cli'").fetch_one(pool).await.unwrap();
        // The feed's order is (tx_id, global_position); its last cursor is the head.
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM projection_checkpoints
              WHERE (tx_id, position) < (SELECT tx_id::text::bigint, global_position FROM events
                                          ORDER BY tx_id DESC, global_position DESC LIMIT 1)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if audited == cli_keys && behind == 0 {
            return (start.elapsed(), nudges);
        }
        assert!(
            start.elapsed() < BOUND,
            "projections: {audited} of {cli_keys} CLI keys audited, {behind} checkpoints behind the head after {BOUND:?} \
             ({nudges} extra notifications; poll interval {POLL_MS} ms)"
        );
        if last_nudge.elapsed() >= FIRST_CHANCE {
            let settled: bool =
                sqlx::query_scalar("SELECT bool_and(tx_id < pg_snapshot_xmin(pg_current_snapshot())) FROM events")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            if settled {
                sqlx::query("SELECT pg_notify($1, '')").bind(layerr::notify::CHANNEL).execute(pool).await.unwrap();
                nudges += 1;
                last_nudge = tokio::time::Instant::now();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The process ids of the gateways' listening connections on this database.
async fn listeners(pool: &sqlx::PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 ORDER BY pid",
    )
    .bind(layerr::notify::APPLICATION_NAME)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_commits_wake_this_node_long_before_its_poll() {
    let db = PgDatabase::create().await;
    let url = db.url.clone();
    let a = node(Backing::Postgres(db)).await;
    let b = node(Backing::SharedPostgres(url.clone())).await;
    assert_eq!(b.started.state.config.store.poll_interval_ms, POLL_MS);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    within("both nodes listen", || async { listeners(&pool).await.len() == 2 }).await;

    // A command on node A: node B's in-memory state learns of it through the notification.
    let slug = "notify-ws";
    let (status, body) = b.admin("GET", &format!("/api/workspaces/{slug}"), None).await;
    assert_eq!(status, 404, "{body}");
    let created = tokio::time::Instant::now();
    let key = a.workspace(slug, "standard").await;
    let took = within("node B sees the workspace node A created", || async {
        b.admin("GET", &format!("/api/workspaces/{slug}"), None).await.0 == 200
    })
    .await;
    eprintln!("node B saw node A's workspace after {took:?} ({:?} after the create)", created.elapsed());
    // The workspace and its first key are two commits (two notifications).
    within("node B accepts the key node A issued", || accepts(&b, &key, slug)).await;

    // A commit from another process (the CLI): both nodes and the projections wake.
    let cli = cli_key(&url, slug).await;
    seen_everywhere(&a, &b, &pool, &cli, slug, 1).await;

    // Kill both listening connections: they come back, and notifications flow again.
    let killed = listeners(&pool).await;
    assert_eq!(killed.len(), 2, "{killed:?}");
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                               WHERE datname = current_database() AND application_name = $1) t",
    )
    .bind(layerr::notify::APPLICATION_NAME)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 2);
    within("both nodes listen again on new connections", || async {
        let now = listeners(&pool).await;
        now.len() == 2 && now.iter().all(|p| !killed.contains(p))
    })
    .await;
    // Let the catch-up that follows a reconnect pass, so what comes next is seen only through a
    // notification on the new connections.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cli = cli_key(&url, slug).await;
    seen_everywhere(&a, &b, &pool, &cli, slug, 2).await;

    // Negative control: without the trigger nothing announces node A's commits, and node B, which
    // polls once a minute, does not see its next workspace: what it saw above came from NOTIFY.
    sqlx::raw_sql("DROP TRIGGER events_notify ON events").execute(&pool).await.unwrap();
    let quiet = "notify-quiet";
    a.workspace(quiet, "standard").await;
    assert_eq!(a.admin("GET", &format!("/api/workspaces/{quiet}"), None).await.0, 200);
    tokio::time::sleep(BOUND).await;
    let (status, body) = b.admin("GET", &format!("/api/workspaces/{quiet}"), None).await;
    assert_eq!(status, 404, "node B saw a change that no notification announced: {body}");
    assert_eq!(b.call("GET", "/api/workspaces", Some(ADMIN_KEY), None).await.0, 200);
    pool.close().await;
    b.stop().await;
    a.stop().await;
}
