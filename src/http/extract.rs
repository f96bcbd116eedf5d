//! Extractors whose rejections are `ApiError`s: malformed JSON, wrong types, unknown fields and
//! bad query or path parameters all answer the error envelope with a 400 naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_json(&body_bytes(req, state).await?).map(ApiJson)
    }
}

/// How much of an oversized body is read and thrown away before the 413 goes out: a client still
/// writing when the answer arrives would otherwise see a reset connection instead of the error.
const DRAIN_BEYOND_LIMIT: usize = 1 << 20;

/// The whole body, within the configured limit (413 beyond it).
async fn body_bytes<S: Send + Sync>(req: Request, _state: &S) -> Result<Bytes, ApiError> {
    use futures::StreamExt;
    let limit = req.extensions().get::<BodyLimit>().map(|l| l.0).unwrap_or(0);
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(DRAIN_BEYOND_LIMIT)) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut stream = req.into_body().into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::validation(format!("could not read the request body: {e}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        } else if seen > limit.saturating_add(DRAIN_BEYOND_LIMIT) {
            break;
        }
    }
    if seen > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    Ok(buf.freeze())
}

/// The configured body limit, put in request extensions so the 413 can say it.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body of this API is a JSON object; serde would read an array as a struct's
    // fields in order, so refuse anything else up front.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(ApiError::validation("request body must be a JSON object")),
        Some(b'{') => {}
        Some(_) => return Err(ApiError::validation("request body must be a JSON object")),
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("malformed JSON: {inner}")
            }
            _ => inner.to_string(),
        };
        if path == "." || path == "?" || path.is_empty() {
            ApiError::validation(message)
        } else {
            ApiError::field(path, message)
        }
    })?;
    de.end().map_err(|e| ApiError::validation(format!("malformed JSON: unexpected data after the object: {e}")))?;
    Ok(value)
}

pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::validation(format!("invalid query string: {}", e.body_text())))
    }
}

pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::validation(format!("invalid path parameter: {}", e.body_text())))
    }
}

/// Like `ApiJson`, but an empty body means `T::default()` (for POSTs whose body is optional).
pub struct ApiJsonOrDefault<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for ApiJsonOrDefault<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiJsonOrDefault(T::default()));
        }
        parse_json(&bytes).map(ApiJsonOrDefault)
    }
}

/// An RFC 3339 query parameter as epoch milliseconds (400 naming the field otherwise).
pub fn parse_time(field: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|_| ApiError::field(field, format!("{field} must be an RFC 3339 time, e.g. 2026-01-15T10:30:00Z")))
    })
    .transpose()
}
