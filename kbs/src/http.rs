//! HTTP routes: translate requests into [`Kbs`] calls and results into responses. No decisions
//! are made here beyond picking the credential a request carries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::Value;
use time::OffsetDateTime;
use warden_verifier_service::connections::{Budget, Refused};
use warden_wire::{ERROR_TYPE_PREFIX, ErrorBody, MAX_BODY_BYTES, SESSION_COOKIE};

use crate::error::KbsError;
use crate::service::{
    Credential, Kbs, LogQuery, LogRead, MAX_SIGNING_BODY_BYTES, MAX_TIMESTAMP_REQUEST_BYTES,
};

/// State shared by the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The KBS the routes call.
    pub kbs: Arc<Kbs>,
    /// How clients reach this KBS, e.g. `https://kbs.example.com`; `None` when it is not
    /// known (a wildcard listen address and no `public_url`).
    pub base_url: Option<String>,
    /// Whether the session cookie is marked `Secure` (when serving TLS).
    pub secure_cookie: bool,
    /// `Max-Age` of the session cookie, in seconds (the session timeout).
    pub session_max_age_secs: u64,
    /// Request-body bytes held at once, in all and per client (see [`body_budget`]).
    pub bodies: Budget,
}

/// What one body byte costs the budget: the bytes read, and the parsed copies a handler makes.
pub const BODY_COST_FACTOR: usize = 3;

/// Reserves a request's body from [`AppState::bodies`] before it is read and holds it until
/// the answer is made: concurrent large requests cannot add up beyond the budget. The declared
/// `Content-Length` is charged (bodies cannot exceed it); a body without one is charged the
/// limit. Beyond the client's share: 429; beyond the server's: 503; both at once, unread.
async fn body_budget(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    let bytes = match declared {
        Some(length) => length.min(MAX_BODY_BYTES),
        None if request.method() == axum::http::Method::GET => 0,
        None => MAX_BODY_BYTES,
    };
    if bytes == 0 {
        return next.run(request).await;
    }
    match state.bodies.reserve(peer.ip(), bytes * BODY_COST_FACTOR) {
        Ok(_permit) => next.run(request).await,
        Err(Refused::ClientFull) => KbsError::RateLimited.into_response(),
        Err(Refused::Full) => KbsError::Busy.into_response(),
    }
}

impl IntoResponse for KbsError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error_type: format!("{ERROR_TYPE_PREFIX}{}", self.kind()),
            detail: self.to_string(),
        };
        let mut response = (status, Json(body)).into_response();
        // A store or log that is down for a moment: tell clients when to try again.
        if matches!(
            self,
            KbsError::StoreUnavailable(_) | KbsError::LogUnavailable(_)
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
}

/// `/auth` bodies: a version, a TEE name and small extra parameters; nothing needs more.
const AUTH_BODY_BYTES: usize = 16 * 1024;

/// All routes: the KBS protocol and TPM registration under `/kbs/v0`, the admin API under
/// `/kbs/v0/admin`, JWKS and OIDC discovery under `/.well-known`, `/healthz`, `/readyz` and
/// `/metrics`. Request bodies are limited to [`MAX_BODY_BYTES`], `/auth` to 16 KiB.
pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/resources", get(admin_list_resources))
        .route(
            "/resources/{repository}/{kind}/{tag}",
            put(admin_put_resource).delete(admin_delete_resource),
        )
        .route("/policies", get(admin_list_policies))
        .route("/policies/appraisal", put(admin_set_appraisal_policy))
        .route(
            "/policies/release",
            put(admin_set_release_policy).delete(admin_delete_release_policy),
        )
        .route("/reference-values", get(admin_list_reference_values))
        .route(
            "/reference-values/import",
            post(admin_import_reference_values),
        )
        .route(
            "/reference-values/{name}",
            put(admin_put_reference_value).delete(admin_delete_reference_value),
        )
        .route("/tokens/revoke", post(admin_revoke_token))
        .route(
            "/policies/signing",
            get(admin_get_signing_policy)
                .put(admin_set_signing_policy)
                .delete(admin_delete_signing_policy),
        )
        .route(
            "/signing-keys",
            get(admin_list_signing_keys).post(admin_create_signing_key),
        )
        .route(
            "/signing-keys/{name}",
            axum::routing::delete(admin_delete_signing_key),
        );
    Router::new()
        .route(
            "/kbs/v0/auth",
            post(auth).layer(DefaultBodyLimit::max(AUTH_BODY_BYTES)),
        )
        .route("/kbs/v0/attest", post(attest))
        .route(
            warden_wire::tpm::registration::REGISTER_PATH,
            post(tpm_register),
        )
        .route(
            warden_wire::tpm::registration::ACTIVATE_PATH,
            post(tpm_activate),
        )
        .route("/kbs/v0/resource/{repository}/{kind}/{tag}", get(resource))
        .route(
            "/kbs/v0/signing/certificate",
            post(signing_certificate).layer(DefaultBodyLimit::max(MAX_SIGNING_BODY_BYTES)),
        )
        .route("/kbs/v0/signing/trust-root", get(signing_trust_root))
        .route(
            "/kbs/v0/signing/timestamp",
            post(signing_timestamp).layer(DefaultBodyLimit::max(MAX_TIMESTAMP_REQUEST_BYTES)),
        )
        .route("/kbs/v0/signing/log", post(signing_log))
        .route(
            "/kbs/v0/signing/keys/{name}/sign",
            post(signing_sign).layer(DefaultBodyLimit::max(MAX_SIGNING_BODY_BYTES)),
        )
        .route("/kbs/v0/log/{log}/checkpoint", get(log_checkpoint))
        .route("/kbs/v0/log/{log}/key", get(log_key))
        .route(
            "/kbs/v0/log/{log}/proof/inclusion",
            log_read(LogRead::Inclusion),
        )
        .route(
            "/kbs/v0/log/{log}/proof/consistency",
            log_read(LogRead::Consistency),
        )
        .route("/kbs/v0/log/{log}/entries", log_read(LogRead::Entries))
        .nest("/kbs/v0/admin", admin)
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_budget,
        ))
        .with_state(state)
}

async fn auth(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let result = state.kbs.auth(peer.ip(), &body, now(), Instant::now());
    state.kbs.metrics.record("auth", result.is_ok());
    match result {
        Ok((session_id, challenge)) => {
            let secure = if state.secure_cookie { "; Secure" } else { "" };
            let cookie = format!(
                "{SESSION_COOKIE}={session_id}; Path=/kbs/v0; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                state.session_max_age_secs
            );
            let mut response = Json(challenge).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn attest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The verifier appraises off the I/O threads (the embedded one on the blocking pool).
    let session = session_cookie(&headers);
    state.kbs.prepare_collateral(session, &body, now()).await;
    let result = state
        .kbs
        .attest(session, Some(peer.ip()), &body, now())
        .await;
    state.kbs.metrics.record("attest", result.is_ok());
    match result {
        Ok(token) => Json(warden_wire::AttestationToken { token }).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The credential a request carries: a bearer token takes precedence over the session cookie.
fn credential(headers: &HeaderMap) -> Credential<'_> {
    let bearer = authorization(headers)
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match (bearer, session_cookie(headers)) {
        (Some(token), _) => Credential::Bearer(token),
        (None, Some(session)) => Credential::Session(session),
        (None, None) => Credential::None,
    }
}

async fn resource(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((repository, kind, tag)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let credential = credential(&headers);
    let path = format!("{repository}/{kind}/{tag}");
    let result = state
        .kbs
        .resource(credential, Some(peer.ip()), &path, now())
        .await;
    state.kbs.metrics.record("resource", result.is_ok());
    match result {
        Ok(envelope) => Json(envelope).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn tpm_register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    // Certificate-chain checks and RSA-OAEP are CPU work: off the I/O threads.
    let kbs = state.kbs.clone();
    let result = blocking(move || kbs.tpm_register(peer.ip(), &body, now(), Instant::now())).await;
    state.kbs.metrics.record("tpm_register", result.is_ok());
    json(result)
}

async fn tpm_activate(State(state): State<AppState>, body: Bytes) -> Response {
    let result = state.kbs.tpm_activate(&body, now()).await;
    state.kbs.metrics.record("tpm_activate", result.is_ok());
    json(result)
}

/// Runs `work` on the blocking pool; a task that dies is an internal error, never a panic here.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KbsError> + Send + 'static,
) -> Result<T, KbsError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(KbsError::Internal(format!("blocking task failed: {e}"))))
}

async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.kbs.jwks())
}

async fn discovery(State(state): State<AppState>) -> Response {
    match &state.base_url {
        Some(base_url) => Json(state.kbs.discovery(base_url)).into_response(),
        None => KbsError::Unconfigured(
            "public_url is not set and the listen address is a wildcard: discovery cannot name this KBS's URL".into(),
        )
        .into_response(),
    }
}

async fn ready(State(state): State<AppState>) -> StatusCode {
    if state.kbs.ready().await {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.kbs.metrics.encode(),
    )
}

fn done(result: Result<(), KbsError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

fn json(result: Result<Value, KbsError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => error.into_response(),
    }
}

/// An admin call: the KBS and the request's `Authorization` header, which the KBS checks.
struct Admin {
    kbs: Arc<Kbs>,
    authorization: Option<String>,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self {
            kbs: state.kbs.clone(),
            authorization: authorization(&parts.headers).map(str::to_owned),
        })
    }
}

impl Admin {
    fn auth(&self) -> Option<&str> {
        self.authorization.as_deref()
    }
}

type ResourceName = Path<(String, String, String)>;

async fn admin_put_resource(
    admin: Admin,
    Path((repo, kind, tag)): ResourceName,
    body: Bytes,
) -> Response {
    let path = format!("{repo}/{kind}/{tag}");
    done(
        admin
            .kbs
            .admin_put_resource(admin.auth(), &path, &body, now())
            .await,
    )
}

async fn admin_delete_resource(admin: Admin, Path((repo, kind, tag)): ResourceName) -> Response {
    let path = format!("{repo}/{kind}/{tag}");
    done(
        admin
            .kbs
            .admin_delete_resource(admin.auth(), &path, now())
            .await,
    )
}

async fn admin_list_resources(admin: Admin) -> Response {
    json(admin.kbs.admin_list_resources(admin.auth(), now()).await)
}

async fn admin_list_policies(admin: Admin) -> Response {
    json(admin.kbs.admin_list_policies(admin.auth(), now()).await)
}

async fn admin_set_appraisal_policy(admin: Admin, body: Bytes) -> Response {
    json(
        admin
            .kbs
            .admin_set_appraisal_policy(admin.auth(), &body, now())
            .await,
    )
}

/// The `prefix` query parameter release-policy calls name.
struct Prefix(String);

impl FromRequestParts<AppState> for Prefix {
    type Rejection = KbsError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, KbsError> {
        let Query(query) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| KbsError::Malformed(e.body_text()))?;
        query.get("prefix").cloned().map(Prefix).ok_or_else(|| {
            KbsError::Malformed(
                "query parameter prefix is required (use prefix=default for the default)".into(),
            )
        })
    }
}

async fn admin_set_release_policy(admin: Admin, Prefix(prefix): Prefix, body: Bytes) -> Response {
    json(
        admin
            .kbs
            .admin_set_release_policy(admin.auth(), &prefix, &body, now())
            .await,
    )
}

async fn admin_delete_release_policy(admin: Admin, Prefix(prefix): Prefix) -> Response {
    done(
        admin
            .kbs
            .admin_delete_release_policy(admin.auth(), &prefix, now())
            .await,
    )
}

async fn admin_put_reference_value(
    admin: Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    done(
        admin
            .kbs
            .admin_put_reference_value(admin.auth(), &name, &body, now())
            .await,
    )
}

async fn admin_delete_reference_value(admin: Admin, Path(name): Path<String>) -> Response {
    done(
        admin
            .kbs
            .admin_delete_reference_value(admin.auth(), &name, now())
            .await,
    )
}

async fn admin_import_reference_values(admin: Admin, body: Bytes) -> Response {
    json(
        admin
            .kbs
            .admin_import_reference_values(admin.auth(), &body, now())
            .await,
    )
}

async fn admin_list_reference_values(admin: Admin) -> Response {
    json(
        admin
            .kbs
            .admin_list_reference_values(admin.auth(), now())
            .await,
    )
}

async fn admin_revoke_token(admin: Admin, body: Bytes) -> Response {
    json(
        admin
            .kbs
            .admin_revoke_token(admin.auth(), &body, now())
            .await,
    )
}

async fn signing_certificate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = state
        .kbs
        .signing_certificate(session_cookie(&headers), &body, now())
        .await;
    state
        .kbs
        .metrics
        .record("signing_certificate", result.is_ok());
    json(result)
}

/// A log query's parameters; a query string that does not decode is a 400.
struct LogParams(LogQuery);

impl FromRequestParts<AppState> for LogParams {
    type Rejection = KbsError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, KbsError> {
        let Query(query) = Query::<LogQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| KbsError::LogQuery(e.body_text()))?;
        Ok(Self(query))
    }
}

async fn log_checkpoint(admin: Admin, Path(log): Path<String>) -> Response {
    match admin.kbs.log_checkpoint(&log, admin.auth(), now()).await {
        Ok(note) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn log_key(admin: Admin, Path(log): Path<String>) -> Response {
    json(admin.kbs.log_key(&log, admin.auth(), now()).await)
}

/// The route of a log query: one handler, told what to read.
fn log_read(read: LogRead) -> axum::routing::MethodRouter<AppState> {
    get(
        move |admin: Admin, Path(log): Path<String>, LogParams(query): LogParams| async move {
            let kbs = &admin.kbs;
            json(kbs.log_read(&log, read, admin.auth(), &query, now()).await)
        },
    )
}

async fn signing_log(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let result = state
        .kbs
        .signing_log(peer.ip(), &body, now(), Instant::now())
        .await;
    state.kbs.metrics.record("signing_log", result.is_ok());
    json(result)
}

async fn signing_trust_root(State(state): State<AppState>) -> Response {
    json(state.kbs.signing_trust_root())
}

async fn admin_get_signing_policy(admin: Admin) -> Response {
    json(
        admin
            .kbs
            .admin_get_signing_policy(admin.auth(), now())
            .await,
    )
}

async fn admin_set_signing_policy(admin: Admin, body: Bytes) -> Response {
    json(
        admin
            .kbs
            .admin_set_signing_policy(admin.auth(), &body, now())
            .await,
    )
}

async fn admin_delete_signing_policy(admin: Admin) -> Response {
    done(
        admin
            .kbs
            .admin_delete_signing_policy(admin.auth(), now())
            .await,
    )
}

async fn admin_list_signing_keys(admin: Admin) -> Response {
    json(admin.kbs.admin_list_signing_keys(admin.auth(), now()).await)
}

async fn admin_create_signing_key(admin: Admin, body: Bytes) -> Response {
    json(
        admin
            .kbs
            .admin_create_signing_key(admin.auth(), &body, now())
            .await,
    )
}

async fn admin_delete_signing_key(admin: Admin, Path(name): Path<String>) -> Response {
    done(
        admin
            .kbs
            .admin_delete_signing_key(admin.auth(), &name, now())
            .await,
    )
}

async fn signing_timestamp(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let result = state
        .kbs
        .signing_timestamp(peer.ip(), &body, now(), Instant::now());
    state
        .kbs
        .metrics
        .record("signing_timestamp", result.is_ok());
    match result {
        Ok(reply) => (
            [(header::CONTENT_TYPE, "application/timestamp-reply")],
            reply,
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

async fn signing_sign(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let result = state
        .kbs
        .signing_sign(session_cookie(&headers), &name, &body, now())
        .await;
    state.kbs.metrics.record("signing_sign", result.is_ok());
    json(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kbs-session-id=abc; b=2"),
        );
        assert_eq!(session_cookie(&headers), Some("abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("kbs-session-idx=1"),
        );
        assert_eq!(session_cookie(&headers), None);
    }
}
