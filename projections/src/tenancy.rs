//! Read-only figures for the tenancy diagnostics (`GET /api/admin/tenancy`): one grouped query
//! per read model (never one per workspace), and the events the store holds per workspace (the
//! `workspace` of each event's metadata).

use std::collections::HashMap;

use sqlx::Row;

use crate::db::{Backend, Db, DbError};

/// A workspace's rows in one read model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Rows held (for conversations: not deleted).
    pub count: i64,
    /// The earliest time of any row (a trace's start, a conversation's creation), deleted ones
    /// included: a row older than the workspace is left from an earlier life of its slug.
    pub oldest_ms: Option<i64>,
    /// The latest such time.
    pub newest_ms: Option<i64>,
}

fn held(rows: Vec<sqlx::any::AnyRow>) -> Result<HashMap<String, Held>, DbError> {
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("workspace")?,
                Held { count: r.try_get("n")?, oldest_ms: r.try_get("oldest")?, newest_ms: r.try_get("newest")? },
            ))
        })
        .collect()
}

impl Db {
    /// Each workspace's traces (`traces` read model).
    pub async fn traces_by_workspace(&self) -> Result<HashMap<String, Held>, DbError> {
        let rows = sqlx::query(
            "SELECT workspace, COUNT(*) AS n, MIN(started_at_ms) AS oldest, MAX(started_at_ms) AS newest
             FROM traces GROUP BY workspace",
        )
        .fetch_all(&self.any)
        .await?;
        held(rows)
    }

    /// Each workspace's conversations (`conversations` read model; `count` leaves deleted ones out).
    pub async fn conversations_by_workspace(&self) -> Result<HashMap<String, Held>, DbError> {
        let rows = sqlx::query(
            "SELECT workspace, CAST(COALESCE(SUM(CASE WHEN deleted_at_ms IS NULL THEN 1 ELSE 0 END), 0) AS bigint) AS n,
                    MIN(created_at_ms) AS oldest, MAX(created_at_ms) AS newest
             FROM conversations GROUP BY workspace",
        )
        .fetch_all(&self.any)
        .await?;
        held(rows)
    }

    /// The events stored per workspace (by their metadata), and the store's total.
    pub async fn events_by_workspace(&self) -> Result<(HashMap<String, i64>, i64), DbError> {
        let ws = match self.backend() {
            Backend::Postgres => "(metadata->>'workspace')",
            Backend::Sqlite => "json_extract(metadata, '$.workspace')",
        };
        let sql = format!("SELECT {ws} AS workspace, COUNT(*) AS n FROM events GROUP BY {ws}");
        let rows = sqlx::query(&sql).fetch_all(&self.any).await?;
        let mut by = HashMap::new();
        let mut total = 0;
        for r in &rows {
            let n: i64 = r.try_get("n")?;
            total += n;
            if let Some(w) = r.try_get::<Option<String>, _>("workspace")? {
                by.insert(w, n);
            }
        }
        Ok((by, total))
    }
}
