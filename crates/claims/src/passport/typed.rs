//! The typed decoding of a passport's claims: one pass over the payload,
//! each known claim read straight into its field (strings borrowed from the
//! input until they are stored), without a `serde_json::Value` for any of
//! them. Only unknown claims, kept in `extra`, and `status` are read as JSON
//! values.
//!
//! It answers only for a valid passport of the usual shape. Anything else —
//! invalid JSON, a duplicate member at any depth, a claim missing or of the
//! wrong type or out of range, an actor with members besides `sub` and
//! `act` — makes it give up (`None`), and the caller decodes the payload
//! through the general path, which decides and names the error. So it never
//! accepts what the general path refuses, and what it accepts decodes to the
//! same [`PassportClaims`].

use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, Visitor};
use serde_json::Map;

use passport_jose::json::{StrictSeed, Text};

use super::{
    AGENT_ID, AGENT_MODEL, Actor, AgentClaims, MAX_NUMERIC_DATE, PARENT_HASH, PARENT_JTI,
    PassportClaims, TASK_PURPOSE, TOOL_SCOPE,
};
use crate::{Assurance, Level, ScopeSet, StatusReference};

/// The claims of `payload`, or `None` when the general path must decide.
pub(super) fn decode(payload: &[u8]) -> Option<PassportClaims> {
    // JSON text is UTF-8 (RFC 8259 §8.1): checked once for the whole payload
    // (a payload that is not is left to the general path, which names the
    // error), so the parser need not check each string again.
    let text = std::str::from_utf8(payload).ok()?;
    // The compact shape this project's issuer writes, read without a
    // parser; anything else (whitespace, an escape, a fraction, `status`,
    // an unknown claim, an error) goes through serde_json below.
    if let Some(claims) = compact::decode(text) {
        return Some(claims);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let claims = (&mut de).deserialize_map(ClaimsVisitor).ok()?;
    de.end().ok()?;
    Some(claims)
}

/// The error that hands the payload to the general path.
fn general<E: de::Error>() -> E {
    E::custom("left to the general path")
}

/// Fills `slot` once: a second value is a duplicate member.
fn set<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(general()),
    }
}

/// A non-empty string (an identifier).
fn id<'de, A: MapAccess<'de>>(map: &mut A) -> Result<String, A::Error> {
    let text: Text<'de> = map.next_value()?;
    if text.as_str().is_empty() {
        return Err(general());
    }
    Ok(text.into_string())
}

/// Any string.
fn string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<String, A::Error> {
    Ok(map.next_value::<Text<'de>>()?.into_string())
}

/// An integer NumericDate in `0..=MAX_NUMERIC_DATE` (a float, even `1.0`,
/// is not an `i64` to serde_json).
fn date<'de, A: MapAccess<'de>>(map: &mut A) -> Result<i64, A::Error> {
    let value: i64 = map.next_value()?;
    if (0..=MAX_NUMERIC_DATE).contains(&value) {
        Ok(value)
    } else {
        Err(general())
    }
}

/// An assurance level, 1–3.
fn level<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Level, A::Error> {
    let value: u64 = map.next_value()?;
    u8::try_from(value)
        .ok()
        .and_then(Level::new)
        .ok_or_else(general)
}

struct ClaimsVisitor;

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = PassportClaims;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a passport's claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PassportClaims, A::Error> {
        let mut c = Slots::default();
        while let Some(name) = map.next_key::<Text<'de>>()? {
            match name.as_str() {
                "iss" => set(&mut c.iss, id(&mut map)?)?,
                "sub" => set(&mut c.sub, id(&mut map)?)?,
                "aud" => set(&mut c.aud, id(&mut map)?)?,
                "jti" => set(&mut c.jti, id(&mut map)?)?,
                "acr" => set(&mut c.acr, string(&mut map)?)?,
                "iat" => set(&mut c.iat, date(&mut map)?)?,
                "nbf" => set(&mut c.nbf, date(&mut map)?)?,
                "exp" => set(&mut c.exp, date(&mut map)?)?,
                "ial" => set(&mut c.ial, level(&mut map)?)?,
                "aal" => set(&mut c.aal, level(&mut map)?)?,
                "fal" => set(&mut c.fal, level(&mut map)?)?,
                "act" => set(&mut c.act, map.next_value_seed(ActorSeed)?)?,
                AGENT_ID => set(&mut c.agent_id, id(&mut map)?)?,
                AGENT_MODEL => set(&mut c.agent_model, string(&mut map)?)?,
                TOOL_SCOPE => {
                    let patterns: Vec<Text<'de>> = map.next_value()?;
                    let scope = ScopeSet::parse(patterns.iter().map(Text::as_str))
                        .map_err(|_| general())?;
                    set(&mut c.tool_scope, scope)?;
                }
                TASK_PURPOSE => set(&mut c.task_purpose, string(&mut map)?)?,
                PARENT_JTI => set(&mut c.parent_jti, id(&mut map)?)?,
                PARENT_HASH => set(&mut c.parent_hash, id(&mut map)?)?,
                "cnf" => set(&mut c.cnf_jkt, map.next_value_seed(CnfSeed)?)?,
                "status" => {
                    let mut duplicate = None;
                    let value = map.next_value_seed(StrictSeed::new(&mut duplicate))?;
                    let reference = StatusReference::from_value(value).map_err(|_| general())?;
                    set(&mut c.status, reference)?;
                }
                _ => {
                    let mut duplicate = None;
                    let value = map.next_value_seed(StrictSeed::new(&mut duplicate))?;
                    if c.extra.insert(name.into_string(), value).is_some() {
                        return Err(general());
                    }
                }
            }
        }
        c.claims().ok_or_else(general)
    }
}

/// Each claim's slot while a payload is read, by either typed reader.
#[derive(Default)]
struct Slots {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<String>,
    jti: Option<String>,
    acr: Option<String>,
    iat: Option<i64>,
    nbf: Option<i64>,
    exp: Option<i64>,
    ial: Option<Level>,
    aal: Option<Level>,
    fal: Option<Level>,
    act: Option<Actor>,
    agent_id: Option<String>,
    agent_model: Option<String>,
    tool_scope: Option<ScopeSet>,
    task_purpose: Option<String>,
    parent_jti: Option<String>,
    parent_hash: Option<String>,
    cnf_jkt: Option<String>,
    status: Option<StatusReference>,
    extra: Map<String, serde_json::Value>,
}

impl Slots {
    /// The claims, or `None` when a required one is missing.
    fn claims(self) -> Option<PassportClaims> {
        Some(PassportClaims {
            iss: self.iss?,
            sub: self.sub?,
            aud: self.aud?,
            iat: self.iat?,
            nbf: self.nbf?,
            exp: self.exp?,
            jti: self.jti?,
            acr: self.acr,
            assurance: Assurance {
                ial: self.ial,
                aal: self.aal,
                fal: self.fal,
            },
            act: self.act?,
            agent: AgentClaims {
                agent_id: self.agent_id?,
                agent_model: self.agent_model?,
                tool_scope: self.tool_scope.unwrap_or_else(ScopeSet::empty),
                task_purpose: self.task_purpose,
                parent_jti: self.parent_jti,
            },
            parent_hash: self.parent_hash,
            cnf_jkt: self.cnf_jkt,
            status: self.status,
            extra: self.extra,
        })
    }
}

/// An actor of `sub` and `act` only; one with other members (kept in
/// [`Actor::extra`], in the general path's order) is left to that path.
struct ActorSeed;

impl<'de> DeserializeSeed<'de> for ActorSeed {
    type Value = Actor;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Actor, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ActorSeed {
    type Value = Actor;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an actor")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Actor, A::Error> {
        let (mut sub, mut act) = (None, None);
        while let Some(name) = map.next_key::<Text<'de>>()? {
            match name.as_str() {
                "sub" => set(&mut sub, id(&mut map)?)?,
                "act" => set(&mut act, Box::new(map.next_value_seed(ActorSeed)?))?,
                _ => return Err(general()),
            }
        }
        Ok(Actor {
            sub: sub.ok_or_else(general)?,
            act,
            extra: Map::new(),
        })
    }
}

/// `{"jkt": <non-empty string>}`, the only confirmation understood.
struct CnfSeed;

impl<'de> DeserializeSeed<'de> for CnfSeed {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CnfSeed {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a confirmation")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        let mut jkt = None;
        while let Some(name) = map.next_key::<Text<'de>>()? {
            if name.as_str() != "jkt" {
                return Err(general());
            }
            set(&mut jkt, id(&mut map)?)?;
        }
        jkt.ok_or_else(general)
    }
}

/// The typed decoding of compact JSON ([`Compact`]): the claims a passport
/// minted here carries, each read once into its slot. `None` for anything
/// else, which the serde_json reader above then decides.
mod compact {
    use passport_jose::json::Compact;

    use super::{
        AGENT_ID, AGENT_MODEL, Actor, MAX_NUMERIC_DATE, PARENT_HASH, PARENT_JTI, PassportClaims,
        Slots, TASK_PURPOSE, TOOL_SCOPE,
    };
    use crate::{Level, ScopeSet};

    /// Actors nested deeper than this are left to the serde_json reader
    /// (and its recursion limit).
    const MAX_ACTOR_DEPTH: usize = 64;

    /// Fills `slot` once: a second value is a duplicate member.
    fn put<T>(slot: &mut Option<T>, value: T) -> Option<()> {
        slot.replace(value).is_none().then_some(())
    }

    fn id(r: &mut Compact<'_>) -> Option<String> {
        let text = r.string()?;
        (!text.is_empty()).then(|| text.to_owned())
    }

    fn string(r: &mut Compact<'_>) -> Option<String> {
        r.string().map(str::to_owned)
    }

    fn date(r: &mut Compact<'_>) -> Option<i64> {
        let value = i64::try_from(r.integer()?).ok()?;
        (value <= MAX_NUMERIC_DATE).then_some(value)
    }

    fn level(r: &mut Compact<'_>) -> Option<Level> {
        Level::new(u8::try_from(r.integer()?).ok()?)
    }

    fn scopes(r: &mut Compact<'_>) -> Option<ScopeSet> {
        r.array()?;
        let mut patterns = Vec::new();
        while r.element(patterns.is_empty())? {
            patterns.push(r.string()?);
        }
        ScopeSet::parse(patterns).ok()
    }

    fn actor(r: &mut Compact<'_>, depth: usize) -> Option<Actor> {
        if depth > MAX_ACTOR_DEPTH {
            return None;
        }
        r.object()?;
        let (mut sub, mut act) = (None, None);
        let mut first = true;
        while let Some(name) = r.member(first)? {
            first = false;
            match name {
                "sub" => put(&mut sub, id(r)?)?,
                "act" => put(&mut act, Box::new(actor(r, depth + 1)?))?,
                _ => return None,
            }
        }
        Some(Actor {
            sub: sub?,
            act,
            extra: serde_json::Map::new(),
        })
    }

    fn cnf(r: &mut Compact<'_>) -> Option<String> {
        r.object()?;
        let mut jkt = None;
        let mut first = true;
        while let Some(name) = r.member(first)? {
            first = false;
            if name != "jkt" {
                return None;
            }
            put(&mut jkt, id(r)?)?;
        }
        jkt
    }

    pub(super) fn decode(text: &str) -> Option<PassportClaims> {
        let r = &mut Compact::new(text);
        r.object()?;
        let mut c = Slots::default();
        let mut first = true;
        while let Some(name) = r.member(first)? {
            first = false;
            match name {
                "iss" => put(&mut c.iss, id(r)?)?,
                "sub" => put(&mut c.sub, id(r)?)?,
                "aud" => put(&mut c.aud, id(r)?)?,
                "jti" => put(&mut c.jti, id(r)?)?,
                "acr" => put(&mut c.acr, string(r)?)?,
                "iat" => put(&mut c.iat, date(r)?)?,
                "nbf" => put(&mut c.nbf, date(r)?)?,
                "exp" => put(&mut c.exp, date(r)?)?,
                "ial" => put(&mut c.ial, level(r)?)?,
                "aal" => put(&mut c.aal, level(r)?)?,
                "fal" => put(&mut c.fal, level(r)?)?,
                "act" => put(&mut c.act, actor(r, 0)?)?,
                AGENT_ID => put(&mut c.agent_id, id(r)?)?,
                AGENT_MODEL => put(&mut c.agent_model, string(r)?)?,
                TOOL_SCOPE => put(&mut c.tool_scope, scopes(r)?)?,
                TASK_PURPOSE => put(&mut c.task_purpose, string(r)?)?,
                PARENT_JTI => put(&mut c.parent_jti, id(r)?)?,
                PARENT_HASH => put(&mut c.parent_hash, id(r)?)?,
                "cnf" => put(&mut c.cnf_jkt, cnf(r)?)?,
                // `status` and unknown claims are JSON values: serde_json's.
                _ => return None,
            }
        }
        r.end()?;
        c.claims()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::ClaimsError;
    use proptest::prelude::*;

    /// Every claim with a field of its own, an unknown one, and `iss`
    /// spelled with an escape.
    const NAMES: [&str; 23] = [
        "iss",
        "sub",
        "aud",
        "iat",
        "nbf",
        "exp",
        "jti",
        "acr",
        "ial",
        "aal",
        "fal",
        "act",
        AGENT_ID,
        AGENT_MODEL,
        TOOL_SCOPE,
        TASK_PURPOSE,
        PARENT_JTI,
        PARENT_HASH,
        "cnf",
        "status",
        "x-unknown",
        "\\u0069ss",
        "",
    ];

    /// Values of every JSON type, at and past each claim's limits.
    const VALUES: [&str; 44] = [
        "0",
        "1",
        "2",
        "4",
        "256",
        "-1",
        "-0",
        "1.0",
        "1e3",
        "1e400",
        "1700000000",
        "253402300799",
        "253402300800",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551616",
        "\"\"",
        "\"x\"",
        "\"files:read\"",
        "\"a\\\"b\\u00e9\"",
        "null",
        "true",
        "[]",
        "[\"files:read\"]",
        "[\"files:*\",\"files:read\"]",
        "[\"files:read\",\"files:read\"]",
        "[1]",
        "[\"\"]",
        "{}",
        "{\"sub\":\"a\"}",
        "{\"sub\":\"\"}",
        "{\"sub\":\"a\",\"act\":{\"sub\":\"b\"}}",
        "{\"sub\":\"a\",\"act\":null}",
        "{\"sub\":\"a\",\"x\":1,\"y\":2}",
        "{\"sub\":\"a\",\"sub\":\"b\"}",
        "{\"jkt\":\"abc\"}",
        "{\"jkt\":\"abc\",\"jkt\":\"abc\"}",
        "{\"jkt\":\"\"}",
        "{\"jkt\":\"abc\",\"x5t\":\"y\"}",
        "{\"status_list\":{\"idx\":1,\"uri\":\"https://s.example/1\"}}",
        "{\"status_list\":{\"idx\":1,\"uri\":\"https://s.example/1\",\"idx\":2}}",
        "{\"status_list\":{\"idx\":-1,\"uri\":\"https://s.example/1\"}}",
        "{\"a\":{\"b\":1,\"b\":2}}",
        "[{\"a\":1,\"a\":1}]",
    ];

    /// A valid passport's members, as `(name, JSON value)` text.
    fn valid_members() -> Vec<(String, String)> {
        [
            ("iss", "\"https://issuer.local\""),
            ("sub", "\"alice\""),
            ("aud", "\"https://tool.example\""),
            ("iat", "1700000000"),
            ("exp", "1700000900"),
            ("nbf", "1700000000"),
            ("jti", "\"jti-1\""),
            ("act", "{\"sub\":\"agent-b\",\"act\":{\"sub\":\"agent-a\"}}"),
            ("acr", "\"urn:acr\""),
            ("ial", "2"),
            ("aal", "2"),
            ("fal", "1"),
            (AGENT_ID, "\"agent-b\""),
            (AGENT_MODEL, "\"model\""),
            (TOOL_SCOPE, "[\"files:read:*\",\"search:query\"]"),
            (TASK_PURPOSE, "\"summarise\""),
            (PARENT_JTI, "\"jti-0\""),
            (PARENT_HASH, "\"aGFzaA\""),
            ("cnf", "{\"jkt\":\"thumb\"}"),
            (
                "status",
                "{\"status_list\":{\"idx\":7,\"uri\":\"https://s.example/1\"}}",
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    /// A valid passport in the compact shape the issuer writes (no
    /// `status`, which is a JSON value).
    fn compact_members() -> Vec<(String, String)> {
        let mut m = valid_members();
        m.retain(|(k, _)| k != "status");
        m
    }

    fn document(members: &[(String, String)]) -> Vec<u8> {
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(",")).into_bytes()
    }

    /// The one property that makes the typed path safe: whatever it
    /// accepts, the general path accepts with the same claims.
    fn agrees(payload: &[u8]) {
        let general = PassportClaims::from_json_general(payload);
        // The compact reader, tried first, takes only what the general path
        // accepts, with the same claims.
        if let Some(compact) = std::str::from_utf8(payload).ok().and_then(compact::decode) {
            match &general {
                Ok(expected) => assert_eq!(&compact, expected),
                Err(e) => panic!(
                    "compact path accepted what the general one refuses ({}): {}",
                    e.code(),
                    String::from_utf8_lossy(payload)
                ),
            }
        }
        match (decode(payload), &general) {
            (Some(typed), Ok(expected)) => {
                assert_eq!(&typed, expected);
                // Equality of maps ignores order; the writer does not.
                assert_eq!(typed.to_json(), expected.to_json());
            }
            (Some(typed), Err(e)) => panic!(
                "typed path accepted what the general one refuses ({}): {typed:?}\n{}",
                e.code(),
                String::from_utf8_lossy(payload)
            ),
            (None, _) => {}
        }
        // And `from_json` answers exactly as the general path.
        match (PassportClaims::from_json(payload), general) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("from_json {a:?} but the general path {b:?}"),
        }
    }

    #[test]
    fn the_usual_shape_takes_the_typed_path() {
        let payload = document(&valid_members());
        let typed = decode(&payload).expect("typed path");
        assert_eq!(
            Ok(typed),
            PassportClaims::from_json_general(&payload).map_err(|e| e.to_string())
        );
    }

    #[test]
    fn the_compact_shape_takes_the_compact_path() {
        let payload = document(&compact_members());
        let text = std::str::from_utf8(&payload).unwrap();
        let compact = compact::decode(text).expect("compact path");
        assert_eq!(
            compact,
            PassportClaims::from_json_general(&payload).unwrap()
        );
        // `status` and unknown claims are left to serde_json's reader.
        assert!(
            compact::decode(std::str::from_utf8(&document(&valid_members())).unwrap()).is_none()
        );
        agrees(&payload);
    }

    /// Hostile variations of a compact passport: the compact reader leaves
    /// each to the other paths, and `from_json` refuses (or accepts) it
    /// exactly as the general path, with the same typed error.
    #[test]
    fn the_compact_path_leaves_hostile_payloads_to_the_general_one() {
        let valid = String::from_utf8(document(&compact_members())).unwrap();
        let swap = |from: &str, to: &str| {
            assert!(valid.contains(from), "{from}");
            valid.replacen(from, to, 1).into_bytes()
        };
        let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
            // Duplicates, at the top, in `act`, in `cnf`, in the scopes.
            (
                swap("\"sub\":\"alice\"", "\"sub\":\"alice\",\"sub\":\"alice\""),
                Some("duplicate_member"),
            ),
            (
                swap(
                    "{\"sub\":\"agent-a\"}",
                    "{\"sub\":\"agent-a\",\"sub\":\"agent-a\"}",
                ),
                Some("duplicate_member"),
            ),
            (
                swap(
                    "{\"jkt\":\"thumb\"}",
                    "{\"jkt\":\"thumb\",\"jkt\":\"thumb\"}",
                ),
                Some("duplicate_member"),
            ),
            (
                swap("\"iss\"", "\"\\u0069ss\":\"x\",\"iss\""),
                Some("duplicate_member"),
            ),
            // Wrong types.
            (swap("\"alice\"", "7"), Some("invalid_claim")),
            (swap("\"jti-1\"", "[\"jti-1\"]"), Some("invalid_claim")),
            (swap("\"ial\":2", "\"ial\":\"2\""), Some("invalid_level")),
            (
                swap("\"iat\":1700000000", "\"iat\":\"1700000000\""),
                Some("invalid_numeric_date"),
            ),
            (
                swap("{\"jkt\":\"thumb\"}", "\"thumb\""),
                Some("invalid_claim"),
            ),
            // Numbers: huge, negative, fractions, exponents, leading zeros.
            (
                swap("1700000900", "18446744073709551616"),
                Some("invalid_numeric_date"),
            ),
            (
                swap("1700000900", "99999999999999999999999999"),
                Some("invalid_numeric_date"),
            ),
            (
                swap("1700000900", "253402300800"),
                Some("invalid_numeric_date"),
            ),
            (swap("1700000900", "-1"), Some("invalid_numeric_date")),
            (
                swap("1700000900", "1700000900.0"),
                Some("invalid_numeric_date"),
            ),
            (swap("1700000900", "17e8"), Some("invalid_numeric_date")),
            (swap("1700000900", "01700000900"), Some("invalid_json")),
            (swap("\"ial\":2", "\"ial\":256"), Some("invalid_level")),
            // Not UTF-8, a control character, trailing data, a trailing comma.
            (
                swap("alice", "al\u{ff}ice")
                    .iter()
                    .map(|&b| if b == 0xc3 { 0xff } else { b })
                    .collect(),
                Some("invalid_json"),
            ),
            (swap("alice", "al\tice"), Some("invalid_json")),
            (swap("alice", "al\u{0}ice"), Some("invalid_json")),
            ([valid.as_bytes(), b"x"].concat(), Some("invalid_json")),
            ([valid.as_bytes(), b"{}"].concat(), Some("invalid_json")),
            (swap("}", ",}"), Some("invalid_json")),
            (
                valid.as_bytes()[..valid.len() - 1].to_vec(),
                Some("invalid_json"),
            ),
            // Valid JSON outside the compact shape: whitespace, escapes,
            // `-0`; the general path decides (and accepts).
            (swap("{", "{ "), None),
            ([valid.as_bytes(), b"\n"].concat(), None),
            (swap("\"alice\"", "\"al\\u0069ce\""), None),
            (swap("\"fal\":1", "\"fal\":1,\"x-unknown\":1"), None),
        ];
        for (payload, expected) in cases {
            let shown = String::from_utf8_lossy(&payload).into_owned();
            if let Ok(text) = std::str::from_utf8(&payload) {
                let compact = compact::decode(text);
                assert!(
                    compact.is_none() || expected.is_none(),
                    "compact took {shown}"
                );
            }
            agrees(&payload);
            match expected {
                Some(code) => assert_eq!(
                    PassportClaims::from_json(&payload).unwrap_err().code(),
                    code,
                    "{shown}"
                ),
                None => assert!(PassportClaims::from_json(&payload).is_ok(), "{shown}"),
            }
        }
        // Actors nested past the compact reader's depth are left to
        // serde_json, which decides as before.
        let mut deep = String::from("{\"sub\":\"agent-b\"}");
        for _ in 0..100 {
            deep = format!("{{\"sub\":\"agent-b\",\"act\":{deep}}}");
        }
        let mut m = compact_members();
        m[7].1 = deep;
        let payload = document(&m);
        assert!(compact::decode(std::str::from_utf8(&payload).unwrap()).is_none());
        agrees(&payload);
    }

    #[test]
    fn the_general_path_names_every_refusal() {
        let with = |name: &str, value: &str| {
            let mut m = valid_members();
            match m.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = value.to_owned(),
                None => m.push((name.to_owned(), value.to_owned())),
            }
            document(&m)
        };
        let code = |payload: Vec<u8>| PassportClaims::from_json(&payload).unwrap_err().code();
        let mut duplicated = valid_members();
        duplicated.push(("iss".into(), "\"https://issuer.local\"".into()));
        // Duplicates are refused at every depth, as before the typed path,
        // even when both values are equal.
        assert_eq!(code(document(&duplicated)), "duplicate_member");
        let mut escaped = valid_members();
        escaped.push(("\\u0069ss".into(), "\"https://issuer.local\"".into()));
        assert_eq!(code(document(&escaped)), "duplicate_member");
        for (name, value) in [
            ("act", "{\"sub\":\"a\",\"sub\":\"a\"}"),
            ("cnf", "{\"jkt\":\"a\",\"jkt\":\"a\"}"),
            (
                "status",
                "{\"status_list\":{\"idx\":1,\"idx\":1,\"uri\":\"https://s\"}}",
            ),
            ("x-unknown", "{\"a\":[{\"b\":1,\"b\":1}]}"),
        ] {
            assert_eq!(code(with(name, value)), "duplicate_member", "{name}");
        }
        for (name, value, expected) in [
            ("iss", "7", "invalid_claim"),
            ("iss", "\"\"", "invalid_claim"),
            ("aud", "[\"https://tool.example\"]", "invalid_claim"),
            ("iat", "1.0", "invalid_numeric_date"),
            ("iat", "-1", "invalid_numeric_date"),
            ("exp", "253402300800", "invalid_numeric_date"),
            ("exp", "18446744073709551616", "invalid_numeric_date"),
            ("nbf", "\"1700000000\"", "invalid_numeric_date"),
            ("ial", "4", "invalid_level"),
            ("aal", "258", "invalid_level"),
            ("act", "{\"sub\":\"\"}", "invalid_claim"),
            ("act", "{\"sub\":\"a\",\"act\":null}", "invalid_claim"),
            ("cnf", "{\"jkt\":\"a\",\"x5t#S256\":\"b\"}", "invalid_claim"),
            (TOOL_SCOPE, "\"files:read\"", "invalid_claim"),
            (TOOL_SCOPE, "[1]", "invalid_claim"),
            (PARENT_HASH, "null", "invalid_claim"),
        ] {
            assert_eq!(code(with(name, value)), expected, "{name}: {value}");
        }
        // A number too large for any integer type is still a date error,
        // or a JSON error where serde_json refuses it outright.
        let huge = code(with("iat", "1e400"));
        assert!(
            ["invalid_numeric_date", "invalid_json"].contains(&huge),
            "{huge}"
        );
        assert_eq!(code(b"\xff".to_vec()), "invalid_json");
        assert_eq!(code(b"[]".to_vec()), "invalid_json");
    }

    #[test]
    fn unknown_claims_and_actor_members_are_kept() {
        let mut m = valid_members();
        m.push(("x-unknown".into(), "{\"n\":[1,2.5,\"é\"]}".into()));
        let typed = decode(&document(&m)).expect("typed path");
        assert_eq!(typed.extra["x-unknown"]["n"][1], 2.5);
        // An actor with other members goes through the general path, which
        // keeps them (equality of actors is exact).
        let mut m = valid_members();
        m[7].1 = "{\"sub\":\"agent-b\",\"note\":1}".into();
        assert!(decode(&document(&m)).is_none());
        let general = PassportClaims::from_json(&document(&m)).unwrap();
        assert_eq!(general.act.extra["note"], 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Valid passports with members replaced, added, duplicated,
        /// dropped or reordered: neither typed reader ever disagrees.
        #[test]
        fn typed_and_general_paths_agree(
            edits in proptest::collection::vec(
                (0usize..4, 0usize..NAMES.len(), 0usize..VALUES.len()),
                0..4,
            ),
            rotate in 0usize..20,
            compact in any::<bool>(),
        ) {
            // With `status`, the serde_json reader; without, the compact one.
            let mut m = if compact { compact_members() } else { valid_members() };
            let len = m.len();
            m.rotate_left(rotate % len);
            for (op, name, value) in edits {
                let (name, value) = (NAMES[name].to_owned(), VALUES[value].to_owned());
                match op {
                    0 => match m.iter_mut().find(|(k, _)| *k == name) {
                        Some(slot) => slot.1 = value,
                        None => m.push((name, value)),
                    },
                    1 => m.push((name, value)),
                    2 => m.retain(|(k, _)| *k != name),
                    _ => {
                        let copy = m.iter().find(|(k, _)| *k == name).cloned();
                        if let Some(copy) = copy {
                            m.push(copy);
                        }
                    }
                }
            }
            agrees(&document(&m));
        }
    }

    #[test]
    fn errors_other_than_json_keep_their_order() {
        // Two faults: the general path reports the first claim in its
        // fixed order (`iss` before `iat`), whatever the members' order.
        let mut m = valid_members();
        m[3].1 = "1.5".into();
        m[0].1 = "1".into();
        m.reverse();
        assert!(matches!(
            PassportClaims::from_json(&document(&m)),
            Err(ClaimsError::InvalidClaim { name: "iss", .. })
        ));
    }
}
