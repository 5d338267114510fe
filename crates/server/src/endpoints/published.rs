//! Metadata, the JWKS and the status list.

#[allow(clippy::wildcard_imports)]
use super::*;

// ---- metadata, keys, status ----

/// The RFC 8414 document, listing only what this server implements — a
/// client must never be sent to an endpoint that does not exist: the
/// authorization endpoint (code, PKCE S256, RFC 9207 `iss`) only with an
/// upstream provider; registration only when it is on; client ID metadata
/// documents and the four client authentication methods.
pub(super) async fn metadata(State(server): State<Server>) -> Response {
    let issuer = &server.inner.issuer;
    let options = MetadataOptions {
        dynamic_registration: server.inner.clients.registration,
        client_id_metadata_documents: true,
        algorithms: clients::ASSERTION_ALGORITHMS.to_vec(),
        ..MetadataOptions::default()
    };
    let mut document = ServerMetadata::new(issuer, &options);
    // `/authorize` only with an upstream provider to log principals in;
    // without it no code is ever issued, so neither the code grant nor the
    // refresh tokens that come only with it are offered
    let authorize = server.inner.upstream.is_some();
    document.grant_types_supported = if authorize {
        vec![
            "authorization_code",
            "refresh_token",
            "client_credentials",
            TOKEN_EXCHANGE,
        ]
    } else {
        vec!["client_credentials", TOKEN_EXCHANGE]
    };
    // client authentication: every method implemented (`none` for public
    // clients); introspection requires a credential, revocation allows a
    // public client's own tokens (RFC 7009 §2.1)
    document.token_endpoint_auth_methods_supported = AUTH_METHODS.to_vec();
    document.introspection_endpoint_auth_methods_supported = AUTH_METHODS[1..].to_vec();
    document.revocation_endpoint_auth_methods_supported = AUTH_METHODS.to_vec();
    document.dpop_signing_alg_values_supported = server
        .inner
        .dpop
        .policy()
        .allowed_algorithms
        .iter()
        .map(|a| a.as_str())
        .collect();
    if !authorize {
        document.response_types_supported = Vec::new();
    }
    let mut value = serde_json::to_value(&document).unwrap_or_else(|_| json!({}));
    if let Some(map) = value.as_object_mut()
        && !authorize
    {
        for member in [
            "authorization_endpoint",
            "response_modes_supported",
            "code_challenge_methods_supported",
            "authorization_response_iss_parameter_supported",
        ] {
            map.remove(member);
        }
    }
    json_response(&value, "public, max-age=300")
}

/// The JWK Set of the instance's key set: built when the keys last
/// changed, not at each request.
pub(super) async fn jwks(State(server): State<Server>) -> Response {
    server.reload_keys_if_due(false).await;
    json_response(
        &server.keys().jwks,
        &format!("public, max-age={}", crate::keys::JWKS_MAX_AGE),
    )
}

/// The signed Token Status List, built from the registry at each request:
/// a revocation shows on the next fetch.
pub(super) async fn status_list(State(server): State<Server>) -> Response {
    // signed with the current key, never one retired (and unpublished) since
    server.reload_keys_if_due(false).await;
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

pub(super) async fn signed_status_list(server: &Server, uri: &str) -> Result<String, OAuthError> {
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
        &server.keys().key,
        uri,
        &list,
        now,
        now.saturating_add(STATUS_LIST_LIFETIME),
        server.inner.status_ttl,
    )
    .map_err(|e| server_error("the status list could not be signed", &e))
}
