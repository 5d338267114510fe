//! A proof's claims, decoded for the rules of [`crate::DpopVerifier`].
//!
//! The usual proof (`jti`, `htm`, `htu`, `iat`, `ath`, perhaps `nonce`) is
//! read in one pass into typed fields, without building a JSON map. Anything
//! else — a claim the rules read that is missing or of another type, a
//! duplicate member at any depth, invalid JSON, many other members — is
//! decoded into a JSON map as before, and the rules read that map, so every
//! refusal and its order stay what they were. The typed form is only built
//! when each rule would read the same answer from the map.

use serde::de::{self, Deserializer as _, MapAccess, Visitor};
use serde_json::{Map, Value};

use passport_jose::json::{self, Compact, StrictSeed, Text};

use crate::DpopError;

/// Past this many members the rules do not read, the map is used (the
/// typed path's duplicate check is a scan).
const TYPED_MAX_OTHER_MEMBERS: usize = 8;

/// What a rule reads for a claim that may be absent.
pub(crate) enum Optional<'a> {
    /// The claim is absent.
    Absent,
    /// The claim is a string.
    Str(&'a str),
    /// The claim is something else.
    Other,
}

/// The claims of a proof.
pub(crate) enum ProofClaims {
    /// The usual shape, every claim the rules read already of its type.
    Typed(Typed),
    /// Anything else, as a strictly parsed map.
    General(Map<String, Value>),
}

pub(crate) struct Typed {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: Option<String>,
    nonce: Option<String>,
}

impl ProofClaims {
    /// Decodes a proof's payload; an error only when it is not a JSON
    /// object without duplicates (what the map parser refuses).
    pub(crate) fn decode(payload: &[u8]) -> Result<ProofClaims, DpopError> {
        if let Some(typed) = typed(payload) {
            return Ok(ProofClaims::Typed(typed));
        }
        json::parse_object(payload, "payload")
            .map(ProofClaims::General)
            .map_err(|e| DpopError::Malformed(e.to_string()))
    }

    /// A required non-empty string claim (`jti`, `htm`, `htu`).
    pub(crate) fn required_str(&self, name: &'static str) -> Result<&str, DpopError> {
        match self {
            ProofClaims::Typed(t) => Ok(match name {
                "jti" => &t.jti,
                "htm" => &t.htm,
                "htu" => &t.htu,
                _ => return Err(DpopError::MissingClaim(name)),
            }),
            ProofClaims::General(map) => match map.get(name) {
                None => Err(DpopError::MissingClaim(name)),
                Some(Value::String(s)) if !s.is_empty() => Ok(s),
                Some(_) => Err(DpopError::InvalidClaim(name)),
            },
        }
    }

    /// `iat`, an integer.
    pub(crate) fn iat(&self) -> Result<i64, DpopError> {
        match self {
            ProofClaims::Typed(t) => Ok(t.iat),
            ProofClaims::General(map) => match map.get("iat") {
                None => Err(DpopError::MissingClaim("iat")),
                Some(v) => v.as_i64().ok_or(DpopError::InvalidClaim("iat")),
            },
        }
    }

    /// An optional claim (`ath`, `nonce`), as the rule reading it sees it.
    pub(crate) fn optional(&self, name: &'static str) -> Optional<'_> {
        match self {
            ProofClaims::Typed(t) => {
                let value = match name {
                    "ath" => &t.ath,
                    "nonce" => &t.nonce,
                    _ => return Optional::Absent,
                };
                value.as_deref().map_or(Optional::Absent, Optional::Str)
            }
            ProofClaims::General(map) => match map.get(name) {
                None => Optional::Absent,
                Some(Value::String(s)) => Optional::Str(s),
                Some(_) => Optional::Other,
            },
        }
    }
}

/// The typed form, or `None` when the map must be used.
fn typed(payload: &[u8]) -> Option<Typed> {
    // UTF-8 once for the whole payload, not string by string.
    let text = std::str::from_utf8(payload).ok()?;
    // The compact shape proofs are written in, without a parser; anything
    // else (whitespace, escapes, other members, errors) through serde_json.
    if let Some(claims) = compact(text) {
        return Some(claims);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let claims = (&mut de).deserialize_map(ClaimsVisitor).ok()?;
    de.end().ok()?;
    Some(claims)
}

/// The typed form of a compact proof ([`Compact`]) with only the claims
/// the rules read, or `None`.
fn compact(text: &str) -> Option<Typed> {
    fn put<T>(slot: &mut Option<T>, value: T) -> Option<()> {
        slot.replace(value).is_none().then_some(())
    }
    let r = &mut Compact::new(text);
    let non_empty = |r: &mut Compact<'_>| r.string().filter(|s| !s.is_empty()).map(str::to_owned);
    let (mut jti, mut htm, mut htu, mut iat) = (None, None, None, None);
    let (mut ath, mut nonce) = (None, None);
    r.object()?;
    let mut first = true;
    while let Some(name) = r.member(first)? {
        first = false;
        match name {
            "jti" => put(&mut jti, non_empty(r)?)?,
            "htm" => put(&mut htm, non_empty(r)?)?,
            "htu" => put(&mut htu, non_empty(r)?)?,
            "iat" => put(&mut iat, i64::try_from(r.integer()?).ok()?)?,
            "ath" => put(&mut ath, r.string()?.to_owned())?,
            "nonce" => put(&mut nonce, r.string()?.to_owned())?,
            _ => return None,
        }
    }
    r.end()?;
    Some(Typed {
        jti: jti?,
        htm: htm?,
        htu: htu?,
        iat: iat?,
        ath,
        nonce,
    })
}

fn general<E: de::Error>() -> E {
    E::custom("left to the map")
}

fn set<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(general()),
    }
}

fn non_empty<'de, A: MapAccess<'de>>(map: &mut A) -> Result<String, A::Error> {
    let text: Text<'de> = map.next_value()?;
    if text.as_str().is_empty() {
        return Err(general());
    }
    Ok(text.into_string())
}

struct ClaimsVisitor;

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = Typed;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a DPoP proof's claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Typed, A::Error> {
        let (mut jti, mut htm, mut htu, mut iat) = (None, None, None, None);
        let (mut ath, mut nonce) = (None, None);
        let mut others: Vec<Text<'de>> = Vec::new();
        while let Some(name) = map.next_key::<Text<'de>>()? {
            match name.as_str() {
                "jti" => set(&mut jti, non_empty(&mut map)?)?,
                "htm" => set(&mut htm, non_empty(&mut map)?)?,
                "htu" => set(&mut htu, non_empty(&mut map)?)?,
                // An `i64` exactly when `Value::as_i64` is `Some`: integers
                // within range, never a float.
                "iat" => set(&mut iat, map.next_value::<i64>()?)?,
                "ath" => set(&mut ath, map.next_value::<Text<'de>>()?.into_string())?,
                "nonce" => set(&mut nonce, map.next_value::<Text<'de>>()?.into_string())?,
                _ => {
                    let mut duplicate = None;
                    map.next_value_seed(StrictSeed::new(&mut duplicate))?;
                    let seen = others.iter().any(|o| o.as_str() == name.as_str());
                    if seen || others.len() >= TYPED_MAX_OTHER_MEMBERS {
                        return Err(general());
                    }
                    others.push(name);
                }
            }
        }
        Ok(Typed {
            jti: jti.ok_or_else(general)?,
            htm: htm.ok_or_else(general)?,
            htu: htu.ok_or_else(general)?,
            iat: iat.ok_or_else(general)?,
            ath,
            nonce,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const NAMES: [&str; 9] = [
        "jti",
        "htm",
        "htu",
        "iat",
        "ath",
        "nonce",
        "x",
        "\\u006a\\u0074i",
        "",
    ];
    const VALUES: [&str; 16] = [
        "\"a\"",
        "\"\"",
        "\"GET\"",
        "\"\\u00e9\"",
        "1700000000",
        "-5",
        "1.0",
        "1e400",
        "9223372036854775808",
        "null",
        "true",
        "[]",
        "{}",
        "{\"a\":1,\"a\":1}",
        "[{\"b\":0,\"b\":0}]",
        "[\"x\"]",
    ];

    fn document(members: &[(&str, &str)]) -> Vec<u8> {
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(",")).into_bytes()
    }

    /// What every rule reads, from either form.
    fn readings(claims: &ProofClaims) -> Vec<String> {
        let mut out = Vec::new();
        for name in ["jti", "htm", "htu"] {
            out.push(format!(
                "{:?}",
                claims.required_str(name).map_err(|e| e.code())
            ));
        }
        out.push(format!("{:?}", claims.iat().map_err(|e| e.code())));
        for name in ["ath", "nonce"] {
            out.push(match claims.optional(name) {
                Optional::Absent => "absent".into(),
                Optional::Str(s) => format!("str {s}"),
                Optional::Other => "other".into(),
            });
        }
        out
    }

    /// The typed form, when built, reads exactly as the map would.
    fn agrees(payload: &[u8]) {
        let map = json::parse_object(payload, "payload").map(ProofClaims::General);
        if let Some(compact) = std::str::from_utf8(payload).ok().and_then(compact) {
            let map = map
                .as_ref()
                .unwrap_or_else(|e| panic!("compact accepted, the map parser refused: {e}"));
            assert_eq!(readings(&ProofClaims::Typed(compact)), readings(map));
        }
        if let Some(typed) = typed(payload) {
            let map = map
                .as_ref()
                .unwrap_or_else(|e| panic!("typed accepted, the map parser refused: {e}"));
            assert_eq!(readings(&ProofClaims::Typed(typed)), readings(map));
        }
        match (ProofClaims::decode(payload), map) {
            (Ok(a), Ok(b)) => assert_eq!(readings(&a), readings(&b)),
            (Err(a), Err(b)) => assert_eq!(
                a.to_string(),
                DpopError::Malformed(b.to_string()).to_string()
            ),
            (a, b) => panic!("decode ok {}, map ok {}", a.is_ok(), b.is_ok()),
        }
    }

    #[test]
    fn every_member_variation_reads_the_same() {
        let base = [
            ("jti", "\"j-1\""),
            ("htm", "\"GET\""),
            ("htu", "\"https://a.example/x\""),
            ("iat", "1700000000"),
            ("ath", "\"h\""),
        ];
        assert!(typed(&document(&base)).is_some());
        assert!(compact(std::str::from_utf8(&document(&base)).unwrap()).is_some());
        for name in NAMES {
            for value in VALUES {
                for extra in [0, 1, 2] {
                    let mut m = base.to_vec();
                    if extra == 0 {
                        m.retain(|(k, _)| *k != name);
                        m.push((name, value));
                    } else {
                        for _ in 0..extra {
                            m.push((name, value));
                        }
                    }
                    agrees(&document(&m));
                    m.reverse();
                    agrees(&document(&m));
                }
            }
        }
        for doc in [&b"[]"[..], b"{}", b"\xff", b"{\"jti\":\"a\"} x", b""] {
            agrees(doc);
        }
        // Hostile variations of a compact proof: non-UTF-8, a control
        // character, huge and negative numbers, leading zeros, trailing
        // data and commas, whitespace, escapes: each reads as the map.
        let valid = String::from_utf8(document(&base)).unwrap();
        for (from, to) in [
            ("j-1", "j-\u{ff}"),
            ("j-1", "j\t1"),
            ("1700000000", "99999999999999999999"),
            ("1700000000", "9223372036854775808"),
            ("1700000000", "-1700000000"),
            ("1700000000", "01700000000"),
            ("1700000000", "1700000000.0"),
            ("\"h\"}", "\"h\",}"),
            ("\"h\"}", "\"h\"}x"),
            ("{", "{ "),
            ("\"GET\"", "\"G\\u0045T\""),
            ("\"GET\"", "\"\""),
        ] {
            let mut doc = valid.replacen(from, to, 1).into_bytes();
            if to.contains('\u{ff}') {
                doc = doc
                    .iter()
                    .map(|&b| if b == 0xc3 { 0xff } else { b })
                    .collect();
            }
            let text = std::str::from_utf8(&doc).ok();
            let compact = text.and_then(compact);
            assert!(compact.is_none(), "compact took {to}");
            agrees(&doc);
        }
    }

    #[test]
    fn duplicates_are_refused_at_every_depth() {
        for doc in [
            &br#"{"jti":"a","jti":"a","htm":"GET","htu":"u","iat":1}"#[..],
            br#"{"jti":"a","htm":"GET","htu":"u","iat":1,"x":{"y":1,"y":1}}"#,
        ] {
            match ProofClaims::decode(doc) {
                Err(DpopError::Malformed(reason)) => {
                    assert!(reason.contains("duplicate"), "{reason}")
                }
                _ => panic!("a duplicate was accepted"),
            }
        }
    }
}
