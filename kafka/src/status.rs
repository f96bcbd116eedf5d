//! What the relay reports about itself (for `/api/health/detailed` and logs): the cursor it last
//! checkpointed, how many messages the broker acknowledged, whether the broker is reachable and
//! the last error. It holds no secret and computes no lag: lag is counted from the store's own
//! positions (broker watermarks are not trusted).

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use layerr_projections::Cursor;

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// Shared between the relay task and the HTTP handlers.
#[derive(Debug)]
pub struct RelayStatus {
    topic: String,
    tx_id: AtomicI64,
    position: AtomicI64,
    delivered: AtomicU64,
    link: AtomicU8,
    last_error: Mutex<Option<String>>,
}

/// A consistent-enough copy of the status for one health response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySnapshot {
    pub topic: String,
    pub checkpoint: Cursor,
    pub delivered: u64,
    pub connected: bool,
    pub last_error: Option<String>,
}

/// What a call to `mark_up`/`mark_down` changed, so the caller logs once per outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// First contact with the broker since start.
    Connected,
    /// The broker is reachable again after an outage.
    Recovered,
    /// The broker just became unreachable (first error of an outage).
    WentDown,
    /// Nothing changed.
    Same,
}

impl RelayStatus {
    pub fn new(topic: impl Into<String>) -> RelayStatus {
        RelayStatus {
            topic: topic.into(),
            tx_id: AtomicI64::new(0),
            position: AtomicI64::new(0),
            delivered: AtomicU64::new(0),
            link: AtomicU8::new(UNKNOWN),
            last_error: Mutex::new(None),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The cursor up to which every event is confirmed delivered.
    pub fn checkpoint(&self) -> Cursor {
        Cursor { tx_id: self.tx_id.load(Ordering::Acquire), position: self.position.load(Ordering::Acquire) }
    }

    pub fn set_checkpoint(&self, c: Cursor) {
        self.tx_id.store(c.tx_id, Ordering::Release);
        self.position.store(c.position, Ordering::Release);
    }

    /// Messages the broker acknowledged since start (redeliveries included).
    pub fn add_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }

    pub fn is_connected(&self) -> bool {
        self.link.load(Ordering::Acquire) == UP
    }

    /// The broker answered. Clears the last error.
    pub fn mark_up(&self) -> Transition {
        let before = self.link.swap(UP, Ordering::AcqRel);
        if before != UP {
            *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        match before {
            UNKNOWN => Transition::Connected,
            DOWN => Transition::Recovered,
            _ => Transition::Same,
        }
    }

    /// The broker could not be reached or refused a delivery.
    pub fn mark_down(&self, error: impl Into<String>) -> Transition {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.into());
        match self.link.swap(DOWN, Ordering::AcqRel) {
            DOWN => Transition::Same,
            _ => Transition::WentDown,
        }
    }

    pub fn snapshot(&self) -> RelaySnapshot {
        RelaySnapshot {
            topic: self.topic.clone(),
            checkpoint: self.checkpoint(),
            delivered: self.delivered.load(Ordering::Relaxed),
            connected: self.is_connected(),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_and_its_recovery_once() {
        let s = RelayStatus::new("t");
        assert!(!s.is_connected());
        assert_eq!(s.mark_up(), Transition::Connected);
        assert_eq!(s.mark_up(), Transition::Same);
        assert_eq!(s.mark_down("all brokers down"), Transition::WentDown);
        assert_eq!(s.mark_down("timed out"), Transition::Same);
        let snap = s.snapshot();
        assert!(!snap.connected);
        assert_eq!(snap.last_error.as_deref(), Some("timed out"));
        assert_eq!(s.mark_up(), Transition::Recovered);
        assert_eq!(s.snapshot().last_error, None);
    }

    #[test]
    fn checkpoint_and_delivered_are_reported() {
        let s = RelayStatus::new("layerr.events");
        s.set_checkpoint(Cursor { tx_id: 7, position: 99 });
        s.add_delivered(3);
        s.add_delivered(2);
        let snap = s.snapshot();
        assert_eq!(snap.checkpoint, Cursor { tx_id: 7, position: 99 });
        assert_eq!(snap.delivered, 5);
        assert_eq!(snap.topic, "layerr.events");
    }
}
