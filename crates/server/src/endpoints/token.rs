//! `/token`: the grants.

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::governance::audit::{self, AuditEvent};

// ---- /token ----

pub(super) async fn token(State(server): State<Server>, request: Request) -> Response {
    let response = match token_inner(&server, request).await {
        Ok(body) => no_store(&body),
        Err(e) => oauth_error(&e),
    };
    with_nonce(&server, response)
}

pub(super) async fn token_inner(server: &Server, request: Request) -> Result<Value, OAuthError> {
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
    let caller = authenticate(server, &credentials, At::Token, posted.peer).await?;
    server
        .inner
        .limiter
        .check_client(caller.proof())
        .map_err(|e| e.oauth())?;
    let grant = TokenRequest::from_form(&posted.form).map_err(|e| e.oauth())?;
    caller.may_use_grant(grant.grant_type())?;
    let client = caller.record();
    let grant_type = grant.grant_type();
    if !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::new(
            400,
            codes::UNAUTHORIZED_CLIENT,
            format!("this client may not use {grant_type}"),
        ));
    }
    match grant {
        TokenRequest::ClientCredentials {
            scope,
            resource,
            replaces,
        } => client_credentials(server, client, (scope, resource, replaces), &posted.headers).await,
        TokenRequest::TokenExchange(exchange) => {
            token_exchange(server, client, exchange, &posted.headers).await
        }
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            resource,
        } => {
            let (code, uri, verifier) = (&code, &redirect_uri, &code_verifier);
            authorization_code(
                server,
                client,
                code,
                uri,
                verifier,
                resource,
                &posted.headers,
            )
            .await
        }
        TokenRequest::RefreshToken {
            refresh_token: token,
            scope,
            resource,
        } => refresh_token(server, client, &token, scope, resource, &posted.headers).await,
    }
}

pub(super) fn require_resource(resource: Option<String>) -> Result<Audience, OAuthError> {
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
/// With `replaces`, the new passport succeeds that one of this client
/// (see [`crate::governance::lifecycle::check_replaces`]).
pub(super) async fn client_credentials(
    server: &Server,
    client: &ClientRecord,
    (scope, resource, replaces): (Option<ScopeSet>, Option<String>, Option<String>),
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
    if let Some(previous) = &replaces {
        lifecycle::check_replaces(server, &client.client_id, audience.as_str(), previous).await?;
    }
    let jkt = dpop_binding(server, headers, None).await?;
    let inner = &server.inner;
    let agent = agent_of(client)?;
    let candidate = Candidate {
        agent_id: agent.as_str().to_owned(),
        principal: owner.clone(),
        client_id: client.client_id.clone(),
        audience: audience.as_str().to_owned(),
        scopes: scopes.clone(),
        ttl: inner.passport_ttl,
        parent_jti: None,
        actor_jti: None,
        replaces,
    };
    mint(server, client, candidate, move |issuer, admitted| {
        let mut request = IssuanceRequest::new(
            // no assurance level is asserted: nobody authenticated a person
            IdentityAssertion::new(inner.issuer.as_str(), owner),
            audience,
            agent,
            model()?,
            scopes,
        )
        .ttl(admitted.ttl);
        if let Some(jkt) = jkt {
            request = request.holder_jkt(jkt);
        }
        issuer.issue(request).map_err(issue_error)
    })
    .await
}

/// RFC 8693: a passport bundle as the subject token yields a delegated
/// child — attenuated (within the parent's scope and the client's), clamped
/// to the parent's expiry, depth-limited, recorded with its parent — for
/// the calling client, or for the agent an `actor_token` names (the child's
/// `act` then names that agent, wrapping the parent's `act`; the child
/// expires no later than the actor passport either, and is recorded with
/// it, so that revoking the actor passport revokes the child). A bearer
/// parent is exchanged only by its own client ([`bearer_held_by`]). The
/// child is bound to the actor's key when the actor passport is bound,
/// else to the DPoP key of the request (required, and the parent's own
/// key, when the parent is bound). An upstream ID token yields a root
/// ([`id_token_root`]).
pub(super) async fn token_exchange(
    server: &Server,
    client: &ClientRecord,
    exchange: TokenExchange,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    let acting = acting_agent(server, client, exchange.actor_token.as_ref()).await?;
    match exchange.subject_token_type {
        TokenType::IdToken => {
            return id_token_root(server, client, exchange, acting, headers).await;
        }
        TokenType::Jwt | TokenType::AccessToken => {}
    }
    let audience = require_resource(exchange.resource.or(exchange.audience))?;
    let Some((parent, clients)) = verified(server, &exchange.subject_token).await? else {
        return Err(OAuthError::new(
            400,
            codes::INVALID_GRANT,
            "the subject token is not an active passport of this issuer",
        ));
    };
    // a bound parent is exchanged only by its holder: the proof must be by
    // its key (and the child is bound, as the issuer requires)
    let bound = parent.bound_jkt().map(str::to_owned);
    if bound.is_none() {
        bearer_held_by(client, &parent, &clients)?;
    }
    let proven = dpop_binding(server, headers, bound.as_deref()).await?;
    if bound.is_some() && proven.is_none() {
        return Err(OAuthError::new(
            400,
            codes::INVALID_GRANT,
            "the subject token is bound to a key: send a DPoP proof by that key",
        ));
    }
    // the child outlives neither the actor passport (here) nor the parent
    // (the issuer clamps it)
    let ttl = acting.clamp(server, server.inner.passport_ttl)?;
    let jkt = acting.jkt.or(proven);
    let scopes = match exchange.scope {
        Some(asked) => asked,
        None => parent.scopes().clone(),
    };
    let scopes = granted_scopes(client, Some(scopes))?;
    let candidate = Candidate {
        agent_id: acting.agent_id.as_str().to_owned(),
        principal: parent.claims().sub.clone(),
        client_id: client.client_id.clone(),
        audience: audience.as_str().to_owned(),
        scopes: scopes.clone(),
        ttl,
        parent_jti: Some(parent.claims().jti.clone()),
        actor_jti: acting.jti.clone(),
        replaces: None,
    };
    mint(server, client, candidate, move |issuer, admitted| {
        let mut request =
            DelegationRequest::new(&parent, audience, acting.agent_id, acting.model, scopes)
                .ttl(admitted.ttl);
        if let Some(jkt) = jkt {
            request = request.holder_jkt(jkt);
        }
        issuer.delegate(request).map_err(issue_error)
    })
    .await
}

pub(super) fn agent_of(client: &ClientRecord) -> Result<AgentId, OAuthError> {
    AgentId::new(client.client_id.clone())
        .map_err(|e| OAuthError::new(400, codes::INVALID_REQUEST, format!("client_id: {e}")))
}

pub(super) fn model() -> Result<AgentModel, OAuthError> {
    AgentModel::new(WORKLOAD_MODEL).map_err(|e| server_error("agent model", &e))
}

pub(super) fn issue_error(e: IssueError) -> OAuthError {
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

/// Asks governance whether `candidate` may be minted ([`admit`]), reserves
/// a status index, signs with `sign` (given an issuer holding this server's
/// key and that index, and what governance admitted: sign with its `ttl`),
/// records the passport durably, and answers RFC 6749 §5.1 (with RFC
/// 8693's `issued_token_type` for an exchange).
pub(super) async fn mint(
    server: &Server,
    client: &ClientRecord,
    candidate: Candidate,
    sign: impl FnOnce(&Issuer, &Admission) -> Result<IssuedPassport, OAuthError>,
) -> Result<Value, OAuthError> {
    let admitted = admit(server, &candidate).await?;
    mint_admitted(server, client, candidate, admitted, sign).await
}

/// [`mint`] for a `candidate` governance has already `admitted` — a grant
/// that spends something (a code, a refresh token) asks [`admit`] first,
/// so that a refusal spends nothing. A kill-switch engaged since is still
/// caught once the passport is recorded ([`lifecycle::recorded`]).
pub(super) async fn mint_admitted(
    server: &Server,
    client: &ClientRecord,
    candidate: Candidate,
    admitted: Admission,
    sign: impl FnOnce(&Issuer, &Admission) -> Result<IssuedPassport, OAuthError>,
) -> Result<Value, OAuthError> {
    let inner = &server.inner;
    let parent_jti = candidate.parent_jti.clone();
    server.reload_keys_if_due().await;
    // an index from the blocks taken before: no write of its own
    let index = inner
        .status_pool
        .take(&inner.db)
        .await
        .map_err(|e| server_error("no status index could be allocated", &e))?;
    let keys = server.keys();
    let (issued, unused) =
        crate::status_pool::with_reserved(index, || sign(&keys.issuer, &admitted));
    if let Some(index) = unused {
        inner.status_pool.put_back(index);
    }
    let issued = issued?;
    let claims = issued.claims();
    let exchange = parent_jti.is_some();
    let action = if exchange {
        audit::Action::Delegate
    } else {
        audit::Action::Issue
    };
    let event = AuditEvent::new(action, audit::Outcome::Done)
        .actor(&client.client_id)
        .client(&client.client_id)
        .principal(&claims.sub)
        .passport(&claims.jti, &claims.agent.agent_id)
        .audience(&claims.aud)
        .environment(admitted.environment.as_deref())
        .approval(admitted.approval_id.as_deref());
    let entry = PassportEntry {
        jti: claims.jti.clone(),
        parent_jti,
        actor_jti: candidate.actor_jti.clone(),
        client_id: client.client_id.clone(),
        agent_id: claims.agent.agent_id.clone(),
        principal: claims.sub.clone(),
        audience: claims.aud.clone(),
        scopes: scope_string(&claims.agent.tool_scope),
        iat: claims.iat,
        exp: claims.exp,
        kid: keys.kid().to_owned(),
        status_uri: Some(inner.status_uri.clone()),
        status_idx: Some(index),
        created_at: server.now(),
        environment: admitted.environment.clone(),
        approval_id: admitted.approval_id.clone(),
    };
    // recorded and audited in one transaction (one commit shared with
    // concurrent mints), durably, before it is handed out; a parent or an
    // actor passport revoked meanwhile refuses it (and nothing of it is
    // stored)
    match audit::record_issued(server, entry, event).await? {
        Ok(()) => crate::governance::events::publish(
            server,
            crate::governance::events::Event::Minted {
                jti: claims.jti.clone(),
            },
        ),
        Err(StoreError::ParentRevoked(_)) => {
            return Err(OAuthError::new(
                400,
                codes::INVALID_GRANT,
                "the subject token was revoked",
            ));
        }
        // RFC 8693 §2.2.2: an invalid actor_token is invalid_request
        Err(StoreError::ActorRevoked(_)) => {
            return Err(OAuthError::new(
                400,
                codes::INVALID_REQUEST,
                "actor_token_invalid: the actor token was revoked",
            ));
        }
        Err(e) => return Err(server_error("the passport could not be recorded", &e)),
    }
    // recorded: a kill-switch engaged meanwhile revokes it; a rotation names it
    lifecycle::recorded(server, &candidate, &claims.jti).await?;
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
pub(super) fn granted_scopes(
    client: &ClientRecord,
    asked: Option<ScopeSet>,
) -> Result<ScopeSet, OAuthError> {
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

pub(super) fn scope_string(scopes: &ScopeSet) -> String {
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
pub(super) async fn dpop_binding(
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
    let bad = proof_error;
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
