//! RFC 8693 token exchange, the parts beyond a bundle → child: who acts
//! (`actor_token`, §2.1 and §4.1) and an upstream ID token → root.

#[allow(clippy::wildcard_imports)]
use super::*;

use passport_oidc::OidcError;

/// The agent a minted passport names: the authenticated client, or the
/// agent of the actor token's passport.
pub(super) struct Acting {
    pub(super) agent_id: AgentId,
    pub(super) model: AgentModel,
    /// The actor passport's `cnf.jkt`: the new passport is bound to it, so
    /// only the actor can use what is minted for it.
    pub(super) jkt: Option<String>,
    /// The actor passport's `exp`: what is minted for it never outlives it.
    pub(super) expires_at: Option<i64>,
    /// The actor passport's `jti` (its leaf's): what is minted for it is
    /// recorded with it ([`Candidate::actor_jti`]), so that its revocation
    /// revokes what was minted for it, as a parent's revokes its children.
    pub(super) jti: Option<String>,
}

impl Acting {
    /// `ttl`, shortened so that the passport minted for the actor expires
    /// no later than the actor passport (a child is clamped to its parent
    /// by the issuer; this adds the actor's bound).
    pub(super) fn clamp(&self, server: &Server, ttl: u64) -> Result<u64, OAuthError> {
        let Some(exp) = self.expires_at else {
            return Ok(ttl);
        };
        match u64::try_from(exp.saturating_sub(server.now())) {
            Ok(left @ 1..) => Ok(ttl.min(left)),
            _ => Err(OAuthError::new(
                400,
                codes::INVALID_REQUEST,
                "actor_token_invalid: the actor token has no time left",
            )),
        }
    }
}

/// Review A finding 1: a bearer (unbound) passport is an audience-restricted
/// credential (RFC 8707; RFC 9700 §4.10). Whoever it was presented to — an
/// MCP server, a proxy — must not turn it into a child for another
/// audience. So it is exchanged only by the client it was issued to (the
/// registry records it: `clients[0]`, the leaf's), or by the agent it names
/// when that agent is the authenticated client. A bound subject is checked
/// by its key's proof instead.
pub(super) fn bearer_held_by(
    client: &ClientRecord,
    parent: &VerifiedPassport,
    clients: &[String],
) -> Result<(), OAuthError> {
    let issued_to = clients.first().is_some_and(|c| *c == client.client_id);
    let names_it = parent.claims().agent.agent_id == client.client_id;
    if issued_to || names_it {
        return Ok(());
    }
    Err(OAuthError::new(
        400,
        codes::INVALID_GRANT,
        "subject_token_not_held: a bearer passport is exchanged only by the client it was \
         issued to or the agent it names (RFC 8707 audience restriction; RFC 9700 §4.10)",
    ))
}

/// Who will act. Without an actor token, the authenticated client (as a
/// workload). With one, the agent of that passport — a bound passport of
/// this issuer, verified in full (every link's signature, times, and its
/// registry state, so a revoked or expired one is refused) — whose key the
/// new passport is bound to. Its type was checked
/// when the request was parsed (a passport: `jwt` or `access_token`).
pub(super) async fn acting_agent(
    server: &Server,
    client: &ClientRecord,
    actor_token: Option<&(String, TokenType)>,
) -> Result<Acting, OAuthError> {
    let Some((token, _)) = actor_token else {
        return Ok(Acting {
            agent_id: agent_of(client)?,
            model: model()?,
            jkt: None,
            expires_at: None,
            jti: None,
        });
    };
    let Some((actor, _)) = verified(server, token).await? else {
        // RFC 8693 §2.2.2: an invalid actor_token is invalid_request
        return Err(OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "actor_token_invalid: the actor token is not an active passport of this issuer",
        ));
    };
    // a bearer passport proves nothing about who presents it: whoever saw
    // it (its audience, a proxy, a log) could name its agent as the one
    // acting and hold the result. A bound one is safe to accept: what is
    // minted for it is bound to its key, so only that agent can use it.
    let Some(actor_jkt) = actor.bound_jkt().map(str::to_owned) else {
        return Err(OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "actor_token_invalid: the actor token must be a bound passport (cnf.jkt): \
             a bearer passport does not show who presents it",
        ));
    };
    let agent = &actor.claims().agent;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            format!("actor_token_invalid: {what}: {e}"),
        )
    };
    Ok(Acting {
        agent_id: AgentId::new(agent.agent_id.clone()).map_err(|e| bad("agent_id", &e))?,
        model: AgentModel::new(agent.agent_model.clone()).map_err(|e| bad("agent_model", &e))?,
        jkt: Some(actor_jkt),
        expires_at: Some(actor.claims().exp),
        jti: Some(actor.claims().jti.clone()),
    })
}

/// An ID token of the configured upstream provider (its signature by a key
/// of the provider's JWKS, `iss`, `aud` = the upstream client id, times, and
/// the acr mapping, all checked by [`passport_oidc::Provider::validate_id_token`])
/// yields a root passport for its `sub`: agent the caller (or the actor),
/// audience `resource` (required), scopes within the client's, bound to the
/// DPoP key of the request when a proof is sent (or to the actor's key),
/// expiring no later than the ID token (nor the actor passport), recorded
/// with the actor passport so that its revocation revokes the root.
/// Without an upstream provider, this subject token type is not supported.
pub(super) async fn id_token_root(
    server: &Server,
    client: &ClientRecord,
    exchange: TokenExchange,
    acting: Acting,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    let Some(upstream) = server.inner.upstream.clone() else {
        return Err(OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "token_type_unsupported: an ID token is exchanged only where an upstream \
             provider is configured",
        ));
    };
    let audience = require_resource(exchange.resource.or(exchange.audience))?;
    let scopes = granted_scopes(client, exchange.scope)?;
    let assertion = upstream
        .validate_id_token(&exchange.subject_token, None)
        .await
        .map_err(|e| id_token_error(&e))?;
    // the root never outlives the authentication it stands for: an ID
    // token a minute from expiry yields a passport for that minute
    let id_exp = assertion.raw_claims.get("exp").and_then(Value::as_i64);
    let remaining = id_exp.map_or(0, |exp| exp.saturating_sub(server.now()));
    let Ok(remaining @ 1..) = u64::try_from(remaining) else {
        return Err(OAuthError::new(
            400,
            codes::INVALID_GRANT,
            "id_token_expired: the ID token has no time left for a passport",
        ));
    };
    let proven = dpop_binding(server, headers, None).await?;
    let ttl = acting.clamp(server, server.inner.passport_ttl.min(remaining))?;
    let jkt = acting.jkt.or(proven);
    tracing::info!(
        client_id = %client.client_id,
        sub = %assertion.subject,
        "upstream ID token exchanged"
    );
    let candidate = Candidate {
        agent_id: acting.agent_id.as_str().to_owned(),
        principal: assertion.subject.clone(),
        client_id: client.client_id.clone(),
        audience: audience.as_str().to_owned(),
        scopes: scopes.clone(),
        ttl,
        parent_jti: None,
        // a root, but it depends on the actor passport as a child on its
        // parent: bound to its key, expiring with it
        actor_jti: acting.jti.clone(),
        replaces: None,
    };
    let mut answer = mint(server, client, candidate, move |issuer, admitted| {
        let mut request =
            IssuanceRequest::new(assertion, audience, acting.agent_id, acting.model, scopes)
                .ttl(admitted.ttl);
        // capped again when signed: time passes between reading what is
        // left and signing (review S14: the root could outlive the ID token
        // by a second)
        if let Some(exp) = id_exp {
            request = request.not_after(exp);
        }
        if let Some(jkt) = jkt {
            request = request.holder_jkt(jkt);
        }
        issuer.issue(request).map_err(issue_error)
    })
    .await?;
    answer["issued_token_type"] = json!(TokenType::AccessToken.as_str());
    Ok(answer)
}

/// A refused ID token is `invalid_grant` with the passport-oidc code; a
/// provider that cannot be reached (discovery, JWKS) is 503.
fn id_token_error(e: &OidcError) -> OAuthError {
    match e {
        OidcError::DiscoveryFailed(_) | OidcError::JwksFailed(_) | OidcError::HttpFailed(_) => {
            tracing::warn!(error = %e, "the upstream provider is unavailable");
            OAuthError::new(
                503,
                codes::TEMPORARILY_UNAVAILABLE,
                "the upstream provider is unavailable",
            )
        }
        _ => OAuthError::new(
            400,
            codes::INVALID_GRANT,
            format!("{}: the ID token is refused: {e}", e.code()),
        ),
    }
}
