//! `/introspect` and `/revoke`.

#[allow(clippy::wildcard_imports)]
use super::*;

// ---- /introspect and /revoke ----

/// Verifies a presented bundle against this server's keys (every link's
/// signature and every SPEC §5 chain rule) and the registry (every link
/// recorded and active): `Ok(None)` for a token that is not a valid, active
/// passport of this server. When the server cannot tell — the registry
/// cannot be read, or a key it does not know may be one the database has
/// but could not be read — 503 `temporarily_unavailable`, never `None`: a
/// revocation answered 200 would not have happened (RFC 7009 §2.2.1).
pub(super) async fn verified(
    server: &Server,
    token: &str,
) -> Result<Option<(VerifiedPassport, Vec<String>)>, OAuthError> {
    server.reload_keys_if_due().await;
    let Ok(bundle) = UnverifiedBundle::parse(token) else {
        return Ok(None);
    };
    // the audience is only read to pick the verifier: the signature then
    // covers it like every other claim. Only it is decoded here (the
    // verifier decodes the rest, or finds the token in its cache).
    let Some(audience) = leaf_audience(bundle.leaf()) else {
        return Ok(None);
    };
    let audience = audience.as_str();
    let verify = |keys: &crate::keys::KeySet| {
        let verifier = keys.verifier(server.issuer(), audience, &server.inner.clock)?;
        let outcome = verifier.verify_bundle_pending_proof(&bundle)?;
        // warm from now on: it verified a passport of this issuer
        keys.keep(&verifier);
        Ok::<_, VerifyError>(outcome)
    };
    let outcome = match verify(&server.keys()) {
        Err(e) if e.code() == "unknown_kid" => {
            if !server.reload_keys_for_unknown_kid().await {
                return Err(unavailable("the signing keys could not be read"));
            }
            verify(&server.keys())
        }
        other => other,
    };
    let Ok(outcome) = outcome else {
        return Ok(None);
    };
    // a bound passport is valid only with a proof, which the resource
    // server checks; introspection reports its cnf
    let passport = match outcome {
        passport_verifier::Verification::Verified(v) => v,
        // (this verifier has no audit sink: recording cannot fail)
        passport_verifier::Verification::ProofRequired(p) => p
            .dangerous_assume_proven()
            .map_err(|_| unavailable("the verification could not be recorded"))?,
        _ => return Ok(None),
    };
    // by this server's own clock, without the offline verifiers' skew
    // (RFC 7662 §2.2: active means not expired, here and now)
    let now = server.now();
    if passport.links().iter().any(|link| link.exp <= now) {
        return Ok(None);
    }
    // every link recorded and active: the epoch first, then the rows (see
    // crate::active_cache), so no revocation on any instance is missed
    let db = &server.inner.db;
    let registry = |e: StoreError| {
        tracing::error!(error = %e, "the registry could not be read");
        unavailable("the registry could not be read")
    };
    let epoch = server.inner.epoch.read(db).await.map_err(registry)?;
    let mut client = Vec::new();
    for link in passport.links() {
        if let Some(known) = server.inner.active.get(epoch, &link.jti) {
            client.push(known);
            continue;
        }
        let Some(record) = db.passport(&link.jti).await.map_err(registry)? else {
            return Ok(None);
        };
        if record.state != PassportState::Active {
            return Ok(None);
        }
        server
            .inner
            .active
            .insert(epoch, &link.jti, &record.entry.client_id);
        client.push(record.entry.client_id);
    }
    Ok(Some((passport, client)))
}

/// 503 `temporarily_unavailable`: the server cannot answer now (the cause
/// is logged where it is known).
fn unavailable(what: &str) -> OAuthError {
    OAuthError::new(
        503,
        codes::TEMPORARILY_UNAVAILABLE,
        format!("{what}; try again later"),
    )
}

/// The unverified `aud` of a compact JWS, to pick the verifier by: its
/// payload's only member read (a duplicate or a non-string `aud` fails,
/// and the token is inactive).
fn leaf_audience(leaf: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Aud {
        aud: String,
    }
    let payload = leaf.split('.').nth(1)?;
    let bytes = passport_jose::b64::decode(payload)?;
    serde_json::from_slice::<Aud>(&bytes).ok().map(|a| a.aud)
}

pub(super) async fn introspect(State(server): State<Server>, request: Request) -> Response {
    match introspect_inner(&server, request).await {
        Ok(body) => no_store(&body),
        Err(e) => oauth_error(&e),
    }
}

pub(super) async fn introspect_inner(
    server: &Server,
    request: Request,
) -> Result<Value, OAuthError> {
    let posted = read_post(request).await?;
    let limiter = &server.inner.introspection_limiter;
    limit_address(limiter, &posted)?;
    let caller = authenticate(server, &posted.credentials()?, At::Introspect, posted.peer).await?;
    limit_client(limiter, &caller)?;
    let token = posted
        .form
        .get("token")
        .ok_or_else(|| OAuthError::new(400, codes::INVALID_REQUEST, "missing parameter: token"))?;
    let Some((passport, clients)) = verified(server, token).await? else {
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

pub(super) async fn revoke(State(server): State<Server>, request: Request) -> Response {
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
/// transaction, and ends the refresh family that issued it, if any. An unknown, invalid or already revoked token is 200. A
/// public client (`none`) may revoke its own tokens (RFC 7009 §2.1): whoever
/// presents one already holds it, and revoking only takes access away.
pub(super) async fn revoke_inner(server: &Server, request: Request) -> Result<(), OAuthError> {
    let posted = read_post(request).await?;
    let limiter = &server.inner.revocation_limiter;
    limit_address(limiter, &posted)?;
    let caller = authenticate(server, &posted.credentials()?, At::Revoke, posted.peer).await?;
    limit_client(limiter, &caller)?;
    let client = caller.record();
    let token = posted
        .form
        .get("token")
        .ok_or_else(|| OAuthError::new(400, codes::INVALID_REQUEST, "missing parameter: token"))?;
    if revoke_refresh_token(server, client, token).await? {
        return Ok(());
    }
    let Some((passport, clients)) = verified(server, token).await? else {
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
    // the grant that issued it ends too, whichever of its passports this is
    end_family_of(server, &claims.jti).await?;
    match server
        .inner
        .db
        .revoke_cascade(&claims.jti, server.now())
        .await
    {
        Ok(revoked) => {
            tracing::info!(jti = %claims.jti, revoked = revoked.len(), "passport revoked");
            let jtis: Vec<String> = revoked.iter().map(|r| r.jti.clone()).collect();
            crate::governance::events::publish(
                server,
                crate::governance::events::Event::Revoked { jtis },
            );
            crate::governance::audit::revoked(server, &client.client_id, &revoked).await
        }
        Err(StoreError::UnknownRecord(_)) => Ok(()),
        Err(e) => Err(server_error("the revocation failed", &e)),
    }
}
