//! The one attempt executor: walks a request's chain of targets for every kind of upstream call
//! (chat, the first event of a stream, embeddings), with retries and backoff per target, the
//! circuit breakers, per-attempt timeouts inside the request's deadline, `Retry-After` (a target
//! that answered 429 is skipped until it has passed), and one exhaustive disposition per kind
//! of failure.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::providers::{ErrorKind, ProviderError, Upstream};
use crate::routing::Target;
use crate::secrets::SecretBox;

use super::error::ChatError;
use super::{facts, Run};

/// What the executor does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// Try the same target again (after a backoff), while its tries and its share of time last.
    RetrySame,
    /// Move on to the next target of the chain.
    NextTarget,
    /// End the request: the failure is the client's (or the client has gone).
    Stop,
}

/// The disposition of each kind of failure, in one place.
pub(crate) fn disposition(kind: ErrorKind) -> Then {
    match kind {
        ErrorKind::Server | ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Decode => Then::RetrySame,
        // A busy provider is asked again only after its Retry-After; bad credentials or an
        // unknown model will not get better on a retry; a stream cut before its first event
        // is a broken connection another target may not have.
        ErrorKind::RateLimited | ErrorKind::Auth | ErrorKind::NotFound | ErrorKind::StreamCut => Then::NextTarget,
        ErrorKind::BadRequest | ErrorKind::Cancelled => Then::Stop,
    }
}

/// How long one attempt may take.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// The whole call, answer included, within the target's share of the deadline.
    Whole,
    /// Only until the call returns (a stream's first event), at most `first_event`; what follows
    /// (the rest of the stream) may run to the request's deadline.
    FirstEvent { first_event: Duration },
}

/// Lets a call's future borrow what its closure borrows (`'c`, the request) for as long as the
/// attempt (`'a`): the argument's type implies `'c: 'a`.
pub(crate) type Borrows<'a, 'c> = PhantomData<&'a &'c ()>;

/// A successful attempt: its target, what the call returned and when the attempt started.
pub(crate) struct Won<T> {
    pub target: Target,
    pub value: T,
    pub t0: Instant,
}

impl Run {
    /// Walks the chain until `call` succeeds on a target. Every failed attempt is recorded on the
    /// trace (a success is recorded by the caller, which knows when the answer really ended).
    pub(crate) async fn execute<'c, T>(
        &mut self,
        limit: Limit,
        mut call: impl for<'a> FnMut(
            &'a Upstream<'a>,
            &'a Target,
            Borrows<'a, 'c>,
        ) -> BoxFuture<'a, Result<T, ProviderError>>,
    ) -> Result<Won<T>, ChatError> {
        let chain = self.chain.clone();
        for (index, t) in chain.iter().enumerate() {
            // A target that answered 429 is not asked again before its Retry-After.
            if let Some(left) = self.app.health.cooling(&t.provider.id, &t.model) {
                self.cooling.push((t.provider.id.clone(), left));
                continue;
            }
            let share = self.provider_deadline(index);
            for retry in 0..self.max_attempts {
                if self.remaining().is_zero() {
                    return Err(self.exhausted());
                }
                let budget = self.attempt_timeout(share);
                let wait = match limit {
                    Limit::Whole => budget,
                    Limit::FirstEvent { first_event } => first_event.min(budget),
                };
                if wait.is_zero() || !self.app.health.admit(&t.provider.id) {
                    break;
                }
                let key = facts::api_key(&self.app.secrets, &t.provider);
                let upstream_timeout = match limit {
                    Limit::Whole => wait,
                    Limit::FirstEvent { .. } => self.remaining(),
                };
                let Some(up) =
                    facts::upstream(&self.app.http, &t.provider, key.as_ref().map(SecretBox::expose), upstream_timeout)
                else {
                    break;
                };
                let up = up.with_reasoning(facts::reasons(&t.provider, &t.model));
                let t0 = Instant::now();
                let result = match tokio::time::timeout(wait, call(&up, t, PhantomData)).await {
                    Ok(r) => r,
                    Err(_) => Err(ProviderError::new(
                        ErrorKind::Timeout,
                        match limit {
                            Limit::Whole => format!("no answer within the attempt's {} ms", wait.as_millis()),
                            Limit::FirstEvent { .. } => format!("no first token within {} ms", wait.as_millis()),
                        },
                    )),
                };
                let mut e = match result {
                    Ok(value) => return Ok(Won { target: t.clone(), value, t0 }),
                    Err(e) => e,
                };
                // Before the first event a broken stream is a failed connection.
                if e.kind == ErrorKind::StreamCut && matches!(limit, Limit::FirstEvent { .. }) {
                    e.kind = ErrorKind::Connect;
                }
                self.record_attempt(t, t0.elapsed(), None, Some(&e));
                match disposition(e.kind) {
                    Then::Stop => return Err(self.exhausted()),
                    Then::NextTarget => break,
                    Then::RetrySame if retry + 1 < self.max_attempts => {
                        let pause = self.backoff(retry).min(self.attempt_timeout(share));
                        tokio::time::sleep(pause).await;
                    }
                    Then::RetrySame => break,
                }
            }
        }
        Err(self.exhausted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_moves_on_without_hurting_health() {
        assert_eq!(disposition(ErrorKind::RateLimited), Then::NextTarget);
        assert!(!ErrorKind::RateLimited.is_health_failure());
        assert_eq!(disposition(ErrorKind::BadRequest), Then::Stop);
        assert!(ErrorKind::Server.is_health_failure());
        assert_eq!(disposition(ErrorKind::Server), Then::RetrySame);
    }
}
