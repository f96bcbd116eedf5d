//! Live provider health, from real traffic and probes: latency and time-to-first-token EWMAs, a
//! window of recent latencies for p50/p99, the recent error rate, and a circuit breaker per
//! provider (open after consecutive failures, half-open after a cool-down lets one request probe).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

const WINDOW: usize = 256;
const EWMA_ALPHA: f64 = 0.2;
const OPEN_AFTER_FAILURES: u32 = 5;
const COOL_DOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Breaker {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
struct Stats {
    latencies: VecDeque<u32>,
    outcomes: VecDeque<bool>,
    ewma_latency_ms: Option<f64>,
    ewma_ttft_ms: Option<f64>,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    probing: bool,
    total: u64,
    failures: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latencies: VecDeque::with_capacity(WINDOW),
            outcomes: VecDeque::with_capacity(WINDOW),
            ewma_latency_ms: None,
            ewma_ttft_ms: None,
            consecutive_failures: 0,
            opened_at: None,
            probing: false,
            total: 0,
            failures: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    pub status: &'static str,
    pub latency_p50: Option<u32>,
    pub latency_p99: Option<u32>,
    pub error_rate: f64,
    pub ewma_latency_ms: Option<f64>,
    pub ewma_ttft_ms: Option<f64>,
    pub samples: usize,
    pub requests: u64,
    pub failures: u64,
    pub circuit: Breaker,
}

/// The longest `Retry-After` a target is set aside for (a provider asking for more is asked
/// again after this).
const MAX_COOL_DOWN: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct HealthBook {
    stats: Mutex<HashMap<String, Stats>>,
    /// Targets (provider, model) that answered 429 with a `Retry-After`, until it ends. Not a
    /// health failure: the breaker is untouched, the target is only not asked again too soon.
    busy: Mutex<HashMap<(String, String), Instant>>,
}

fn push<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() == WINDOW {
        q.pop_front();
    }
    q.push_back(v);
}

fn ewma(prev: Option<f64>, x: f64) -> Option<f64> {
    Some(match prev {
        None => x,
        Some(p) => p + EWMA_ALPHA * (x - p),
    })
}

impl HealthBook {
    pub fn record_success(&self, provider: &str, latency: Duration, ttft: Option<Duration>) {
        let mut all = self.stats.lock();
        let s = all.entry(provider.to_string()).or_default();
        let ms = latency.as_millis().min(u32::MAX as u128) as u32;
        push(&mut s.latencies, ms);
        push(&mut s.outcomes, true);
        s.ewma_latency_ms = ewma(s.ewma_latency_ms, ms as f64);
        if let Some(t) = ttft {
            s.ewma_ttft_ms = ewma(s.ewma_ttft_ms, t.as_secs_f64() * 1000.0);
        }
        s.consecutive_failures = 0;
        s.opened_at = None;
        s.probing = false;
        s.total += 1;
    }

    pub fn record_failure(&self, provider: &str) {
        self.record_failure_at(provider, Instant::now());
    }

    fn record_failure_at(&self, provider: &str, now: Instant) {
        let mut all = self.stats.lock();
        let s = all.entry(provider.to_string()).or_default();
        push(&mut s.outcomes, false);
        s.consecutive_failures += 1;
        s.total += 1;
        s.failures += 1;
        if s.probing || s.consecutive_failures >= OPEN_AFTER_FAILURES {
            s.opened_at = Some(now);
            s.probing = false;
        }
    }

    /// A target answered 429: it is not asked again until its `Retry-After` (at most
    /// [`MAX_COOL_DOWN`]) has passed. Without a `Retry-After` nothing is set aside.
    pub fn record_rate_limit(&self, provider: &str, model: &str, retry_after: Option<Duration>) {
        let Some(wait) = retry_after.filter(|d| !d.is_zero()) else { return };
        let until = Instant::now() + wait.min(MAX_COOL_DOWN);
        let mut busy = self.busy.lock();
        busy.retain(|_, t| *t > Instant::now());
        busy.insert((provider.to_string(), model.to_string()), until);
    }

    /// How long a target that answered 429 is still set aside, if it is.
    pub fn cooling(&self, provider: &str, model: &str) -> Option<Duration> {
        let busy = self.busy.lock();
        if busy.is_empty() {
            return None;
        }
        let until = busy.get(&(provider.to_string(), model.to_string()))?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    pub fn breaker(&self, provider: &str) -> Breaker {
        self.breaker_at(provider, Instant::now())
    }

    fn breaker_at(&self, provider: &str, now: Instant) -> Breaker {
        let all = self.stats.lock();
        match all.get(provider).and_then(|s| s.opened_at) {
            None => Breaker::Closed,
            Some(t) if now.duration_since(t) >= COOL_DOWN => Breaker::HalfOpen,
            Some(_) => Breaker::Open,
        }
    }

    /// May a request go to this provider now? A half-open breaker admits one probe at a time.
    pub fn admit(&self, provider: &str) -> bool {
        self.admit_at(provider, Instant::now())
    }

    fn admit_at(&self, provider: &str, now: Instant) -> bool {
        let mut all = self.stats.lock();
        let Some(s) = all.get_mut(provider) else { return true };
        match s.opened_at {
            None => true,
            Some(t) if now.duration_since(t) >= COOL_DOWN && !s.probing => {
                s.probing = true;
                true
            }
            Some(_) => false,
        }
    }

    /// Whether a request could go now, without claiming the half-open probe.
    pub fn admit_peek(&self, provider: &str) -> bool {
        self.breaker(provider) != Breaker::Open
    }

    pub fn ewma_latency_ms(&self, provider: &str) -> Option<f64> {
        self.stats.lock().get(provider).and_then(|s| s.ewma_latency_ms)
    }

    pub fn ewma_ttft_ms(&self, provider: &str) -> Option<f64> {
        self.stats.lock().get(provider).and_then(|s| s.ewma_ttft_ms)
    }

    pub fn report(&self, provider: &str) -> HealthReport {
        let breaker = self.breaker(provider);
        let all = self.stats.lock();
        let Some(s) = all.get(provider) else {
            return HealthReport {
                status: "unknown",
                latency_p50: None,
                latency_p99: None,
                error_rate: 0.0,
                ewma_latency_ms: None,
                ewma_ttft_ms: None,
                samples: 0,
                requests: 0,
                failures: 0,
                circuit: breaker,
            };
        };
        let mut sorted: Vec<u32> = s.latencies.iter().copied().collect();
        sorted.sort_unstable();
        let pct = |p: f64| -> Option<u32> {
            (!sorted.is_empty()).then(|| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize])
        };
        let failures = s.outcomes.iter().filter(|ok| !**ok).count();
        let error_rate = if s.outcomes.is_empty() { 0.0 } else { failures as f64 / s.outcomes.len() as f64 };
        let status = match breaker {
            Breaker::Open => "unhealthy",
            Breaker::HalfOpen => "recovering",
            Breaker::Closed if error_rate > 0.2 => "degraded",
            Breaker::Closed => "healthy",
        };
        HealthReport {
            status,
            latency_p50: pct(0.5),
            latency_p99: pct(0.99),
            error_rate: (error_rate * 10_000.0).round() / 10_000.0,
            ewma_latency_ms: s.ewma_latency_ms.map(|v| (v * 10.0).round() / 10.0),
            ewma_ttft_ms: s.ewma_ttft_ms.map(|v| (v * 10.0).round() / 10.0),
            samples: s.latencies.len(),
            requests: s.total,
            failures: s.failures,
            circuit: breaker,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_error_rate_come_from_recorded_traffic() {
        let h = HealthBook::default();
        for ms in 1..=100u64 {
            h.record_success("p", Duration::from_millis(ms), None);
        }
        h.record_failure("p");
        let r = h.report("p");
        assert_eq!(r.latency_p50, Some(51));
        assert_eq!(r.latency_p99, Some(99));
        assert_eq!(r.samples, 100);
        assert!((r.error_rate - 1.0 / 101.0).abs() < 1e-3);
        assert_eq!(r.status, "healthy");
        assert_eq!(h.report("none").status, "unknown");
    }

    #[test]
    fn a_rate_limited_target_is_set_aside_for_its_retry_after_only() {
        let h = HealthBook::default();
        h.record_rate_limit("p1", "m", Some(Duration::from_secs(2)));
        h.record_rate_limit("p1", "other", None);
        let left = h.cooling("p1", "m").expect("cooling");
        assert!(left > Duration::from_millis(1900) && left <= Duration::from_secs(2), "{left:?}");
        assert_eq!(h.cooling("p1", "other"), None, "no Retry-After: nothing set aside");
        assert_eq!(h.cooling("p2", "m"), None);
        assert_eq!(h.breaker("p1"), Breaker::Closed, "a rate limit is not a health failure");
        h.record_rate_limit("p3", "m", Some(Duration::from_secs(3600)));
        assert!(h.cooling("p3", "m").expect("cooling") <= MAX_COOL_DOWN);
    }

    #[test]
    fn breaker_opens_cools_down_and_admits_one_probe() {
        let h = HealthBook::default();
        let t0 = Instant::now();
        for _ in 0..OPEN_AFTER_FAILURES {
            assert!(h.admit_at("p", t0));
            h.record_failure_at("p", t0);
        }
        assert_eq!(h.breaker_at("p", t0), Breaker::Open);
        assert!(!h.admit_at("p", t0 + Duration::from_secs(1)));
        let later = t0 + COOL_DOWN;
        assert_eq!(h.breaker_at("p", later), Breaker::HalfOpen);
        assert!(h.admit_at("p", later), "one probe");
        assert!(!h.admit_at("p", later), "only one");
        h.record_failure_at("p", later);
        assert_eq!(h.breaker_at("p", later), Breaker::Open, "a failed probe re-opens");
        let again = later + COOL_DOWN;
        assert!(h.admit_at("p", again));
        h.record_success("p", Duration::from_millis(5), Some(Duration::from_millis(2)));
        assert_eq!(h.breaker("p"), Breaker::Closed);
        assert!(h.admit("p"));
    }
}
