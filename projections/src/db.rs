//! The store handle shared by the write side (cqrs-es repositories use the typed pool) and the
//! read side (read models use the `Any` pool with SQL both backends accept), and the migrator.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AnyPool, Connection, PgPool, SqlitePool};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("bad stored data: {0}")]
    Data(String),
    #[error("invalid database url: {0}")]
    Url(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

#[derive(Clone, Debug)]
pub enum TypedPool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

#[derive(Clone, Debug)]
pub struct Db {
    pub typed: TypedPool,
    pub any: AnyPool,
}

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const PG_MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../../migrations/postgres/0001_init.sql") },
    Migration { version: 2, name: "secrets", sql: include_str!("../../migrations/postgres/0002_secrets.sql") },
    Migration {
        version: 3,
        name: "provider_outcomes",
        sql: include_str!("../../migrations/postgres/0003_provider_outcomes.sql"),
    },
    Migration { version: 4, name: "traces", sql: include_str!("../../migrations/postgres/0004_traces.sql") },
    Migration {
        version: 5,
        name: "conversations",
        sql: include_str!("../../migrations/postgres/0005_conversations.sql"),
    },
    // SQLite has no 0006: NOTIFY wake-ups are Postgres only.
    Migration { version: 6, name: "notify", sql: include_str!("../../migrations/postgres/0006_notify.sql") },
    Migration { version: 7, name: "economics", sql: include_str!("../../migrations/postgres/0007_economics.sql") },
];

const SQLITE_MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../../migrations/sqlite/0001_init.sql") },
    Migration { version: 2, name: "secrets", sql: include_str!("../../migrations/sqlite/0002_secrets.sql") },
    Migration {
        version: 3,
        name: "provider_outcomes",
        sql: include_str!("../../migrations/sqlite/0003_provider_outcomes.sql"),
    },
    Migration { version: 4, name: "traces", sql: include_str!("../../migrations/sqlite/0004_traces.sql") },
    Migration {
        version: 5,
        name: "conversations",
        sql: include_str!("../../migrations/sqlite/0005_conversations.sql"),
    },
    Migration { version: 7, name: "economics", sql: include_str!("../../migrations/sqlite/0007_economics.sql") },
];

/// Arbitrary constant: the advisory lock that serialises migrations across nodes.
const MIGRATION_LOCK: i64 = 0x6c61_7965_7272;

impl Db {
    /// `postgres://…` or `sqlite://path` (the file is created if missing).
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url).map_err(|e| DbError::Url(e.to_string()))?;
            let typed = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            let any =
                AnyPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(10)).connect(url).await?;
            Ok(Db { typed: TypedPool::Postgres(typed), any })
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| DbError::Url(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                // A small page cache per connection keeps the embedded store's memory low.
                .pragma("cache_size", "-1024");
            let typed = SqlitePoolOptions::new().max_connections(2).connect_with(opts).await?;
            // The file now exists in WAL mode (which persists), so the Any pool shares it.
            // sqlx's SQLite default busy timeout (5 s) applies to this pool too.
            let any = AnyPoolOptions::new().max_connections(4).connect(url).await?;
            Ok(Db { typed: TypedPool::Sqlite(typed), any })
        } else {
            Err(DbError::Url(format!("unsupported database url scheme in '{}'", redact(url))))
        }
    }

    pub fn backend(&self) -> Backend {
        match self.typed {
            TypedPool::Postgres(_) => Backend::Postgres,
            TypedPool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Applies every migration not yet applied, each in its own transaction. Returns how many ran.
    pub async fn migrate(&self) -> Result<usize, DbError> {
        let mut conn = self.any.acquire().await?;
        let (migrations, lock, unlock) = match self.backend() {
            Backend::Postgres => (
                PG_MIGRATIONS,
                format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"),
                format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"),
            ),
            Backend::Sqlite => (SQLITE_MIGRATIONS, String::new(), String::new()),
        };
        if !lock.is_empty() {
            sqlx::raw_sql(&lock).execute(&mut *conn).await?;
        }
        let result = async {
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS layerr_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_at_ms bigint NOT NULL)",
            )
            .execute(&mut *conn)
            .await?;
            let mut applied = 0;
            for m in migrations {
                let done: Option<i64> = sqlx::query_scalar("SELECT version FROM layerr_migrations WHERE version = $1")
                    .bind(m.version)
                    .fetch_optional(&mut *conn)
                    .await?;
                if done.is_some() {
                    continue;
                }
                let mut tx = conn.begin().await?;
                sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO layerr_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)")
                    .bind(m.version)
                    .bind(m.name)
                    .bind(chrono::Utc::now().timestamp_millis())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                applied += 1;
            }
            Ok::<usize, DbError>(applied)
        }
        .await;
        if !unlock.is_empty() {
            sqlx::raw_sql(&unlock).execute(&mut *conn).await?;
        }
        result
    }

    /// A round trip to the store, for health checks.
    pub async fn ping(&self) -> Result<Duration, DbError> {
        let start = std::time::Instant::now();
        sqlx::raw_sql("SELECT 1").execute(&self.any).await?;
        Ok(start.elapsed())
    }
}

/// A database URL with any password removed, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}
