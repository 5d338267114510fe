//! Metadata, the JWKS and the status list.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use passport_store::server::StatusListVersion;

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
    server.reload_keys_if_due().await;
    json_response(
        &server.keys().jwks,
        &format!("public, max-age={}", crate::keys::JWKS_MAX_AGE),
    )
}

/// The signed Token Status List. Signed again only when what it says
/// changed — a revocation by any instance on this database (the registry's
/// revocation epoch), a larger index space, a new signing key — or when
/// the one kept is a `ttl` old: each request reads the list's version (one
/// indexed read) and otherwise answers the list kept ([`StatusListCache`]).
/// A revocation shows on the next fetch from any instance.
pub(super) async fn status_list(State(server): State<Server>) -> Response {
    // signed with the current key, never one retired (and unpublished) since
    server.reload_keys_if_due().await;
    match served_status_list(&server).await {
        Ok(token) => {
            let ttl = server.inner.status_ttl;
            let mut response = token.to_string().into_response();
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

/// The signed status list an instance keeps between requests.
#[derive(Debug, Default)]
pub(crate) struct StatusListCache {
    kept: Mutex<Option<Arc<KeptList>>>,
    signed: AtomicU64,
}

#[derive(Debug)]
struct KeptList {
    /// The registry's state it was built from (or newer).
    version: StatusListVersion,
    /// The key it is signed with.
    kid: String,
    /// Its `iat` ([`list_iat`]).
    iat: i64,
    token: Arc<str>,
}

impl Server {
    /// How many times this instance has signed its status list: a list
    /// is signed again only when a revocation, a larger index space, a
    /// new key or its age (the list's `ttl`) calls for it, not at each
    /// request.
    pub fn status_list_signatures(&self) -> u64 {
        self.inner.status_list.signed.load(Ordering::Relaxed)
    }
}

/// The `iat` of a list signed at `now`: the start of the current period of
/// `ttl` seconds (at most half the list's lifetime). Every instance signing
/// in one period names the same `iat`, so a verifier fed alternately by
/// several instances never sees a list older than one it has seen (which
/// it would refuse as a rollback); a kept list is served at most one
/// period, so never older than its `ttl` promises.
fn period_start(now: i64, ttl: u64) -> i64 {
    let period = i64::try_from(ttl)
        .unwrap_or(i64::MAX)
        .clamp(1, STATUS_LIST_LIFETIME / 2);
    now - now.rem_euclid(period)
}

/// The `iat` of a list showing the registry at `version`, signed at
/// `now`: the start of the period ([`period_start`]), or the time of the
/// latest revocation it shows if that is later. A list from before a
/// revocation is then strictly older than every list after it (unless
/// both fall in the revocation's second), and a verifier that has seen the
/// newer one refuses the older as a rollback — with the period start
/// alone, both named the same `iat` for up to a period. Every instance
/// reads the same time from the database, so they still sign the same
/// `iat` for the same state.
fn list_iat(now: i64, ttl: u64, version: &StatusListVersion) -> i64 {
    period_start(now, ttl).max(version.revoked_at)
}

async fn served_status_list(server: &Server) -> Result<Arc<str>, OAuthError> {
    let inner = &server.inner;
    let uri = inner.status_uri.as_str();
    let version = inner
        .db
        .status_list_version(uri)
        .await
        .map_err(|e| server_error("the status list could not be read", &e))?;
    let keys = server.keys();
    let now = server.now();
    let iat = list_iat(now, inner.status_ttl, &version);
    let cache = &inner.status_list;
    let kept = cache
        .kept
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(kept) = kept
        && kept.version == version
        && kept.iat == iat
        && kept.kid == keys.kid()
    {
        return Ok(Arc::clone(&kept.token));
    }
    let (version, iat, token) = signed_status_list(server, uri, now).await?;
    cache.signed.fetch_add(1, Ordering::Relaxed);
    let token: Arc<str> = token.into();
    *cache.kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(KeptList {
        version,
        kid: keys.kid().to_owned(),
        iat,
        token: Arc::clone(&token),
    }));
    Ok(token)
}

/// The list `uri` as the registry has it now, signed at `now`: the version
/// it was built from, its `iat` ([`list_iat`] of that version: at least
/// the time of every revocation it shows) and the token.
async fn signed_status_list(
    server: &Server,
    uri: &str,
    now: i64,
) -> Result<(StatusListVersion, i64, String), OAuthError> {
    // The list covers the whole index space the allocator draws from (a
    // power of two of at least 2^16 entries, twice the places handed out):
    // every index is inside it, and its size tells little of how many exist.
    let (version, revoked) = server
        .inner
        .db
        .status_list_snapshot(uri)
        .await
        .map_err(|e| server_error("the status list could not be read", &e))?;
    let iat = list_iat(now, server.inner.status_ttl, &version);
    let mut list = StatusList::with_capacity(1, version.space)
        .map_err(|e| server_error("the status list could not be built", &e))?;
    for idx in revoked {
        list.set(idx, Status::Invalid.value())
            .map_err(|e| server_error("the status list could not be built", &e))?;
    }
    let token = StatusListToken::sign(
        &server.keys().key,
        uri,
        &list,
        iat,
        iat.saturating_add(STATUS_LIST_LIFETIME),
        server.inner.status_ttl,
    )
    .map_err(|e| server_error("the status list could not be signed", &e))?;
    Ok((version, iat, token))
}
