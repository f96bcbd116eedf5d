//! Read model `conversations`: one row per `/api/chat` conversation (title, times, message count,
//! token and cost totals) and its messages, answering `GET /api/conversations`. A deleted
//! conversation is marked and its messages dropped from this model (its events stay in the store).
//! Each row remembers the last event sequence applied, so a replayed event changes nothing twice.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use layerr_domain::conversation::ConversationEvent;

use crate::db::{Db, DbError};
use crate::feed::{Interest, StoredEvent};
use crate::runner::Projector;

pub const NAME: &str = "conversations";

/// Text for a read model's `text` column (every read model of this crate uses it). Postgres
/// `text` cannot hold U+0000 (the insert fails, and the projection would retry that batch
/// forever), so it is stored as U+FFFD, on both backends alike so that they and a rebuild agree.
/// Only the read models lose it: the events keep the text exactly (`events.payload` is `json`,
/// which keeps the `\u0000` escape where `jsonb` would refuse it), JSON kept in a text column
/// keeps the escape too, and a conversation read back (`GET /api/conversations/{id}`) is loaded
/// from its events.
pub fn text_column(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Characters of the last message shown in a list.
const PREVIEW_CHARS: usize = 200;

pub struct Conversations;

#[async_trait]
impl Projector for Conversations {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply(&self, conn: &mut AnyConnection, events: &[StoredEvent]) -> Result<(), DbError> {
        for e in events {
            if let Some((workspace, at_ms)) = e.workspace_deleted() {
                sqlx::query(
                    "DELETE FROM conversation_messages WHERE conversation_id IN
                         (SELECT id FROM conversations WHERE workspace = $1 AND created_at_ms <= $2)",
                )
                .bind(workspace)
                .bind(at_ms)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE conversations SET deleted_at_ms = $2
                      WHERE workspace = $1 AND created_at_ms <= $2 AND deleted_at_ms IS NULL",
                )
                .bind(workspace)
                .bind(at_ms)
                .execute(&mut *conn)
                .await?;
                continue;
            }
            if e.aggregate_type != "Conversation" {
                continue;
            }
            let id = e.aggregate_id.as_str();
            match e.decode::<ConversationEvent>()? {
                ConversationEvent::ConversationStarted { workspace, title, at } => {
                    // Text as Postgres can hold it (U+0000 as U+FFFD): the conversation itself,
                    // loaded from its events, keeps it.
                    let title = title.as_deref().map(|t| text_column(t).into_owned());
                    sqlx::query(
                        "INSERT INTO conversations (id, workspace, title, created_at_ms, updated_at_ms, version,
                                                    message_count, tokens_in, tokens_out, cost_micros, deleted_at_ms)
                         VALUES ($1, $2, $3, $4, $4, $5, 0, 0, 0, 0, NULL)
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(text_column(&workspace).into_owned())
                    .bind(title)
                    .bind(at.timestamp_millis())
                    .bind(e.sequence)
                    .execute(&mut *conn)
                    .await?;
                }
                ConversationEvent::MessageAdded {
                    role,
                    content,
                    trace_id,
                    model,
                    provider,
                    tokens,
                    cost_micros,
                    at,
                } => {
                    let (tin, tout) =
                        tokens.map_or((None, None), |t| (Some(t.tokens_in as i64), Some(t.tokens_out as i64)));
                    let updated = sqlx::query(
                        "UPDATE conversations
                            SET message_count = message_count + 1, tokens_in = tokens_in + $2,
                                tokens_out = tokens_out + $3, cost_micros = cost_micros + $4,
                                updated_at_ms = $5, version = $6
                          WHERE id = $1 AND version < $6 AND deleted_at_ms IS NULL",
                    )
                    .bind(id)
                    .bind(tin.unwrap_or(0))
                    .bind(tout.unwrap_or(0))
                    .bind(cost_micros.unwrap_or(0))
                    .bind(at.timestamp_millis())
                    .bind(e.sequence)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if updated == 0 {
                        continue;
                    }
                    let text = |s: Option<&str>| s.map(|s| text_column(s).into_owned());
                    sqlx::query(
                        "INSERT INTO conversation_messages (conversation_id, seq, role, content, trace_id, model,
                                                            provider, tokens_in, tokens_out, cost_micros, at_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                         ON CONFLICT (conversation_id, seq) DO NOTHING",
                    )
                    .bind(id)
                    .bind(e.sequence)
                    .bind(role.as_str())
                    .bind(text_column(&content).into_owned())
                    .bind(text(trace_id.as_deref()))
                    .bind(text(model.as_deref()))
                    .bind(text(provider.as_deref()))
                    .bind(tin)
                    .bind(tout)
                    .bind(cost_micros)
                    .bind(at.timestamp_millis())
                    .execute(&mut *conn)
                    .await?;
                }
                ConversationEvent::ConversationDeleted { at } => {
                    sqlx::query(
                        "UPDATE conversations SET deleted_at_ms = $2, updated_at_ms = $2, version = $3
                          WHERE id = $1 AND version < $3",
                    )
                    .bind(id)
                    .bind(at.timestamp_millis())
                    .bind(e.sequence)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query("DELETE FROM conversation_messages WHERE conversation_id = $1")
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn truncate(&self, conn: &mut AnyConnection) -> Result<(), DbError> {
        sqlx::query("DELETE FROM conversation_messages").execute(&mut *conn).await?;
        sqlx::query("DELETE FROM conversations").execute(&mut *conn).await?;
        Ok(())
    }

    fn interest(&self) -> Interest {
        Interest { column: "aggregate_type", values: &["Conversation", "Workspace"] }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastMessage {
    pub role: String,
    /// The first characters of its content.
    pub preview: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub id: String,
    pub workspace: String,
    pub title: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub message_count: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_micros: i64,
    pub last_message: Option<LastMessage>,
}

#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub workspace: String,
    /// Conversations strictly older than this (created_at_ms, id), newest first.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

fn time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A workspace's live conversations, newest first.
pub async fn list(db: &Db, f: &ConversationFilter) -> Result<Vec<ConversationSummary>, DbError> {
    let (cur_at, cur_id) = f.before.clone().unwrap_or((i64::MAX, String::new()));
    let rows = sqlx::query(
        "SELECT c.id, c.workspace, c.title, c.created_at_ms, c.updated_at_ms, c.message_count, c.tokens_in,
                c.tokens_out, c.cost_micros, m.role AS last_role, m.content AS last_content, m.at_ms AS last_at_ms
           FROM conversations c
           LEFT JOIN conversation_messages m
             ON m.conversation_id = c.id
            AND m.seq = (SELECT MAX(seq) FROM conversation_messages x WHERE x.conversation_id = c.id)
          WHERE c.workspace = $1 AND c.deleted_at_ms IS NULL
            AND (c.created_at_ms < $2 OR (c.created_at_ms = $2 AND ($3 = '' OR c.id < $3)))
          ORDER BY c.created_at_ms DESC, c.id DESC
          LIMIT $4",
    )
    .bind(&f.workspace)
    .bind(cur_at)
    .bind(cur_id)
    .bind(f.limit)
    .fetch_all(&db.any)
    .await?;
    rows.iter()
        .map(|r| {
            let last_role: Option<String> = r.try_get("last_role")?;
            let last_content: Option<String> = r.try_get("last_content")?;
            let last_at: Option<i64> = r.try_get("last_at_ms")?;
            Ok(ConversationSummary {
                id: r.try_get("id")?,
                workspace: r.try_get("workspace")?,
                title: r.try_get("title")?,
                created_at: time(r.try_get("created_at_ms")?),
                updated_at: time(r.try_get("updated_at_ms")?),
                message_count: r.try_get("message_count")?,
                tokens_in: r.try_get("tokens_in")?,
                tokens_out: r.try_get("tokens_out")?,
                cost_micros: r.try_get("cost_micros")?,
                last_message: match (last_role, last_content, last_at) {
                    (Some(role), Some(content), Some(at)) => {
                        Some(LastMessage { role, preview: content.chars().take(PREVIEW_CHARS).collect(), at: time(at) })
                    }
                    _ => None,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_column_replaces_nul_only() {
        assert_eq!(super::text_column("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
        assert!(matches!(super::text_column("plain \t\n text"), std::borrow::Cow::Borrowed(_)));
    }
}
