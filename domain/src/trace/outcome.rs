//! How an attempt failed: the typed outcome recorded on `AttemptFailed` (and `AttemptSucceeded`,
//! where it is absent) since version 1.1. Version 1.0 wrote the same strings as free text. The
//! provider adapters classify every upstream failure into this vocabulary
//! (`layerr::providers` re-exports it), so there is one list of kinds from the adapter to Kafka.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Could not connect or the connection broke before a response.
    Connect,
    Timeout,
    /// The upstream answered 429: busy, not unhealthy.
    RateLimited,
    /// 5xx from the upstream.
    Server,
    /// 401/403: our credentials for this upstream are wrong.
    Auth,
    /// 404: the upstream does not serve this model or path.
    NotFound,
    /// 4xx caused by the client's request: passed back, never retried.
    BadRequest,
    /// The upstream answered something we could not parse.
    Decode,
    /// A stream ended early, after output had started.
    StreamCut,
    /// The client went away; says nothing about the provider.
    #[serde(rename = "client_cancelled")]
    Cancelled,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::RateLimited,
        ErrorKind::Server,
        ErrorKind::Auth,
        ErrorKind::NotFound,
        ErrorKind::BadRequest,
        ErrorKind::Decode,
        ErrorKind::StreamCut,
        ErrorKind::Cancelled,
    ];

    /// The recorded name (the JSON string of the event field).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Server => "server",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Decode => "decode",
            ErrorKind::StreamCut => "stream_cut",
            ErrorKind::Cancelled => "client_cancelled",
        }
    }

    /// Reads a recorded name back.
    pub fn parse(s: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a failure of this kind says the provider is unhealthy (counts against its circuit
    /// breaker and its measured reliability). A rate limit says it is busy, a bad request is the
    /// client's and a cancellation the client's going away: none of them is a health failure.
    pub fn is_health_failure(self) -> bool {
        match self {
            ErrorKind::Server
            | ErrorKind::Connect
            | ErrorKind::Timeout
            | ErrorKind::Decode
            | ErrorKind::StreamCut
            | ErrorKind::Auth
            | ErrorKind::NotFound => true,
            ErrorKind::RateLimited | ErrorKind::BadRequest | ErrorKind::Cancelled => false,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_string_is_the_recorded_name() {
        for k in ErrorKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.as_str()));
            assert_eq!(serde_json::from_value::<ErrorKind>(serde_json::json!(k.as_str())).unwrap(), k);
            assert_eq!(ErrorKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ErrorKind::Cancelled.as_str(), "client_cancelled");
        assert_eq!(ErrorKind::parse("cancelled"), None);
        assert!(!ErrorKind::RateLimited.is_health_failure() && ErrorKind::Server.is_health_failure());
    }
}
