//! The Status List Token in JWT form (draft-ietf-oauth-status-list §5.1):
//! header `typ: statuslist+jwt`, `alg`, `kid`; claims `sub` (the list's
//! URI), `iat`, `exp`, `ttl` and `status_list: {bits, lst}`.

use passport_jose::{Algorithm, CompactJws, JoseError, SigningKey, VerifyOptions, b64, json};
use passport_verifier::KeyStore;
use serde_json::{Map, Value, json};

use crate::error::shorten;
use crate::{DEFAULT_MAX_DECOMPRESSED, StatusError, StatusList};

/// The `typ` of a Status List Token in JWT form.
pub const STATUS_LIST_TYP: &str = "statuslist+jwt";

/// The largest Status List Token accepted by default, in bytes (4 MiB).
///
/// A passport is at most [`passport_jose::MAX_TOKEN_LEN`] (16 KiB), but a
/// list with thousands of revoked entries at random indices compresses to
/// more than that, so list tokens have their own, larger limit.
pub const DEFAULT_MAX_LIST_TOKEN_LEN: usize = 4 * 1024 * 1024;

/// The default clock skew for a list's `iat` and `exp`, in seconds (the
/// verifier's default).
pub const DEFAULT_LIST_CLOCK_SKEW: u64 = passport_verifier::DEFAULT_CLOCK_SKEW;

/// The longest lifetime (`exp - iat`) a status list token may have by
/// default: 7 days, the most `passport status-list --lifetime` signs.
pub const DEFAULT_MAX_LIST_LIFETIME: u64 = 7 * 24 * 60 * 60;

/// Signs and verifies Status List Tokens.
#[derive(Debug, Clone, Copy)]
pub struct StatusListToken;

/// What a Status List Token must satisfy to be used.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListExpectations<'a> {
    /// The issuer whose passports the list covers: the token must be signed
    /// by a key of this issuer (a key of any other issuer never counts).
    pub issuer: &'a str,
    /// The URI the passport references: the token's `sub` must be exactly this.
    pub uri: &'a str,
    /// Now, in seconds.
    pub now: i64,
    /// Tolerance for `iat` in the future and `exp` in the past, in seconds.
    pub clock_skew: u64,
    /// The cap on the decompressed list, in bytes.
    pub max_decompressed: usize,
    /// The cap on the token's length, in bytes.
    pub max_token_len: usize,
    /// The algorithms accepted.
    pub algorithms: &'a [Algorithm],
    /// The longest lifetime (`exp - iat`) accepted, in seconds.
    pub max_lifetime: u64,
}

impl<'a> ListExpectations<'a> {
    /// Expect a list of `issuer`'s for `uri` valid at `now`, with the
    /// defaults: a skew of [`DEFAULT_LIST_CLOCK_SKEW`],
    /// [`DEFAULT_MAX_DECOMPRESSED`], [`DEFAULT_MAX_LIST_TOKEN_LEN`] and every
    /// algorithm `passport-jose` implements.
    pub fn new(issuer: &'a str, uri: &'a str, now: i64) -> ListExpectations<'a> {
        ListExpectations {
            issuer,
            uri,
            now,
            clock_skew: DEFAULT_LIST_CLOCK_SKEW,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            max_token_len: DEFAULT_MAX_LIST_TOKEN_LEN,
            algorithms: &Algorithm::ALL,
            max_lifetime: DEFAULT_MAX_LIST_LIFETIME,
        }
    }

    /// Sets the longest lifetime (`exp - iat`) accepted, in seconds.
    pub fn max_lifetime(mut self, seconds: u64) -> Self {
        self.max_lifetime = seconds;
        self
    }

    /// Sets the clock skew.
    pub fn clock_skew(mut self, seconds: u64) -> Self {
        self.clock_skew = seconds;
        self
    }

    /// Sets the cap on the decompressed list.
    pub fn max_decompressed(mut self, bytes: usize) -> Self {
        self.max_decompressed = bytes;
        self
    }

    /// Sets the cap on the token's length.
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// Sets the accepted algorithms.
    pub fn algorithms(mut self, algorithms: &'a [Algorithm]) -> Self {
        self.algorithms = algorithms;
        self
    }
}

/// A Status List Token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedStatusList {
    /// The decoded list.
    pub list: StatusList,
    /// Its URI (the token's `sub`).
    pub uri: String,
    /// The issuer whose key signed it.
    pub issuer: String,
    /// When it was issued.
    pub iat: i64,
    /// When it expires.
    pub exp: i64,
    /// How long a consumer may cache it, in seconds, when the token says.
    pub ttl: Option<u64>,
    /// The `kid` of the key that signed it.
    pub kid: String,
}

impl StatusListToken {
    /// Signs `list` as the Status List Token for `uri`: header
    /// `{"alg", "kid", "typ": "statuslist+jwt"}`, claims `sub`, `iat`, `exp`,
    /// `ttl`, `status_list: {bits, lst}`. `exp` must be after `iat`.
    pub fn sign(
        key: &SigningKey,
        uri: &str,
        list: &StatusList,
        iat: i64,
        exp: i64,
        ttl: u64,
    ) -> Result<String, StatusError> {
        if uri.is_empty() {
            return Err(StatusError::InvalidClaims("empty `sub`".into()));
        }
        if exp <= iat {
            return Err(StatusError::InvalidClaims(format!(
                "`exp` {exp} is not after `iat` {iat}"
            )));
        }
        let (bits, lst) = list.encode()?;
        let claims = json!({
            "sub": uri,
            "iat": iat,
            "exp": exp,
            "ttl": ttl,
            "status_list": {"bits": bits, "lst": lst},
        });
        let payload =
            serde_json::to_vec(&claims).map_err(|e| StatusError::InvalidClaims(e.to_string()))?;
        let mut header = Map::new();
        header.insert("alg".into(), key.algorithm().as_str().into());
        header.insert("kid".into(), key.kid().into());
        header.insert("typ".into(), STATUS_LIST_TYP.into());
        Ok(key.sign_compact_with_header(&header, &payload)?)
    }

    /// Verifies a Status List Token and decodes its list.
    ///
    /// Checks, in order: the token's length; the JWS structure and header
    /// rules of `passport-jose` (three canonical base64url segments, a strict
    /// JSON header, no `none`, no `crit`/`b64`, no embedded keys, a `kid`);
    /// `alg` in the allow-list; `typ` exactly `statuslist+jwt` (a passport or
    /// an untyped JWT is refused); the key found by the expected issuer and
    /// `kid` in `keys` — a key of another issuer never counts (else
    /// `unknown_kid`); the signature with that key's algorithm; strict
    /// claims; `sub` equal to the expected URI; `iat` not after the key's
    /// retirement (`key_retired`); `iat` not in the future and `exp` not
    /// passed, beyond the skew; then the list itself
    /// ([`StatusList::decode`]).
    pub fn verify(
        token: &str,
        keys: &dyn KeyStore,
        expect: &ListExpectations<'_>,
    ) -> Result<VerifiedStatusList, StatusError> {
        let token = token.trim_matches(|c: char| c.is_ascii_whitespace());
        if token.len() > expect.max_token_len {
            return Err(JoseError::TokenTooLarge {
                len: token.len(),
                max: expect.max_token_len,
            }
            .into());
        }
        // The same strict parser and header rules as a passport, with the
        // list's own size limit (a list can be far larger than 16 KiB).
        let jws = CompactJws::parse_with_max_len(token, expect.max_token_len)?;
        let header = jws.header();
        let alg = header.alg();
        if !expect.algorithms.contains(&alg) {
            return Err(JoseError::AlgorithmNotAllowed {
                alg,
                allowed: expect.algorithms.to_vec(),
            }
            .into());
        }
        check_typ(header.typ())?;
        let kid = header.require_kid()?;
        let key = keys
            .key(expect.issuer, kid)
            .ok_or_else(|| StatusError::UntrustedKey { kid: shorten(kid) })?;
        // The type was checked above, exactly; the JWS layer checks the
        // algorithm against the key, then the signature.
        let options = VerifyOptions {
            algorithms: expect.algorithms.to_vec(),
            typ: None,
            accept_untyped: true,
        };
        let payload = jws.verify(&key, &options)?;
        let claims = json::parse_object(payload, "payload")?;
        let sub = string_claim(&claims, "sub")?;
        let iat = int_claim(&claims, "iat")?;
        let exp = int_claim(&claims, "exp")?;
        let ttl = match claims.get("ttl") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| invalid("`ttl` is not a non-negative integer"))?,
            ),
        };
        let Some(Value::Object(status_list)) = claims.get("status_list") else {
            return Err(invalid("`status_list` is missing or not an object"));
        };
        let bits = status_list
            .get("bits")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid("`status_list.bits` is missing or not an integer"))?;
        let lst = string_claim(status_list, "lst")?;

        if sub != expect.uri {
            return Err(StatusError::UriMismatch {
                expected: shorten(expect.uri),
                found: shorten(sub),
            });
        }
        if exp <= iat {
            return Err(invalid("`exp` is not after `iat`"));
        }
        let lifetime = exp.saturating_sub(iat);
        if u64::try_from(lifetime).unwrap_or(u64::MAX) > expect.max_lifetime {
            return Err(StatusError::LifetimeTooLong {
                lifetime,
                max: expect.max_lifetime,
            });
        }
        if let Some(retired_at) = key.retired_at()
            && iat > retired_at
        {
            return Err(StatusError::KeyRetired {
                kid: shorten(kid),
                iat,
                retired_at,
            });
        }
        let skew = i64::try_from(expect.clock_skew).unwrap_or(i64::MAX);
        if iat > expect.now.saturating_add(skew) {
            return Err(StatusError::IssuedInFuture {
                iat,
                now: expect.now,
            });
        }
        if expect.now > exp.saturating_add(skew) {
            return Err(StatusError::Expired {
                exp,
                now: expect.now,
            });
        }
        let list = StatusList::decode(bits, lst, expect.max_decompressed)?;
        Ok(VerifiedStatusList {
            list,
            uri: sub.to_owned(),
            issuer: expect.issuer.to_owned(),
            iat,
            exp,
            ttl,
            kid: kid.to_owned(),
        })
    }

    /// The token's `sub`, read **without verifying anything**: to know which
    /// URI a list file claims to be before verifying it for that URI.
    pub fn unverified_uri(token: &str) -> Option<String> {
        let token = token.trim_matches(|c: char| c.is_ascii_whitespace());
        let payload = token.split('.').nth(1)?;
        let claims = json::parse_object(&b64::decode(payload)?, "payload").ok()?;
        claims.get("sub")?.as_str().map(str::to_owned)
    }
}

/// `typ` must be `statuslist+jwt` (case-insensitive, with or without the
/// `application/` prefix, RFC 7515 §4.1.9).
fn check_typ(typ: Option<&str>) -> Result<(), StatusError> {
    let Some(found) = typ else {
        return Err(JoseError::UntypedNotAccepted { found: None }.into());
    };
    let bare = match found.get(..12) {
        Some(head) if head.eq_ignore_ascii_case("application/") => &found[12..],
        _ => found,
    };
    if bare.eq_ignore_ascii_case(STATUS_LIST_TYP) {
        return Ok(());
    }
    if found.eq_ignore_ascii_case("JWT") {
        return Err(JoseError::UntypedNotAccepted {
            found: Some(found.to_owned()),
        }
        .into());
    }
    Err(JoseError::InvalidType {
        found: shorten(found),
        expected: STATUS_LIST_TYP.to_owned(),
    }
    .into())
}

fn invalid(reason: &str) -> StatusError {
    StatusError::InvalidClaims(reason.to_owned())
}

fn string_claim<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a str, StatusError> {
    match map.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(StatusError::InvalidClaims(format!(
            "`{name}` is missing or not a non-empty string"
        ))),
    }
}

fn int_claim(map: &Map<String, Value>, name: &str) -> Result<i64, StatusError> {
    map.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| StatusError::InvalidClaims(format!("`{name}` is missing or not an integer")))
}
