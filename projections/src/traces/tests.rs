//! The traces read model's queries: percentiles and analytics buckets.

use super::*;

#[test]
fn nearest_rank_percentiles() {
    let v: Vec<i64> = (1..=100).collect();
    assert_eq!(percentile(&v, 50.0), Some(50));
    assert_eq!(percentile(&v, 99.0), Some(99));
    assert_eq!(percentile(&v, 100.0), Some(100));
    assert_eq!(percentile(&[7], 99.0), Some(7));
    assert_eq!(percentile(&[], 50.0), None);
}

fn point(at: i64, provider: &str, status: &str, latency: i64, cost: i64, fallback: bool) -> TraceSummary {
    TraceSummary {
        trace_id: format!("t{at}"),
        position: at,
        workspace: "w".into(),
        started_at_ms: at,
        status: status.into(),
        intent: "chat".into(),
        strategy: "balanced".into(),
        provider: Some(provider.into()),
        model: Some("m".into()),
        latency_ms: Some(latency),
        cost_micros: cost,
        tokens_in: 10,
        tokens_out: 5,
        attempts: if fallback { 2 } else { 1 },
        fallback,
        error_code: None,
        replay_of: None,
    }
}

#[test]
fn buckets_split_by_time_and_group() {
    let pts = vec![
        point(1_000, "a", "completed", 100, 5, false),
        point(2_000, "a", "failed", 300, 0, true),
        point(61_000, "a", "completed", 200, 7, false),
        point(3_000, "b", "completed", 50, 1, false),
    ];
    let b = bucketize(&pts, 60_000, |p| p.provider.clone().unwrap_or_default());
    assert_eq!(b.len(), 3);
    let first = &b[0];
    assert_eq!((first.start_ms, first.group.as_str(), first.requests), (0, "a", 2));
    assert_eq!((first.errors, first.fallbacks, first.spend_micros), (1, 1, 5));
    assert_eq!(first.error_rate, 0.5);
    assert_eq!(first.latency_p50_ms, Some(100));
    assert_eq!(first.latency_p99_ms, Some(300));
    assert_eq!((b[1].start_ms, b[1].group.as_str()), (0, "b"));
    assert_eq!((b[2].start_ms, b[2].requests), (60_000, 1));
}
