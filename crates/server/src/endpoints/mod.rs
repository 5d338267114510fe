//! The HTTP endpoints: metadata, JWKS, status list, `/token`
//! (`client_credentials`), `/introspect`, `/revoke`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passport_claims::{
    AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet, UnverifiedBundle,
};
use passport_dpop::{DpopError, ReplayCache};
use passport_issuer::{DelegationRequest, IssuanceRequest, IssueError, IssuedPassport, Issuer};
use passport_status::{Status, StatusList, StatusListToken};
use passport_store::StoreError;
use passport_store::server::{ClientKind, ClientRecord, PassportEntry, PassportState};
use passport_verifier::{VerifiedPassport, VerifyError};
use serde_json::{Map, Value, json};

use crate::client_auth::{AuthenticatedClient, ClientAuthError, ClientCredentials};
use crate::form::{DEFAULT_MAX_FORM_BYTES, Form};
use crate::governance::{Admission, Candidate, admit, lifecycle};
use crate::metadata::{AUTH_METHODS, MetadataOptions, ServerMetadata, paths};
use crate::oauth::{OAuthError, codes};
use crate::service::{STATUS_LIST_PATH, Server};
use crate::token_request::{TOKEN_EXCHANGE, TokenExchange, TokenRequest, TokenType};

/// The agent model recorded in a workload's passports (a workload is a
/// program, not a model).
const WORKLOAD_MODEL: &str = "workload";
/// How long a signed status list stays valid after it was fetched.
const STATUS_LIST_LIFETIME: i64 = 3600;
/// RFC 9449 §5's error for a bad proof at the token endpoint.
const INVALID_DPOP_PROOF: &str = "invalid_dpop_proof";

mod admin_api_audit;
mod admin_api_governance;
pub(crate) mod admin_api_kill;
pub(crate) mod admin_session;
pub(crate) mod authorize;
pub(crate) mod clients;
mod code_grant;
mod dashboard;
mod dashboard_governance;
mod exchange;
mod introspect;
pub(crate) mod nonce;
pub(crate) mod published;
pub(crate) mod register;
pub(crate) mod token;
mod upstream_login;

pub(crate) use code_grant::end_family_of;

use clients::*;
use code_grant::*;
use exchange::*;
use introspect::*;
use nonce::*;
use published::*;
use register::*;
use token::*;

pub(crate) fn router(server: Server) -> Router {
    let route = |p: &str| server.route_path(p);
    let mut router = Router::new();
    for path in server.inner.issuer.well_known_paths() {
        router = router.route(&path, get(metadata));
    }
    router
        .route(&route(paths::JWKS), get(jwks))
        .route(&route(STATUS_LIST_PATH), get(status_list))
        .route(&route(paths::TOKEN), post(token))
        .route(&route(paths::INTROSPECT), post(introspect))
        .route(&route(paths::REVOKE), post(revoke))
        .route(
            &route(paths::AUTHORIZE),
            get(authorize::authorize).post(authorize::authorize),
        )
        .route(&route(authorize::CALLBACK_PATH), get(authorize::callback))
        .route(&route(authorize::CONSENT_PATH), post(authorize::consent))
        .route(&route(paths::REGISTER), post(register))
        .route(
            &route("/admin/api/identities"),
            get(admin_api_governance::list_identities)
                .post(admin_api_governance::register_identity),
        )
        .route(
            &format!("{}/{{id}}", route("/admin/api/identities")),
            post(admin_api_governance::update_identity),
        )
        .route(
            &route("/admin/api/approvals"),
            get(admin_api_governance::list_approvals),
        )
        .route(
            &format!("{}/{{id}}/approve", route("/admin/api/approvals")),
            post(admin_api_governance::approve),
        )
        .route(
            &format!("{}/{{id}}/deny", route("/admin/api/approvals")),
            post(admin_api_governance::deny),
        )
        .route(
            &route("/admin/api/policy"),
            get(admin_api_governance::policy_status),
        )
        .route(
            &route(admin_api_kill::KILL_SWITCHES),
            get(admin_api_kill::list_switches).post(admin_api_kill::engage_switch),
        )
        .route(
            &route(admin_api_kill::KILL_SWITCHES_LIFT),
            post(admin_api_kill::lift_switch),
        )
        .route(
            &route(admin_api_kill::REGISTRY),
            get(admin_api_kill::registry),
        )
        .route(
            &(route(admin_api_kill::REGISTRY) + admin_api_kill::REVOKE_SUFFIX),
            post(admin_api_kill::registry_revoke),
        )
        .route(
            &route(admin_api_audit::AUDIT_PATH),
            get(admin_api_audit::audit_records),
        )
        .route(
            &route(admin_api_audit::AUDIT_VERIFY_PATH),
            get(admin_api_audit::audit_verify),
        )
        .route(&route(admin_session::LOGIN_PATH), get(admin_session::login))
        .route(
            &route(admin_session::LOGOUT_PATH),
            post(admin_session::logout),
        )
        .route(&route(dashboard::REGISTRY_PATH), get(dashboard::registry))
        .route(
            &route(dashboard::APPROVALS_PATH),
            get(dashboard_governance::approvals_index),
        )
        .route(
            &route(dashboard_governance::DECIDE_PATH),
            post(dashboard_governance::decide),
        )
        .route(
            &route(dashboard::KILL_SWITCHES_PATH),
            get(dashboard_governance::switches_index),
        )
        .route(
            &route(dashboard_governance::ENGAGE_PATH),
            post(dashboard_governance::engage),
        )
        .route(
            &route(dashboard_governance::LIFT_PATH),
            post(dashboard_governance::lift),
        )
        .route(
            &route(dashboard::AUDIT_PATH),
            get(dashboard_governance::audit_index),
        )
        .route(&route(dashboard::REVOKE_PATH), post(dashboard::revoke))
        .route(&route(dashboard::EVENTS_PATH), get(dashboard::events))
        .route(&route(dashboard::SCRIPT_PATH), get(dashboard::script))
        .route(&route(dashboard::STYLE_PATH), get(dashboard::style))
        .layer(axum::middleware::from_fn_with_state(
            server.inner.request_timeout,
            deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            note_client_address,
        ))
        .with_state(server)
}

/// The address a request comes from, worked out once for every handler
/// ([`peer_of`]): its connection's, or behind a trusted proxy the one the
/// proxies name (see [`crate::client_address`]).
#[derive(Clone, Copy, Debug)]
struct ClientAddress(IpAddr);

async fn note_client_address(
    State(server): State<Server>,
    mut request: Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let address =
        crate::client_address::client_address(&server.inner.addresses, peer, request.headers());
    request.extensions_mut().insert(ClientAddress(address));
    next.run(request).await
}

/// The address a request comes from (see [`ClientAddress`]): every
/// per-address limit keys on it. The unspecified address when it is not
/// known (no connection information: every such request shares one
/// bucket).
pub(crate) fn peer_of(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ClientAddress>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.0)
}

/// Every request is answered within `timeout`, reading its body included:
/// a client that sends its request slowly (or never finishes it) holds a
/// connection and a task for that long, and is then answered 408 with an
/// OAuth error body (`temporarily_unavailable` would invite a retry of
/// the same slow request). A request whose administrator's action was
/// handed over (to `governance::to_completion`, which runs it to its
/// end) is answered 503 `temporarily_unavailable` `action_handed_over: …`
/// (review S15-2: a condition a client can tell from the 503s that ask for
/// the action again) saying so: the action
/// goes on and will be in the state and the audit trail. The flag is set
/// at the hand-over, not once the action's checks passed: the answer says
/// "handed over", not "accepted" (it may yet be refused), and to read the
/// state before trying again.
async fn deadline(
    State(timeout): State<std::time::Duration>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let work =
        crate::governance::noting_actions(std::sync::Arc::clone(&accepted), next.run(request));
    match tokio::time::timeout(timeout, work).await {
        Ok(response) => response,
        Err(_) => {
            let error = if accepted.load(std::sync::atomic::Ordering::SeqCst) {
                OAuthError::new(
                    503,
                    codes::TEMPORARILY_UNAVAILABLE,
                    "action_handed_over: the action was handed over and is still running \
                     (it may yet be refused): read the state before trying again",
                )
            } else {
                OAuthError::new(
                    408,
                    codes::INVALID_REQUEST,
                    "request_timeout: the request was not received and answered in time",
                )
            };
            let mut response = oauth_error(&error);
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

impl Server {
    /// The router path of an endpoint under the issuer (its URL's path).
    fn route_path(&self, endpoint: &str) -> String {
        let full = self.inner.issuer.endpoint(endpoint);
        url::Url::parse(&full)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| endpoint.to_owned())
    }

    fn now(&self) -> i64 {
        self.inner.clock.now()
    }
}

// ---- responses ----

fn oauth_error(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(e.body())).into_response();
    for (name, value) in e.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response
}

fn server_error(what: &str, e: &dyn std::error::Error) -> OAuthError {
    tracing::error!(error = %e, "{what}");
    OAuthError::new(500, codes::SERVER_ERROR, what)
}

fn json_response(body: &Value, cache_control: &str) -> Response {
    with_cache_control(axum::Json(body).into_response(), cache_control)
}

/// A JSON body already written (`body` must be JSON), with
/// `Cache-Control: cache_control`.
fn json_text_response(body: String, cache_control: &str) -> Response {
    let response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    with_cache_control(response, cache_control)
}

fn with_cache_control(mut response: Response, cache_control: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cache_control) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}

/// A token endpoint answer (RFC 6749 §5.1): never cached.
fn no_store(body: &Value) -> Response {
    let mut response = json_response(body, "no-store");
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
