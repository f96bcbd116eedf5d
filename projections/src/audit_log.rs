//! Read model `audit_log`: every configuration change (who, which workspace, what, before and
//! after, when), answering `GET /api/admin/audit`. Key hashes are dropped: the audit shows a key's
//! id and prefix only. Provider base URLs are shown without any credential they carry
//! (stored before such URLs were refused), on write and again on read for older rows.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::conversations::text_column;
use crate::db::{Db, DbError};
use crate::feed::Interest;
use crate::feed::StoredEvent;
use crate::runner::Projector;

pub const NAME: &str = "audit_log";

/// Aggregates whose events are configuration changes: every aggregate of the domain but `Trace`,
/// `Conversation` and `Simulation`, which record requests, chats and simulation runs. (A
/// provider's own key shows as its provider's event; named secrets have their own aggregate,
/// whose events hold ids, fingerprints and master key ids only.)
const AUDITED: &[&str] = &["Workspace", "Installation", "Provider", "Strategy", "Secret"];

pub struct AuditLog;

fn scrub(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "hash" && k.as_str() != "at")
                .map(|(k, v)| (k.clone(), if k == "baseUrl" { redact_url(v) } else { scrub(v) }))
                .collect(),
        ),
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(scrub).collect()),
        other => other.clone(),
    }
}

fn redact_url(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(u) => serde_json::Value::String(layerr_domain::provider::url::redact(u)),
        other => other.clone(),
    }
}

/// Base URLs anywhere in a stored entry, redacted (rows written before redaction on write).
fn redact_urls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .map(|(k, v)| if k == "baseUrl" { (k, redact_url(&v)) } else { (k, redact_urls(v)) })
                .collect(),
        ),
        serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(redact_urls).collect()),
        other => other,
    }
}

/// The event as the domain reads it (through `StoredEvent::decode`, so an older version is
/// upcast first), back as JSON: the audit shows every row in the current vocabulary.
fn decoded(e: &StoredEvent) -> Result<serde_json::Value, DbError> {
    use layerr_domain::{installation, provider, secret, strategy, workspace};
    let typed = match e.aggregate_type.as_str() {
        "Workspace" => serde_json::to_value(e.decode::<workspace::WorkspaceEvent>()?),
        "Installation" => serde_json::to_value(e.decode::<installation::InstallationEvent>()?),
        "Provider" => serde_json::to_value(e.decode::<provider::ProviderEvent>()?),
        "Strategy" => serde_json::to_value(e.decode::<strategy::StrategyEvent>()?),
        "Secret" => serde_json::to_value(e.decode::<secret::SecretEvent>()?),
        other => return Err(DbError::Data(format!("the audit log does not read {other} events"))),
    };
    typed.map_err(|x| DbError::Data(format!("event {} ({}): {x}", e.position(), e.event_type)))
}

/// (before, after) of an event: its own `before`/`after` when it has them, else its fields.
fn before_after(e: &StoredEvent) -> Result<(Option<serde_json::Value>, Option<serde_json::Value>), DbError> {
    let event = decoded(e)?;
    // The variant's fields (the JSON of an event is `{"Variant": {fields}}`).
    let body = match &event {
        serde_json::Value::Object(m) if m.len() == 1 => m.values().next().unwrap_or(&event),
        other => other,
    };
    Ok(match (body.get("before"), body.get("after")) {
        (Some(b), Some(a)) => (Some(scrub(b)), Some(scrub(a))),
        _ => {
            let fields = scrub(body);
            let empty = fields.as_object().is_some_and(|m| m.is_empty());
            (None, if empty { None } else { Some(fields) })
        }
    })
}

#[async_trait]
impl Projector for AuditLog {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply(&self, conn: &mut AnyConnection, events: &[StoredEvent]) -> Result<(), DbError> {
        for e in events.iter().filter(|e| AUDITED.contains(&e.aggregate_type.as_str())) {
            let workspace = e
                .meta(layerr_domain::meta::WORKSPACE)
                .map(str::to_string)
                .or_else(|| (e.aggregate_type == "Workspace").then(|| e.aggregate_id.clone()));
            let (before, after) = before_after(e)?;
            // Text as Postgres can hold it (U+0000 as U+FFFD); `before`/`after` are JSON, whose
            // escapes keep it.
            let text = |s: Option<&str>| s.map(|s| text_column(s).into_owned());
            sqlx::query(
                "INSERT INTO audit_log (position, at_ms, workspace, actor, request_id, aggregate_type, aggregate_id,
                                        action, before_json, after_json)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (position) DO NOTHING",
            )
            .bind(e.position())
            .bind(e.recorded_at.timestamp_millis())
            .bind(text(workspace.as_deref()))
            .bind(text(e.meta(layerr_domain::meta::ACTOR)))
            .bind(text(e.meta(layerr_domain::meta::REQUEST_ID)))
            .bind(text_column(&e.aggregate_type).into_owned())
            .bind(text_column(&e.aggregate_id).into_owned())
            .bind(text_column(&e.event_type).into_owned())
            .bind(before.map(|v| v.to_string()))
            .bind(after.map(|v| v.to_string()))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn truncate(&self, conn: &mut AnyConnection) -> Result<(), DbError> {
        sqlx::query("DELETE FROM audit_log").execute(conn).await?;
        Ok(())
    }

    fn interest(&self) -> Interest {
        Interest { column: "aggregate_type", values: AUDITED }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub workspace: Option<String>,
    pub actor: Option<String>,
    pub request_id: Option<String>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub action: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub workspace: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Entries strictly older than this (at_ms, id), newest first.
    pub before: Option<(i64, i64)>,
    pub limit: i64,
}

/// Newest first. Every filter is optional; NULL parameters match everything.
pub async fn list(db: &Db, f: &AuditFilter) -> Result<Vec<AuditEntry>, DbError> {
    let (cur_at, cur_id) = f.before.unwrap_or((i64::MAX, i64::MAX));
    let rows = sqlx::query(
        "SELECT position, at_ms, workspace, actor, request_id, aggregate_type, aggregate_id, action, before_json, after_json
           FROM audit_log
          WHERE ($1 IS NULL OR workspace = $1)
            AND ($2 IS NULL OR actor = $2)
            AND ($3 IS NULL OR action = $3)
            AND at_ms >= $4 AND at_ms <= $5
            AND (at_ms < $6 OR (at_ms = $6 AND position < $7))
          ORDER BY at_ms DESC, position DESC
          LIMIT $8",
    )
    .bind(f.workspace.clone())
    .bind(f.actor.clone())
    .bind(f.action.clone())
    .bind(f.from_ms.unwrap_or(i64::MIN))
    .bind(f.to_ms.unwrap_or(i64::MAX))
    .bind(cur_at)
    .bind(cur_id)
    .bind(f.limit)
    .fetch_all(&db.any)
    .await?;
    rows.iter()
        .map(|r| {
            let json = |col: &str| -> Result<Option<serde_json::Value>, DbError> {
                let s: Option<String> = r.try_get(col)?;
                s.map(|s| serde_json::from_str(&s).map(redact_urls).map_err(|e| DbError::Data(e.to_string())))
                    .transpose()
            };
            let at_ms: i64 = r.try_get("at_ms")?;
            Ok(AuditEntry {
                id: r.try_get("position")?,
                at: chrono::DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
                workspace: r.try_get("workspace")?,
                actor: r.try_get("actor")?,
                request_id: r.try_get("request_id")?,
                aggregate_type: r.try_get("aggregate_type")?,
                aggregate_id: r.try_get("aggregate_id")?,
                action: r.try_get("action")?,
                before: json("before_json")?,
                after: json("after_json")?,
            })
        })
        .collect()
}
