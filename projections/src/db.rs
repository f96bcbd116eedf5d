//! The store handle shared by the write side (cqrs-es repositories use the typed pool) and the
//! read side (read models use the `Any` pool with SQL both backends accept), and the migrator.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Any, AnyConnection, AnyPool, Connection, PgPool, SqlitePool, Transaction};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("bad stored data: {0}")]
    Data(String),
    #[error("invalid database url: {0}")]
    Url(String),
    #[error("{0}")]
    File(String),
}

/// When a SQLite commit is on the disk (Postgres keeps its own `synchronous_commit`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteSync {
    /// `synchronous = NORMAL` (WAL): a commit survives a crash of the process, but an OS crash or a
    /// power loss may roll back the last commits (the database stays consistent).
    #[default]
    Normal,
    /// `synchronous = FULL`: the WAL is synced at every commit, which then survives a power loss too.
    Full,
}

impl SqliteSync {
    fn pragma(self) -> &'static str {
        match self {
            SqliteSync::Normal => "PRAGMA synchronous = NORMAL",
            SqliteSync::Full => "PRAGMA synchronous = FULL",
        }
    }
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
    /// The event appender's own connection: its group commits never wait for a connection behind
    /// reads, projection batches and health probes (a wait that admission would count as a
    /// stalled store and shed requests for).
    pub writer: AnyPool,
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
    Migration {
        version: 8,
        name: "trace_vocabulary",
        sql: include_str!("../../migrations/postgres/0008_trace_vocabulary.sql"),
    },
    Migration {
        version: 9,
        name: "secret_envelopes",
        sql: include_str!("../../migrations/postgres/0009_secret_envelopes.sql"),
    },
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
    Migration {
        version: 8,
        name: "trace_vocabulary",
        sql: include_str!("../../migrations/sqlite/0008_trace_vocabulary.sql"),
    },
    Migration {
        version: 9,
        name: "secret_envelopes",
        sql: include_str!("../../migrations/sqlite/0009_secret_envelopes.sql"),
    },
];

/// Arbitrary constant: the advisory lock that serialises migrations across nodes.
const MIGRATION_LOCK: i64 = 0x6c61_7965_7272;

impl Db {
    /// `postgres://…` or `sqlite://path` (the file is created if missing, readable by its owner
    /// only), with SQLite commits at `synchronous = NORMAL`.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        Self::connect_with(url, SqliteSync::Normal).await
    }

    /// As `connect`, with the SQLite commit durability chosen (both pools get the same setting).
    pub async fn connect_with(url: &str, sync: SqliteSync) -> Result<Db, DbError> {
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
            let writer =
                AnyPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(10)).connect(url).await?;
            Ok(Db { typed: TypedPool::Postgres(typed), any, writer })
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| DbError::Url(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match sync {
                    SqliteSync::Normal => SqliteSynchronous::Normal,
                    SqliteSync::Full => SqliteSynchronous::Full,
                })
                .busy_timeout(Duration::from_secs(10))
                // A small page cache per connection keeps the embedded store's memory low.
                .pragma("cache_size", "-1024");
            let file = opts.get_filename().to_path_buf();
            let on_disk = !(url.contains(":memory:") || url.contains("mode=memory"));
            if on_disk {
                owner_only(&file)?;
            }
            let typed = SqlitePoolOptions::new().max_connections(2).connect_with(opts).await?;
            // The file now exists in WAL mode (which persists), so the Any pool shares it. Its
            // options come from the URL only, so the commit durability is set on each connection
            // (left alone it would be SQLite's default, FULL). sqlx's SQLite default busy timeout
            // (5 s) applies to this pool.
            let pragma = sync.pragma();
            let any_pool = |connections: u32| {
                AnyPoolOptions::new().max_connections(connections).after_connect(move |conn, _| {
                    Box::pin(async move {
                        sqlx::Executor::execute(conn, pragma).await?;
                        Ok(())
                    })
                })
            };
            let any = any_pool(4).connect(url).await?;
            // One writer at a time is all SQLite allows anyway.
            let writer = any_pool(1).connect(url).await?;
            if on_disk {
                // SQLite creates `-wal` and `-shm` with the database file's mode; made sure here.
                owner_only(&file)?;
            }
            Ok(Db { typed: TypedPool::Sqlite(typed), any, writer })
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
                let mut tx = begin_write(&mut conn).await?;
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

/// Begins a transaction that is going to write. On SQLite it is `BEGIN IMMEDIATE`: the write
/// lock is taken at the start, so concurrent writers queue on it (within the busy timeout)
/// instead of failing with `SQLITE_BUSY_SNAPSHOT` when another one commits between this
/// transaction's first read and its first write. Postgres: a plain `BEGIN`.
pub async fn begin_write(conn: &mut AnyConnection) -> Result<Transaction<'_, Any>, sqlx::Error> {
    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
        conn.begin_with("BEGIN IMMEDIATE").await
    } else {
        conn.begin().await
    }
}

/// The SQLite database file and its `-wal` and `-shm` companions, readable and writable by their
/// owner only (like `master.key`): the file is created here with mode 0600 when missing, and an
/// existing installation's files are narrowed to it.
fn owner_only(file: &std::path::Path) -> Result<(), DbError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |e: std::io::Error| DbError::File(format!("cannot set up the database file {}: {e}", file.display()));
        if !file.exists() {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            // An empty file is an empty SQLite database.
            std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(file).map_err(io)?;
        }
        let mut companions = vec![file.to_path_buf()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            companions.push(name.into());
        }
        for f in companions {
            match std::fs::metadata(&f) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).map_err(io)?
                }
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
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
