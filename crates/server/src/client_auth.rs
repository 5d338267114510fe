//! Client authentication at the token, introspection and revocation
//! endpoints (RFC 6749 §2.3, RFC 7523 §3, OpenID Connect Core §9).
//!
//! Two steps: [`ClientCredentials::extract`] reads what the request presents
//! (an `Authorization: Basic` header, `client_secret_post` fields, a
//! `private_key_jwt` assertion, or a bare `client_id`), refusing a request
//! that uses two methods at once; [`authenticate`] checks those credentials
//! against what the client registered. A client registered with a secret or
//! keys can never authenticate with `none`.
//!
//! Secrets are 256 random bits; only their SHA-256 is stored
//! ([`SecretHash`]). This is the one implementation of client secrets: the
//! database (`passport_store::server`) stores the hash this module makes and
//! never sees a secret, and [`AuthenticatedClient`], made only by
//! [`authenticate`], is how the endpoints learn a client proved itself. With that much entropy a slow password hash adds no
//! protection (there is no dictionary to slow down) and would make client
//! authentication the bottleneck of the token endpoint.
//!
//! ```
//! use passport_server::client_auth::{
//!     authenticate, AssertionCheck, ClientCredentials, ClientSecret, RegisteredAuth,
//! };
//! use passport_server::form::Form;
//!
//! let (secret, hash) = ClientSecret::generate()?;
//! let body = format!("grant_type=client_credentials&client_id=w1&client_secret={}", secret.expose());
//! let form = Form::parse(body.as_bytes(), 4096)?;
//! let creds = ClientCredentials::extract(None, &form)?;
//! assert_eq!(creds.client_id(), "w1");
//! let registered = RegisteredAuth::SecretPost(hash);
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let client = runtime.block_on(authenticate(&creds, &registered, None))?;
//! assert_eq!(client.client_id(), "w1");
//!
//! // the same client sending no secret is refused
//! let form = Form::parse(b"grant_type=client_credentials&client_id=w1", 4096)?;
//! let creds = ClientCredentials::extract(None, &form)?;
//! let err = runtime.block_on(authenticate(&creds, &registered, None)).unwrap_err();
//! assert_eq!(err.code(), "client_auth_method_mismatch");
//! assert_eq!(err.oauth(false).error, "invalid_client");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;
use passport_claims::Clock;
use passport_jose::{Algorithm, CompactJws, JoseError, JwkSet, VerifyOptions};
use serde_json::Value;

use crate::form::{Form, FormError};
use crate::oauth::{OAuthError, codes};

/// RFC 7523 §2.2's `client_assertion_type`.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest `Authorization` header read, in bytes.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;
/// The longest client identifier accepted (a metadata document URL).
pub const MAX_CLIENT_ID_LEN: usize = 2048;
/// The longest client secret accepted.
pub const MAX_SECRET_LEN: usize = 256;
/// The longest client assertion accepted.
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// The longest `jti` accepted in an assertion.
pub const MAX_JTI_LEN: usize = 256;

/// Why client authentication failed. Every variant answers `invalid_client`
/// (401) except a form error (`invalid_request`, 400) and an unavailable
/// replay store (503).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientAuthError {
    /// The request identifies no client.
    #[error("no client authentication and no client_id")]
    Missing,
    /// More than one method in one request (RFC 6749 §2.3).
    #[error("more than one client authentication method in one request")]
    MultipleMethods,
    /// The `Authorization` header is not a well-formed HTTP Basic header of
    /// RFC 6749 §2.3.1.
    #[error("malformed Authorization header: {0}")]
    MalformedBasic(&'static str),
    /// `client_assertion_type` is not RFC 7523's, or the assertion is missing.
    #[error("client_assertion_type must be {JWT_BEARER_ASSERTION} with a client_assertion")]
    UnsupportedAssertionType,
    /// A `client_id` parameter names another client than the credentials.
    #[error("client_id does not match the authenticated client")]
    ClientIdMismatch,
    /// A client identifier or secret is too long.
    #[error("client credentials too long")]
    TooLong,
    /// The method used is not the one the client registered.
    #[error("client authenticated with {used}, but it is registered for {registered}")]
    MethodMismatch {
        /// The method the request used.
        used: &'static str,
        /// The method the client registered.
        registered: &'static str,
    },
    /// The secret is wrong.
    #[error("client secret does not match")]
    BadSecret,
    /// The assertion's JWS is refused (structure, header rules of SPEC §5,
    /// signature).
    #[error("client assertion: {0}")]
    Assertion(#[from] JoseError),
    /// The assertion's `kid` is not in the client's registered keys.
    #[error("client assertion signed with a key the client did not register")]
    UnknownKey,
    /// A required claim is missing or not of its type.
    #[error("client assertion lacks a valid {0}")]
    MissingClaim(&'static str),
    /// `iss` or `sub` is not the client.
    #[error("client assertion iss and sub must both be the client_id")]
    WrongSubject,
    /// `aud` is not exactly this server's issuer identifier as a single
    /// string (an array, or the token endpoint, is refused).
    #[error("client assertion aud must be this server's issuer identifier, as a single string")]
    WrongAudience,
    /// `exp` has passed.
    #[error("client assertion expired")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("client assertion not yet valid")]
    NotYetValid,
    /// `exp` is further ahead, or `iat` further back, than the accepted
    /// lifetime.
    #[error("client assertion lifetime above {max} seconds")]
    LifetimeTooLong {
        /// The accepted lifetime.
        max: i64,
    },
    /// The `jti` was used before.
    #[error("client assertion replayed")]
    Replayed,
    /// The replay store could not answer (the assertion is refused).
    #[error("client assertion replay check unavailable: {0}")]
    ReplayUnavailable(String),
    /// `private_key_jwt` but no key store configured for the check.
    #[error("private_key_jwt is not configured")]
    AssertionsNotConfigured,
    /// The system random source failed.
    #[error("random source unavailable: {0}")]
    RandomUnavailable(String),
    /// A form field is repeated or too large.
    #[error(transparent)]
    Form(#[from] FormError),
}

passport_jose::error_codes! {
    ClientAuthError {
        ClientAuthError::Missing => "client_auth_missing":
            "A request that requires a client identifies none.",
        ClientAuthError::MultipleMethods => "client_auth_multiple_methods":
            "A request uses more than one client authentication method (RFC 6749 §2.3).",
        ClientAuthError::MalformedBasic(_) => "client_auth_malformed_basic":
            "The Authorization header is not well-formed HTTP Basic with form-encoded id and secret.",
        ClientAuthError::UnsupportedAssertionType => "client_assertion_type_unsupported":
            "client_assertion_type is not the RFC 7523 JWT bearer type, or the assertion is missing.",
        ClientAuthError::ClientIdMismatch => "client_id_mismatch":
            "The client_id parameter names another client than the credentials.",
        ClientAuthError::TooLong => "client_credentials_too_long":
            "A client identifier, secret or assertion is longer than accepted.",
        ClientAuthError::MethodMismatch { .. } => "client_auth_method_mismatch":
            "The client authenticated with a method other than the one it registered (none for a confidential client among them).",
        ClientAuthError::BadSecret => "client_secret_invalid":
            "The client secret does not match.",
        ClientAuthError::UnknownKey => "client_assertion_unknown_key":
            "The client assertion's kid is not among the client's registered keys.",
        ClientAuthError::MissingClaim(_) => "client_assertion_missing_claim":
            "The client assertion lacks iss, sub, aud, exp or jti, or one has the wrong type.",
        ClientAuthError::WrongSubject => "client_assertion_subject_mismatch":
            "The client assertion's iss or sub is not the client_id.",
        ClientAuthError::WrongAudience => "client_assertion_audience_mismatch":
            "The client assertion's aud is not exactly this server's issuer identifier as a single string (draft-ietf-oauth-rfc7523bis): the token endpoint or an array is refused.",
        ClientAuthError::Expired => "client_assertion_expired":
            "The client assertion's exp has passed.",
        ClientAuthError::NotYetValid => "client_assertion_not_yet_valid":
            "The client assertion's nbf or iat is in the future.",
        ClientAuthError::LifetimeTooLong { .. } => "client_assertion_lifetime_too_long":
            "The client assertion's exp is further ahead, or its iat further back, than the accepted lifetime.",
        ClientAuthError::Replayed => "client_assertion_replayed":
            "The client assertion's jti was used before.",
        ClientAuthError::ReplayUnavailable(_) => "client_assertion_replay_unavailable":
            "The replay store could not say whether the assertion's jti is fresh.",
        ClientAuthError::AssertionsNotConfigured => "client_assertion_not_configured":
            "A private_key_jwt check ran without its audience, clock and replay store.",
        ClientAuthError::RandomUnavailable(_) => "random_unavailable":
            "The system random source failed.",
    }
    wraps {
        ClientAuthError::Assertion(e) => e.code(),
        ClientAuthError::Form(e) => e.code(),
    }
}

impl ClientAuthError {
    /// The RFC 6749 §5.2 answer: `invalid_client` with 401, and the
    /// `WWW-Authenticate: Basic` challenge when the request used HTTP Basic.
    pub fn oauth(&self, used_basic: bool) -> OAuthError {
        match self {
            ClientAuthError::Form(e) => e.oauth(),
            ClientAuthError::ReplayUnavailable(_) | ClientAuthError::RandomUnavailable(_) => {
                OAuthError::new(503, codes::TEMPORARILY_UNAVAILABLE, "try again later")
            }
            ClientAuthError::AssertionsNotConfigured => {
                OAuthError::new(500, codes::SERVER_ERROR, "client assertions not configured")
            }
            _ => {
                // the specific code first: `alg_none`, `client_secret_invalid`…
                let why = format!("{}: {self}", self.code());
                let mut e = OAuthError::new(401, codes::INVALID_CLIENT, why);
                if used_basic {
                    e.www_authenticate = Some("Basic realm=\"passport\", charset=\"UTF-8\"".into());
                }
                e
            }
        }
    }
}

/// A client secret: 256 random bits, base64url. Shown to the client once;
/// `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// A new secret and the hash to store.
    pub fn generate() -> Result<(ClientSecret, SecretHash), ClientAuthError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| ClientAuthError::RandomUnavailable(e.to_string()))?;
        let secret = ClientSecret(passport_jose::b64::encode(bytes));
        let hash = SecretHash::of(secret.expose());
        Ok((secret, hash))
    }

    /// The secret, to hand to the client (never to a log).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// The stored form of a client secret: its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// The hash of `secret`.
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(passport_jose::sha256(secret.as_bytes()))
    }

    /// From the stored base64url form.
    pub fn from_b64(stored: &str) -> Option<SecretHash> {
        let bytes = passport_jose::b64::decode(stored)?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(SecretHash)
    }

    /// The base64url form to store.
    pub fn to_b64(&self) -> String {
        passport_jose::b64::encode(self.0)
    }

    /// Whether `presented` is the secret, compared in constant time.
    pub fn verify(&self, presented: &str) -> bool {
        passport_jose::constant_time_eq(&passport_jose::sha256(presented.as_bytes()), &self.0)
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

/// What a request presents to authenticate its client.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCredentials {
    /// A public client: only a `client_id`.
    None {
        /// The client.
        client_id: String,
    },
    /// `Authorization: Basic`.
    SecretBasic {
        /// The client.
        client_id: String,
        /// The presented secret.
        secret: String,
    },
    /// `client_id` and `client_secret` in the body.
    SecretPost {
        /// The client.
        client_id: String,
        /// The presented secret.
        secret: String,
    },
    /// An RFC 7523 assertion; the client is its `sub` (taken from the
    /// `client_id` parameter when present, else read unverified from the
    /// assertion to find the keys, then checked by [`authenticate`]).
    PrivateKeyJwt {
        /// The client.
        client_id: String,
        /// The compact JWS.
        assertion: String,
    },
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("method", &self.method())
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// Reads the client credentials of a request from its `Authorization`
    /// header (if any) and its form body.
    pub fn extract(
        authorization: Option<&str>,
        form: &Form,
    ) -> Result<ClientCredentials, ClientAuthError> {
        let form_id = form.get("client_id");
        let post_secret = form.get("client_secret");
        let assertion_type = form.get("client_assertion_type");
        let assertion = form.get("client_assertion");
        let uses_assertion = assertion_type.is_some() || assertion.is_some();
        if let Some(id) = form_id
            && id.len() > MAX_CLIENT_ID_LEN
        {
            return Err(ClientAuthError::TooLong);
        }

        if let Some(header) = authorization {
            if post_secret.is_some() || uses_assertion {
                return Err(ClientAuthError::MultipleMethods);
            }
            let (client_id, secret) = parse_basic(header)?;
            if form_id.is_some_and(|id| id != client_id) {
                return Err(ClientAuthError::ClientIdMismatch);
            }
            return Ok(ClientCredentials::SecretBasic { client_id, secret });
        }
        if uses_assertion {
            if post_secret.is_some() {
                return Err(ClientAuthError::MultipleMethods);
            }
            let (Some(JWT_BEARER_ASSERTION), Some(assertion)) = (assertion_type, assertion) else {
                return Err(ClientAuthError::UnsupportedAssertionType);
            };
            if assertion.len() > MAX_ASSERTION_LEN {
                return Err(ClientAuthError::TooLong);
            }
            let client_id = match form_id {
                Some(id) => id.to_owned(),
                None => unverified_subject(assertion)?,
            };
            return Ok(ClientCredentials::PrivateKeyJwt {
                client_id,
                assertion: assertion.to_owned(),
            });
        }
        let client_id = form_id.ok_or(ClientAuthError::Missing)?.to_owned();
        match post_secret {
            Some(secret) if secret.len() > MAX_SECRET_LEN => Err(ClientAuthError::TooLong),
            Some(secret) => Ok(ClientCredentials::SecretPost {
                client_id,
                secret: secret.to_owned(),
            }),
            None => Ok(ClientCredentials::None { client_id }),
        }
    }

    /// The client these credentials claim to be.
    pub fn client_id(&self) -> &str {
        match self {
            ClientCredentials::None { client_id }
            | ClientCredentials::SecretBasic { client_id, .. }
            | ClientCredentials::SecretPost { client_id, .. }
            | ClientCredentials::PrivateKeyJwt { client_id, .. } => client_id,
        }
    }

    /// The RFC 7591 name of the method used.
    pub fn method(&self) -> &'static str {
        match self {
            ClientCredentials::None { .. } => "none",
            ClientCredentials::SecretBasic { .. } => "client_secret_basic",
            ClientCredentials::SecretPost { .. } => "client_secret_post",
            ClientCredentials::PrivateKeyJwt { .. } => "private_key_jwt",
        }
    }

    /// Whether the request used HTTP Basic (its refusal carries a
    /// `WWW-Authenticate` challenge).
    pub fn used_basic(&self) -> bool {
        matches!(self, ClientCredentials::SecretBasic { .. })
    }
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &str) -> Result<(String, String), ClientAuthError> {
    use ClientAuthError::MalformedBasic as M;
    if header.len() > MAX_AUTHORIZATION_LEN {
        return Err(ClientAuthError::TooLong);
    }
    let (scheme, encoded) = header.split_once(' ').ok_or(M("no scheme"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(M("not the Basic scheme"));
    }
    let encoded = encoded.trim_matches(' ');
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| M("not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| M("not UTF-8"))?;
    let (id, secret) = decoded.split_once(':').ok_or(M("no colon"))?;
    let id = form_decode(id).ok_or(M("bad form encoding in the client id"))?;
    let secret = form_decode(secret).ok_or(M("bad form encoding in the secret"))?;
    if id.is_empty() {
        return Err(M("empty client id"));
    }
    if secret.is_empty() {
        return Err(M("empty secret"));
    }
    if id.len() > MAX_CLIENT_ID_LEN || secret.len() > MAX_SECRET_LEN {
        return Err(ClientAuthError::TooLong);
    }
    Ok((id, secret))
}

/// `application/x-www-form-urlencoded` decoding of one value; `None` for a
/// broken escape or bytes that are not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // two hex digits exactly (`from_str_radix` would take a sign)
                let hex = s.get(i + 1..i + 3)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The `sub` of an assertion, read without verification only to find which
/// client's keys to verify it with; [`authenticate`] checks it again.
fn unverified_subject(assertion: &str) -> Result<String, ClientAuthError> {
    let jws = CompactJws::parse_with_max_len(assertion, MAX_ASSERTION_LEN)?;
    let claims = passport_jose::json::parse_object(jws.unverified_payload(), "payload")?;
    match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_CLIENT_ID_LEN => Ok(s.clone()),
        _ => Err(ClientAuthError::MissingClaim("sub")),
    }
}

/// What a client registered to authenticate with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RegisteredAuth {
    /// A public client (PKCE protects its codes).
    None,
    /// `client_secret_basic` with this secret.
    SecretBasic(SecretHash),
    /// `client_secret_post` with this secret.
    SecretPost(SecretHash),
    /// `private_key_jwt` with these keys (its `jwks`, or its `jwks_uri` as
    /// fetched).
    PrivateKeyJwt(JwkSet),
}

impl RegisteredAuth {
    /// The RFC 7591 name of the method.
    pub fn method(&self) -> &'static str {
        match self {
            RegisteredAuth::None => "none",
            RegisteredAuth::SecretBasic(_) => "client_secret_basic",
            RegisteredAuth::SecretPost(_) => "client_secret_post",
            RegisteredAuth::PrivateKeyJwt(_) => "private_key_jwt",
        }
    }
}

/// The answer of [`AssertionReplay::first_use`].
pub type FirstUse<'a> = Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;

/// Remembers the `jti` of client assertions until they expire, so each is
/// used once (RFC 7523 §3 item 7). The server implements it on its
/// database's replay table, shared by every instance. Implementations must
/// be atomic: of two concurrent calls with the same pair, at most one
/// returns `Ok(true)`.
pub trait AssertionReplay: Send + Sync {
    /// Records (`client_id`, `jti`) until `expires_at` (seconds since the
    /// epoch). `Ok(true)` when the pair was fresh, `Ok(false)` on a replay; an
    /// error (never `true`) when the store cannot answer.
    fn first_use<'a>(&'a self, client_id: &'a str, jti: &'a str, expires_at: i64) -> FirstUse<'a>;
}

/// What a `private_key_jwt` assertion is checked against.
#[derive(Clone, Copy)]
pub struct AssertionCheck<'a> {
    /// This server's issuer identifier: the only accepted `aud`, as a
    /// single string (draft-ietf-oauth-rfc7523bis). Neither the token
    /// endpoint nor an array is accepted: a client that also talks to a
    /// malicious server may address assertions to whatever token endpoint
    /// that server names, i.e. ours, and that server could replay them here.
    pub issuer: &'a str,
    /// Algorithms accepted.
    pub algorithms: &'a [Algorithm],
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The replay store.
    pub replay: &'a dyn AssertionReplay,
    /// The longest accepted `exp - now` (and `now - iat`), in seconds.
    pub max_lifetime: i64,
    /// Clock skew allowed, in seconds.
    pub skew: i64,
}

impl fmt::Debug for AssertionCheck<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionCheck")
            .field("issuer", &self.issuer)
            .field("max_lifetime", &self.max_lifetime)
            .finish_non_exhaustive()
    }
}

/// The default `max_lifetime` of an assertion: 5 minutes.
pub const DEFAULT_ASSERTION_LIFETIME: i64 = 300;

/// A client that passed [`authenticate`], the only way to make one: how
/// every endpoint learns that a client authenticated, and what the
/// per-client rate limit ([`crate::rate_limit::RateLimiter::check_client`])
/// is keyed by, so that strangers claiming a `client_id` cannot spend that
/// client's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedClient {
    client_id: String,
    proven: bool,
}

impl AuthenticatedClient {
    /// The client.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether the client proved a credential (a secret or a key). `false`
    /// for a public client (`none`): its `client_id` is all anyone needs.
    pub fn proven(&self) -> bool {
        self.proven
    }
}

/// Checks `credentials` against what the client registered. The method must
/// be the registered one: a confidential client presenting only its
/// `client_id` is refused, and so is a public client presenting a secret.
/// `assertions` is needed for `private_key_jwt` only (its replay check is
/// the only step that waits).
pub async fn authenticate(
    credentials: &ClientCredentials,
    registered: &RegisteredAuth,
    assertions: Option<&AssertionCheck<'_>>,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let proven = match (credentials, registered) {
        (ClientCredentials::None { .. }, RegisteredAuth::None) => false,
        (ClientCredentials::SecretBasic { secret, .. }, RegisteredAuth::SecretBasic(hash))
        | (ClientCredentials::SecretPost { secret, .. }, RegisteredAuth::SecretPost(hash)) => {
            if !hash.verify(secret) {
                return Err(ClientAuthError::BadSecret);
            }
            true
        }
        (
            ClientCredentials::PrivateKeyJwt {
                client_id,
                assertion,
            },
            RegisteredAuth::PrivateKeyJwt(keys),
        ) => {
            let check = assertions.ok_or(ClientAuthError::AssertionsNotConfigured)?;
            verify_assertion(assertion, client_id, keys, check).await?;
            true
        }
        (used, registered) => {
            return Err(ClientAuthError::MethodMismatch {
                used: used.method(),
                registered: registered.method(),
            });
        }
    };
    Ok(AuthenticatedClient {
        client_id: credentials.client_id().to_owned(),
        proven,
    })
}

/// Verifies an RFC 7523 client assertion for `client_id` with its registered
/// `keys`: the JWS rules of SPEC §5 (no `alg: none`, no HMAC, no embedded
/// key, the key found by `kid` among the client's keys and its algorithm
/// required), then `iss` = `sub` = `client_id`, `aud` exactly
/// `check.issuer` as a single string, `exp` present, not passed and at most
/// `check.max_lifetime` ahead, `nbf`/`iat` not in the future, `iat` (when
/// present) at most `check.max_lifetime` ago, and `jti` used once.
///
/// `alg: none` is refused as `alg_none`, an HMAC algorithm (`HS256`…) as
/// `unsupported_alg`: a client's registered keys are public keys.
pub async fn verify_assertion(
    assertion: &str,
    client_id: &str,
    keys: &JwkSet,
    check: &AssertionCheck<'_>,
) -> Result<(), ClientAuthError> {
    let jws = CompactJws::parse_with_max_len(assertion, MAX_ASSERTION_LEN)?;
    let kid = jws.header().require_kid()?;
    let key = keys.get(kid).ok_or(ClientAuthError::UnknownKey)?;
    let options = VerifyOptions {
        algorithms: check.algorithms.to_vec(),
        // RFC 7523 profiles no `typ`; `JWT` and none are common
        typ: None,
        accept_untyped: true,
    };
    let payload = jws.verify(key, &options)?;
    let claims = passport_jose::json::parse_object(payload, "payload")?;

    let string = |name: &'static str| match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
        _ => Err(ClientAuthError::MissingClaim(name)),
    };
    let number = |name: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or(ClientAuthError::MissingClaim(name)),
    };
    if string("iss")? != client_id || string("sub")? != client_id {
        return Err(ClientAuthError::WrongSubject);
    }
    match claims.get("aud") {
        None => return Err(ClientAuthError::MissingClaim("aud")),
        Some(Value::String(s)) if s == check.issuer => {}
        // the token endpoint, another server, an array (even of the issuer
        // alone): rfc7523bis wants the issuer as the sole, string audience
        Some(_) => return Err(ClientAuthError::WrongAudience),
    }
    let now = check.clock.now();
    let exp = number("exp")?.ok_or(ClientAuthError::MissingClaim("exp"))?;
    if exp.saturating_add(check.skew) <= now {
        return Err(ClientAuthError::Expired);
    }
    if exp.saturating_sub(now) > check.max_lifetime.saturating_add(check.skew) {
        return Err(ClientAuthError::LifetimeTooLong {
            max: check.max_lifetime,
        });
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = number(name)?
            && t > now.saturating_add(check.skew)
        {
            return Err(ClientAuthError::NotYetValid);
        }
    }
    // RFC 7523 §3 item 6: an `iat` unreasonably far in the past. Without
    // this, an assertion made to live a day is refused by the bound on
    // `exp` only until its last minutes, then accepted
    if let Some(iat) = number("iat")?
        && now.saturating_sub(iat) > check.max_lifetime.saturating_add(check.skew)
    {
        return Err(ClientAuthError::LifetimeTooLong {
            max: check.max_lifetime,
        });
    }
    let jti = string("jti")?;
    if jti.len() > MAX_JTI_LEN {
        return Err(ClientAuthError::MissingClaim("jti"));
    }
    match check
        .replay
        .first_use(client_id, jti, exp.saturating_add(check.skew))
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(ClientAuthError::Replayed),
        Err(e) => Err(ClientAuthError::ReplayUnavailable(e)),
    }
}
