//! Proof verification (RFC 9449 §4.3).

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use passport_claims::Clock;
use passport_jose::{
    Algorithm, JoseError, KeyAlgorithm, VerifyingKey, b64, constant_time_eq, json,
};

use crate::claims::{Optional, ProofClaims};
use crate::replay::{DEFAULT_REPLAY_CAPACITY, InMemoryReplayCache, ReplayCache};
use crate::{DPOP_TYP, DpopError, MAX_PROOF_LEN, NonceIssuer, PRIVATE_MEMBERS, ath, normalize_htu};

/// Header members refused in a proof: `crit` and `b64` change how the JWS is
/// processed; the others would name a second source for the key, which in a
/// proof comes from `jwk` only.
const FORBIDDEN_MEMBERS: [&str; 7] = ["crit", "b64", "jku", "x5u", "x5c", "x5t", "x5t#S256"];

/// What a [`DpopVerifier`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Proof algorithms accepted. Only asymmetric algorithms exist here: `none`
    /// and HMAC are refused whatever this list says. Default: `ES256`,
    /// `EdDSA`, `Ed25519`.
    pub allowed_algorithms: Vec<Algorithm>,
    /// How old an `iat` may be, in seconds (default 60).
    pub iat_past: i64,
    /// How far in the future an `iat` may be, in seconds (default 5).
    pub iat_future: i64,
    /// Require a server nonce (needs a [`NonceIssuer`] on the verifier).
    pub require_nonce: bool,
}

impl Default for DpopPolicy {
    fn default() -> DpopPolicy {
        DpopPolicy {
            allowed_algorithms: vec![Algorithm::ES256, Algorithm::EdDSA, Algorithm::Ed25519],
            iat_past: 60,
            iat_future: 5,
            require_nonce: false,
        }
    }
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedProof {
    /// RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `htm`.
    pub htm: String,
    /// The proof's `htu`, normalised.
    pub htu: String,
    /// The proof's `iat`.
    pub iat: i64,
}

/// Verifies DPoP proofs: policy, replay cache, optional nonce issuer, clock.
///
/// Checks run in the order of RFC 9449 §4.3, each failure with its own
/// [`DpopError`]; the `jti` is recorded in the replay cache only when every
/// other check has passed, so a refused proof never spends its `jti`.
#[derive(Clone)]
pub struct DpopVerifier {
    policy: DpopPolicy,
    replay: Arc<dyn ReplayCache>,
    nonces: Option<NonceIssuer>,
    clock: Arc<dyn Clock>,
    keys: Arc<KeyCache>,
    headers: Arc<HeaderCache>,
    aths: Arc<AthCache>,
    htus: Arc<HtuMemo>,
}

/// Proof keys already parsed, keyed by the SHA-256 of the JWK exactly as the
/// proof carries it (every member, in its order): an agent signs every request with
/// the same key, so parsing and validating it (a curve-point check) happens
/// once. A JWK differing in any member is a miss and is validated in full.
/// Bounded: when full, it is emptied and refilled.
#[derive(Default)]
struct KeyCache(std::sync::Mutex<std::collections::HashMap<[u8; 32], (VerifyingKey, String)>>);

/// How many proof keys a verifier remembers.
const KEY_CACHE_CAPACITY: usize = 4096;

/// Proof headers that passed every header rule of this verifier's policy
/// and then a signature check, keyed by the header segment's exact bytes:
/// an agent sends the same header (`typ`, `alg`, its `jwk`) with every
/// request, so its base64url decoding, its JSON, the header rules, the key
/// and its thumbprint are settled once. Only equal bytes hit (equal bytes
/// are an equal header, hence the same answers); the claims, the signature
/// and every claim rule are checked on every proof. Bounded like
/// [`KeyCache`]; headers over [`MAX_CACHED_HEADER_LEN`] are not kept.
#[derive(Default)]
struct HeaderCache(std::sync::Mutex<std::collections::HashMap<Box<str>, CheckedHeader>>);

/// What a header that passed the header rules yields.
#[derive(Clone)]
struct CheckedHeader {
    alg: Algorithm,
    key: VerifyingKey,
    jkt: String,
}

/// The `ath` of recently presented bundles: hashing a bundle (kilobytes)
/// on every request of an agent that presents the same one each time costs
/// more than the rest of the claim checks together. A direct-mapped table
/// of [`ATH_CACHE_SLOTS`] entries, each holding a bundle's exact bytes and
/// its `ath`; a slot is chosen from the bundle's length and its leaf's last
/// bytes (its signature), and a hit needs the whole bundle to be equal, so
/// a bundle differing in any byte is a miss and is hashed. Bundles over
/// [`MAX_CACHED_BUNDLE_LEN`] are not kept, which bounds the memory.
struct AthCache(std::sync::Mutex<Vec<AthSlot>>);

/// A bundle's exact bytes and its `ath`, or nothing.
type AthSlot = Option<(Box<str>, String)>;

/// How many bundles' `ath` a verifier remembers.
const ATH_CACHE_SLOTS: usize = 256;

/// The longest bundle whose `ath` is kept (256 slots of it: 4 MiB at most).
const MAX_CACHED_BUNDLE_LEN: usize = 16 * 1024;

impl Default for AthCache {
    fn default() -> AthCache {
        AthCache(std::sync::Mutex::new(vec![None; ATH_CACHE_SLOTS]))
    }
}

impl AthCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AthSlot>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `claimed` is `token`'s `ath` (compared in constant time),
    /// remembering the `ath` of a token that matched.
    fn matches(&self, token: &str, claimed: &str) -> bool {
        let slot = ath_slot(token);
        if let Some((cached, value)) = &self.lock()[slot]
            && **cached == *token
        {
            return constant_time_eq(claimed.as_bytes(), value.as_bytes());
        }
        let value = ath(token);
        let matched = constant_time_eq(claimed.as_bytes(), value.as_bytes());
        if matched && token.len() <= MAX_CACHED_BUNDLE_LEN {
            self.lock()[slot] = Some((token.into(), value));
        }
        matched
    }

    /// How many slots hold a bundle.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().iter().filter(|e| e.is_some()).count()
    }
}

/// The slot of `token` in an [`AthCache`]: a hash of its length and of the
/// 32 bytes before its first `~` (the leaf's signature, which differs
/// between any two leaves; a bundle's last bytes are its root's signature,
/// shared by every leaf under that root), or of its last 32 bytes.
fn ath_slot(token: &str) -> usize {
    let bytes = token.as_bytes();
    // `find` searches with memchr: the leaf is a kilobyte.
    let leaf = &bytes[..token.find('~').unwrap_or(bytes.len())];
    let tail = &leaf[leaf.len().saturating_sub(32)..];
    let mut h = bytes.len() as u64;
    for &b in tail {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    // The top bits are the best mixed.
    (h >> 56) as usize % ATH_CACHE_SLOTS
}

/// The normalised `htu` of the request URLs seen last: a server's routes
/// are few, and parsing the URL is most of what checking `htu` costs.
/// [`request_htu`] is a function of the URL's exact text, so a hit (the
/// same text, compared whole) answers as parsing it again would; a URL it
/// refuses is never kept, and is refused again each time.
#[derive(Default)]
struct HtuMemo(std::sync::Mutex<[HtuSlot; HTU_MEMO_SLOTS]>);

/// A request URL's exact text and its normalised `htu`, or nothing.
type HtuSlot = Option<(Box<str>, String)>;

/// How many request URLs a verifier remembers (round robin).
const HTU_MEMO_SLOTS: usize = 8;

/// The longest request URL remembered.
const MAX_MEMO_URL_LEN: usize = 1024;

impl HtuMemo {
    fn request_htu(&self, url: &str) -> Result<String, DpopError> {
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((_, htu)) = lock().iter().flatten().find(|(seen, _)| **seen == *url) {
            return Ok(htu.clone());
        }
        let htu = request_htu(url)?;
        if url.len() <= MAX_MEMO_URL_LEN {
            let mut slots = lock();
            // The first free slot, else the first one (moved to the end).
            match slots.iter().position(Option::is_none) {
                Some(free) => slots[free] = Some((url.into(), htu.clone())),
                None => {
                    slots.rotate_left(1);
                    slots[HTU_MEMO_SLOTS - 1] = Some((url.into(), htu.clone()));
                }
            }
        }
        Ok(htu)
    }
}

/// The longest header segment kept (a 4096-bit RSA `jwk` fits).
const MAX_CACHED_HEADER_LEN: usize = 2048;

impl HeaderCache {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<Box<str>, CheckedHeader>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, segment: &str) -> Option<CheckedHeader> {
        self.lock().get(segment).cloned()
    }

    fn insert(&self, segment: &str, checked: &CheckedHeader) {
        if segment.len() > MAX_CACHED_HEADER_LEN {
            return;
        }
        let mut cache = self.lock();
        if cache.len() >= KEY_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(segment.into(), checked.clone());
    }
}

impl DpopVerifier {
    /// A verifier with an [`InMemoryReplayCache`] of
    /// [`DEFAULT_REPLAY_CAPACITY`] entries and no nonce issuer.
    pub fn new(policy: DpopPolicy, clock: Arc<dyn Clock>) -> DpopVerifier {
        let replay = Arc::new(InMemoryReplayCache::new(
            DEFAULT_REPLAY_CAPACITY,
            clock.clone(),
        ));
        DpopVerifier {
            policy,
            replay,
            nonces: None,
            clock,
            keys: Arc::new(KeyCache::default()),
            headers: Arc::new(HeaderCache::default()),
            aths: Arc::new(AthCache::default()),
            htus: Arc::new(HtuMemo::default()),
        }
    }

    /// Uses `cache` (for example one shared by a cluster) for `jti` replay.
    #[must_use]
    pub fn with_replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> DpopVerifier {
        self.replay = cache;
        self
    }

    /// Uses `issuer` for server nonces (checked when the policy requires them).
    #[must_use]
    pub fn with_nonce_issuer(mut self, issuer: NonceIssuer) -> DpopVerifier {
        self.nonces = Some(issuer);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &DpopPolicy {
        &self.policy
    }

    /// The nonce issuer, if any (to send a `DPoP-Nonce` ahead of need).
    pub fn nonce_issuer(&self) -> Option<&NonceIssuer> {
        self.nonces.as_ref()
    }

    /// Verifies the proof of one request.
    ///
    /// - `headers`: the values of every `DPoP` header of the request;
    /// - `method`, `url`: the request's method and absolute URL (query and
    ///   fragment are ignored);
    /// - `access_token`: the passport bundle presented with the request, if
    ///   any (the proof's `ath` must then be its hash);
    /// - `expected_jkt`: the passport's `cnf.jkt`, if it is bound to a key.
    pub fn verify(
        &self,
        headers: &[&str],
        method: &str,
        url: &str,
        access_token: Option<&str>,
        expected_jkt: Option<&str>,
    ) -> Result<VerifiedProof, DpopError> {
        // Exactly one proof.
        let proof = single_proof(headers)?;
        // A well-formed JWS; a header seen before (the same bytes) under
        // this policy is not decoded or checked again.
        let cached = Parsed::header_segment(proof).and_then(|h| self.headers.get(h));
        let parsed = Parsed::parse(proof, cached.is_none())?;
        let checked = match (cached, &parsed.header) {
            (Some(hit), _) => {
                // What the cold path checks before parsing the jwk.
                if let Some(expected) = expected_jkt
                    && !constant_time_eq(expected.as_bytes(), hit.jkt.as_bytes())
                {
                    return Err(DpopError::KeyMismatch);
                }
                hit
            }
            (None, Some(header)) => self.check_header(header, expected_jkt)?,
            // `parse` decodes the header whenever it was not cached.
            (None, None) => return Err(DpopError::Malformed("header".into())),
        };
        let CheckedHeader { alg, key, jkt } = &checked;
        // The signature, with that jwk.
        key.verify(*alg, parsed.signing_input.as_bytes(), &parsed.signature)
            .map_err(|e| match e {
                JoseError::AlgorithmKeyMismatch { alg, key } => DpopError::AlgorithmKeyMismatch {
                    alg: alg.as_str().to_owned(),
                    key: key.to_string(),
                },
                _ => DpopError::BadSignature,
            })?;
        if parsed.header.is_some() {
            self.headers.insert(parsed.header_segment, &checked);
        }
        let jkt = jkt.clone();
        // The required claims.
        let claims = &parsed.claims;
        let jti = claims.required_str("jti")?;
        let htm = claims.required_str("htm")?;
        let htu = claims.required_str("htu")?;
        let iat = claims.iat()?;
        // htm.
        if htm != method {
            return Err(DpopError::HtmMismatch);
        }
        // htu. The proof must name the path the server routes, but
        // normalising rewrites some paths: it resolves dot segments
        // (`/a/../admin`, `/a/%2e%2e/admin`) and treats `\` as `/`
        // (`/static/x\..\..\public` becomes `/public`), so such a request
        // would match a proof made for another path: refuse it.
        // One parse of the request URL serves both the path check and the
        // normalisation.
        let request_htu = self.htus.request_htu(url)?;
        // A proof whose `htu` is the request URL byte for byte (what an
        // agent signs) normalises to the same string: the normaliser is a
        // function of its input, and it accepted that input just above.
        let proof_htu = if htu == url {
            request_htu
        } else {
            let proof_htu = normalize_htu(htu).map_err(|_| DpopError::InvalidClaim("htu"))?;
            if proof_htu != request_htu {
                return Err(DpopError::HtuMismatch);
            }
            proof_htu
        };
        // nonce, when the policy asks for one.
        if self.policy.require_nonce {
            let issuer = self.nonces.as_ref().ok_or(DpopError::NonceNotConfigured)?;
            match claims.optional("nonce") {
                Optional::Absent => {
                    return Err(DpopError::UseNonce {
                        nonce: issuer.current(),
                        reason: "missing",
                    });
                }
                Optional::Str(n) if issuer.check(n) => {}
                Optional::Str(_) | Optional::Other => {
                    return Err(DpopError::UseNonce {
                        nonce: issuer.current(),
                        reason: "invalid or expired",
                    });
                }
            }
        }
        // iat window.
        let now = self.clock.now();
        if iat < now.saturating_sub(self.policy.iat_past) {
            return Err(DpopError::IatTooOld);
        }
        if iat > now.saturating_add(self.policy.iat_future) {
            return Err(DpopError::IatInFuture);
        }
        // ath, when an access token is presented.
        if let Some(token) = access_token {
            match claims.optional("ath") {
                Optional::Absent => return Err(DpopError::MissingAth),
                Optional::Str(a) => {
                    if !self.aths.matches(token, a) {
                        return Err(DpopError::AthMismatch);
                    }
                }
                Optional::Other => return Err(DpopError::InvalidClaim("ath")),
            }
        }
        // The binding to the passport's cnf.jkt.
        if let Some(expected) = expected_jkt
            && !constant_time_eq(expected.as_bytes(), jkt.as_bytes())
        {
            return Err(DpopError::KeyMismatch);
        }
        // jti replay, last: only a proof that passed everything spends its jti.
        let expires_at = iat.saturating_add(self.policy.iat_past.max(0));
        if !self.replay.check_and_insert(&jkt, jti, expires_at)? {
            return Err(DpopError::Replay);
        }
        Ok(VerifiedProof {
            jti: jti.to_owned(),
            htm: htm.to_owned(),
            htu: proof_htu,
            iat,
            jkt,
        })
    }

    /// The header rules, in order: `typ`; `alg` asymmetric, supported and
    /// allowed; no processing-changing or key-source member; then the `jwk`
    /// (refused on its members alone when it is RSA under another `alg` or
    /// not the bound key, before it is parsed), public, supported, of `alg`'s
    /// key type.
    fn check_header(
        &self,
        header: &Map<String, Value>,
        expected_jkt: Option<&str>,
    ) -> Result<CheckedHeader, DpopError> {
        // typ.
        if header.get("typ").and_then(Value::as_str) != Some(DPOP_TYP) {
            return Err(DpopError::InvalidType);
        }
        // alg: asymmetric, supported, allowed; no processing-changing members.
        let alg = match header.get("alg") {
            Some(Value::String(name)) => Algorithm::parse(name).map_err(|e| match e {
                JoseError::AlgorithmNone(_) => DpopError::AlgorithmNone,
                _ => DpopError::UnsupportedAlgorithm(short(name)),
            })?,
            _ => return Err(DpopError::MissingAlgorithm),
        };
        if !self.policy.allowed_algorithms.contains(&alg) {
            return Err(DpopError::AlgorithmNotAllowed(alg.as_str().to_owned()));
        }
        if let Some(name) = FORBIDDEN_MEMBERS.iter().find(|m| header.contains_key(**m)) {
            return Err(DpopError::ForbiddenHeader(name));
        }
        // Before the jwk is parsed, which for RSA costs milliseconds (a
        // primality test): an RSA jwk under a non-RSA alg, and a jwk that is
        // not the passport's bound key, are refused on their members alone.
        if let Some(Value::Object(jwk)) = header.get("jwk") {
            if jwk.get("kty").and_then(Value::as_str) == Some("RSA")
                && alg.key_algorithm() != KeyAlgorithm::Rsa
            {
                return Err(DpopError::AlgorithmKeyMismatch {
                    alg: alg.as_str().to_owned(),
                    key: KeyAlgorithm::Rsa.to_string(),
                });
            }
            if let Some(expected) = expected_jkt
                && passport_jose::thumbprint(jwk)
                    .is_ok_and(|jkt| !constant_time_eq(expected.as_bytes(), jkt.as_bytes()))
            {
                return Err(DpopError::KeyMismatch);
            }
        }
        // jwk: present, public, supported, fits alg.
        let (key, jkt) = self.keys.proof_key(header)?;
        if key.key_algorithm() != alg.key_algorithm() {
            return Err(DpopError::AlgorithmKeyMismatch {
                alg: alg.as_str().to_owned(),
                key: key.key_algorithm().to_string(),
            });
        }
        Ok(CheckedHeader { alg, key, jkt })
    }
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("policy", &self.policy)
            .field("nonces", &self.nonces)
            .finish_non_exhaustive()
    }
}

/// The one proof among the request's `DPoP` header values.
fn single_proof<'a>(headers: &[&'a str]) -> Result<&'a str, DpopError> {
    match headers {
        [] => Err(DpopError::MissingProof),
        // A proxy may fold repeated headers into one comma-separated value;
        // a compact JWS never contains a comma.
        [one] if one.contains(',') => Err(DpopError::MultipleProofs),
        [one] => Ok(one.trim_matches([' ', '\t'])),
        _ => Err(DpopError::MultipleProofs),
    }
}

/// A proof split and decoded, not yet checked.
struct Parsed<'a> {
    /// `None` when the header segment was found in the [`HeaderCache`].
    header: Option<Map<String, Value>>,
    header_segment: &'a str,
    claims: ProofClaims,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl<'a> Parsed<'a> {
    /// The first segment of something that may be a proof, for a cache
    /// lookup only (`parse` checks the shape).
    fn header_segment(proof: &'a str) -> Option<&'a str> {
        proof.split_once('.').map(|(h, _)| h)
    }

    /// Splits and decodes `proof`; its header only when `decode_header`
    /// (else it was found in the cache). The checks and their order are
    /// those of a full parse: a cached header passed them already.
    fn parse(proof: &'a str, decode_header: bool) -> Result<Parsed<'a>, DpopError> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(DpopError::ProofTooLarge {
                len: proof.len(),
                max: MAX_PROOF_LEN,
            });
        }
        let mut parts = proof.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DpopError::Malformed(
                "a compact JWS has exactly three segments".into(),
            ));
        };
        if h.is_empty() || p.is_empty() || s.is_empty() {
            return Err(DpopError::Malformed("empty segment".into()));
        }
        let decode = |segment: &str, part: &str| {
            b64::decode(segment)
                .ok_or_else(|| DpopError::Malformed(format!("{part} is not unpadded base64url")))
        };
        let header = if decode_header {
            Some(
                json::parse_object(&decode(h, "header")?, "header")
                    .map_err(|e| DpopError::Malformed(e.to_string()))?,
            )
        } else {
            None
        };
        let claims = ProofClaims::decode(&decode(p, "payload")?)?;
        let signature = decode(s, "signature")?;
        Ok(Parsed {
            header,
            header_segment: h,
            claims,
            signing_input: &proof[..h.len() + 1 + p.len()],
            signature,
        })
    }
}

impl KeyCache {
    /// [`proof_key`], remembering keys that parsed.
    fn proof_key(&self, header: &Map<String, Value>) -> Result<(VerifyingKey, String), DpopError> {
        let Some(Value::Object(jwk)) = header.get("jwk") else {
            return proof_key(header);
        };
        // Equal bytes mean an equal JWK, hence an equal parse; any other
        // difference (even member order) is merely a miss.
        let Ok(canonical) = serde_json::to_vec(jwk) else {
            return proof_key(header);
        };
        let digest = passport_jose::sha256(&canonical);
        let cache = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(hit) = cache.get(&digest) {
            return Ok(hit.clone());
        }
        drop(cache);
        let parsed = proof_key(header)?;
        let mut cache = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= KEY_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(digest, parsed.clone());
        Ok(parsed)
    }
}

/// The request URL normalised for `htu` ([`normalize_htu`], parsing it
/// once), refused when the URL parser would not leave the request's path as
/// the server routes it:
///
/// - a backslash before the query, plain or percent-encoded (`%5C`): the
///   parser treats `\` as `/`, and a server or file system that decodes
///   `%5C` may too;
/// - a `.` or `..` segment, plain or percent-encoded (RFC 3986 §6.2.2.2
///   lets `%2E` stand for `.`);
/// - anything else the parser rewrites (a character it percent-encodes):
///   the parsed path must be the request's path, byte for byte.
fn request_htu(url: &str) -> Result<String, DpopError> {
    let before_query = url.split(['?', '#']).next().unwrap_or("");
    let encoded_backslash = before_query
        .as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c'));
    if before_query.contains('\\') || encoded_backslash {
        return Err(DpopError::InvalidUrl(
            "the request path has a backslash".into(),
        ));
    }
    let after_scheme = before_query
        .find("://")
        .map_or(before_query, |i| &before_query[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    if path.split('/').any(is_dot_segment) {
        return Err(DpopError::InvalidUrl(
            "the request path has dot segments".into(),
        ));
    }
    let path = if path.is_empty() { "/" } else { path };
    let parsed = crate::htu::parse(url)?;
    if parsed.path() != path {
        return Err(DpopError::InvalidUrl(
            "the URL parser would rewrite the request path".into(),
        ));
    }
    crate::htu::normalize_parsed(parsed, url)
}

/// True for a `.` or `..` segment, each dot plain or percent-encoded
/// (`%2e`, `%2E`).
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', e, tail @ ..] if e.eq_ignore_ascii_case(&b'e') => tail,
            _ => return false,
        };
        dots += 1;
    }
    dots == 1 || dots == 2
}

/// The header's `jwk` as a verifying key, and its RFC 7638 thumbprint.
fn proof_key(header: &Map<String, Value>) -> Result<(VerifyingKey, String), DpopError> {
    let jwk = match header.get("jwk") {
        None => return Err(DpopError::MissingJwk),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(DpopError::InvalidJwk("not a JSON object".into())),
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopError::PrivateKeyInProof);
    }
    let key = VerifyingKey::from_holder_jwk_map(jwk.clone())
        .map_err(|e| DpopError::InvalidJwk(e.to_string()))?;
    let jkt = passport_jose::thumbprint(jwk).map_err(|e| DpopError::InvalidJwk(e.to_string()))?;
    Ok((key, jkt))
}

/// Keeps attacker-chosen strings in errors short.
fn short(s: &str) -> String {
    passport_jose::clip(s, 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memo answers as `request_htu` for the exact URL only, never
    /// keeps a refusal, and stays bounded.
    #[test]
    fn the_htu_memo_answers_as_a_parse() {
        let memo = HtuMemo::default();
        let urls = [
            "https://api.example/resource",
            "https://API.example:443/resource",
            "https://api.example/resource?q=1",
            "https://api.example/a/../admin",
            "https://api.example/static\\x",
            "not a url",
        ];
        for _ in 0..2 {
            for url in urls {
                assert_eq!(memo.request_htu(url), request_htu(url), "{url}");
            }
        }
        for n in 0..3 * HTU_MEMO_SLOTS {
            let url = format!("https://api.example/r{n}");
            assert_eq!(memo.request_htu(&url), request_htu(&url));
            assert_eq!(memo.request_htu(&url), request_htu(&url));
        }
        let kept = memo.0.lock().unwrap();
        assert!(
            kept.iter()
                .flatten()
                .all(|(url, htu)| request_htu(url).as_ref() == Ok(htu))
        );
    }

    #[test]
    fn single_proof_rules() {
        assert_eq!(single_proof(&[]), Err(DpopError::MissingProof));
        assert_eq!(
            single_proof(&["a.b.c", "d.e.f"]),
            Err(DpopError::MultipleProofs)
        );
        assert_eq!(
            single_proof(&["a.b.c, d.e.f"]),
            Err(DpopError::MultipleProofs)
        );
        assert_eq!(single_proof(&[" a.b.c "]), Ok("a.b.c"));
    }

    #[test]
    fn ath_cache_never_answers_for_another_bundle() {
        let cache = AthCache::default();
        let bundle = format!("{}.sig-one~{}", "h".repeat(100), "root".repeat(50));
        assert!(cache.matches(&bundle, &ath(&bundle)));
        assert_eq!(cache.len(), 1);
        // Found in the cache: still only its own ath matches.
        assert!(cache.matches(&bundle, &ath(&bundle)));
        assert!(!cache.matches(&bundle, &ath("another")));
        // The same length and the same leaf tail (hence the same slot), one
        // byte different elsewhere: the cached ath is not its answer.
        let other = bundle.replacen('h', "x", 1);
        assert_eq!(ath_slot(&other), ath_slot(&bundle));
        assert!(!cache.matches(&other, &ath(&bundle)));
        assert!(cache.matches(&other, &ath(&other)));
        // It took the slot; the first bundle is hashed again, still right.
        assert!(!cache.matches(&bundle, &ath(&other)));
        assert!(cache.matches(&bundle, &ath(&bundle)));
    }

    #[test]
    fn ath_cache_is_bounded() {
        let cache = AthCache::default();
        for i in 0..4 * ATH_CACHE_SLOTS {
            let bundle = format!("leaf.{i:08}~root");
            assert!(cache.matches(&bundle, &ath(&bundle)));
        }
        assert!(cache.len() <= ATH_CACHE_SLOTS);
        assert!(cache.len() > ATH_CACHE_SLOTS / 2, "slots are spread");
        // Too long to keep: checked, not remembered.
        let cache = AthCache::default();
        let long = "a".repeat(MAX_CACHED_BUNDLE_LEN + 1);
        assert!(cache.matches(&long, &ath(&long)));
        assert_eq!(cache.len(), 0);
        // A mismatch is not remembered either.
        assert!(!cache.matches("leaf~root", &ath("other")));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn dot_segments() {
        for dot in [".", "..", "%2e", "%2E", ".%2e", "%2e%2E", "%2e."] {
            assert!(is_dot_segment(dot), "{dot}");
        }
        for not in [
            "",
            "...",
            "a",
            ".a",
            "%2",
            "%2f",
            "%2e%2e%2e",
            "%25e",
            "a..",
        ] {
            assert!(!is_dot_segment(not), "{not}");
        }
    }

    #[test]
    fn short_respects_char_boundaries() {
        let s = "é".repeat(40);
        assert!(short(&s).len() <= 32);
    }
}
