//! Authentication (bearer key -> principal, from memory), per-workspace rate limits for
//! workspace keys, and the rules for which workspace a principal may act on.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::AppState;
use crate::ratelimit::Decision;
use crate::state::{Principal, WorkspaceView};
use layerr_domain::workspace::DEFAULT_WORKSPACE;

/// The rate-limit headers. `limit` and `remaining` count the same thing, the burst allowance (what
/// may be sent at once), and `reset` is when it is whole again, so a client can compute its wait
/// from the pair; the sustained rate is `x-ratelimit-limit-per-minute`.
pub fn rate_limit_headers(headers: &mut HeaderMap, d: &Decision) {
    let reset = d.reset.as_secs_f64().ceil() as u64;
    for (name, value) in [
        ("x-ratelimit-limit", d.burst.to_string()),
        ("x-ratelimit-remaining", d.remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-limit-per-minute", d.limit.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// The caller's key: `Authorization: Bearer <key>` (the OpenAI SDKs'), or `x-api-key: <key>`
/// (the Anthropic SDK's), on every route with the same semantics. With both, `Authorization`
/// decides.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        let key = headers.get("x-api-key").ok_or_else(|| {
            ApiError::Unauthorized("missing Authorization: Bearer <key> (or x-api-key: <key>) header".into())
        })?;
        let key = key.to_str().map_err(|_| ApiError::Unauthorized("malformed x-api-key header".into()))?.trim();
        if key.is_empty() {
            return Err(ApiError::Unauthorized("x-api-key is empty".into()));
        }
        return Ok(key);
    };
    let value = value.to_str().map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let (scheme, token) =
        value.split_once(' ').ok_or_else(|| ApiError::Unauthorized("malformed Authorization header".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized("Authorization must be 'Bearer <key>'".into()));
    }
    Ok(token.trim())
}

/// Resolves the caller and applies its workspace's rate limit.
pub async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let token = bearer(req.headers())?;
    let principal =
        app.hot.authenticate(token).ok_or_else(|| ApiError::Unauthorized("invalid or revoked API key".into()))?;
    let decision = match &principal {
        // Admin keys are the operator's: not throttled, so a flooded workspace can still be fixed.
        Principal::Admin { .. } => None,
        Principal::Workspace { slug, .. } => {
            let limits = app
                .hot
                .workspace_limits(slug)
                .ok_or_else(|| ApiError::Unauthorized("invalid or revoked API key".into()))?;
            let d = app.limiter.check(slug, limits.effective());
            if !d.allowed {
                return Err(ApiError::RateLimited(d));
            }
            Some(d)
        }
    };
    req.extensions_mut().insert(principal);
    let mut resp = next.run(req).await;
    if let Some(d) = decision {
        rate_limit_headers(resp.headers_mut(), &d);
    }
    Ok(resp)
}

/// The caller of an admin-only route: an admin key, checked before the route's path, query and
/// body are read (extractors run in order, the body last), so a workspace key is refused with 403
/// whatever it sends instead of learning the route's input rules from its 400s.
pub struct AdminOnly(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for AdminOnly {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let p = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("invalid or revoked API key".into()))?;
        require_admin(&p)?;
        Ok(AdminOnly(p))
    }
}

pub fn require_admin(p: &Principal) -> Result<(), ApiError> {
    if p.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("this action needs an admin key".into()))
    }
}

/// The workspace named in a path, if the caller may see it. Another workspace's slug answers
/// 404 to a workspace key whether or not it exists, so keys learn nothing about their neighbours.
pub fn workspace_for(app: &AppState, p: &Principal, slug: &str) -> Result<WorkspaceView, ApiError> {
    if let Principal::Workspace { slug: own, .. } = p {
        if own != slug {
            return Err(ApiError::WorkspaceNotFound(slug.to_string()));
        }
    }
    app.hot.workspace(slug).ok_or_else(|| ApiError::WorkspaceNotFound(slug.to_string()))
}

/// The workspace a request acts on when it is not in the path: a workspace key's own, or for an
/// admin key the one named by `layerr.workspace` / `?workspace=`, else `default`.
pub fn resolve_workspace(app: &AppState, p: &Principal, requested: Option<&str>) -> Result<WorkspaceView, ApiError> {
    let slug = match (p, requested) {
        (Principal::Workspace { slug, .. }, _) => {
            if requested.is_some_and(|r| r != slug) {
                return Err(ApiError::WorkspaceNotFound(requested.unwrap_or_default().to_string()));
            }
            slug.as_str()
        }
        (Principal::Admin { .. }, Some(r)) => r,
        (Principal::Admin { .. }, None) => DEFAULT_WORKSPACE,
    };
    app.hot.workspace(slug).ok_or_else(|| ApiError::WorkspaceNotFound(slug.to_string()))
}

/// The workspace a key is confined to (`None` for admin keys).
pub fn key_scope(p: &Principal) -> Option<&str> {
    match p {
        Principal::Admin { .. } => None,
        Principal::Workspace { slug, .. } => Some(slug),
    }
}

/// The scope of a resource being created (a provider, a strategy): a workspace key's own
/// workspace; for an admin key the named workspace (which must exist) or global.
pub fn scope_for_new(app: &AppState, p: &Principal, requested: Option<String>) -> Result<Option<String>, ApiError> {
    match (p, requested) {
        (Principal::Workspace { slug, .. }, Some(w)) if &w != slug => Err(ApiError::WorkspaceNotFound(w)),
        (Principal::Workspace { slug, .. }, _) => Ok(Some(slug.clone())),
        (Principal::Admin { .. }, Some(w)) => {
            app.hot.workspace(&w).ok_or_else(|| ApiError::WorkspaceNotFound(w.clone()))?;
            Ok(Some(w))
        }
        (Principal::Admin { .. }, None) => Ok(None),
    }
}

/// Which workspace a read covers: a workspace key's own (naming another is a 404), an admin's
/// choice, or every workspace for an admin who names none.
pub fn read_scope(p: &Principal, requested: Option<&str>) -> Result<Option<String>, ApiError> {
    match key_scope(p) {
        Some(own) if requested.is_some_and(|r| r != own) => {
            Err(ApiError::WorkspaceNotFound(requested.unwrap_or_default().to_string()))
        }
        Some(own) => Ok(Some(own.to_string())),
        None => {
            if requested.is_some_and(|r| r.trim().is_empty()) {
                return Err(ApiError::field("workspace", "workspace must not be empty"));
            }
            Ok(requested.map(str::to_string))
        }
    }
}
