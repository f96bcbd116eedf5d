//! Read model `provider_outcomes`: every recorded attempt folded into counts and latency sums per
//! provider, model and UTC day. It answers "how fast and how reliable has this provider really
//! been", the input a strategy's calibration recomputes from recorded traffic. Attempts whose
//! failure is not a health failure ([`ErrorKind::is_health_failure`]: a rate limit, a bad request,
//! a client's cancellation) are not counted.
//!
//! [`ErrorKind::is_health_failure`]: layerr_domain::trace::ErrorKind::is_health_failure

use async_trait::async_trait;
use layerr_domain::trace::TraceEvent;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::db::{Db, DbError};
use crate::feed::Interest;
use crate::feed::StoredEvent;
use crate::runner::Projector;

pub const NAME: &str = "provider_outcomes";

pub struct ProviderOutcomes;

#[async_trait]
impl Projector for ProviderOutcomes {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply(&self, conn: &mut AnyConnection, events: &[StoredEvent]) -> Result<(), DbError> {
        for e in events.iter().filter(|e| e.aggregate_type == "Trace") {
            let (a, success) = match e.decode::<TraceEvent>()? {
                TraceEvent::AttemptSucceeded { attempt, .. } => (attempt, 1i64),
                TraceEvent::AttemptFailed { attempt, .. } => (attempt, 0),
                _ => continue,
            };
            // Only what says something about the provider counts: a client that went away, a
            // request the client got wrong and a rate limit (busy, not unhealthy) do not.
            if a.error_kind.is_some_and(|k| !k.is_health_failure()) {
                continue;
            }
            let latency = i64::try_from(a.latency_ms).unwrap_or(i64::MAX);
            let ttft = a.ttft_ms.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
            sqlx::query(
                "INSERT INTO provider_outcomes (provider, model, day, attempts, successes, latency_sum_ms, ttft_sum_ms, ttft_count)
                 VALUES ($1, $2, $3, 1, $4, $5, $6, $7)
                 ON CONFLICT (provider, model, day) DO UPDATE SET
                    attempts = provider_outcomes.attempts + 1,
                    successes = provider_outcomes.successes + excluded.successes,
                    latency_sum_ms = provider_outcomes.latency_sum_ms + excluded.latency_sum_ms,
                    ttft_sum_ms = provider_outcomes.ttft_sum_ms + excluded.ttft_sum_ms,
                    ttft_count = provider_outcomes.ttft_count + excluded.ttft_count",
            )
            .bind(&a.provider)
            .bind(&a.model)
            .bind(e.recorded_at.format("%Y-%m-%d").to_string())
            .bind(success)
            .bind(latency)
            .bind(ttft.unwrap_or(0))
            .bind(i64::from(ttft.is_some()))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn truncate(&self, conn: &mut AnyConnection) -> Result<(), DbError> {
        sqlx::query("DELETE FROM provider_outcomes").execute(conn).await?;
        Ok(())
    }

    fn interest(&self) -> Interest {
        Interest { column: "event_type", values: &["AttemptSucceeded", "AttemptFailed"] }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub provider: String,
    pub model: String,
    pub attempts: i64,
    pub successes: i64,
    pub reliability: f64,
    pub mean_latency_ms: Option<f64>,
    pub mean_ttft_ms: Option<f64>,
}

/// Totals per provider and model over the days from `since_day` (YYYY-MM-DD) on.
pub async fn since(db: &Db, since_day: &str) -> Result<Vec<Outcome>, DbError> {
    let sum = |c: &str| crate::sql::sat_sum(db.backend(), c);
    let sql = format!(
        "SELECT provider, model, {} AS attempts, {} AS successes, {} AS latency, {} AS ttft, {} AS ttft_n
           FROM provider_outcomes WHERE day >= $1
          GROUP BY provider, model ORDER BY provider, model",
        sum("attempts"),
        sum("successes"),
        sum("latency_sum_ms"),
        sum("ttft_sum_ms"),
        sum("ttft_count")
    );
    let rows = sqlx::query(&sql).bind(since_day).fetch_all(&db.any).await?;
    rows.iter()
        .map(|r| {
            let attempts: i64 = r.try_get("attempts")?;
            let successes: i64 = r.try_get("successes")?;
            let latency: i64 = r.try_get("latency")?;
            let ttft: i64 = r.try_get("ttft")?;
            let ttft_n: i64 = r.try_get("ttft_n")?;
            Ok(Outcome {
                provider: r.try_get("provider")?,
                model: r.try_get("model")?,
                attempts,
                successes,
                reliability: if attempts > 0 { successes as f64 / attempts as f64 } else { 0.0 },
                mean_latency_ms: (attempts > 0).then(|| latency as f64 / attempts as f64),
                mean_ttft_ms: (ttft_n > 0).then(|| ttft as f64 / ttft_n as f64),
            })
        })
        .collect()
}
