//! Strict compact JWS (RFC 7515 §7.1).

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::alg::truncate;
use crate::json::{StrictSeed, Text};
use crate::{Algorithm, JoseError, VerifyingKey, b64, json};

/// The largest token accepted, in bytes (SPEC §5 item 3). Checked before any
/// decoding, so an oversized input costs nothing but its length check.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Header members that could name or carry a key. Keys come only from the
/// verifier's trusted key store, looked up by `kid` (SPEC §5 item 2), so a
/// token that carries any of these is refused rather than silently ignored.
const FORBIDDEN_MEMBERS: [&str; 6] = ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"];

/// A parsed, unverified JWS protected header.
///
/// Cloning it is cheap (its decoded parts are shared).
#[derive(Debug, Clone)]
pub struct Header(Arc<HeaderData>);

/// What a [`Header`] shares between its clones.
#[derive(Debug)]
struct HeaderData {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
    /// The header's JSON, for [`Header::members`].
    json: Vec<u8>,
    /// Built on first use of [`Header::members`]: verifying a token reads
    /// only `alg`, `kid` and `typ`, which are decoded straight into fields.
    members: OnceLock<Map<String, Value>>,
}

impl Header {
    /// The algorithm the header names (already known to be implemented here).
    pub fn alg(&self) -> Algorithm {
        self.0.alg
    }

    /// The `kid`, if present.
    pub fn kid(&self) -> Option<&str> {
        self.0.kid.as_deref()
    }

    /// The `kid`, or [`JoseError::MissingKid`].
    pub fn require_kid(&self) -> Result<&str, JoseError> {
        self.0.kid.as_deref().ok_or(JoseError::MissingKid)
    }

    /// The `typ`, if present.
    pub fn typ(&self) -> Option<&str> {
        self.0.typ.as_deref()
    }

    /// True when the token has no explicit type: no `typ`, or `typ: JWT`
    /// (what csp-agent-passport and most JWT libraries write).
    pub fn is_untyped(&self) -> bool {
        self.0
            .typ
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("JWT"))
    }

    /// All header members (decoded into JSON values on first use).
    pub fn members(&self) -> &Map<String, Value> {
        // The JSON was parsed strictly when the header was built, so this
        // parse succeeds; an empty map would be the answer if it did not.
        self.0
            .members
            .get_or_init(|| json::parse_object(&self.0.json, "header").unwrap_or_default())
    }

    /// Decodes and checks a header: the typed path for the usual shape, and
    /// for anything it does not take (an error, an unusual member) the
    /// general path, which decides and names the error. The typed path only
    /// accepts what the general one accepts, with the same result.
    fn parse(json: Vec<u8>) -> Result<Header, JoseError> {
        if let Some(typed) = typed_header(&json) {
            return Ok(Header(Arc::new(HeaderData {
                alg: typed.alg,
                kid: typed.kid,
                typ: typed.typ,
                json,
                members: OnceLock::new(),
            })));
        }
        Header::parse_general(json)
    }

    /// [`Header::parse`] through JSON values: the whole header read into a
    /// map, then each rule in a fixed order.
    fn parse_general(json: Vec<u8>) -> Result<Header, JoseError> {
        let members = json::parse_object(&json, "header")?;
        let alg = match members.get("alg") {
            Some(Value::String(name)) => Algorithm::parse(name)?,
            _ => return Err(JoseError::MissingAlgorithm),
        };
        if members.contains_key("crit") {
            return Err(JoseError::CriticalHeader);
        }
        if members.contains_key("b64") {
            return Err(JoseError::UnencodedPayload);
        }
        if let Some(name) = FORBIDDEN_MEMBERS.iter().find(|m| members.contains_key(**m)) {
            return Err(JoseError::ForbiddenHeader(name));
        }
        let kid = match members.get("kid") {
            None => None,
            Some(Value::String(k)) if !k.is_empty() => Some(k.clone()),
            Some(_) => return Err(JoseError::MissingKid),
        };
        let typ = match members.get("typ") {
            None => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(other) => {
                return Err(JoseError::InvalidType {
                    found: truncate(&other.to_string()),
                    expected: String::new(),
                });
            }
        };
        Ok(Header(Arc::new(HeaderData {
            alg,
            kid,
            typ,
            json,
            members: OnceLock::from(members),
        })))
    }
}

/// What the typed path reads from a header.
struct TypedHeader {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
}

/// Past this many members other than `alg`, `kid` and `typ`, the typed path
/// leaves the header to the general one (its duplicate check is a scan).
const TYPED_MAX_OTHER_MEMBERS: usize = 8;

/// The header decoded without building JSON values for `alg`, `kid` and
/// `typ`, or `None` when it is anything but a valid header the general path
/// would accept: invalid JSON, a duplicate member at any depth, a missing or
/// unsupported `alg`, an empty or non-string `kid`, a non-string `typ`,
/// `crit`, `b64`, a key-carrying member, many other members.
fn typed_header(json: &[u8]) -> Option<TypedHeader> {
    // UTF-8 checked once for the whole header, not string by string.
    let text = std::str::from_utf8(json).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let header = de::Deserializer::deserialize_map(&mut de, HeaderVisitor).ok()?;
    de.end().ok()?;
    Some(header)
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = TypedHeader;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWS header")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypedHeader, A::Error> {
        // Any refusal leaves the header to the general path.
        fn other<E: de::Error>() -> E {
            E::custom("left to the general path")
        }
        let (mut alg, mut kid, mut typ) = (None, None, None);
        let mut others: Vec<Text<'de>> = Vec::new();
        while let Some(name) = map.next_key::<Text<'de>>()? {
            match name.as_str() {
                "alg" => {
                    let value: Text<'de> = map.next_value()?;
                    let parsed = Algorithm::parse(value.as_str()).map_err(|_| other())?;
                    if alg.replace(parsed).is_some() {
                        return Err(other());
                    }
                }
                "kid" => {
                    let value: Text<'de> = map.next_value()?;
                    if value.as_str().is_empty() || kid.replace(value.into_string()).is_some() {
                        return Err(other());
                    }
                }
                "typ" => {
                    let value: Text<'de> = map.next_value()?;
                    if typ.replace(value.into_string()).is_some() {
                        return Err(other());
                    }
                }
                "crit" | "b64" => return Err(other()),
                name if FORBIDDEN_MEMBERS.contains(&name) => return Err(other()),
                _ => {
                    let mut duplicate = None;
                    map.next_value_seed(StrictSeed::new(&mut duplicate))?;
                    let seen = others.iter().any(|o| o.as_str() == name.as_str());
                    if seen || others.len() >= TYPED_MAX_OTHER_MEMBERS {
                        return Err(other());
                    }
                    others.push(name);
                }
            }
        }
        let alg = alg.ok_or_else(other)?;
        Ok(TypedHeader { alg, kid, typ })
    }
}

/// What a caller accepts when verifying a JWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The algorithms accepted. A header naming any other is refused before
    /// the signature is looked at.
    pub algorithms: Vec<Algorithm>,
    /// The explicit type expected (`passport+jwt`), compared case-insensitively
    /// with or without the `application/` prefix (RFC 7515 §4.1.9). `None`
    /// skips the type check (for documents such as OIDC ID tokens whose type
    /// is not profiled).
    pub typ: Option<String>,
    /// Accept tokens with no `typ` or `typ: JWT` (csp-agent-passport interop,
    /// SPEC §5 item 10). Off unless a caller opts in.
    pub accept_untyped: bool,
}

impl VerifyOptions {
    /// Accept `algorithms` and require `typ`.
    pub fn new(algorithms: &[Algorithm], typ: &str) -> VerifyOptions {
        VerifyOptions {
            algorithms: algorithms.to_vec(),
            typ: Some(typ.to_owned()),
            accept_untyped: false,
        }
    }

    /// The header rules [`CompactJws::verify`] applies before the
    /// signature: `alg` among the allowed algorithms
    /// ([`JoseError::AlgorithmNotAllowed`]), then the `typ` rules
    /// ([`JoseError::InvalidType`], [`JoseError::UntypedNotAccepted`]). For
    /// a caller that verified a token's signature before and kept its
    /// header (a cache): the same checks against the options in force now.
    ///
    /// ```
    /// use passport_jose::{Algorithm, CompactJws, VerifyOptions, b64};
    /// let token = format!("{}.e30.sig", b64::encode(r#"{"alg":"ES256","typ":"passport+jwt"}"#));
    /// let header = CompactJws::parse(&token)?.header().clone();
    /// assert!(VerifyOptions::new(&[Algorithm::ES256], "passport+jwt").check_header(&header).is_ok());
    /// let refused = VerifyOptions::new(&[Algorithm::EdDSA], "passport+jwt").check_header(&header);
    /// assert_eq!(refused.unwrap_err().code(), "alg_not_allowed");
    /// # Ok::<(), passport_jose::JoseError>(())
    /// ```
    pub fn check_header(&self, header: &Header) -> Result<(), JoseError> {
        let alg = header.alg();
        if !self.algorithms.contains(&alg) {
            return Err(JoseError::AlgorithmNotAllowed {
                alg,
                allowed: self.algorithms.clone(),
            });
        }
        self.check_type(header)
    }

    fn check_type(&self, header: &Header) -> Result<(), JoseError> {
        let Some(expected) = self.typ.as_deref() else {
            return Ok(());
        };
        if let Some(found) = header.typ() {
            let bare = strip_prefix_ignore_case(found, "application/").unwrap_or(found);
            if bare.eq_ignore_ascii_case(expected) {
                return Ok(());
            }
        }
        if header.is_untyped() {
            if self.accept_untyped {
                return Ok(());
            }
            return Err(JoseError::UntypedNotAccepted {
                found: header.typ().map(truncate),
            });
        }
        Err(JoseError::InvalidType {
            found: header.typ().map(truncate).unwrap_or_default(),
            expected: expected.to_owned(),
        })
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A compact JWS whose structure and header have been checked but whose
/// signature has not. The only way to its payload as trusted bytes is
/// [`CompactJws::verify`]; [`CompactJws::unverified_payload`] says what it is.
#[derive(Debug, Clone)]
pub struct CompactJws<'a> {
    token: &'a str,
    signing_input_len: usize,
    header: Header,
    payload: Vec<u8>,
    signature: SignatureBytes,
}

/// A signature's bytes. The 64 of an Ed25519 or an ES256 signature (every
/// passport and DPoP proof) are kept inline, which spares a verification
/// an allocation; longer ones (RS256) on the heap.
#[derive(Debug, Clone)]
enum SignatureBytes {
    Inline([u8; 64]),
    Heap(Vec<u8>),
}

impl SignatureBytes {
    /// The strict base64url decode of `text`.
    fn decode(text: &str) -> Option<SignatureBytes> {
        let mut inline = [0u8; 64];
        match b64::decode_into(text, &mut inline) {
            Some(64) => Some(SignatureBytes::Inline(inline)),
            _ => b64::decode(text).map(SignatureBytes::Heap),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            SignatureBytes::Inline(bytes) => bytes,
            SignatureBytes::Heap(bytes) => bytes,
        }
    }
}

impl<'a> CompactJws<'a> {
    /// Parses a compact JWS strictly (SPEC §5 items 1–3): size, exactly three
    /// non-empty segments of canonical unpadded base64url, a header that is a
    /// JSON object without duplicate members, a supported non-`none` `alg`,
    /// no `crit`, no `b64`, no key-carrying members.
    pub fn parse(token: &'a str) -> Result<CompactJws<'a>, JoseError> {
        CompactJws::parse_with_max_len(token, MAX_TOKEN_LEN)
    }

    /// As [`CompactJws::parse`], with another size limit, for documents that
    /// are legitimately larger than a passport (a Token Status List of many
    /// entries). Every other rule is the same.
    pub fn parse_with_max_len(token: &'a str, max_len: usize) -> Result<CompactJws<'a>, JoseError> {
        if token.len() > max_len {
            return Err(JoseError::TokenTooLarge {
                len: token.len(),
                max: max_len,
            });
        }
        // The header ends at the first dot and the signature starts after
        // the last, so only those two short ends are searched. A dot in the
        // payload between them fails its strict base64url decode (a dot is
        // not in the alphabet), so no token with more than three segments
        // parses; on any error such a token reports its segment count, as
        // it would have had the whole token been split first.
        let three = || JoseError::Malformed("a compact JWS has exactly three segments");
        let (Some(first), Some(last)) = (token.find('.'), token.rfind('.')) else {
            return Err(three());
        };
        if first == last {
            return Err(three());
        }
        let (h, p, s) = (&token[..first], &token[first + 1..last], &token[last + 1..]);
        CompactJws::parse_segments(token, h, p, s)
            .map_err(|e| if p.contains('.') { three() } else { e })
    }

    /// The rest of [`CompactJws::parse_with_max_len`], given the segments
    /// around the first and the last dot of `token`.
    fn parse_segments(
        token: &'a str,
        h: &str,
        p: &str,
        s: &str,
    ) -> Result<CompactJws<'a>, JoseError> {
        if h.is_empty() || p.is_empty() || s.is_empty() {
            return Err(JoseError::Malformed("empty segment"));
        }
        let header = match header_memo::get(h) {
            Some(header) => header,
            None => {
                let bytes = b64::decode(h).ok_or(JoseError::InvalidBase64 { part: "header" })?;
                let header = Header::parse(bytes)?;
                header_memo::insert(h, &header);
                header
            }
        };
        let payload = b64::decode(p).ok_or(JoseError::InvalidBase64 { part: "payload" })?;
        let signature =
            SignatureBytes::decode(s).ok_or(JoseError::InvalidBase64 { part: "signature" })?;
        Ok(CompactJws {
            token,
            signing_input_len: h.len() + 1 + p.len(),
            header,
            payload,
            signature,
        })
    }

    /// The protected header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The token as given.
    pub fn as_str(&self) -> &'a str {
        self.token
    }

    /// The ASCII signing input `header.payload`.
    pub fn signing_input(&self) -> &'a [u8] {
        &self.token.as_bytes()[..self.signing_input_len]
    }

    /// The payload bytes **without** any signature check, for inspection and
    /// diagnostics only.
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Verifies the token with `key` under `options` and returns the payload.
    ///
    /// Order: the algorithm allow-list and the `typ` rule are checked first
    /// (cheap, and they never depend on key material), then the header's
    /// algorithm is matched against the key, then the signature.
    pub fn verify(&self, key: &VerifyingKey, options: &VerifyOptions) -> Result<&[u8], JoseError> {
        options.check_header(&self.header)?;
        key.verify(
            self.header.alg(),
            self.signing_input(),
            self.signature.as_slice(),
        )?;
        Ok(&self.payload)
    }
}

/// The headers of recently parsed tokens, per thread, by their exact
/// base64url segment. A token's header is a function of that segment alone,
/// and every token of one key carries the same one, so a hit returns what
/// decoding and parsing it again would. Only accepted headers are kept: a
/// refused one is parsed (and refused, with its error) every time.
mod header_memo {
    use super::{Header, RefCell};

    /// Headers remembered per thread (a server sees a few keys at a time).
    const SLOTS: usize = 8;
    /// The longest segment remembered; a passport's is about 100 bytes.
    const MAX_SEGMENT: usize = 512;

    #[derive(Default)]
    struct Memo {
        slots: [Option<(Box<str>, Header)>; SLOTS],
        next: usize,
    }

    thread_local! {
        static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
    }

    /// The header parsed from exactly `segment` before on this thread.
    pub(super) fn get(segment: &str) -> Option<Header> {
        MEMO.try_with(|memo| {
            let memo = memo.try_borrow().ok()?;
            memo.slots
                .iter()
                .flatten()
                .find(|(seen, _)| **seen == *segment)
                .map(|(_, header)| header.clone())
        })
        .ok()
        .flatten()
    }

    /// Remembers `header`, parsed from `segment`, in the oldest slot.
    pub(super) fn insert(segment: &str, header: &Header) {
        if segment.len() > MAX_SEGMENT {
            return;
        }
        let _ = MEMO.try_with(|memo| {
            if let Ok(mut memo) = memo.try_borrow_mut() {
                let at = memo.next % SLOTS;
                memo.slots[at] = Some((segment.into(), header.clone()));
                memo.next = (at + 1) % SLOTS;
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const NAMES: [&str; 12] = [
        "alg",
        "kid",
        "typ",
        "crit",
        "b64",
        "jwk",
        "x5t#S256",
        "cty",
        "zip",
        "\\u0061lg",
        "",
        "x",
    ];
    const VALUES: [&str; 20] = [
        "\"EdDSA\"",
        "\"ES256\"",
        "\"none\"",
        "\"NONE\"",
        "\"HS256\"",
        "\"passport+jwt\"",
        "\"JWT\"",
        "\"\"",
        "\"k\\u00e9\"",
        "1",
        "null",
        "true",
        "[]",
        "[\"exp\"]",
        "{}",
        "{\"a\":1,\"a\":1}",
        "[{\"b\":0,\"b\":0}]",
        "1e400",
        "\"x\"",
        "{\"kty\":\"OKP\"}",
    ];

    fn document(members: &[(&str, &str)]) -> Vec<u8> {
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(",")).into_bytes()
    }

    /// Whatever the typed path accepts, the general path accepts with the
    /// same `alg`, `kid` and `typ`; and `parse` answers as the general path.
    fn agrees(json: &[u8]) {
        let general = Header::parse_general(json.to_vec());
        if let Some(typed) = typed_header(json) {
            let general = general
                .as_ref()
                .unwrap_or_else(|e| panic!("typed accepted, general refused: {e:?}"));
            assert_eq!(
                (typed.alg, typed.kid.as_deref(), typed.typ.as_deref()),
                (general.alg(), general.kid(), general.typ())
            );
        }
        match (Header::parse(json.to_vec()), general) {
            (Ok(a), Ok(b)) => {
                assert_eq!((a.alg(), a.kid(), a.typ()), (b.alg(), b.kid(), b.typ()));
                assert_eq!(a.members(), b.members());
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("parse {a:?}, general path {b:?}"),
        }
    }

    #[test]
    fn every_pair_of_members_agrees() {
        let base = [
            ("alg", "\"EdDSA\""),
            ("kid", "\"k1\""),
            ("typ", "\"passport+jwt\""),
        ];
        assert!(typed_header(&document(&base)).is_some());
        agrees(&document(&base));
        for name in NAMES {
            for value in VALUES {
                // Replaced, added, and added twice.
                for extra in [0, 1, 2] {
                    let mut m: Vec<(&str, &str)> = base.to_vec();
                    match m.iter_mut().find(|(k, _)| *k == name) {
                        Some(slot) if extra == 0 => slot.1 = value,
                        _ => {
                            for _ in 0..extra.max(1) {
                                m.push((name, value));
                            }
                        }
                    }
                    agrees(&document(&m));
                    m.reverse();
                    agrees(&document(&m));
                }
            }
        }
        for doc in [&b"[]"[..], b"{}", b"\xff", b"{\"alg\":\"EdDSA\"} x", b""] {
            agrees(doc);
        }
    }

    /// The per-thread memo of headers answers only for the exact segment,
    /// and never remembers a refusal.
    #[test]
    fn the_header_memo_answers_for_the_exact_segment_only() {
        let segment = |json: &str| b64::encode(json);
        let token = |h: &str| format!("{h}.cGF5bG9hZA.c2ln");
        let k1 = segment(r#"{"alg":"EdDSA","kid":"k1","typ":"passport+jwt"}"#);
        let k2 = segment(r#"{"alg":"EdDSA","kid":"k2","typ":"passport+jwt"}"#);
        for _ in 0..2 {
            let (t1, t2) = (token(&k1), token(&k2));
            let one = CompactJws::parse(&t1).unwrap();
            let two = CompactJws::parse(&t2).unwrap();
            assert_eq!(one.header().kid(), Some("k1"));
            assert_eq!(two.header().kid(), Some("k2"));
            assert_eq!(one.header().members()["kid"], "k1");
        }
        // A refused header is refused every time, with its own error.
        let refused = segment(r#"{"alg":"EdDSA","kid":"k1","kid":"k1"}"#);
        for _ in 0..2 {
            let err = CompactJws::parse(&token(&refused)).unwrap_err();
            assert_eq!(err.code(), "duplicate_member");
        }
        // A segment that differs from a remembered one in its last
        // character (non-canonical base64url) is still refused.
        let mut altered = k1.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'Q' { 'R' } else { 'Q' });
        assert!(CompactJws::parse(&token(&altered)).is_err());
        // More headers than slots: each still parses to its own.
        for n in 0..20 {
            let h = segment(&format!(r#"{{"alg":"EdDSA","kid":"k{n}"}}"#));
            let kid = format!("k{n}");
            assert_eq!(
                CompactJws::parse(&token(&h)).unwrap().header().kid(),
                Some(kid.as_str())
            );
            assert_eq!(
                CompactJws::parse(&token(&h)).unwrap().header().kid(),
                Some(kid.as_str())
            );
        }
    }

    #[test]
    fn refusals_keep_their_codes() {
        let code = |members: &[(&str, &str)]| Header::parse(document(members)).unwrap_err().code();
        let alg = ("alg", "\"EdDSA\"");
        // An unknown critical extension is refused, never ignored.
        assert_eq!(
            code(&[alg, ("crit", "[\"exp\"]"), ("exp", "1")]),
            "crit_not_supported"
        );
        assert_eq!(
            code(&[alg, ("crit", "[\"b64\"]"), ("b64", "false")]),
            "crit_not_supported"
        );
        assert_eq!(code(&[alg, ("b64", "false")]), "b64_not_supported");
        assert_eq!(code(&[alg, ("jwk", "{}")]), "forbidden_header");
        assert_eq!(code(&[alg, alg]), "duplicate_member");
        assert_eq!(code(&[alg, ("\\u0061lg", "\"EdDSA\"")]), "duplicate_member");
        assert_eq!(code(&[alg, ("x", "{\"a\":1,\"a\":1}")]), "duplicate_member");
        assert_eq!(code(&[("alg", "1")]), "missing_alg");
        assert_eq!(code(&[("alg", "\"nOnE\"")]), "alg_none");
        assert_eq!(code(&[alg, ("kid", "\"\"")]), "missing_kid");
        assert_eq!(code(&[alg, ("kid", "7")]), "missing_kid");
        assert_eq!(code(&[alg, ("typ", "7")]), "invalid_typ");
    }

    /// The inline path answers exactly as the general decode: a 64-byte
    /// signature is inline; every other length (63 bytes are never padded
    /// to 64; 65, 66) and every invalid text gives `decode`'s answer.
    #[test]
    fn signature_bytes_decode_as_the_general_decoder() {
        let mut checked = 0;
        for n in 58..=70usize {
            for seed in 0..32usize {
                let bytes: Vec<u8> = (0..n).map(|i| (i * 31 + seed * 97 + i * i) as u8).collect();
                let valid = b64::encode(&bytes);
                assert_eq!(
                    SignatureBytes::decode(&valid).map(|b| b.as_slice().to_vec()),
                    Some(bytes)
                );
                let mut variants = vec![valid.clone()];
                // a byte outside the alphabet, padding, the standard
                // alphabet's two, at a position that moves with the seed
                for bad in [".", "=", "+", "/", " ", "\u{e9}"] {
                    let at = (seed * 5) % valid.len();
                    variants.push(format!("{}{bad}{}", &valid[..at], &valid[at + 1..]));
                }
                // one character more or fewer, and a changed last character
                // (non-canonical trailing bits for most lengths)
                variants.push(format!("{valid}A"));
                variants.push(valid[..valid.len() - 1].to_owned());
                variants.push(format!("{}B", &valid[..valid.len() - 1]));
                for s in &variants {
                    let inline = SignatureBytes::decode(s);
                    assert_eq!(
                        inline.as_ref().map(|b| b.as_slice().to_vec()),
                        b64::decode(s),
                        "{s}"
                    );
                    if let Some(bytes) = &inline {
                        assert_eq!(
                            matches!(bytes, SignatureBytes::Inline(_)),
                            bytes.as_slice().len() == 64,
                            "{s}"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 13 * 32 * 10);
    }
}
