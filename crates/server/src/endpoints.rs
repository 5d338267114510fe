//! The HTTP endpoints: metadata, JWKS, status list, `/token`
//! (`client_credentials`), `/introspect`, `/revoke`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passport_claims::{
    AgentId, AgentModel, Audience, IdentityAssertion, PassportClaims, ScopeSet, StatusAllocator,
    StatusReference, UnverifiedBundle,
};
use passport_dpop::{DpopError, ReplayCache};
use passport_issuer::{DelegationRequest, IssuanceRequest, IssueError, IssuedPassport, Issuer};
use passport_status::{Status, StatusList, StatusListToken};
use passport_store::StoreError;
use passport_store::server::{
    ClientKind, ClientRecord, ClientSecret, PassportEntry, PassportState,
};
use passport_verifier::{VerificationPolicy, VerifiedPassport, Verifier, VerifyError};
use serde_json::{Map, Value, json};

use crate::client_auth::{AuthenticatedClient, ClientAuthError, ClientCredentials};
use crate::form::{DEFAULT_MAX_FORM_BYTES, Form};
use crate::metadata::{MetadataOptions, ServerMetadata, paths};
use crate::oauth::{OAuthError, codes};
use crate::service::{STATUS_LIST_PATH, Server};
use crate::token_request::{TOKEN_EXCHANGE, TokenExchange, TokenRequest, TokenType};

/// The agent model recorded in a workload's passports (a workload is a
/// program, not a model).
const WORKLOAD_MODEL: &str = "workload";
/// How long the JWKS may be cached, in seconds. A next key is published
/// at least this long before it signs.
const JWKS_MAX_AGE: u64 = 60;
/// How long a signed status list stays valid after it was fetched.
const STATUS_LIST_LIFETIME: i64 = 3600;
/// The token endpoint authentication methods implemented so far.
const SECRET_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];
/// RFC 9449 §5's error for a bad proof at the token endpoint.
const INVALID_DPOP_PROOF: &str = "invalid_dpop_proof";

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
        .with_state(server)
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
    let mut response = axum::Json(body).into_response();
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

// ---- metadata, keys, status ----

/// The RFC 8414 document, listing only what this server implements: no
/// authorization endpoint, no registration, no PKCE or `private_key_jwt`
/// yet — a client must never be sent to an endpoint that does not exist.
async fn metadata(State(server): State<Server>) -> Response {
    let issuer = &server.inner.issuer;
    let options = MetadataOptions {
        dynamic_registration: false,
        client_id_metadata_documents: false,
        ..MetadataOptions::default()
    };
    let mut document = ServerMetadata::new(issuer, &options);
    document.grant_types_supported = vec!["client_credentials", TOKEN_EXCHANGE];
    document.token_endpoint_auth_methods_supported = SECRET_METHODS.to_vec();
    document.introspection_endpoint_auth_methods_supported = SECRET_METHODS.to_vec();
    document.revocation_endpoint_auth_methods_supported = SECRET_METHODS.to_vec();
    document.dpop_signing_alg_values_supported = server
        .inner
        .dpop
        .policy()
        .allowed_algorithms
        .iter()
        .map(|a| a.as_str())
        .collect();
    document.response_types_supported = Vec::new();
    let mut value = serde_json::to_value(&document).unwrap_or_else(|_| json!({}));
    if let Some(map) = value.as_object_mut() {
        for member in [
            "authorization_endpoint",
            "response_modes_supported",
            "code_challenge_methods_supported",
            "token_endpoint_auth_signing_alg_values_supported",
            "authorization_response_iss_parameter_supported",
        ] {
            map.remove(member);
        }
    }
    json_response(&value, "public, max-age=300")
}

async fn jwks(State(server): State<Server>) -> Response {
    match crate::keys::published(&server.inner.db, server.now()).await {
        Ok(keys) => json_response(
            &crate::keys::jwks(&keys),
            &format!("public, max-age={JWKS_MAX_AGE}"),
        ),
        Err(e) => oauth_error(&server_error("the keys could not be read", &e)),
    }
}

/// The signed Token Status List, built from the registry at each request:
/// a revocation shows on the next fetch.
async fn status_list(State(server): State<Server>) -> Response {
    match signed_status_list(&server, &server.inner.status_uri).await {
        Ok(token) => {
            let ttl = server.inner.status_ttl;
            let mut response = token.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/statuslist+jwt"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={ttl}")) {
                headers.insert(header::CACHE_CONTROL, v);
            }
            response
        }
        Err(e) => oauth_error(&e),
    }
}

async fn signed_status_list(server: &Server, uri: &str) -> Result<String, OAuthError> {
    // The list covers the whole index space the allocator draws from (a
    // power of two of at least 2^16 entries, twice the places handed out):
    // every index is inside it, and its size tells little of how many exist.
    let (size, revoked) = server
        .inner
        .db
        .status_list_entries(uri)
        .await
        .map_err(|e| server_error("the status list could not be read", &e))?;
    let mut list = StatusList::with_capacity(1, size)
        .map_err(|e| server_error("the status list could not be built", &e))?;
    for idx in revoked {
        list.set(idx, Status::Invalid.value())
            .map_err(|e| server_error("the status list could not be built", &e))?;
    }
    let now = server.now();
    StatusListToken::sign(
        &server.inner.key,
        uri,
        &list,
        now,
        now.saturating_add(STATUS_LIST_LIFETIME),
        server.inner.status_ttl,
    )
    .map_err(|e| server_error("the status list could not be signed", &e))
}

// ---- client authentication ----

/// A POST request read: its form, its `Authorization` header, the peer.
struct Posted {
    form: Form,
    headers: HeaderMap,
    peer: IpAddr,
}

async fn read_post(request: Request) -> Result<Posted, OAuthError> {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let bytes: Bytes = axum::body::to_bytes(body, DEFAULT_MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            OAuthError::new(
                413,
                codes::INVALID_REQUEST,
                "the request body is too large or unreadable",
            )
        })?;
    let form = Form::parse(&bytes, DEFAULT_MAX_FORM_BYTES).map_err(|e| e.oauth())?;
    Ok(Posted {
        form,
        headers: parts.headers,
        peer,
    })
}

impl Posted {
    fn credentials(&self) -> Result<ClientCredentials, OAuthError> {
        let authorization = match self.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| ClientAuthError::MalformedBasic("not ASCII").oauth(true))?,
            ),
        };
        ClientCredentials::extract(authorization, &self.form)
            .map_err(|e| e.oauth(authorization.is_some()))
    }
}

/// Authenticates the client of a request by its secret, presented the way
/// it registered (`client_secret_basic` or `client_secret_post`, RFC 6749
/// §2.3: one method per client). A client presenting no secret, another
/// method, an unknown id or a wrong secret is `invalid_client` (401).
async fn authenticate(
    server: &Server,
    credentials: &ClientCredentials,
) -> Result<ClientRecord, OAuthError> {
    let basic = credentials.used_basic();
    let secret = match credentials {
        ClientCredentials::SecretBasic { secret, .. }
        | ClientCredentials::SecretPost { secret, .. } => secret,
        other => {
            return Err(ClientAuthError::MethodMismatch {
                used: other.method(),
                registered: "client_secret_basic",
            }
            .oauth(basic));
        }
    };
    match server
        .inner
        .db
        .authenticate_client(credentials.client_id(), &ClientSecret::new(secret.clone()))
        .await
    {
        Ok(client)
            if SECRET_METHODS.contains(&client.auth_method.as_str())
                && client.auth_method == credentials.method() =>
        {
            Ok(client)
        }
        Ok(_) | Err(StoreError::ClientAuthFailed) => Err(ClientAuthError::BadSecret.oauth(basic)),
        Err(e) => Err(server_error("client authentication failed", &e)),
    }
}

// ---- /token ----

async fn token(State(server): State<Server>, request: Request) -> Response {
    match token_inner(&server, request).await {
        Ok(body) => no_store(&body),
        Err(e) => oauth_error(&e),
    }
}

async fn token_inner(server: &Server, request: Request) -> Result<Value, OAuthError> {
    let posted = read_post(request).await?;
    let credentials = posted.credentials();
    // The address's limit first, before any hashing; the client's only once
    // it has authenticated, so a stranger naming a client_id cannot spend
    // that client's allowance.
    server
        .inner
        .limiter
        .check_address(posted.peer)
        .map_err(|e| e.oauth())?;
    let credentials = credentials?;
    let client = authenticate(server, &credentials).await?;
    server
        .inner
        .limiter
        .check_client(&AuthenticatedClient::proven_by_store(
            client.client_id.as_str(),
        ))
        .map_err(|e| e.oauth())?;
    let grant = TokenRequest::from_form(&posted.form).map_err(|e| e.oauth())?;
    let grant_type = grant.grant_type();
    if !matches!(
        grant,
        TokenRequest::ClientCredentials { .. } | TokenRequest::TokenExchange(_)
    ) {
        return Err(OAuthError::new(
            400,
            codes::UNSUPPORTED_GRANT_TYPE,
            format!("{grant_type} is not supported by this server yet"),
        ));
    }
    if !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::new(
            400,
            codes::UNAUTHORIZED_CLIENT,
            format!("this client may not use {grant_type}"),
        ));
    }
    match grant {
        TokenRequest::ClientCredentials { scope, resource } => {
            client_credentials(server, &client, scope, resource, &posted.headers).await
        }
        TokenRequest::TokenExchange(exchange) => {
            token_exchange(server, &client, exchange, &posted.headers).await
        }
        _ => Err(OAuthError::new(
            400,
            codes::UNSUPPORTED_GRANT_TYPE,
            format!("{grant_type} is not supported by this server yet"),
        )),
    }
}

fn require_resource(resource: Option<String>) -> Result<Audience, OAuthError> {
    let resource = resource.ok_or_else(|| {
        OAuthError::new(
            400,
            codes::INVALID_TARGET,
            "resource is required (RFC 8707): it becomes the passport's aud",
        )
    })?;
    Audience::new(resource)
        .map_err(|e| OAuthError::new(400, codes::INVALID_TARGET, format!("resource: {e}")))
}

/// RFC 6749 §4.4 for a workload: the principal is its registered owner.
async fn client_credentials(
    server: &Server,
    client: &ClientRecord,
    scope: Option<ScopeSet>,
    resource: Option<String>,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    let (Some(owner), ClientKind::Workload) = (client.owner.clone(), client.kind) else {
        return Err(OAuthError::new(
            400,
            codes::UNAUTHORIZED_CLIENT,
            "only workload clients may use client_credentials",
        ));
    };
    let audience = require_resource(resource)?;
    let scopes = granted_scopes(client, scope)?;
    let jkt = dpop_binding(server, headers, None).await?;
    let inner = &server.inner;
    let ttl = inner.passport_ttl;
    mint(server, client, None, move |issuer| {
        let mut request = IssuanceRequest::new(
            // no assurance level is asserted: nobody authenticated a person
            IdentityAssertion::new(inner.issuer.as_str(), owner),
            audience,
            agent_of(client)?,
            model()?,
            scopes,
        )
        .ttl(ttl);
        if let Some(jkt) = jkt {
            request = request.holder_jkt(jkt);
        }
        issuer.issue(request).map_err(issue_error)
    })
    .await
}

/// RFC 8693: a passport bundle as the subject token yields a delegated
/// child for the calling client — attenuated (within the parent's scope and
/// the client's), clamped to the parent's expiry, depth-limited, bound to
/// the DPoP key of the request (required, and the parent's own key, when
/// the parent is bound), recorded with its parent.
async fn token_exchange(
    server: &Server,
    client: &ClientRecord,
    exchange: TokenExchange,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    if !matches!(
        exchange.subject_token_type,
        TokenType::Jwt | TokenType::AccessToken
    ) {
        return Err(OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "only a passport bundle (jwt or access_token) can be exchanged yet",
        ));
    }
    if exchange.actor_token.is_some() {
        return Err(OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "actor_token is not supported yet",
        ));
    }
    let audience = require_resource(exchange.resource.or(exchange.audience))?;
    let Some((parent, _)) = verified(server, &exchange.subject_token).await else {
        return Err(OAuthError::new(
            400,
            codes::INVALID_GRANT,
            "the subject token is not an active passport of this issuer",
        ));
    };
    // a bound parent is exchanged only by its holder: the proof must be by
    // its key (and the child is bound to it, as the issuer requires)
    let bound = parent.bound_jkt().map(str::to_owned);
    let jkt = dpop_binding(server, headers, bound.as_deref()).await?;
    if bound.is_some() && jkt.is_none() {
        return Err(OAuthError::new(
            400,
            codes::INVALID_GRANT,
            "the subject token is bound to a key: send a DPoP proof by that key",
        ));
    }
    let scopes = match exchange.scope {
        Some(asked) => asked,
        None => parent.scopes().clone(),
    };
    let scopes = granted_scopes(client, Some(scopes))?;
    let parent_jti = parent.claims().jti.clone();
    let ttl = server.inner.passport_ttl;
    mint(server, client, Some(parent_jti), move |issuer| {
        let mut request =
            DelegationRequest::new(&parent, audience, agent_of(client)?, model()?, scopes).ttl(ttl);
        if let Some(jkt) = jkt {
            request = request.holder_jkt(jkt);
        }
        issuer.delegate(request).map_err(issue_error)
    })
    .await
}

fn agent_of(client: &ClientRecord) -> Result<AgentId, OAuthError> {
    AgentId::new(client.client_id.clone())
        .map_err(|e| OAuthError::new(400, codes::INVALID_REQUEST, format!("client_id: {e}")))
}

fn model() -> Result<AgentModel, OAuthError> {
    AgentModel::new(WORKLOAD_MODEL).map_err(|e| server_error("agent model", &e))
}

fn issue_error(e: IssueError) -> OAuthError {
    let error = match e {
        IssueError::ScopeAttenuation { .. } => codes::INVALID_SCOPE,
        IssueError::DepthExceeded { .. }
        | IssueError::ParentExpired { .. }
        | IssueError::IssuerMismatch { .. }
        | IssueError::HolderKeyRequired => codes::INVALID_GRANT,
        _ => codes::INVALID_REQUEST,
    };
    OAuthError::new(400, error, format!("{}: {e}", e.code()))
}

/// Reserves a status index, signs with `sign` (given an issuer holding this
/// server's key and that index), records the passport durably, and answers
/// RFC 6749 §5.1 (with RFC 8693's `issued_token_type` for an exchange).
async fn mint(
    server: &Server,
    client: &ClientRecord,
    parent_jti: Option<String>,
    sign: impl FnOnce(&Issuer) -> Result<IssuedPassport, OAuthError>,
) -> Result<Value, OAuthError> {
    let inner = &server.inner;
    let index = inner
        .db
        .allocate_status_index(&inner.status_uri)
        .await
        .map_err(|e| server_error("no status index could be allocated", &e))?;
    let reference = StatusReference::new(index, inner.status_uri.clone())
        .map_err(|e| server_error("bad status reference", &e))?;
    let issuer = Issuer::new(
        inner.issuer.as_str(),
        inner
            .key
            .try_clone()
            .map_err(|e| server_error("the signing key is unusable", &e))?,
    )
    .with_clock(inner.clock.clone())
    .with_max_depth(inner.max_depth)
    .with_status(Arc::new(Reserved(reference)));
    let issued = sign(&issuer)?;
    let claims = issued.claims();
    let exchange = parent_jti.is_some();
    // durable before it is handed out; a parent revoked meanwhile refuses it
    match inner
        .db
        .record_issued(PassportEntry {
            jti: claims.jti.clone(),
            parent_jti,
            client_id: client.client_id.clone(),
            agent_id: claims.agent.agent_id.clone(),
            principal: claims.sub.clone(),
            audience: claims.aud.clone(),
            scopes: scope_string(&claims.agent.tool_scope),
            iat: claims.iat,
            exp: claims.exp,
            kid: inner.key.kid().to_owned(),
            status_uri: Some(inner.status_uri.clone()),
            status_idx: Some(index),
            created_at: server.now(),
        })
        .await
    {
        Ok(()) => {}
        Err(StoreError::ParentRevoked(_)) => {
            return Err(OAuthError::new(
                400,
                codes::INVALID_GRANT,
                "the subject token was revoked",
            ));
        }
        Err(e) => return Err(server_error("the passport could not be recorded", &e)),
    }
    tracing::info!(
        jti = %claims.jti,
        client_id = %client.client_id,
        outcome = "ok",
        "passport issued"
    );
    let mut answer = json!({
        "access_token": issued.bundle(),
        "token_type": if claims.cnf_jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": claims.exp.saturating_sub(server.now()).max(0),
        "scope": scope_string(&claims.agent.tool_scope),
    });
    if exchange {
        answer["issued_token_type"] = json!(TokenType::AccessToken.as_str());
    }
    Ok(answer)
}

/// The scopes granted: those asked (each within what the client may
/// have), or all the client may have when it asks for none.
fn granted_scopes(client: &ClientRecord, asked: Option<ScopeSet>) -> Result<ScopeSet, OAuthError> {
    let allowed = ScopeSet::parse(client.scopes.split_ascii_whitespace())
        .map_err(|e| server_error("the client's registered scopes are invalid", &e))?;
    let Some(asked) = asked else {
        return Ok(allowed);
    };
    let beyond = asked.not_implied_by(&allowed);
    if beyond.is_empty() && asked.attenuates(&allowed) {
        Ok(asked)
    } else {
        let names: Vec<&str> = beyond.iter().map(|p| p.as_str()).collect();
        Err(OAuthError::new(
            400,
            codes::INVALID_SCOPE,
            format!("this client may not have: {}", names.join(" ")),
        ))
    }
}

fn scope_string(scopes: &ScopeSet) -> String {
    scopes
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// RFC 9449 at the token endpoint: with a `DPoP` header the proof must be
/// valid for `POST` to the token endpoint and never seen before (the
/// database remembers it, so every instance refuses its replay); the
/// passport is then bound to its key (`cnf.jkt`). Without one, `None`.
async fn dpop_binding(
    server: &Server,
    headers: &HeaderMap,
    expected_jkt: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let proofs: Vec<&str> = headers
        .get_all("dpop")
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .collect();
    if proofs.is_empty() {
        return Ok(None);
    }
    let inner = &server.inner;
    let url = inner.issuer.endpoint(paths::TOKEN);
    let bad =
        |e: &DpopError| OAuthError::new(400, INVALID_DPOP_PROOF, format!("{}: {e}", e.code()));
    let proof = inner
        .dpop
        .verify(&proofs, "POST", &url, None, expected_jkt)
        .map_err(|e| bad(&e))?;
    let policy = inner.dpop.policy();
    let expires = proof
        .iat
        .saturating_add(policy.iat_past)
        .saturating_add(policy.iat_future);
    match inner
        .db
        .remember_dpop_proof(&proof.jkt, &proof.jti, expires, server.now())
        .await
    {
        Ok(()) => Ok(Some(proof.jkt)),
        Err(StoreError::DpopReplayed) => Err(bad(&DpopError::Replay)),
        Err(e) => Err(server_error("the DPoP replay cache is unavailable", &e)),
    }
}

/// The DPoP verifier's replay step, deferred to the database: the verifier
/// runs every other check, then [`dpop_binding`] records the proof's
/// (`jkt`, `jti`) with the database's atomic insert, which refuses a replay
/// whichever instance saw the proof first. Used only there.
pub(crate) struct StoreReplay;

impl ReplayCache for StoreReplay {
    fn check_and_insert(
        &self,
        _jkt: &str,
        _jti: &str,
        _expires_at: i64,
    ) -> Result<bool, DpopError> {
        Ok(true)
    }
}

/// Hands the issuer the status place reserved in the database for the
/// passport being minted.
#[derive(Debug)]
struct Reserved(StatusReference);

impl StatusAllocator for Reserved {
    fn allocate(
        &self,
        _passport: &PassportClaims,
    ) -> Result<StatusReference, passport_claims::AllocationError> {
        Ok(self.0.clone())
    }
}

// ---- /introspect and /revoke ----

/// Verifies a presented bundle against this server's keys (every link's
/// signature and every SPEC §5 chain rule) and the registry (every link
/// recorded and active). `None` for anything else.
async fn verified(server: &Server, token: &str) -> Option<(VerifiedPassport, Vec<String>)> {
    let bundle = UnverifiedBundle::parse(token).ok()?;
    let leaf = bundle.inspect_unverified().into_iter().next()?.ok()?;
    // the audience is only read to configure the verifier: the signature
    // then covers it like every other claim
    let policy = VerificationPolicy::new(server.issuer(), leaf.claims.aud.clone());
    let verify = || -> Result<passport_verifier::Verification, VerifyError> {
        Verifier::with_key_store(policy.clone(), server.inner.verifier_keys.clone())?
            .with_clock(server.inner.clock.clone())
            .dangerous_ignore_status()
            .verify_bundle_pending_proof(&bundle)
    };
    let outcome = match verify() {
        Err(e) if e.code() == "unknown_kid" => {
            refresh_keys(server).await;
            verify()
        }
        other => other,
    }
    .ok()?;
    // a bound passport is valid only with a proof, which the resource
    // server checks; introspection reports its cnf
    let passport = match outcome {
        passport_verifier::Verification::Verified(v) => v,
        passport_verifier::Verification::ProofRequired(p) => p.dangerous_assume_proven(),
        _ => return None,
    };
    let mut client = Vec::new();
    for link in passport.links() {
        let record = server.inner.db.passport(&link.jti).await.ok()??;
        if record.state != PassportState::Active {
            return None;
        }
        client.push(record.entry.client_id);
    }
    Some((passport, client))
}

async fn refresh_keys(server: &Server) {
    if let Ok(keys) = crate::keys::published(&server.inner.db, server.now()).await {
        for k in keys {
            let _ = server.inner.verifier_keys.insert(server.issuer(), k);
        }
    }
}

async fn introspect(State(server): State<Server>, request: Request) -> Response {
    match introspect_inner(&server, request).await {
        Ok(body) => no_store(&body),
        Err(e) => oauth_error(&e),
    }
}

async fn introspect_inner(server: &Server, request: Request) -> Result<Value, OAuthError> {
    let posted = read_post(request).await?;
    authenticate(server, &posted.credentials()?).await?;
    let token = posted
        .form
        .get("token")
        .ok_or_else(|| OAuthError::new(400, codes::INVALID_REQUEST, "missing parameter: token"))?;
    let Some((passport, clients)) = verified(server, token).await else {
        return Ok(json!({ "active": false }));
    };
    let claims = passport.claims();
    let mut answer: Map<String, Value> =
        serde_json::from_slice(&claims.to_json()).unwrap_or_default();
    answer.insert("active".into(), json!(true));
    answer.insert(
        "scope".into(),
        json!(scope_string(&claims.agent.tool_scope)),
    );
    if let Some(client) = clients.first() {
        answer.insert("client_id".into(), json!(client));
    }
    answer.insert(
        "token_type".into(),
        json!(if claims.cnf_jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }),
    );
    answer.insert("passport_status".into(), json!("active"));
    Ok(Value::Object(answer))
}

async fn revoke(State(server): State<Server>, request: Request) -> Response {
    match revoke_inner(&server, request).await {
        // RFC 7009 §2.2: 200, and the client ignores the body: none
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => oauth_error(&e),
    }
}

/// RFC 7009: the caller must be the client the passport was issued to;
/// revoking it revokes every passport delegated from it, in one
/// transaction. An unknown, invalid or already revoked token is 200.
async fn revoke_inner(server: &Server, request: Request) -> Result<(), OAuthError> {
    let posted = read_post(request).await?;
    let client = authenticate(server, &posted.credentials()?).await?;
    let token = posted
        .form
        .get("token")
        .ok_or_else(|| OAuthError::new(400, codes::INVALID_REQUEST, "missing parameter: token"))?;
    let Some((passport, clients)) = verified(server, token).await else {
        return Ok(());
    };
    let claims = passport.claims();
    if clients.first() != Some(&client.client_id) {
        return Err(OAuthError::new(
            400,
            codes::UNAUTHORIZED_CLIENT,
            "this token was not issued to this client",
        ));
    }
    match server
        .inner
        .db
        .revoke_cascade(&claims.jti, server.now())
        .await
    {
        Ok(revoked) => {
            tracing::info!(jti = %claims.jti, revoked = revoked.len(), "passport revoked");
            Ok(())
        }
        Err(StoreError::UnknownRecord(_)) => Ok(()),
        Err(e) => Err(server_error("the revocation failed", &e)),
    }
}
