//! Reading a POST and authenticating its client: the one place an endpoint
//! learns who calls. A [`Caller`] is made only by [`authenticate`], after
//! `client_auth::authenticate` checked the method the client registered
//! (its secret, its assertion, or `none` for a public client).

use std::sync::{Mutex, PoisonError};

use passport_jose::{Algorithm, JwkSet};
use passport_store::server::NewClient;

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::client_auth::{
    AssertionCheck, AssertionReplay, DEFAULT_ASSERTION_LIFETIME, FirstUse, RegisteredAuth,
    SecretHash,
};
use crate::client_metadata::{
    ClientMetadataDocument, ClientMetadataError, ClientMetadataFetcher, DocumentAuth,
};
use crate::lru::LruMap;
use crate::rate_limit::RateLimiter;

/// The algorithms a `private_key_jwt` assertion may use (public-key only:
/// `none` and HMAC are refused by name), as the metadata advertises them.
pub(crate) const ASSERTION_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256];
/// Clock skew allowed on an assertion's times, in seconds.
const ASSERTION_SKEW: i64 = 30;
/// How long keys fetched from a client's `jwks_uri` are used, in seconds.
const JWKS_URI_TTL: i64 = 300;
/// The most `jwks_uri` key sets kept; past it, the least recently used
/// goes (one at a time: a flood of new URLs never empties it).
const JWKS_URI_CACHE: usize = 1024;
/// The most registered key sets kept parsed; past it, the least recently
/// used goes.
const REGISTERED_KEYS_CACHE: usize = 1024;
/// The grant types of a client nobody vouches for (dynamic registration, a
/// metadata document): those PKCE and refresh rotation protect.
pub(crate) const OPEN_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];

/// How clients come to exist and what the strangers among them may have.
pub(crate) struct ClientSettings {
    /// Whether `/register` (RFC 7591) is served.
    pub(crate) registration: bool,
    /// What a client registered by anyone (or described by a metadata
    /// document) may be granted at most: canonical scope patterns.
    pub(crate) open_scopes: ScopeSet,
    /// The per-address limit on `/register`.
    pub(crate) register_limiter: RateLimiter,
    /// Fetches client ID metadata documents and `jwks_uri` key sets.
    pub(crate) fetcher: ClientMetadataFetcher,
    /// Keys fetched from `jwks_uri`, with when they go stale.
    jwks_cache: Mutex<LruMap<(JwkSet, i64)>>,
    /// Registered key sets (a client's `jwks`) already parsed, by what
    /// [`registered_keys`] names them.
    registered_keys: Mutex<LruMap<JwkSet>>,
}

impl ClientSettings {
    pub(crate) fn new(
        registration: bool,
        open_scopes: ScopeSet,
        register_limiter: RateLimiter,
        fetcher: ClientMetadataFetcher,
    ) -> ClientSettings {
        ClientSettings {
            registration,
            open_scopes,
            register_limiter,
            fetcher,
            jwks_cache: Mutex::new(LruMap::new(JWKS_URI_CACHE)),
            registered_keys: Mutex::new(LruMap::new(REGISTERED_KEYS_CACHE)),
        }
    }

    /// The scopes an open client may be granted: all of
    /// [`ClientSettings::open_scopes`], whatever it asked for at
    /// registration. RFC 7591 §2 lets the server register a client with
    /// other scopes than those asked (the answer says which), and an MCP
    /// client registers once, with the scope of its first request, then
    /// steps up to others (the MCP authorization specification's
    /// `insufficient_scope`): a registration narrowed to its first scope
    /// would refuse every step-up. Nothing widens silently: the ceiling is
    /// the operator's, and each authorization still names its scopes on the
    /// consent page. A `scope` that is not RFC 6749 scope tokens is refused.
    pub(crate) fn open_scope_string(&self, asked: Option<&str>) -> Result<String, String> {
        open_scope_string(&self.open_scopes, asked)
    }
}

/// [`ClientSettings::open_scope_string`] for the open scopes `open_scopes`.
pub(crate) fn open_scope_string(
    open_scopes: &ScopeSet,
    asked: Option<&str>,
) -> Result<String, String> {
    if let Some(asked) = asked {
        if !asked.is_empty() && !passport_claims::scope::is_oauth_scope(asked) {
            return Err("scope: not space-separated RFC 6749 scope tokens".into());
        }
        ScopeSet::parse(asked.split_ascii_whitespace()).map_err(|e| format!("scope: {e}"))?;
    }
    Ok(scope_string(open_scopes))
}

/// A POST request read: its form, its `Authorization` header, the peer.
pub(super) struct Posted {
    pub(super) form: Form,
    pub(super) headers: HeaderMap,
    pub(super) peer: IpAddr,
}

/// The peer address of a request (unspecified without connection info).
pub(super) fn peer_of(parts: &axum::http::request::Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

pub(super) async fn read_post(request: Request) -> Result<Posted, OAuthError> {
    let (parts, body) = request.into_parts();
    let peer = peer_of(&parts);
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
    pub(super) fn credentials(&self) -> Result<ClientCredentials, OAuthError> {
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

/// The endpoint a client authenticates at: `none` is refused at
/// `/introspect` (RFC 7662 callers are resource servers, which
/// authenticate; and only operator-registered clients may introspect), allowed at `/token` (for the grants PKCE and rotation
/// protect: [`Caller::may_use_grant`]) and at `/revoke` (RFC 7009 §2.1: a
/// public client revokes its own tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    Token,
    Introspect,
    Revoke,
}

/// A client that authenticated the way it registered, with its record.
/// Only [`authenticate`] makes one.
pub(super) struct Caller {
    proof: AuthenticatedClient,
    record: ClientRecord,
}

impl Caller {
    /// The client's registration.
    pub(super) fn record(&self) -> &ClientRecord {
        &self.record
    }

    /// The proof of authentication (what the per-client limit is keyed by).
    pub(super) fn proof(&self) -> &AuthenticatedClient {
        &self.proof
    }

    /// Whether this client may use `grant_type` at all: a public client
    /// (`none`) only `authorization_code` and `refresh_token`, where PKCE and
    /// refresh rotation stand in for a credential; `unauthorized_client`
    /// (400) otherwise, before the grant's own checks.
    pub(super) fn may_use_grant(&self, grant_type: &str) -> Result<(), OAuthError> {
        if self.proof.proven() || OPEN_GRANT_TYPES.contains(&grant_type) {
            return Ok(());
        }
        Err(OAuthError::new(
            400,
            codes::UNAUTHORIZED_CLIENT,
            format!("a public client (none) may not use {grant_type}"),
        ))
    }
}

/// Authenticates the client of a request with the method it registered
/// (RFC 6749 §2.3: one per client): `client_secret_basic`,
/// `client_secret_post`, `private_key_jwt` (RFC 7523, its `jti` used once
/// across every instance), or `none` where `at` allows it. An unknown
/// client, another method, a wrong secret or a bad assertion is
/// `invalid_client` (401, with a Basic challenge after HTTP Basic).
///
/// A `client_id` that is a metadata document URL may make the server fetch:
/// at `/introspect` and `/revoke` (which have no limit of their own) it
/// costs the `peer` address's `/token` allowance first (`/token` charged it
/// already).
pub(super) async fn authenticate(
    server: &Server,
    credentials: &ClientCredentials,
    at: At,
    peer: IpAddr,
) -> Result<Caller, OAuthError> {
    let basic = credentials.used_basic();
    if at != At::Token && is_document_url(credentials.client_id()) {
        server
            .inner
            .limiter
            .check_address(peer)
            .map_err(|e| e.oauth())?;
    }
    let challenge = |mut e: OAuthError| {
        if basic && e.status == 401 {
            e.www_authenticate = Some("Basic realm=\"passport\", charset=\"UTF-8\"".into());
        }
        e
    };
    let record = client_by_id(server, credentials.client_id())
        .await
        .map_err(challenge)?;
    // the method first: keys are fetched only to verify an assertion, never
    // for a request that brings none
    if record.auth_method == "private_key_jwt"
        && !matches!(credentials, ClientCredentials::PrivateKeyJwt { .. })
    {
        return Err(ClientAuthError::MethodMismatch {
            used: credentials.method(),
            registered: "private_key_jwt",
        }
        .oauth(basic));
    }
    let registered = registered_auth(server, &record).await.map_err(challenge)?;
    let replay = DatabaseReplay(server);
    let check = AssertionCheck {
        issuer: server.issuer(),
        algorithms: &ASSERTION_ALGORITHMS,
        clock: server.inner.clock.as_ref(),
        replay: &replay,
        max_lifetime: DEFAULT_ASSERTION_LIFETIME,
        skew: ASSERTION_SKEW,
    };
    let proof = crate::client_auth::authenticate(credentials, &registered, Some(&check))
        .await
        .map_err(|e| e.oauth(basic))?;
    if at == At::Introspect {
        if !proof.proven() {
            return Err(OAuthError::new(
                401,
                codes::INVALID_CLIENT,
                "client_auth_method_mismatch: introspection requires an authenticated client, not none",
            ));
        }
        // RFC 7662 §4: introspection needs authorization too, or anyone
        // registering at /register could scan tokens: it is for clients an
        // operator registered (resource servers, workloads)
        if !matches!(record.kind, ClientKind::Workload | ClientKind::Confidential) {
            return Err(OAuthError::new(
                401,
                codes::INVALID_CLIENT,
                "introspection_not_allowed: introspection is for clients an operator registered",
            ));
        }
    }
    Ok(Caller { proof, record })
}

/// What `record` registered to authenticate with, its keys fetched from
/// its `jwks_uri` when it named one.
async fn registered_auth(
    server: &Server,
    record: &ClientRecord,
) -> Result<RegisteredAuth, OAuthError> {
    let corrupt = || {
        tracing::error!(client_id = %record.client_id, "client record unusable");
        OAuthError::new(
            500,
            codes::SERVER_ERROR,
            "the client's registration is unusable",
        )
    };
    let hash = || {
        record
            .secret_hash
            .as_deref()
            .and_then(SecretHash::from_b64)
            .ok_or_else(corrupt)
    };
    Ok(match record.auth_method.as_str() {
        "none" => RegisteredAuth::None,
        "client_secret_basic" => RegisteredAuth::SecretBasic(hash()?),
        "client_secret_post" => RegisteredAuth::SecretPost(hash()?),
        "private_key_jwt" => RegisteredAuth::PrivateKeyJwt(client_keys(server, record).await?),
        _ => return Err(corrupt()),
    })
}

/// A `private_key_jwt` client's keys: its registered `jwks`, or the set at
/// its `jwks_uri`, fetched behind the SSRF defences of client metadata and
/// kept [`JWKS_URI_TTL`] seconds.
async fn client_keys(server: &Server, record: &ClientRecord) -> Result<JwkSet, OAuthError> {
    if let Some(jwks) = &record.jwks {
        let settings = &server.inner.clients;
        return registered_keys(&settings.registered_keys, record.kind, jwks, |open| {
            let parsed = match open {
                true => JwkSet::from_client_json(jwks.as_bytes()),
                false => JwkSet::from_json(jwks.as_bytes()),
            };
            parsed.map_err(|e| server_error("the client's registered keys are unusable", &e))
        });
    }
    let metadata: Map<String, Value> = serde_json::from_str(&record.metadata).unwrap_or_default();
    let Some(uri) = metadata.get("jwks_uri").and_then(Value::as_str) else {
        return Err(OAuthError::new(
            500,
            codes::SERVER_ERROR,
            "the client registered private_key_jwt without keys",
        ));
    };
    let settings = &server.inner.clients;
    let now = server.now();
    let cached = {
        let mut cache = settings
            .jwks_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .get(uri)
            .filter(|(_, until)| *until > now)
            .map(|(keys, _)| keys.clone())
    };
    if let Some(keys) = cached {
        return Ok(keys);
    }
    let keys = settings
        .fetcher
        .fetch_jwks(uri)
        .await
        .map_err(|e| metadata_refusal(&e, "the client's jwks_uri"))?;
    let mut cache = settings
        .jwks_cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    cache.insert(
        uri.to_owned(),
        (keys.clone(), now.saturating_add(JWKS_URI_TTL)),
    );
    Ok(keys)
}

/// A client's registered key set (`jwks`), parsed once: loading an RSA key
/// runs a primality test, and anyone may register a client and then name
/// it at `/token` with a made-up assertion as often as the rate limit
/// lets them, so the set is not parsed again for each request. Entries are
/// named by the SHA-256 of the set's text and the bounds it is parsed
/// under (`parse(open)`: a client nobody vouches for — dynamic, metadata
/// document — under [`JwkSet::from_client_json`]'s), so a cached set is
/// always exactly what parsing the record's text now would give.
fn registered_keys(
    cache: &Mutex<LruMap<JwkSet>>,
    kind: ClientKind,
    jwks: &str,
    parse: impl FnOnce(bool) -> Result<JwkSet, OAuthError>,
) -> Result<JwkSet, OAuthError> {
    let open = !matches!(kind, ClientKind::Confidential | ClientKind::Workload);
    let name = format!(
        "{}:{}",
        if open { "open" } else { "operator" },
        passport_jose::b64::encode(passport_jose::sha256(jwks.as_bytes()))
    );
    let lock = || cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(keys) = lock().get(&name) {
        return Ok(keys.clone());
    }
    let keys = parse(open)?;
    lock().insert(name, keys.clone());
    Ok(keys)
}

/// The replay check of client assertions, on the database's replay table:
/// every instance on one database refuses a `jti` any of them saw.
struct DatabaseReplay<'a>(&'a Server);

impl AssertionReplay for DatabaseReplay<'_> {
    fn first_use<'a>(&'a self, client_id: &'a str, jti: &'a str, expires_at: i64) -> FirstUse<'a> {
        Box::pin(async move {
            let server = self.0;
            match server
                .inner
                .db
                .remember_assertion_jti(client_id, jti, expires_at, server.now())
                .await
            {
                Ok(()) => Ok(true),
                Err(StoreError::DpopReplayed) => Ok(false),
                Err(e) => {
                    tracing::error!(error = %e, "assertion replay check failed");
                    Err(e.code().to_owned())
                }
            }
        })
    }
}

/// Whether `client_id` names a metadata document (registered ids never
/// are URLs).
fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The client a `client_id` names, for the endpoints that do not
/// authenticate it (`/authorize`) and before authentication: a registered
/// client, or — for an `https` URL — the client its metadata document
/// describes (fetched behind SSRF defences, cached, never stored). An
/// unknown id, or a document that fails a check, is `invalid_client` (401).
pub(super) async fn client_by_id(
    server: &Server,
    client_id: &str,
) -> Result<ClientRecord, OAuthError> {
    let settings = &server.inner.clients;
    if is_document_url(client_id) {
        let document = settings
            .fetcher
            .fetch(client_id)
            .await
            .map_err(|e| metadata_refusal(&e, "the client metadata document"))?;
        return document_client(server, &document);
    }
    match server.inner.db.client(client_id).await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => Err(OAuthError::new(
            401,
            codes::INVALID_CLIENT,
            "unknown_client: this client is not registered",
        )),
        Err(e) => Err(server_error("client lookup failed", &e)),
    }
}

/// The answer to a metadata document or `jwks_uri` (`what`) that could not
/// be used: `invalid_client` (401) starting with the error's code. When the
/// URL could not be resolved, was refused for its address, or could not be
/// fetched, the answer stops at the code: the address a name resolves to,
/// or why a connection failed, goes to the log only — otherwise anyone
/// could read the deployment's internal DNS through `/token`.
fn metadata_refusal(e: &ClientMetadataError, what: &str) -> OAuthError {
    let description = match e {
        ClientMetadataError::Resolve(_)
        | ClientMetadataError::ForbiddenAddress(_)
        | ClientMetadataError::Timeout
        | ClientMetadataError::Fetch(_) => {
            tracing::info!(code = e.code(), error = %e, "{what} refused");
            format!("{}: {what} cannot be fetched", e.code())
        }
        _ => format!("{}: {e}", e.code()),
    };
    OAuthError::new(401, codes::INVALID_CLIENT, description)
}

/// The client a checked metadata document describes: public (`none`) or
/// `private_key_jwt`, the open grant types it names (both when it names
/// none), the scopes open clients may have.
fn document_client(
    server: &Server,
    document: &ClientMetadataDocument,
) -> Result<ClientRecord, OAuthError> {
    let invalid = |why: String| {
        OAuthError::new(
            401,
            codes::INVALID_CLIENT,
            format!("client_metadata_invalid: {why}"),
        )
    };
    let mut metadata = Map::new();
    if let Some(name) = &document.client_name {
        metadata.insert("client_name".into(), json!(name));
    }
    let (auth_method, jwks) = match &document.auth {
        DocumentAuth::None => ("none", None),
        DocumentAuth::Jwks(keys) => ("private_key_jwt", Some(keys.to_json().to_string())),
        DocumentAuth::JwksUri(uri) => {
            metadata.insert("jwks_uri".into(), json!(uri));
            ("private_key_jwt", None)
        }
    };
    let scopes = server
        .inner
        .clients
        .open_scope_string(document.scope.as_deref())
        .map_err(invalid)?;
    Ok(NewClient {
        client_id: document.client_id.clone(),
        kind: ClientKind::MetadataDocument,
        secret_hash: None,
        auth_method: auth_method.into(),
        redirect_uris: document.redirect_uris.clone(),
        // those it names (RFC 7591 §2) among the open ones; both when it
        // names none
        grant_types: OPEN_GRANT_TYPES
            .iter()
            .filter(|g| {
                document
                    .grant_types
                    .as_ref()
                    .is_none_or(|named| named.iter().any(|n| n == *g))
            })
            .map(|g| (*g).to_owned())
            .collect(),
        scopes,
        owner: None,
        jwks,
        metadata: Value::Object(metadata).to_string(),
        created_at: server.now(),
    }
    .into_record())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::cell::Cell;

    use super::*;

    /// A registered key set is parsed once, then served from the cache;
    /// another text, or the same text under the other bounds, is parsed
    /// on its own; a set that does not parse is not kept.
    #[test]
    fn a_registered_key_set_is_parsed_once_per_text_and_bounds() {
        let cache = Mutex::new(LruMap::new(4));
        let key = passport_jose::SigningKey::generate(Algorithm::EdDSA).unwrap();
        let set = JwkSet::from_keys([key.verifying_key()]).unwrap();
        let text = set.to_json().to_string();
        let parses = Cell::new(Vec::new());
        let get = |kind: ClientKind, text: &str| {
            registered_keys(&cache, kind, text, |open| {
                let mut seen = parses.take();
                seen.push(open);
                parses.set(seen);
                JwkSet::from_json(text.as_bytes()).map_err(|e| server_error("unusable", &e))
            })
        };
        for _ in 0..3 {
            assert_eq!(get(ClientKind::Dynamic, &text).unwrap().len(), 1);
        }
        // a metadata document's client is open too: the same entry
        assert_eq!(get(ClientKind::MetadataDocument, &text).unwrap().len(), 1);
        // an operator's client: the trusted bounds, parsed on its own
        assert_eq!(get(ClientKind::Confidential, &text).unwrap().len(), 1);
        assert_eq!(get(ClientKind::Workload, &text).unwrap().len(), 1);
        assert_eq!(parses.take(), [true, false]);
        // another text is another set
        let other = format!("{text} ");
        assert_eq!(get(ClientKind::Dynamic, &other).unwrap().len(), 1);
        assert_eq!(parses.take(), [true]);
        // a refusal is not kept: asked again, it is parsed again
        for _ in 0..2 {
            assert!(get(ClientKind::Dynamic, "{}").is_err());
        }
        assert_eq!(parses.take(), [true, true]);
    }
}
