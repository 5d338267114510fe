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
        let (mut iss, mut sub, mut aud, mut jti, mut acr) = (None, None, None, None, None);
        let (mut iat, mut nbf, mut exp) = (None, None, None);
        let (mut ial, mut aal, mut fal) = (None, None, None);
        let (mut act, mut agent_id, mut agent_model, mut tool_scope) = (None, None, None, None);
        let (mut task_purpose, mut parent_jti, mut parent_hash) = (None, None, None);
        let (mut cnf_jkt, mut status) = (None, None);
        let mut extra = Map::new();
        while let Some(name) = map.next_key::<Text<'de>>()? {
            match name.as_str() {
                "iss" => set(&mut iss, id(&mut map)?)?,
                "sub" => set(&mut sub, id(&mut map)?)?,
                "aud" => set(&mut aud, id(&mut map)?)?,
                "jti" => set(&mut jti, id(&mut map)?)?,
                "acr" => set(&mut acr, string(&mut map)?)?,
                "iat" => set(&mut iat, date(&mut map)?)?,
                "nbf" => set(&mut nbf, date(&mut map)?)?,
                "exp" => set(&mut exp, date(&mut map)?)?,
                "ial" => set(&mut ial, level(&mut map)?)?,
                "aal" => set(&mut aal, level(&mut map)?)?,
                "fal" => set(&mut fal, level(&mut map)?)?,
                "act" => set(&mut act, map.next_value_seed(ActorSeed)?)?,
                AGENT_ID => set(&mut agent_id, id(&mut map)?)?,
                AGENT_MODEL => set(&mut agent_model, string(&mut map)?)?,
                TOOL_SCOPE => {
                    let patterns: Vec<Text<'de>> = map.next_value()?;
                    let scope = ScopeSet::parse(patterns.iter().map(Text::as_str))
                        .map_err(|_| general())?;
                    set(&mut tool_scope, scope)?;
                }
                TASK_PURPOSE => set(&mut task_purpose, string(&mut map)?)?,
                PARENT_JTI => set(&mut parent_jti, id(&mut map)?)?,
                PARENT_HASH => set(&mut parent_hash, id(&mut map)?)?,
                "cnf" => set(&mut cnf_jkt, map.next_value_seed(CnfSeed)?)?,
                "status" => {
                    let mut duplicate = None;
                    let value = map.next_value_seed(StrictSeed::new(&mut duplicate))?;
                    let reference = StatusReference::from_value(value).map_err(|_| general())?;
                    set(&mut status, reference)?;
                }
                _ => {
                    let mut duplicate = None;
                    let value = map.next_value_seed(StrictSeed::new(&mut duplicate))?;
                    if extra.insert(name.into_string(), value).is_some() {
                        return Err(general());
                    }
                }
            }
        }
        let agent_id = agent_id.ok_or_else(general)?;
        Ok(PassportClaims {
            iss: iss.ok_or_else(general)?,
            sub: sub.ok_or_else(general)?,
            aud: aud.ok_or_else(general)?,
            iat: iat.ok_or_else(general)?,
            nbf: nbf.ok_or_else(general)?,
            exp: exp.ok_or_else(general)?,
            jti: jti.ok_or_else(general)?,
            acr,
            assurance: Assurance { ial, aal, fal },
            act: act.ok_or_else(general)?,
            agent: AgentClaims {
                agent_id,
                agent_model: agent_model.ok_or_else(general)?,
                tool_scope: tool_scope.unwrap_or_else(ScopeSet::empty),
                task_purpose,
                parent_jti,
            },
            parent_hash,
            cnf_jkt,
            status,
            extra,
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
