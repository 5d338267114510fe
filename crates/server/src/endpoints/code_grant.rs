//! `/token` with `authorization_code` (RFC 6749 §4.1.3, OAuth 2.1, PKCE
//! S256) and `refresh_token` (RFC 6749 §6, rotated on every use), and the
//! RFC 7009 revocation of a refresh token.
//!
//! - A code is read first (not used) to check the request against it —
//!   its client, its exact redirect URI, the PKCE verifier, the resource —
//!   so that a request that fails a check does not spend it. Only then is
//!   it consumed, naming the `jti` about to be minted; a second use is
//!   `code_reused` carrying the first use's `jti`s, which are revoked.
//!   A first use still minting when the reuse is refused cannot be missed
//!   (see [`authorization_code`]): the reuse marks the code, and the first
//!   use re-reads that mark after recording its passport.
//! - A refresh token lives in a family (one per authorization). Each use
//!   rotates it; a rotated token presented again revokes the family and
//!   every passport issued in it. A family whose code grant was DPoP-bound
//!   refreshes only with a proof by that key. Revoking (RFC 7009) any
//!   passport issued in a family ends the family at once; a passport
//!   revoked otherwise (a cascade from elsewhere) ends it at the next
//!   refresh, which is refused.
//! - Governance ([`admit`]) is asked before the code is consumed or the
//!   refresh token rotated, so a refusal (an approval pending, say) spends
//!   neither: the client asks again with the same one. A code already
//!   used, or a token already rotated or revoked, skips that question and
//!   goes straight to its use, which takes it as a reuse (or refuses it).
//! - A family ends at its start (the code grant) plus
//!   `refresh_grant_max_lifetime`, however often it is rotated: no
//!   successor expires later, and a refresh past it is `invalid_grant`
//!   (`refresh_grant_expired`). The principal logs in again.

use passport_store::server::{
    CodeGrant, NewRefreshToken, RefreshFamily, RefreshGrant, RefreshSuccessor, TokenHash,
};
use serde::{Deserialize, Serialize};

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::grant::GrantedPrincipal;
use crate::pkce::CodeChallenge;

/// The agent model recorded in the passports of the code flow: the server
/// knows the OAuth client, not the model behind it.
const CLIENT_MODEL: &str = "oauth-client";

/// What a refresh family keeps in its `claims` column: the principal, the
/// DPoP key the grant is bound to (if the code grant was), and when the
/// grant started (Unix seconds; absent in families of earlier versions,
/// whose start is their first passport's `iat`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyClaims {
    principal: GrantedPrincipal,
    jkt: Option<String>,
    #[serde(default)]
    started_at: Option<i64>,
}

/// The refusal of a refresh past the grant's maximum lifetime.
const GRANT_EXPIRED: &str = "refresh_grant_expired: the grant has reached its maximum lifetime; \
     the principal must log in again";

fn invalid_grant(why: &str) -> OAuthError {
    OAuthError::new(400, codes::INVALID_GRANT, why)
}

fn stored_error(what: &str) -> impl Fn(StoreError) -> OAuthError + '_ {
    move |e| server_error(what, &e)
}

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and RFC 8707.
///
/// A missing `code_verifier` never gets here: `TokenRequest::from_form`
/// refuses it as `invalid_request` (OAuth 2.1 §4.1.3 makes it REQUIRED
/// whenever the authorization request had a `code_challenge`, which ours
/// always do; §3.2.4 answers a missing required parameter with
/// `invalid_request`). A verifier that does not match is `invalid_grant`
/// (RFC 7636 §4.6).
///
/// A reuse racing the first use. The first use W: (1) consumes the code
/// naming its `jti`, (2) records its passport, (3) re-reads the code's
/// reuse mark and revokes its own passport if it is set. A reuse L:
/// (a) finds the code used and marks it reused, both in one committed
/// transaction, then (b) revokes the `jti`s the code names, skipping one
/// not recorded yet. (a) sees (1), so (a) commits after (1). Either (2)
/// commits before (b) reads the registry, and (b) revokes the passport; or
/// (b) ran before (2) — then (a) < (b) < (2) < (3), and (3) sees the mark.
/// No interleaving leaves the passport of a reused code active, and
/// nothing waits. The refresh grant has the same shape ([`refresh_token`]).
#[allow(clippy::too_many_arguments)]
pub(super) async fn authorization_code(
    server: &Server,
    client: &ClientRecord,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    resource: Option<String>,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    let db = &server.inner.db;
    let hash = TokenHash::of(code);
    let stored = db
        .code(&hash)
        .await
        .map_err(stored_error("the authorization code could not be read"))?
        .ok_or_else(|| invalid_grant("unknown_code: this code was not issued here"))?;
    if stored.client_id != client.client_id {
        return Err(invalid_grant(
            "code_client_mismatch: the code was issued to another client",
        ));
    }
    if stored.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri_mismatch: redirect_uri differs from the authorization request's",
        ));
    }
    CodeChallenge::from_stored(&stored.code_challenge)
        .map_err(|e| server_error("a stored code_challenge is invalid", &e))?
        .verify(Some(code_verifier))
        .map_err(|e| {
            let answer = e.oauth();
            OAuthError::new(answer.status, answer.error, format!("{}: {e}", e.code()))
        })?;
    if resource.as_deref().is_some_and(|r| r != stored.resource) {
        return Err(OAuthError::new(
            400,
            codes::INVALID_TARGET,
            "resource differs from the authorization request's",
        ));
    }
    // never a default identity: a principal this version cannot read refuses
    let principal = GrantedPrincipal::from_json(&stored.claims).ok_or_else(|| {
        server_error(
            "the authorization code's principal is unreadable",
            &StoreError::Corrupt("claims".into()),
        )
    })?;
    let audience = Audience::new(stored.resource.clone())
        .map_err(|e| server_error("the authorization code's resource is invalid", &e))?;
    let scopes = ScopeSet::parse(stored.scope.split_ascii_whitespace())
        .map_err(|e| server_error("the authorization code's scope is invalid", &e))?;
    let scopes = granted_scopes(client, Some(scopes))?;
    let jkt = dpop_binding(server, headers, None).await?;

    let now = server.now();
    let candidate = root_candidate(server, client, &principal, &audience, &scopes, None)?;
    let live = stored.expires_at > now
        && !db
            .code_spent(&hash)
            .await
            .map_err(stored_error("the authorization code could not be read"))?;
    let admitted = admit_if_live(server, &candidate, live).await?;

    let jti = new_id()?;
    let used = {
        let (hash, jti) = (hash.clone(), jti.clone());
        let client_id = client.client_id.clone();
        crate::governance::spawn_to_end(server, "revocation", move |server| async move {
            use_code(&server, &hash, now, jti, &client_id).await
        })
        .await?
    };
    match used {
        Ok(grant) if grant == stored => {}
        Ok(_) => return Err(invalid_grant("the authorization code changed meanwhile")),
        Err(StoreError::CodeExpired) => {
            return Err(invalid_grant("code_expired: the code has expired"));
        }
        Err(StoreError::UnknownCode) => {
            return Err(invalid_grant("unknown_code: this code was not issued here"));
        }
        Err(e) => return Err(server_error("the authorization code could not be used", &e)),
    }
    let admitted = admitted_after_use(server, &candidate, admitted).await?;

    let refresh = if client.grant_types.iter().any(|g| g == "refresh_token") {
        let token = crate::service::random_token()
            .map_err(|e| server_error("no refresh token could be generated", &e))?;
        let claims = FamilyClaims {
            principal: principal.clone(),
            jkt: jkt.clone(),
            started_at: Some(now),
        };
        db.insert_refresh_token(NewRefreshToken {
            token: TokenHash::of(&token),
            family_id: new_id()?,
            client_id: client.client_id.clone(),
            passport_jti: jti.clone(),
            scope: scope_string(&scopes),
            claims: serde_json::to_string(&claims)
                .map_err(|e| server_error("the refresh family could not be written", &e))?,
            expires_at: refresh_expiry(server, now, grant_end(server, now)),
            created_at: now,
        })
        .await
        .map_err(stored_error("the refresh token could not be recorded"))?;
        Some(token)
    } else {
        None
    };
    let mut answer = mint_root(
        server,
        client,
        &principal,
        audience,
        jkt,
        &jti,
        (candidate, admitted),
    )
    .await?;
    // recorded: a reuse refused meanwhile may have missed it (see above)
    let reused = db
        .code_reused(&hash)
        .await
        .map_err(stored_error("the authorization code could not be read"))?;
    if reused {
        revoke_passports(server, std::slice::from_ref(&jti)).await?;
        tracing::warn!(
            client_id = %client.client_id,
            "authorization code reused while its first use was minting: its passport is revoked"
        );
    }
    if let Some(token) = refresh {
        answer["refresh_token"] = json!(token);
    }
    Ok(answer)
}

/// RFC 6749 §6, rotated: the refresh token of the authenticated client
/// (and, for a DPoP-bound grant, a proof by its key) yields a new passport
/// for the same principal and resource, within the family's scopes, and a
/// new refresh token; the presented one is spent.
///
/// A reuse of the presented token racing this rotation is ordered as a
/// code's reuse ([`authorization_code`]): the reuse revokes the family in
/// its transaction — the successor recorded by this rotation included —
/// with the family's recorded passports; this rotation re-reads its
/// successor's state after recording its passport and revokes that
/// passport if the family is revoked.
pub(super) async fn refresh_token(
    server: &Server,
    client: &ClientRecord,
    refresh_token: &str,
    scope: Option<ScopeSet>,
    resource: Option<String>,
    headers: &HeaderMap,
) -> Result<Value, OAuthError> {
    let db = &server.inner.db;
    let hash = TokenHash::of(refresh_token);
    let family = db
        .refresh_family(&hash)
        .await
        .map_err(stored_error("the refresh token could not be read"))?
        .ok_or_else(|| invalid_grant("unknown_refresh_token: this token was not issued here"))?;
    // checked before the token is used: a stranger does not spend it
    if family.client_id != client.client_id {
        return Err(invalid_grant(
            "refresh_client_mismatch: the refresh token was issued to another client",
        ));
    }
    let claims: FamilyClaims = serde_json::from_str(&family.claims)
        .map_err(|e| server_error("the refresh family's principal is unreadable", &e))?;
    let started_at = match claims.started_at {
        Some(at) => at,
        None => legacy_start(server, &family).await?,
    };
    let grant_ends = grant_end(server, started_at);
    if server.now() >= grant_ends {
        return Err(invalid_grant(GRANT_EXPIRED));
    }
    let jkt = dpop_binding(server, headers, claims.jkt.as_deref()).await?;
    if claims.jkt.is_some() && jkt.is_none() {
        return Err(invalid_grant(
            "the grant is bound to a key: send a DPoP proof by that key",
        ));
    }
    // RFC 9449 §5: a refresh token issued to a public client in answer to
    // a DPoP-bound request is bound to that key. A public client's grant
    // made without DPoP is bound by its first DPoP-bound refresh: from the
    // next token on, a refresh needs a proof by the key (a thief of the
    // token without it gets nothing). A confidential client's token stays
    // bound to its authentication instead (its DPoP key may change).
    let binds = claims.jkt.is_none() && client.auth_method == "none";
    let rebound = match jkt.as_ref().filter(|_| binds) {
        Some(key) => Some(
            serde_json::to_string(&FamilyClaims {
                jkt: Some(key.clone()),
                started_at: Some(started_at),
                ..claims.clone()
            })
            .map_err(|e| server_error("the refresh family's claims could not be written", &e))?,
        ),
        None => None,
    };
    let previous = db
        .passport(&family.passport_jti)
        .await
        .map_err(stored_error("the registry could not be read"))?
        .ok_or_else(|| invalid_grant("the grant's passport was never issued"))?;
    if previous.state != PassportState::Active {
        // the grant was killed: its family goes with it
        end_family(server, &family).await?;
        return Err(invalid_grant(
            "refresh_token_revoked: the grant's passport was revoked; so is the grant",
        ));
    }
    let original = previous.entry.audience;
    if resource.as_deref().is_some_and(|r| r != original) {
        return Err(OAuthError::new(
            400,
            codes::INVALID_TARGET,
            "resource differs from the original grant's",
        ));
    }
    let granted = ScopeSet::parse(family.scope.split_ascii_whitespace())
        .map_err(|e| server_error("the refresh family's scope is invalid", &e))?;
    let scopes = match scope {
        // RFC 6749 §6: a scope not originally granted is refused
        Some(asked) => {
            let beyond = asked.not_implied_by(&granted);
            if !beyond.is_empty() || !asked.attenuates(&granted) {
                let names: Vec<&str> = beyond.iter().map(|p| p.as_str()).collect();
                return Err(OAuthError::new(
                    400,
                    codes::INVALID_SCOPE,
                    format!("beyond the original grant: {}", names.join(" ")),
                ));
            }
            asked
        }
        None => granted,
    };
    let scopes = granted_scopes(client, Some(scopes))?;
    let audience =
        Audience::new(original).map_err(|e| server_error("the grant's resource is invalid", &e))?;

    let now = server.now();
    // the family's previous passport is ROTATED
    let replaces = Some(family.passport_jti.clone());
    let candidate = root_candidate(
        server,
        client,
        &claims.principal,
        &audience,
        &scopes,
        replaces,
    )?;
    let live = family.expires_at > now
        && !db
            .refresh_spent(&hash)
            .await
            .map_err(stored_error("the refresh token could not be read"))?;
    let admitted = admit_if_live(server, &candidate, live).await?;

    let jti = new_id()?;
    let next = crate::service::random_token()
        .map_err(|e| server_error("no refresh token could be generated", &e))?;
    let next_hash = TokenHash::of(&next);
    let successor = RefreshSuccessor {
        token: next_hash.clone(),
        passport_jti: jti.clone(),
        expires_at: refresh_expiry(server, now, grant_ends),
        claims: rebound,
    };
    let rotated = {
        let hash = hash.clone();
        let client_id = client.client_id.clone();
        crate::governance::spawn_to_end(server, "revocation", move |server| async move {
            rotate(&server, &hash, successor, now, &client_id).await
        })
        .await?
    };
    match rotated {
        Ok(grant) if grant.family_id == family.family_id => {}
        Ok(_) => return Err(invalid_grant("the refresh token changed meanwhile")),
        Err(
            e @ (StoreError::RefreshRevoked
            | StoreError::RefreshExpired
            | StoreError::UnknownRefreshToken),
        ) => {
            return Err(invalid_grant(&format!("{}: {e}", e.code())));
        }
        Err(e) => return Err(server_error("the refresh token could not be used", &e)),
    }
    let admitted = admitted_after_use(server, &candidate, admitted).await?;
    let mut answer = mint_root(
        server,
        client,
        &claims.principal,
        audience,
        jkt,
        &jti,
        (candidate, admitted),
    )
    .await?;
    // recorded: a reuse (or a revocation) of the family meanwhile may have
    // missed it
    let revoked = db
        .refresh_revoked(&next_hash)
        .await
        .map_err(stored_error("the refresh token could not be read"))?;
    if revoked {
        revoke_passports(server, std::slice::from_ref(&jti)).await?;
        tracing::warn!(
            client_id = %client.client_id,
            family = %family.family_id,
            "refresh family revoked while a rotation was minting: its passport is revoked"
        );
    }
    answer["refresh_token"] = json!(next);
    Ok(answer)
}

/// RFC 7009 for a refresh token: its family and every passport issued in
/// it are revoked (RFC 7009 §2.1: the access tokens of the same grant go
/// too). `Ok(false)` when `token` is not one (a passport bundle is a JWS,
/// with dots; a refresh token never has one), so the hint is not needed.
/// An unknown refresh token is `Ok(true)`: 200, like any unknown token.
pub(super) async fn revoke_refresh_token(
    server: &Server,
    client: &ClientRecord,
    token: &str,
) -> Result<bool, OAuthError> {
    if token.contains('.') {
        return Ok(false);
    }
    let Some(family) = server
        .inner
        .db
        .refresh_family(&TokenHash::of(token))
        .await
        .map_err(stored_error("the refresh token could not be read"))?
    else {
        return Ok(true);
    };
    if family.client_id != client.client_id {
        return Err(OAuthError::new(
            400,
            codes::UNAUTHORIZED_CLIENT,
            "this token was not issued to this client",
        ));
    }
    end_family(server, &family).await?;
    Ok(true)
}

/// RFC 7009 §2.1 for a passport a refresh family issued (the code grant's
/// or any rotation's, the latest or not): the family ends — its refresh
/// tokens and every passport issued in it are revoked. Nothing for a
/// passport no family issued (client credentials, token exchange).
pub(crate) async fn end_family_of(server: &Server, jti: &str) -> Result<(), OAuthError> {
    let family = server
        .inner
        .db
        .refresh_family_of(jti)
        .await
        .map_err(stored_error("the refresh family could not be read"))?;
    match family {
        Some(family) => end_family(server, &family).await,
        None => Ok(()),
    }
}

/// The root passport of a grant as governance sees it: for the client's
/// agent, `principal`, `audience` and `scopes`, replacing the passport
/// `replaces` names (a refresh: the family's previous one).
fn root_candidate(
    server: &Server,
    client: &ClientRecord,
    principal: &GrantedPrincipal,
    audience: &Audience,
    scopes: &ScopeSet,
    replaces: Option<String>,
) -> Result<Candidate, OAuthError> {
    Ok(Candidate {
        agent_id: agent_of(client)?.as_str().to_owned(),
        principal: principal.subject.clone(),
        client_id: client.client_id.clone(),
        audience: audience.as_str().to_owned(),
        scopes: scopes.clone(),
        ttl: server.inner.passport_ttl,
        parent_jti: None,
        actor_jti: None,
        replaces,
    })
}

/// Governance's admission of `candidate`, asked BEFORE the code or refresh
/// token is spent: a refusal (an approval pending, say) spends nothing, and
/// the client asks again with the same code or token. `None` for one that
/// is not live (used, revoked or expired): its use refuses it — a reuse is
/// still taken as one, at once — and governance is not asked about what
/// will not be minted. The admission stands for the mint that follows the
/// use; a kill-switch engaged in between is caught once the passport is
/// recorded ([`mint_admitted`]).
async fn admit_if_live(
    server: &Server,
    candidate: &Candidate,
    live: bool,
) -> Result<Option<Admission>, OAuthError> {
    if live {
        admit(server, candidate).await.map(Some)
    } else {
        Ok(None)
    }
}

/// The admission after a successful use: the one asked before, or — for a
/// code or token that was not live when read and yet was used (never, but
/// nothing is minted unadmitted) — governance asked now.
async fn admitted_after_use(
    server: &Server,
    candidate: &Candidate,
    before: Option<Admission>,
) -> Result<Admission, OAuthError> {
    match before {
        Some(admitted) => Ok(admitted),
        None => admit(server, candidate).await,
    }
}

/// Mints the root passport of a grant (reusing [`mint_admitted`]) for the
/// `candidate` governance `admitted`, with the given `jti` (already named
/// to the store), bound to `jkt` if any.
async fn mint_root(
    server: &Server,
    client: &ClientRecord,
    principal: &GrantedPrincipal,
    audience: Audience,
    jkt: Option<String>,
    jti: &str,
    (candidate, admitted): (Candidate, Admission),
) -> Result<Value, OAuthError> {
    let jti = jti.to_owned();
    let identity = principal.assertion();
    let model = AgentModel::new(CLIENT_MODEL).map_err(|e| server_error("agent model", &e))?;
    let agent = agent_of(client)?;
    let scopes = candidate.scopes.clone();
    mint_admitted(
        server,
        client,
        candidate,
        admitted,
        move |issuer, admitted| {
            let mut request = IssuanceRequest::new(identity, audience, agent, model, scopes)
                .ttl(admitted.ttl)
                .jti(jti);
            if let Some(jkt) = jkt {
                request = request.holder_jkt(jkt);
            }
            issuer.issue(request).map_err(issue_error)
        },
    )
    .await
}

/// Consumes the code `hash` for `jti` (the store's answer, for the caller
/// to handle) — but a reuse is handled here: everything the code's first
/// use issued (OAuth 2.1 §4.1.3) — its passport, and the refresh family it
/// started with whatever that family issued since by rotation — is
/// revoked and audited, and the reuse answered `code_reused`. Run by
/// [`spawn_to_end`](crate::governance::spawn_to_end): the `reused` mark the store commits is never left
/// without the revocation.
async fn use_code(
    server: &Server,
    hash: &TokenHash,
    now: i64,
    jti: String,
    client_id: &str,
) -> Result<Result<CodeGrant, StoreError>, OAuthError> {
    match server
        .inner
        .db
        .consume_code(hash, now, std::slice::from_ref(&jti))
        .await
    {
        Err(StoreError::CodeReused { issued }) => {
            for jti in &issued {
                end_family_of(server, jti).await?;
            }
            revoke_passports(server, &issued).await?;
            tracing::warn!(
                client_id = %client_id,
                revoked = issued.len(),
                "authorization code reused: what its first use issued is revoked"
            );
            Err(invalid_grant(
                "code_reused: the code was already used; what it issued is revoked",
            ))
        }
        used => Ok(used),
    }
}

/// Rotates the refresh token `hash` to `next` (the store's answer, for the
/// caller to handle) — but a reuse is handled here: the store ended the
/// family, its passports with it, in the transaction that saw the reuse
/// (the newest included, however long the family), and what it revoked
/// is audited, and the reuse answered `refresh_token_reused`. Run by
/// [`spawn_to_end`](crate::governance::spawn_to_end): no revocation goes unaudited.
async fn rotate(
    server: &Server,
    hash: &TokenHash,
    next: RefreshSuccessor,
    now: i64,
    client_id: &str,
) -> Result<Result<RefreshGrant, StoreError>, OAuthError> {
    match server.inner.db.rotate_refresh(hash, next, now).await {
        Err(StoreError::RefreshReused { family, revoked }) => {
            crate::governance::audit::revoked(server, "passport-server", &revoked).await?;
            tracing::warn!(
                client_id = %client_id,
                family = %family,
                revoked = revoked.len(),
                "refresh token reused: its family and passports are revoked"
            );
            Err(invalid_grant(
                "refresh_token_reused: the token was already used; its grant is revoked",
            ))
        }
        rotated => Ok(rotated),
    }
}

/// Revokes a family's refresh tokens and every passport issued in it (in
/// one transaction, whatever the family's size), and records what it
/// revoked — to the end, whether or not the request waits ([`spawn_to_end`](crate::governance::spawn_to_end)).
async fn end_family(server: &Server, family: &RefreshFamily) -> Result<(), OAuthError> {
    let family_id = family.family_id.clone();
    crate::governance::spawn_to_end(server, "revocation", move |server| async move {
        let revoked = server
            .inner
            .db
            .end_refresh_family(&family_id, server.now())
            .await
            .map_err(stored_error("the refresh family could not be revoked"))?;
        crate::governance::audit::revoked(&server, "passport-server", &revoked).await?;
        tracing::info!(
            family = %family_id,
            revoked = revoked.len(),
            "refresh family revoked"
        );
        Ok(())
    })
    .await
}

/// Revokes each passport (and its descendants): the few a code's first use
/// or a rotation's mint issued. A `jti` not in the registry (yet) is
/// skipped: a first use still minting revokes its own passport when it
/// sees the reuse (see [`authorization_code`]).
async fn revoke_passports(server: &Server, jtis: &[String]) -> Result<(), OAuthError> {
    for jti in jtis {
        match server.inner.db.revoke_cascade(jti, server.now()).await {
            Ok(revoked) => {
                crate::governance::audit::revoked(server, "passport-server", &revoked).await?;
            }
            Err(StoreError::UnknownRecord(_)) => {}
            Err(e) => return Err(server_error("the revocation failed", &e)),
        }
    }
    Ok(())
}

/// A refresh token issued `now` expires `refresh_ttl` later, never after
/// its grant ends.
fn refresh_expiry(server: &Server, now: i64, grant_ends: i64) -> i64 {
    now.saturating_add(i64::try_from(server.inner.refresh_ttl).unwrap_or(i64::MAX))
        .min(grant_ends)
}

/// When a grant started at `started_at` ends.
fn grant_end(server: &Server, started_at: i64) -> i64 {
    started_at
        .saturating_add(i64::try_from(server.inner.refresh_grant_max_lifetime).unwrap_or(i64::MAX))
}

/// The start of a family written before families recorded it: its first
/// passport's `iat`. A family whose first passport is not in the registry
/// is taken as ended (refused: the principal logs in again).
async fn legacy_start(server: &Server, family: &RefreshFamily) -> Result<i64, OAuthError> {
    let Some(first) = family.first_passport.as_deref() else {
        return Err(invalid_grant(GRANT_EXPIRED));
    };
    match server
        .inner
        .db
        .passport(first)
        .await
        .map_err(stored_error("the registry could not be read"))?
    {
        Some(record) => Ok(record.entry.iat),
        None => Err(invalid_grant(GRANT_EXPIRED)),
    }
}

/// 128 random bits: a `jti` or a family id.
fn new_id() -> Result<String, OAuthError> {
    crate::service::random_id().map_err(|e| server_error("no random id could be drawn", &e))
}
