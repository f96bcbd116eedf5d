//! Read model `economics_requests`: what every finished request cost, with its whole token
//! breakdown (cached and cache-write input included, which the `traces` row does not keep), its
//! workspace, intent, strategy and the route that was charged. The economics routes group it by
//! day, provider, model, intent and strategy; money stays integer micro-dollars here. Also the
//! simulation's reader of recorded traces in time order (from the `traces` read model).

use async_trait::async_trait;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use layerr_domain::money::tokens_i64;
use layerr_domain::trace::TraceEvent;

use crate::db::{Db, DbError};
use crate::feed::{Interest, StoredEvent};
use crate::runner::Projector;
use crate::sql::sat_sum;
use crate::traces::TraceView;

pub const NAME: &str = "economics";

/// Milliseconds in a UTC day (the `day` grouping's width).
pub const DAY_MS: i64 = 86_400_000;

pub struct Economics;

fn flag(b: bool) -> i64 {
    i64::from(b)
}

async fn apply_one(conn: &mut AnyConnection, e: &StoredEvent) -> Result<(), DbError> {
    let id = e.aggregate_id.as_str();
    // Each statement applies only an event newer than the row's last one, so a replayed batch
    // changes nothing twice.
    match e.decode::<TraceEvent>()? {
        TraceEvent::RequestReceived { received: r, at } => {
            sqlx::query(
                "INSERT INTO economics_requests (trace_id, workspace, started_at_ms, intent, strategy, status,
                     cost_micros, tokens_in, tokens_out, cached_tokens, cache_write_tokens, reasoning_tokens,
                     charges, estimated, needs_tools, needs_vision, needs_json, last_sequence)
                 VALUES ($1, $2, $3, $4, $5, 'open', 0, 0, 0, 0, 0, 0, 0, 0, $6, $7, $8, $9)
                 ON CONFLICT (trace_id) DO NOTHING",
            )
            .bind(id)
            .bind(&r.workspace)
            .bind(at.timestamp_millis())
            .bind(r.intent.as_str())
            .bind(&r.strategy)
            .bind(flag(r.needs_tools))
            .bind(flag(r.needs_vision))
            .bind(flag(r.needs_json))
            .bind(e.sequence)
            .execute(conn)
            .await?;
        }
        TraceEvent::CostCharged { charge: c, .. } => {
            let c = c.bounded();
            sqlx::query(
                "UPDATE economics_requests SET
                     provider = $2, model = $3,
                     cost_micros = cost_micros + $4, tokens_in = tokens_in + $5, tokens_out = tokens_out + $6,
                     cached_tokens = cached_tokens + $7, cache_write_tokens = cache_write_tokens + $8,
                     reasoning_tokens = reasoning_tokens + $9, charges = charges + 1,
                     estimated = estimated + $10, last_sequence = $11
                 WHERE trace_id = $1 AND last_sequence < $11",
            )
            .bind(id)
            .bind(&c.provider)
            .bind(&c.model)
            .bind(c.cost_micros)
            .bind(tokens_i64(c.tokens_in))
            .bind(tokens_i64(c.tokens_out))
            .bind(tokens_i64(c.cached_tokens))
            .bind(tokens_i64(c.cache_write_tokens))
            .bind(tokens_i64(c.reasoning_tokens))
            .bind(flag(c.estimated))
            .bind(e.sequence)
            .execute(conn)
            .await?;
        }
        TraceEvent::RequestCompleted { provider, model, .. } => {
            sqlx::query(
                "UPDATE economics_requests SET status = 'completed', provider = COALESCE(provider, $2),
                     model = COALESCE(model, $3), last_sequence = $4
                 WHERE trace_id = $1 AND last_sequence < $4",
            )
            .bind(id)
            .bind(provider)
            .bind(model)
            .bind(e.sequence)
            .execute(conn)
            .await?;
        }
        TraceEvent::RequestFailed { code, .. } => {
            sqlx::query(
                "UPDATE economics_requests SET status = 'failed', error_code = $2, last_sequence = $3
                 WHERE trace_id = $1 AND last_sequence < $3",
            )
            .bind(id)
            .bind(code)
            .bind(e.sequence)
            .execute(conn)
            .await?;
        }
        // Routing, attempts and budget reservations cost nothing by themselves.
        _ => {}
    }
    Ok(())
}

#[async_trait]
impl Projector for Economics {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply(&self, conn: &mut AnyConnection, events: &[StoredEvent]) -> Result<(), DbError> {
        for e in events {
            if let Some((workspace, at_ms)) = e.workspace_deleted() {
                sqlx::query("DELETE FROM economics_requests WHERE workspace = $1 AND started_at_ms <= $2")
                    .bind(workspace)
                    .bind(at_ms)
                    .execute(&mut *conn)
                    .await?;
            } else if e.aggregate_type == "Trace" {
                apply_one(conn, e).await?;
            }
        }
        Ok(())
    }

    async fn truncate(&self, conn: &mut AnyConnection) -> Result<(), DbError> {
        sqlx::query("DELETE FROM economics_requests").execute(conn).await?;
        Ok(())
    }

    fn interest(&self) -> Interest {
        Interest {
            column: "event_type",
            values: &["RequestReceived", "CostCharged", "RequestCompleted", "RequestFailed", "WorkspaceDeleted"],
        }
    }
}

/// Which requests a figure covers: one workspace (or all) and `[from_ms, to_ms)` by start time.
#[derive(Debug, Clone, Default)]
pub struct SpendFilter {
    pub workspace: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only requests that were charged (they have a provider and a model).
    pub charged_only: bool,
}

/// A grouping dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Workspace,
    /// The UTC day of the request's start, as epoch milliseconds of its midnight.
    Day,
    Provider,
    Model,
    Intent,
    Strategy,
}

impl Dim {
    fn expr(self) -> &'static str {
        match self {
            Dim::Workspace => "workspace AS g_workspace",
            Dim::Day => "CAST((started_at_ms / 86400000) * 86400000 AS bigint) AS g_day",
            Dim::Provider => "provider AS g_provider",
            Dim::Model => "model AS g_model",
            Dim::Intent => "intent AS g_intent",
            Dim::Strategy => "strategy AS g_strategy",
        }
    }

    fn alias(self) -> &'static str {
        match self {
            Dim::Workspace => "g_workspace",
            Dim::Day => "g_day",
            Dim::Provider => "g_provider",
            Dim::Model => "g_model",
            Dim::Intent => "g_intent",
            Dim::Strategy => "g_strategy",
        }
    }
}

/// Token counts of a group of requests. `tokens_in` includes cached and cache-write tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cached: i64,
    pub cache_write: i64,
    pub reasoning: i64,
}

impl Tokens {
    /// Input tokens billed at the plain input rate.
    pub fn uncached_in(&self) -> i64 {
        (self.tokens_in - self.cached - self.cache_write).max(0)
    }
}

/// A price table row in micro-dollars per million tokens, to price requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub input: i64,
    pub output: i64,
    pub cached: i64,
    pub cache_write: i64,
}

/// The figures of one group. Only the grouped dimensions are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendRow {
    pub workspace: Option<String>,
    pub day_ms: Option<i64>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub intent: Option<String>,
    pub strategy: Option<String>,
    pub requests: i64,
    pub completed: i64,
    pub failed: i64,
    /// Requests with at least one charge.
    pub charged: i64,
    /// Requests whose usage was counted locally (the upstream reported none).
    pub estimated: i64,
    pub cost_micros: i64,
    pub tokens: Tokens,
    /// Whether any request of the group needed tools, images or JSON mode.
    pub needs_tools: bool,
    pub needs_vision: bool,
    pub needs_json: bool,
    /// With [`Db::spend_priced`]: every request's tokens at the given rates, each request rounded
    /// half up to the micro-dollar as a charge is.
    pub priced_micros: Option<i64>,
}

fn text(r: &sqlx::any::AnyRow, dims: &[Dim], d: Dim) -> Result<Option<String>, DbError> {
    if dims.contains(&d) {
        Ok(r.try_get::<Option<String>, _>(d.alias())?)
    } else {
        Ok(None)
    }
}

impl Db {
    /// Requests, spend and tokens of the finished requests matching `f`, grouped by `dims` (no
    /// dims: one row of totals). Ordered by the dims.
    pub async fn spend_by(&self, f: &SpendFilter, dims: &[Dim]) -> Result<Vec<SpendRow>, DbError> {
        self.spend_query(f, dims, None).await
    }

    /// [`Db::spend_by`], plus what the same requests would have cost at `rates`.
    pub async fn spend_priced(&self, f: &SpendFilter, dims: &[Dim], rates: Rates) -> Result<Vec<SpendRow>, DbError> {
        self.spend_query(f, dims, Some(rates)).await
    }

    async fn spend_query(&self, f: &SpendFilter, dims: &[Dim], rates: Option<Rates>) -> Result<Vec<SpendRow>, DbError> {
        let b = self.backend();
        let mut select: Vec<String> = dims.iter().map(|d| d.expr().to_string()).collect();
        // Rates are bound first ($1..$4), then the filter.
        let mut args: Vec<i64> = Vec::new();
        if let Some(r) = rates {
            args.extend([r.input, r.output, r.cached, r.cache_write]);
            // Per request, as a charge is computed: exact integer products, rounded half up once.
            // Token counts and prices are bounded (layerr_domain::money), so a row's product fits.
            let priced = sat_sum(
                b,
                "((CASE WHEN tokens_in > cached_tokens + cache_write_tokens
                        THEN tokens_in - cached_tokens - cache_write_tokens ELSE 0 END) * $1
                  + tokens_out * $2 + cached_tokens * $3 + cache_write_tokens * $4 + 500000) / 1000000",
            );
            select.push(format!("{priced} AS priced_micros"));
        }
        select.push("COUNT(*) AS requests".into());
        for (expr, name) in [
            ("CASE WHEN status = 'completed' THEN 1 ELSE 0 END", "completed"),
            ("CASE WHEN status = 'failed' THEN 1 ELSE 0 END", "failed"),
            ("CASE WHEN charges > 0 THEN 1 ELSE 0 END", "charged"),
            ("CASE WHEN estimated > 0 THEN 1 ELSE 0 END", "estimated"),
            ("cost_micros", "cost_micros"),
            ("tokens_in", "tokens_in"),
            ("tokens_out", "tokens_out"),
            ("cached_tokens", "cached_tokens"),
            ("cache_write_tokens", "cache_write_tokens"),
            ("reasoning_tokens", "reasoning_tokens"),
        ] {
            select.push(format!("{} AS {name}", sat_sum(b, expr)));
        }
        select.push(
            "CAST(COALESCE(MAX(needs_tools), 0) AS bigint) AS any_tools,
             CAST(COALESCE(MAX(needs_vision), 0) AS bigint) AS any_vision,
             CAST(COALESCE(MAX(needs_json), 0) AS bigint) AS any_json"
                .into(),
        );
        let n = args.len();
        let mut sql = format!(
            "SELECT {} FROM economics_requests WHERE status <> 'open' AND started_at_ms >= ${} AND started_at_ms < ${}",
            select.join(", "),
            n + 1,
            n + 2
        );
        if f.charged_only {
            sql.push_str(" AND charges > 0");
        }
        if f.workspace.is_some() {
            sql.push_str(&format!(" AND workspace = ${}", n + 3));
        }
        if !dims.is_empty() {
            let aliases: Vec<&str> = dims.iter().map(|d| d.alias()).collect();
            sql.push_str(&format!(" GROUP BY {} ORDER BY {}", aliases.join(", "), aliases.join(", ")));
        }
        let mut q = sqlx::query(&sql);
        for a in args {
            q = q.bind(a);
        }
        q = q.bind(f.from_ms).bind(f.to_ms);
        if let Some(w) = &f.workspace {
            q = q.bind(w.clone());
        }
        let rows = q.fetch_all(&self.any).await?;
        rows.iter()
            .map(|r| {
                Ok(SpendRow {
                    workspace: text(r, dims, Dim::Workspace)?,
                    day_ms: if dims.contains(&Dim::Day) { Some(r.try_get("g_day")?) } else { None },
                    provider: text(r, dims, Dim::Provider)?,
                    model: text(r, dims, Dim::Model)?,
                    intent: text(r, dims, Dim::Intent)?,
                    strategy: text(r, dims, Dim::Strategy)?,
                    requests: r.try_get("requests")?,
                    completed: r.try_get("completed")?,
                    failed: r.try_get("failed")?,
                    charged: r.try_get("charged")?,
                    estimated: r.try_get("estimated")?,
                    cost_micros: r.try_get("cost_micros")?,
                    tokens: Tokens {
                        tokens_in: r.try_get("tokens_in")?,
                        tokens_out: r.try_get("tokens_out")?,
                        cached: r.try_get("cached_tokens")?,
                        cache_write: r.try_get("cache_write_tokens")?,
                        reasoning: r.try_get("reasoning_tokens")?,
                    },
                    needs_tools: r.try_get::<i64, _>("any_tools")? != 0,
                    needs_vision: r.try_get::<i64, _>("any_vision")? != 0,
                    needs_json: r.try_get::<i64, _>("any_json")? != 0,
                    priced_micros: if rates.is_some() { Some(r.try_get("priced_micros")?) } else { None },
                })
            })
            .collect()
    }

    /// Micro-dollars spent by finished requests of `workspace` started in `[from_ms, to_ms)`.
    pub async fn spend_micros(&self, workspace: &str, from_ms: i64, to_ms: i64) -> Result<i64, DbError> {
        let f = SpendFilter { workspace: Some(workspace.to_string()), from_ms, to_ms, charged_only: false };
        Ok(self.spend_by(&f, &[]).await?.first().map_or(0, |r| r.cost_micros))
    }

    /// Every row of the economics read model, for comparing a rebuilt model with a live one.
    pub async fn all_economics_rows(&self) -> Result<Vec<serde_json::Value>, DbError> {
        let rows = sqlx::query(
            "SELECT trace_id, workspace, started_at_ms, intent, strategy, status, provider, model, cost_micros,
                    tokens_in, tokens_out, cached_tokens, cache_write_tokens, reasoning_tokens, charges, estimated,
                    needs_tools, needs_vision, needs_json, error_code
             FROM economics_requests ORDER BY trace_id",
        )
        .fetch_all(&self.any)
        .await?;
        rows.iter()
            .map(|r| {
                let mut v = serde_json::Map::new();
                for c in ["trace_id", "workspace", "intent", "strategy", "status"] {
                    v.insert(c.into(), serde_json::json!(r.try_get::<String, _>(c)?));
                }
                for c in ["provider", "model", "error_code"] {
                    v.insert(c.into(), serde_json::json!(r.try_get::<Option<String>, _>(c)?));
                }
                for c in [
                    "started_at_ms",
                    "cost_micros",
                    "tokens_in",
                    "tokens_out",
                    "cached_tokens",
                    "cache_write_tokens",
                    "reasoning_tokens",
                    "charges",
                    "estimated",
                    "needs_tools",
                    "needs_vision",
                    "needs_json",
                ] {
                    v.insert(c.into(), serde_json::json!(r.try_get::<i64, _>(c)?));
                }
                Ok(serde_json::Value::Object(v))
            })
            .collect()
    }

    /// How many finished traces of `workspace` started in `[from_ms, to_ms)`.
    pub async fn count_finished_traces(&self, workspace: &str, from_ms: i64, to_ms: i64) -> Result<i64, DbError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM traces
             WHERE workspace = $1 AND started_at_ms >= $2 AND started_at_ms < $3 AND status <> 'running'",
        )
        .bind(workspace)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_one(&self.any)
        .await?;
        Ok(n)
    }

    /// Up to `limit` finished traces of `workspace` started in `[from_ms, to_ms)`, in time order
    /// after the key `(started_at_ms, position)` of the previous page's last one.
    pub async fn finished_traces_page(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<(i64, i64, TraceView)>, DbError> {
        let (at, pos) = after.unwrap_or((from_ms, i64::MIN));
        let rows = sqlx::query(
            "SELECT started_at_ms, position, view_json FROM traces
             WHERE workspace = $1 AND started_at_ms >= $2 AND started_at_ms < $3 AND status <> 'running'
               AND (started_at_ms > $4 OR (started_at_ms = $4 AND position > $5))
             ORDER BY started_at_ms, position LIMIT $6",
        )
        .bind(workspace)
        .bind(from_ms)
        .bind(to_ms)
        .bind(at)
        .bind(pos)
        .bind(limit)
        .fetch_all(&self.any)
        .await?;
        rows.iter()
            .map(|r| {
                let json: String = r.try_get("view_json")?;
                let view: TraceView = serde_json::from_str(&json).map_err(|e| DbError::Data(e.to_string()))?;
                Ok((r.try_get("started_at_ms")?, r.try_get("position")?, view))
            })
            .collect()
    }
}
