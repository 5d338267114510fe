//! The rows of the token service's state, as the server reads and writes them.

use std::fmt;

use crate::error::StoreError;

/// The SHA-256 (base64url) of a bearer secret the server hands out (an
/// authorization code, a refresh token): the database holds only this,
/// never the secret. (A client secret's hash is made and checked by
/// passport-server's `client_auth::SecretHash`; the database stores it as
/// given.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of `secret`.
    ///
    /// ```
    /// use passport_store::server::TokenHash;
    /// assert_eq!(TokenHash::of("abc").as_str(), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    /// ```
    pub fn of(secret: &str) -> TokenHash {
        TokenHash(passport_jose::sha256_b64url(secret.as_bytes()))
    }

    /// The hash, base64url.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A signing key's private material as the server serialises it (the
/// database stores it as given). Printed `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial(String);

impl KeyMaterial {
    /// Wraps the serialised private key.
    pub fn new(material: impl Into<String>) -> KeyMaterial {
        KeyMaterial(material.into())
    }

    /// The serialised private key.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial([redacted])")
    }
}

/// A passport just minted, as the registry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassportEntry {
    /// Its `jti`.
    pub jti: String,
    /// The passport it was delegated from; `None` for a root.
    pub parent_jti: Option<String>,
    /// The actor passport it was minted for (RFC 8693 `actor_token`: it is
    /// bound to that passport's key and expires no later), delegated or a
    /// root; `None` without an actor, and for a row recorded before
    /// migration 0012. A revocation of that passport revokes this one too,
    /// as a parent's revokes its children.
    pub actor_jti: Option<String>,
    /// The OAuth client it was issued to.
    pub client_id: String,
    /// The agent holding it.
    pub agent_id: String,
    /// The principal (`sub`).
    pub principal: String,
    /// Its audience (the RFC 8707 resource).
    pub audience: String,
    /// Its scopes, space-separated.
    pub scopes: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// The signing key's `kid` (its `max_exp` follows `exp`).
    pub kid: String,
    /// The status list it points at.
    pub status_uri: Option<String>,
    /// Its index there.
    pub status_idx: Option<u64>,
    /// When the row was written.
    pub created_at: i64,
    /// The governance environment whose policy admitted it, if any.
    pub environment: Option<String>,
    /// The approval it was issued under, if its environment needs one.
    pub approval_id: Option<String>,
}

/// A passport's lifecycle state in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PassportState {
    /// Not revoked (it may have expired: compare `exp`).
    Active,
    /// Revoked, directly or as a descendant of a revoked passport (by a
    /// parent or an actor link).
    Revoked,
}

/// Why a passport was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// It was the passport named in the revocation.
    Direct,
    /// It descends from the passport named: delegated from it, or minted
    /// for it as the actor passport (or from or for such a descendant).
    Cascaded,
}

impl RevocationReason {
    pub(super) fn parse(s: &str) -> Result<RevocationReason, StoreError> {
        match s {
            "direct" => Ok(RevocationReason::Direct),
            "cascaded" => Ok(RevocationReason::Cascaded),
            other => Err(StoreError::Corrupt(format!(
                "revocation reason {:?}",
                crate::error::shorten(other)
            ))),
        }
    }
}

/// A registry row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryRecord {
    /// What was recorded at issuance.
    pub entry: PassportEntry,
    /// Its state.
    pub state: PassportState,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Why.
    pub revoked_reason: Option<RevocationReason>,
}

/// One passport a revocation changed: what the status list must now show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revoked {
    /// Its `jti`.
    pub jti: String,
    /// Its status list.
    pub status_uri: Option<String>,
    /// Its index there.
    pub status_idx: Option<u64>,
    /// Direct or cascaded.
    pub reason: RevocationReason,
    /// Its agent: with the principal, client and audience, the holder
    /// its audit record names.
    pub agent_id: String,
    /// Its principal.
    pub principal: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Its audience.
    pub audience: String,
    /// The passport it was delegated from, if any.
    pub parent_jti: Option<String>,
    /// The actor passport it was minted for, if any.
    pub actor_jti: Option<String>,
}

/// How a client came to be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientKind {
    /// A public client (no secret; PKCE).
    Public,
    /// A confidential client an operator registered.
    Confidential,
    /// A workload (client credentials; acts for its `owner`).
    Workload,
    /// A client ID metadata document (its `client_id` is its URL).
    MetadataDocument,
    /// Registered through RFC 7591 dynamic registration.
    Dynamic,
}

impl ClientKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Confidential => "confidential",
            ClientKind::Workload => "workload",
            ClientKind::MetadataDocument => "metadata-document",
            ClientKind::Dynamic => "dynamic",
        }
    }

    pub(super) fn parse(s: &str) -> Result<ClientKind, StoreError> {
        [
            ClientKind::Public,
            ClientKind::Confidential,
            ClientKind::Workload,
            ClientKind::MetadataDocument,
            ClientKind::Dynamic,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("client kind {:?}", crate::error::shorten(s))))
    }
}

/// A client to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    /// Its id.
    pub client_id: String,
    /// How it came to be.
    pub kind: ClientKind,
    /// Its secret's hash, if it has a secret, in the form the server made
    /// it (passport-server's `client_auth::SecretHash::to_b64`): the
    /// database never sees the secret.
    pub secret_hash: Option<String>,
    /// `token_endpoint_auth_method`.
    pub auth_method: String,
    /// Its redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// The grant types it may use.
    pub grant_types: Vec<String>,
    /// The scopes it may be granted, space-separated.
    pub scopes: String,
    /// The principal a workload acts for.
    pub owner: Option<String>,
    /// Its JWKS (JSON), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Its metadata as registered (JSON).
    pub metadata: String,
    /// When it was registered.
    pub created_at: i64,
}

impl NewClient {
    /// The record this client has once registered, for a client the server
    /// describes without storing it (a client ID metadata document, fetched
    /// and cached instead).
    pub fn into_record(self) -> ClientRecord {
        ClientRecord {
            client_id: self.client_id,
            kind: self.kind,
            secret_hash: self.secret_hash,
            auth_method: self.auth_method,
            redirect_uris: self.redirect_uris,
            grant_types: self.grant_types,
            scopes: self.scopes,
            owner: self.owner,
            jwks: self.jwks,
            metadata: self.metadata,
            created_at: self.created_at,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientRecord {
    /// Its id.
    pub client_id: String,
    /// How it came to be.
    pub kind: ClientKind,
    /// Its secret's hash as registered ([`NewClient::secret_hash`]), if it
    /// has a secret.
    pub secret_hash: Option<String>,
    /// `token_endpoint_auth_method`.
    pub auth_method: String,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The grant types it may use.
    pub grant_types: Vec<String>,
    /// The scopes it may be granted, space-separated.
    pub scopes: String,
    /// The principal a workload acts for.
    pub owner: Option<String>,
    /// Its JWKS (JSON).
    pub jwks: Option<String>,
    /// Its metadata (JSON).
    pub metadata: String,
    /// When it was registered.
    pub created_at: i64,
}

/// An authorization code to remember until it is used or expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    /// The code's hash.
    pub code: TokenHash,
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The RFC 8707 resource (the passport's `aud`).
    pub resource: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The principal and its claims (JSON).
    pub claims: String,
    /// Its expiry.
    pub expires_at: i64,
}

/// What an authorization code grants, returned once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CodeGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The RFC 8707 resource.
    pub resource: String,
    /// The scopes granted.
    pub scope: String,
    /// The principal and its claims (JSON).
    pub claims: String,
    /// Its expiry.
    pub expires_at: i64,
}

/// A refresh token starting a new family (after an authorization code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// The token's hash.
    pub token: TokenHash,
    /// Its family (one per authorization).
    pub family_id: String,
    /// The client.
    pub client_id: String,
    /// The passport issued beside it.
    pub passport_jti: String,
    /// The scopes it may refresh, space-separated.
    pub scope: String,
    /// The principal and its claims (JSON).
    pub claims: String,
    /// Its expiry.
    pub expires_at: i64,
    /// When it was issued.
    pub created_at: i64,
}

/// The refresh token that replaces a presented one, in the same family
/// and with the same grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshSuccessor {
    /// The new token's hash.
    pub token: TokenHash,
    /// The passport issued beside it.
    pub passport_jti: String,
    /// Its expiry.
    pub expires_at: i64,
    /// The grant's claims from this token on, when the rotation changes
    /// them (a public client's first DPoP-bound refresh binds the family
    /// to its key, RFC 9449 §5); `None` keeps the presented token's.
    pub claims: Option<String>,
}

/// What a rotated refresh token granted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshGrant {
    /// The family.
    pub family_id: String,
    /// The client.
    pub client_id: String,
    /// The passport issued beside the presented token.
    pub previous_passport_jti: String,
    /// The scopes.
    pub scope: String,
    /// The principal and its claims (JSON).
    pub claims: String,
}

/// A refresh token's family, read without using the token (to check who
/// presents it, or to revoke the family).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshFamily {
    /// The family.
    pub family_id: String,
    /// The client.
    pub client_id: String,
    /// The passport issued beside this token.
    pub passport_jti: String,
    /// The scopes the family may refresh.
    pub scope: String,
    /// The principal and its claims (JSON).
    pub claims: String,
    /// This token's expiry.
    pub expires_at: i64,
    /// The passport the family issued first (the code grant's), if any:
    /// the start of a family written before families recorded it. (Ending
    /// the family revokes every passport it issued, in the store.)
    pub first_passport: Option<String>,
}

/// A signing key's place in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signing.
    Current,
    /// No longer signing; published until its `max_exp`.
    Retired,
}

impl KeyState {
    pub(super) fn parse(s: &str) -> Result<KeyState, StoreError> {
        match s {
            "next" => Ok(KeyState::Next),
            "current" => Ok(KeyState::Current),
            "retired" => Ok(KeyState::Retired),
            other => Err(StoreError::Corrupt(format!(
                "key state {:?}",
                crate::error::shorten(other)
            ))),
        }
    }
}

/// A signing key to add (as the next key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSigningKey {
    /// Its `kid`.
    pub kid: String,
    /// Its JWS algorithm.
    pub alg: String,
    /// Its private material.
    pub private_key: KeyMaterial,
    /// Published from.
    pub not_before: i64,
    /// When it was generated.
    pub created_at: i64,
}

/// A signing key of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SigningKeyRecord {
    /// Its `kid`.
    pub kid: String,
    /// Its JWS algorithm.
    pub alg: String,
    /// Its private material.
    pub private_key: KeyMaterial,
    /// Its state.
    pub state: KeyState,
    /// Published from.
    pub not_before: i64,
    /// When it stopped signing.
    pub retired_at: Option<i64>,
    /// The latest `exp` of a passport it signed.
    pub max_exp: i64,
    /// When it was generated.
    pub created_at: i64,
}

impl SigningKeyRecord {
    /// Whether the JWKS publishes it at `now`: the next and current keys,
    /// and a retired key until the last passport it signed expires.
    pub fn is_published(&self, now: i64) -> bool {
        match self.state {
            KeyState::Next | KeyState::Current => true,
            KeyState::Retired => self.max_exp >= now,
        }
    }
}
