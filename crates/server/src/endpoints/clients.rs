//! Reading a POST and authenticating its client: the one place an endpoint
//! learns who calls. A [`Caller`] is made only by [`authenticate`], after
//! `client_auth::authenticate` checked the method the client registered
//! (its secret, its assertion, or `none` for a public client).

use std::sync::{Arc, Mutex, PoisonError};

use passport_jose::{Algorithm, JwkSet};
use passport_store::server::NewClient;

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::client_auth::{
    AssertionCheck, AssertionReplay, DEFAULT_ASSERTION_LIFETIME, FirstUse, RegisteredAuth,
    SecretHash,
};
use crate::client_metadata::{
    ClientMetadataDocument, ClientMetadataError, ClientMetadataFetcher, DocumentAuth, KeyLoads,
    Load, load_jwks,
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
/// What a refusal of a client's `jwks_uri` names.
const JWKS_URI: &str = "the client's jwks_uri";
/// How long a `jwks_uri` set that was fetched but does not load is
/// remembered as refused, in seconds.
const JWKS_URI_REFUSAL_TTL: i64 = 60;
/// The most `jwks_uri` key sets kept; past it, the least recently used
/// goes (one at a time: a flood of new URLs never empties it).
const JWKS_URI_CACHE: usize = 1024;
/// The most registered key sets kept parsed; past it, the least recently
/// used goes.
const REGISTERED_KEYS_CACHE: usize = 1024;
/// The grant types of a client nobody vouches for (dynamic registration, a
/// metadata document): those PKCE and refresh rotation protect.
pub(crate) const OPEN_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];

/// A client's key set, or why it does not load.
type KeySet = Result<JwkSet, OAuthError>;

/// A bounded cache of key sets, shared with the loads that fill it.
type Cache<V> = Arc<Mutex<LruMap<V>>>;

/// One cache for the clients nobody vouches for and one for an operator's
/// ([`is_open`]): strangers' entries, however many, never push out an
/// operator's client's.
struct PerKind<T> {
    open: T,
    operator: T,
}

impl<T> PerKind<T> {
    fn new(make: impl Fn() -> T) -> PerKind<T> {
        PerKind {
            open: make(),
            operator: make(),
        }
    }

    /// The cache of clients nobody vouches for (`open`), or operators'.
    fn of(&self, open: bool) -> &T {
        match open {
            true => &self.open,
            false => &self.operator,
        }
    }
}

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
    /// Key sets fetched from `jwks_uri` (or their refusals), by URI, with
    /// when they go stale.
    jwks_cache: PerKind<Cache<(KeySet, i64)>>,
    /// Registered key sets (a client's `jwks`) already loaded, or refused,
    /// by [`key_set_name`].
    registered_keys: PerKind<Cache<KeySet>>,
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
            jwks_cache: PerKind::new(|| Arc::new(Mutex::new(LruMap::new(JWKS_URI_CACHE)))),
            registered_keys: PerKind::new(|| {
                Arc::new(Mutex::new(LruMap::new(REGISTERED_KEYS_CACHE)))
            }),
        }
    }

    /// Keeps `keys`, loaded from `text` for a client nobody vouches for
    /// (its registration, its metadata document), as that text's set:
    /// [`client_keys`] then finds it instead of loading the text again.
    pub(crate) fn keep_open_keys(&self, text: &str, keys: &JwkSet) {
        self.registered_keys
            .of(true)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key_set_name(text), Ok(keys.clone()));
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

pub(super) async fn read_post(request: Request) -> Result<Posted, OAuthError> {
    let (parts, body) = request.into_parts();
    let peer = super::peer_of(&parts.extensions);
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
    // Introspection is for an operator's clients (below): a client that
    // cannot be one is refused before anything is fetched or loaded for it
    // — a metadata document's URL here, a stranger's registered client
    // once it is looked up.
    if at == At::Introspect && is_document_url(credentials.client_id()) {
        return Err(introspection_not_allowed());
    }
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
    let record = client_by_id(server, credentials.client_id(), peer)
        .await
        .map_err(challenge)?;
    if at == At::Introspect && is_open(record.kind) {
        return Err(introspection_not_allowed());
    }
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
    let registered = registered_auth(server, &record, peer)
        .await
        .map_err(challenge)?;
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
        if is_open(record.kind) {
            return Err(introspection_not_allowed());
        }
    }
    Ok(Caller { proof, record })
}

/// What `record` registered to authenticate with, its keys fetched from
/// its `jwks_uri` when it named one (for a request from `peer`).
async fn registered_auth(
    server: &Server,
    record: &ClientRecord,
    peer: IpAddr,
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
        "private_key_jwt" => {
            RegisteredAuth::PrivateKeyJwt(client_keys(server, record, peer).await?)
        }
        _ => return Err(corrupt()),
    })
}

/// A `private_key_jwt` client's keys: its registered `jwks`, or the set at
/// its `jwks_uri`, fetched behind the SSRF defences of client metadata and
/// kept [`JWKS_URI_TTL`] seconds — a set there that does not load is
/// remembered as refused for [`JWKS_URI_REFUSAL_TTL`] seconds, so a
/// stranger's set that costs primality tests and then fails is not fetched
/// and tested again at each request naming the client. A client nobody
/// vouches for (see [`is_open`]) gets the bounds of
/// [`JwkSet::from_client_json`]; an operator's, those of a trusted set. A
/// stranger's set that may cost primality tests loads in the line of the
/// request's address, `peer` ([`KeyLoads`]).
async fn client_keys(
    server: &Server,
    record: &ClientRecord,
    peer: IpAddr,
) -> Result<JwkSet, OAuthError> {
    let settings = &server.inner.clients;
    let open = is_open(record.kind);
    if let Some(jwks) = &record.jwks {
        let text = jwks.clone();
        return registered_keys(
            settings.registered_keys.of(open),
            settings.fetcher.key_loads(),
            || Load::of(jwks.as_bytes(), None, open),
            peer,
            &key_set_name(jwks),
            move || {
                let loaded = match open {
                    true => JwkSet::from_client_json(text.as_bytes()),
                    false => JwkSet::from_json(text.as_bytes()),
                };
                loaded.map_err(|e| server_error("the client's registered keys are unusable", &e))
            },
        )
        .await;
    }
    let metadata: Map<String, Value> = serde_json::from_str(&record.metadata).unwrap_or_default();
    let Some(uri) = metadata.get("jwks_uri").and_then(Value::as_str) else {
        return Err(OAuthError::new(
            500,
            codes::SERVER_ERROR,
            "the client registered private_key_jwt without keys",
        ));
    };
    let now = server.now();
    let cache = settings.jwks_cache.of(open);
    let fresh = || {
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uri)
            .filter(|(_, until)| *until > now)
            .map(|(keys, _)| keys.clone())
    };
    if let Some(keys) = fresh() {
        return keys;
    }
    // not fetched (or refused for its address): nothing was learnt about
    // the set, nothing is kept
    let body = settings
        .fetcher
        .fetch_jwks_body(uri)
        .await
        .map_err(|e| metadata_refusal(&e, JWKS_URI))?;
    // fetched: its keys, or that they do not load, are kept as soon as
    // they are known, whoever asked; a request that waited for the turn
    // meanwhile takes them as they are (requests that arrive together
    // load the set once)
    let (kept, at) = (Arc::clone(cache), uri.to_owned());
    settings
        .fetcher
        .key_loads()
        .run(Load::of(&body, None, open), peer, fresh, move || {
            let (keys, ttl) = match load_jwks(&body, open) {
                Ok(keys) => (Ok(keys), JWKS_URI_TTL),
                Err(e) => (Err(metadata_refusal(&e, JWKS_URI)), JWKS_URI_REFUSAL_TTL),
            };
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(at, (keys.clone(), now.saturating_add(ttl)));
            keys
        })
        .await
        .map_err(|e| e.busy())?
}

/// The refusal of introspection to a client an operator did not register.
fn introspection_not_allowed() -> OAuthError {
    OAuthError::new(
        401,
        codes::INVALID_CLIENT,
        "introspection_not_allowed: introspection is for clients an operator registered",
    )
}

/// Whether a client of `kind` is one nobody vouches for: registered by
/// anyone (dynamic registration), described by a metadata document, or
/// public. Only an operator's confidential clients and workloads are not.
fn is_open(kind: ClientKind) -> bool {
    !matches!(kind, ClientKind::Confidential | ClientKind::Workload)
}

/// The name of a registered key set (`jwks`): the SHA-256 of its exact
/// text.
fn key_set_name(jwks: &str) -> String {
    passport_jose::b64::encode(passport_jose::sha256(jwks.as_bytes()))
}

/// A client's registered key set (`jwks`), loaded once: loading an RSA key
/// runs a primality test, and anyone may register a client and then name
/// it at `/token` with a made-up assertion as often as the rate limits
/// let them, so the set is not loaded again for each request, nor once per
/// request when requests arrive together (the load asks `cache` again
/// once it has its turn). `cache` is the one of the client's kind, entries
/// named by [`key_set_name`]; what `load` gives depends on the text and
/// the kind only, so a set that does not load is kept as refused too. A
/// load that could not run (the server busy: 503) is not kept. `how` (the
/// load's turn, which reads the text) is asked only when the set is not
/// kept yet.
async fn registered_keys(
    cache: &Cache<KeySet>,
    loads: &KeyLoads,
    how: impl FnOnce() -> Load,
    from: IpAddr,
    name: &str,
    load: impl FnOnce() -> KeySet + Send + 'static,
) -> KeySet {
    let cached = || {
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    };
    if let Some(keys) = cached() {
        return keys;
    }
    // kept as soon as it is loaded, whoever asked: a caller that went away
    // meanwhile does not make the next request load it again
    let (kept, named) = (Arc::clone(cache), name.to_owned());
    loads
        .run(how(), from, cached, move || {
            let keys = load();
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(named, keys.clone());
            keys
        })
        .await
        .map_err(|e| e.busy())?
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
    peer: IpAddr,
) -> Result<ClientRecord, OAuthError> {
    let settings = &server.inner.clients;
    if is_document_url(client_id) {
        let document = settings
            .fetcher
            .fetch(client_id, peer)
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
    if let ClientMetadataError::KeysBusy = e {
        return e.busy();
    }
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
        DocumentAuth::Jwks(keys) => {
            let text = keys.to_json().to_string();
            server.inner.clients.keep_open_keys(&text, keys);
            ("private_key_jwt", Some(text))
        }
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

    use super::*;

    /// The address of the requests that name the clients.
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

    /// A key set of one new Ed25519 key, as stored.
    fn one_key_set() -> String {
        let key = passport_jose::SigningKey::generate(Algorithm::EdDSA).unwrap();
        JwkSet::from_keys([key.verifying_key()])
            .unwrap()
            .to_json()
            .to_string()
    }

    /// A registered key set is loaded once, then served from the cache,
    /// refusal included (it depends on the text and the bounds only); a
    /// load that could not run (busy) is not kept, and a load that gets
    /// its turn after another load of the same set finished takes that
    /// one's outcome.
    #[tokio::test]
    async fn a_registered_key_set_is_loaded_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::Duration;

        let cache = Arc::new(Mutex::new(LruMap::new(8)));
        let text = one_key_set();
        let loads = Arc::new(AtomicUsize::new(0));
        let turns = KeyLoads::new(Duration::from_millis(50));
        let get = |how: Load, text: &str| {
            let (cache, turns, loads) = (&cache, &turns, Arc::clone(&loads));
            let name = key_set_name(text);
            let text = text.to_owned();
            async move {
                registered_keys(
                    cache,
                    turns,
                    || how,
                    PEER,
                    &name,
                    move || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        JwkSet::from_json(text.as_bytes()).map_err(|e| server_error("unusable", &e))
                    },
                )
                .await
            }
        };
        let count = || loads.swap(0, Ordering::SeqCst);
        for how in [Load::Cheap, Load::Stranger, Load::Operator] {
            assert_eq!(get(how, &text).await.unwrap().len(), 1);
        }
        assert_eq!(count(), 1);
        let other = format!("{text} ");
        assert!(get(Load::Stranger, &other).await.is_ok());
        assert_eq!(count(), 1);
        // a refusal is kept: asked again, it is not loaded again
        for _ in 0..3 {
            assert!(get(Load::Stranger, "{}").await.is_err());
        }
        assert_eq!(count(), 1);
        // a load that could not run is not kept: the strangers' turn held,
        // it is refused busy (503) and nothing is loaded; once the turn is
        // free, it loads
        let held = Arc::clone(turns.strangers()).acquire_owned().await.unwrap();
        for _ in 0..2 {
            let busy = get(Load::Stranger, "[]").await.unwrap_err();
            assert_eq!(busy.status, 503, "{busy:?}");
        }
        assert_eq!(count(), 0);
        // the operators' turn is another: it loads meanwhile
        assert!(get(Load::Operator, "[]").await.is_err());
        assert_eq!(count(), 1);
        drop(held);
        assert!(get(Load::Stranger, "[ ]").await.is_err());
        assert_eq!(count(), 1);
        // requests that wait together for the turn load the set once
        let held = Arc::clone(turns.strangers()).acquire_owned().await.unwrap();
        let third = format!("{text}  ");
        let waiting = [get(Load::Stranger, &third), get(Load::Stranger, &third)];
        let release = async {
            tokio::task::yield_now().await;
            drop(held);
        };
        let (answers, ()) = tokio::join!(futures_util::future::join_all(waiting), release);
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(count(), 1);
    }

    /// Review S13, fourth pass, finding 2: a load whose caller went away
    /// (its connection closed, and the server dropped the request) runs to
    /// its end in the turn, and its outcome is kept: the next request for
    /// the set does not load it again.
    #[tokio::test]
    async fn a_load_whose_caller_went_away_is_still_kept() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::Duration;

        let cache = Arc::new(Mutex::new(LruMap::new(8)));
        let text = one_key_set();
        let (loads, turns) = (
            Arc::new(AtomicUsize::new(0)),
            KeyLoads::new(Duration::from_secs(30)),
        );
        let (started, finish) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(std::sync::Barrier::new(2)),
        );
        let get = || {
            let (loads, started, finish) = (
                Arc::clone(&loads),
                Arc::clone(&started),
                Arc::clone(&finish),
            );
            let text = text.clone();
            registered_keys(
                &cache,
                &turns,
                || Load::Stranger,
                PEER,
                "the set",
                move || {
                    loads.fetch_add(1, Ordering::SeqCst);
                    started.notify_one();
                    // runs until the test lets it finish
                    finish.wait();
                    JwkSet::from_json(text.as_bytes()).map_err(|e| server_error("unusable", &e))
                },
            )
        };
        // the caller goes away once its load has begun
        let first = get();
        tokio::select! {
            _ = first => panic!("the load finished before it was let"),
            () = started.notified() => {}
        }
        // the load goes on in its turn: let it finish, and wait for the turn
        // to be free again
        finish.wait();
        drop(Arc::clone(turns.strangers()).acquire_owned().await.unwrap());
        assert!(
            cache.lock().unwrap().get("the set").is_some(),
            "its outcome was not kept"
        );
        // the next request takes it; nothing is loaded again
        let second = get();
        assert!(second.await.is_ok());
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    /// Review S13, fifth pass: a set loaded at registration (or with a
    /// metadata document) is kept for the client's requests, which find it
    /// instead of loading the stored text a second time.
    #[tokio::test]
    async fn a_set_loaded_at_registration_is_not_loaded_again() {
        use std::sync::Arc;
        use std::time::Duration;

        use crate::client_metadata::SystemResolver;
        use crate::rate_limit::{RateLimit, RateLimiter};

        let clock: Arc<dyn passport_claims::Clock> = Arc::new(passport_claims::SystemClock);
        let limit = RateLimit {
            burst: 1,
            per_second: 1.0,
        };
        let settings = ClientSettings::new(
            true,
            passport_claims::ScopeSet::parse(["files:*"]).unwrap(),
            RateLimiter::new(limit, 16, Arc::clone(&clock)),
            ClientMetadataFetcher::new(Arc::new(SystemResolver), clock),
        );
        let key = passport_jose::SigningKey::generate(Algorithm::EdDSA).unwrap();
        let keys = JwkSet::from_keys([key.verifying_key()]).unwrap();
        let text = keys.to_json().to_string();
        settings.keep_open_keys(&text, &keys);
        let loads = KeyLoads::new(Duration::from_secs(1));
        let found = registered_keys(
            settings.registered_keys.of(true),
            &loads,
            || Load::Stranger,
            PEER,
            &key_set_name(&text),
            || panic!("the set was loaded again"),
        )
        .await
        .unwrap();
        assert_eq!(found.len(), 1);
        // an operator's client of the same text is another entry
        assert!(
            settings
                .registered_keys
                .of(false)
                .lock()
                .unwrap()
                .get(&key_set_name(&text))
                .is_none()
        );
    }
}
