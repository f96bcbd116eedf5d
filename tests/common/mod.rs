//! The test toolbox, shared by every test binary (each includes it with `mod common;`).
//!
//! This file is the harness: a real gateway (the same `start` + `app` as `layerr serve`) on
//! 127.0.0.1:0 over a fresh store, either a temporary SQLite file or a fresh Postgres database
//! that is dropped afterwards, and `on_both_stores!`. The rest, by subject:
//! - [`resp`]: one answer as a client sees it ([`Resp`]) and the strict `/api` client (never a
//!   5xx, always a request id);
//! - [`upstream`]: providers on mock upstreams and chat requests;
//! - [`events`]: reading the store's events;
//! - [`proxy`]: a TCP proxy in front of Postgres, to cut the store away;
//! - [`wait`]: pollers for what becomes true asynchronously (read models, traces, health);
//! - [`workspaces`]: what the workspace and audit tests read from their answers.
#![allow(dead_code, unused_imports, unused_macros, reason = "each test binary uses a different part of the harness")]

pub mod events;
pub mod proxy;
pub mod resp;
pub mod upstream;
pub mod wait;
pub mod workspaces;

use std::time::Duration;

use layerr::config::Config;
use layerr::server::Started;
use serde_json::Value;

pub use resp::Resp;
pub use upstream::{chat, provider};

/// Runs a scenario `async fn name(kind: Kind)` on SQLite and on Postgres, as the tests
/// `name::sqlite` and `name::postgres`.
macro_rules! on_both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Kind::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Kind::Postgres).await
            }
        }
    };
}
pub(crate) use on_both_stores;

pub const ADMIN_KEY: &str = "lyr_test_admin_key_0123456789abcdef";

pub fn pg_url() -> String {
    std::env::var("LAYERR_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh Postgres database, dropped when the value is dropped.
pub struct PgDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sqlx::Connection;
        let admin_url = pg_url();
        let name = format!("layerr_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn =
            sqlx::PgConnection::connect(&admin_url).await.expect("Postgres must be reachable (LAYERR_TEST_PG_URL)");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin_url.clone());
        PgDatabase { url: format!("{base}/{name}"), name, admin_url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop on a separate thread with its own runtime: Drop may run inside a test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
                }
            })
        })
        .join();
    }
}

pub enum Backing {
    Sqlite(tempfile::TempDir),
    Postgres(PgDatabase),
    /// A Postgres database that another `Gateway` owns (a second node): not dropped by this one.
    SharedPostgres(String),
}

pub struct Gateway {
    pub base: String,
    pub client: reqwest::Client,
    pub started: Started,
    pub backing: Backing,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub fn config_for(backing: &Backing) -> Config {
    let mut config = Config::default();
    match backing {
        Backing::Sqlite(dir) => config.store.data_dir = dir.path().to_path_buf(),
        Backing::Postgres(db) => config.store.database_url = Some(db.url.clone()),
        Backing::SharedPostgres(url) => config.store.database_url = Some(url.clone()),
    }
    config.store.poll_interval_ms = 50;
    config.admin_key = Some(ADMIN_KEY.to_string().into());
    config
}

pub async fn backing(kind: Kind) -> Backing {
    match kind {
        Kind::Sqlite => Backing::Sqlite(tempfile::tempdir().unwrap()),
        Kind::Postgres => Backing::Postgres(PgDatabase::create().await),
    }
}

impl Gateway {
    pub async fn start(kind: Kind) -> Gateway {
        let backing = backing(kind).await;
        let config = config_for(&backing);
        Self::start_with(backing, config).await
    }

    pub async fn start_with(backing: Backing, config: Config) -> Gateway {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .with_test_writer()
            .try_init();
        let started = layerr::server::start(config).await.expect("gateway starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = layerr::http::app(started.state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Gateway { base, client: reqwest::Client::new(), started, backing, server }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON ({status}): {text}"));
        (status, headers, json)
    }

    /// [`Gateway::call`] as one [`Resp`].
    pub async fn send(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Resp {
        let (status, headers, body) = self.call(method, path, key, body).await;
        Resp { status, headers, body }
    }

    pub async fn raw(&self, method: &str, path: &str, key: Option<&str>, body: &'static str) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{}", self.base, path)).body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON ({status}): {text}")))
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (s, _, v) = self.call(method, path, Some(ADMIN_KEY), body).await;
        (s, v)
    }

    /// Creates a workspace and returns its first API key.
    pub async fn workspace(&self, slug: &str, tier: &str) -> String {
        let (s, v) = self.admin("POST", "/api/workspaces", Some(serde_json::json!({"slug": slug, "tier": tier}))).await;
        assert_eq!(s, 201, "{v}");
        v["data"]["apiKey"]["key"].as_str().unwrap().to_string()
    }

    /// Polls the audit log until `pred` holds (projections are asynchronous).
    pub async fn wait_for_audit(&self, query: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait::until(Duration::from_secs(10), Duration::from_millis(50), async || {
            let (s, v) = self.admin("GET", &format!("/api/admin/audit{query}"), None).await;
            assert_eq!(s, 200, "{v}");
            if pred(&v) {
                Ok(v)
            } else {
                Err(format!("audit never satisfied the condition: {v}"))
            }
        })
        .await
    }

    pub async fn stop(self) -> Backing {
        self.server.abort();
        self.started.cancel.cancel();
        self.started.tracker.close();
        self.started.tracker.wait().await;
        self.backing
    }
}

/// Asserts the spec's error envelope and returns the error object.
pub fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) -> Value {
    assert_eq!(status, want_status, "{body}");
    let err = &body["error"];
    assert_eq!(err["code"], want_code, "{body}");
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body.get("data").is_none(), "{body}");
    err.clone()
}
