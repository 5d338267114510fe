//! The passport claim set (SPEC §3), wire-compatible with csp-agent-passport 0.2.x.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::scope::ScopeSet;
use crate::{Assurance, ClaimsError, Level};

/// The namespace of the agent claims: `https://agent-passport.org/claims/`.
pub const CLAIM_NAMESPACE: &str = "https://agent-passport.org/claims/";

/// The `typ` of passports minted here (RFC 8725 §3.11 explicit typing).
pub const PASSPORT_TYP: &str = "passport+jwt";

/// The largest NumericDate accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

const AGENT_ID: &str = "https://agent-passport.org/claims/agent_id";
const AGENT_MODEL: &str = "https://agent-passport.org/claims/agent_model";
const TOOL_SCOPE: &str = "https://agent-passport.org/claims/tool_scope";
const TASK_PURPOSE: &str = "https://agent-passport.org/claims/task_purpose";
const PARENT_JTI: &str = "https://agent-passport.org/claims/parent_jti";
const PARENT_HASH: &str = "https://agent-passport.org/claims/parent_hash";

/// An RFC 8693 §4.1 actor: `{"sub": agent}` on a root; a child wraps its
/// parent's, `{"sub": child, "act": <parent act>}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Actor {
    /// The acting agent.
    pub sub: String,
    /// The actor this one acts for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
    /// Other members, kept so that equality is exact.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Actor {
    /// `{"sub": sub}`.
    pub fn new(sub: impl Into<String>) -> Actor {
        Actor {
            sub: sub.into(),
            act: None,
            extra: Map::new(),
        }
    }

    /// `{"sub": sub, "act": parent}`: the parent's actor wrapped once.
    pub fn wrapping(sub: impl Into<String>, parent: &Actor) -> Actor {
        Actor {
            sub: sub.into(),
            act: Some(Box::new(parent.clone())),
            extra: Map::new(),
        }
    }

    /// The actors from this one outwards: this actor, the one it acts for, ….
    pub fn chain(&self) -> impl Iterator<Item = &Actor> {
        std::iter::successors(Some(self), |a| a.act.as_deref())
    }

    fn from_value(value: Value) -> Result<Actor, ClaimsError> {
        let Value::Object(mut map) = value else {
            return Err(ClaimsError::InvalidClaim {
                name: "act",
                reason: "not an object",
            });
        };
        let sub = match map.remove("sub") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => {
                return Err(ClaimsError::InvalidClaim {
                    name: "act",
                    reason: "`sub` is not a non-empty string",
                });
            }
        };
        let act = match map.remove("act") {
            None => None,
            Some(inner) => Some(Box::new(Actor::from_value(inner)?)),
        };
        Ok(Actor {
            sub,
            act,
            extra: map,
        })
    }
}

/// The agent claims, spread on the wire as namespaced top-level claims.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentClaims {
    /// The agent holding this passport.
    pub agent_id: String,
    /// Its model name.
    pub agent_model: String,
    /// What it may do; empty means no authority.
    pub tool_scope: ScopeSet,
    /// Audit only; never used for policy.
    pub task_purpose: Option<String>,
    /// The parent's `jti`; absent on a root.
    pub parent_jti: Option<String>,
}

/// A passport's claims (the JWS payload). Decoding is strict; see
/// [`Passport::from_json`].
///
/// ```
/// use passport_claims::{Actor, AgentClaims, Passport, ScopeSet};
/// let p = Passport::new(
///     "https://issuer.local", "alice", "https://tool.example", "jti-1",
///     1_700_000_000, 1_700_000_900,
///     AgentClaims {
///         agent_id: "bot".into(), agent_model: "m1".into(),
///         tool_scope: ScopeSet::parse(["files:read"])?, task_purpose: None, parent_jti: None,
///     },
/// );
/// let json = p.to_json();
/// assert_eq!(Passport::from_json(&json)?, p);
/// assert!(String::from_utf8(json).unwrap().contains(r#""act":{"sub":"bot"}"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Passport {
    /// Issuer identifier.
    pub iss: String,
    /// The principal; identical along a chain.
    pub sub: String,
    /// The one verifier this passport is for.
    pub aud: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// Unique id.
    pub jti: String,
    /// The provider's `acr`, passed through.
    pub acr: Option<String>,
    /// `ial`, `aal`, `fal`.
    pub assurance: Assurance,
    /// The actor chain.
    pub act: Actor,
    /// The agent claims.
    pub agent: AgentClaims,
    /// Base64url SHA-256 of the parent token's bytes; absent on roots and on
    /// passports minted by csp-agent-passport.
    pub parent_hash: Option<String>,
    /// Every other claim, kept as decoded.
    pub extra: Map<String, Value>,
}

impl Passport {
    /// A root-shaped passport with `nbf = iat` and `act = {"sub": agent_id}`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        iss: impl Into<String>,
        sub: impl Into<String>,
        aud: impl Into<String>,
        jti: impl Into<String>,
        iat: i64,
        exp: i64,
        agent: AgentClaims,
    ) -> Passport {
        Passport {
            iss: iss.into(),
            sub: sub.into(),
            aud: aud.into(),
            iat,
            nbf: iat,
            exp,
            jti: jti.into(),
            acr: None,
            assurance: Assurance::none(),
            act: Actor::new(agent.agent_id.clone()),
            agent,
            parent_hash: None,
            extra: Map::new(),
        }
    }

    /// True when this passport names a parent.
    pub fn is_root(&self) -> bool {
        self.agent.parent_jti.is_none()
    }

    /// The JSON payload, members in the order csp-agent-passport writes them;
    /// absent optional claims are omitted (never `null`).
    pub fn to_json(&self) -> Vec<u8> {
        let wire = Wire {
            iss: &self.iss,
            sub: &self.sub,
            aud: &self.aud,
            iat: self.iat,
            exp: self.exp,
            nbf: self.nbf,
            jti: &self.jti,
            act: &self.act,
            acr: self.acr.as_deref(),
            ial: self.assurance.ial,
            aal: self.assurance.aal,
            fal: self.assurance.fal,
            agent_id: &self.agent.agent_id,
            agent_model: &self.agent.agent_model,
            tool_scope: &self.agent.tool_scope,
            task_purpose: self.agent.task_purpose.as_deref(),
            parent_jti: self.agent.parent_jti.as_deref(),
            parent_hash: self.parent_hash.as_deref(),
            extra: &self.extra,
        };
        // Serialising strings, integers and maps of JSON values cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Decodes a payload strictly: valid JSON with no duplicate member at any
    /// depth; every claim of SPEC §3 with its type (strings non-empty where
    /// they identify something); levels 1–3; NumericDates integers in
    /// `0..=MAX_NUMERIC_DATE`; scope patterns valid. Unknown claims are kept
    /// in [`Passport::extra`].
    pub fn from_json(bytes: &[u8]) -> Result<Passport, ClaimsError> {
        let map = passport_jose::json::parse_object(bytes, "payload").map_err(ClaimsError::Json)?;
        Passport::from_map(map)
    }

    /// As [`Passport::from_json`], from an already strictly parsed object.
    pub fn from_map(mut map: Map<String, Value>) -> Result<Passport, ClaimsError> {
        let m = &mut map;
        let iss = required_id(m, "iss")?;
        let sub = required_id(m, "sub")?;
        let aud = match m.remove("aud") {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::Array(_)) => {
                return Err(ClaimsError::InvalidClaim {
                    name: "aud",
                    reason: "must be a single string",
                });
            }
            Some(_) => {
                return Err(ClaimsError::InvalidClaim {
                    name: "aud",
                    reason: "not a non-empty string",
                });
            }
            None => return Err(ClaimsError::MissingClaim("aud")),
        };
        let iat = numeric_date(m, "iat")?;
        let nbf = numeric_date(m, "nbf")?;
        let exp = numeric_date(m, "exp")?;
        let jti = required_id(m, "jti")?;
        let acr = optional_string(m, "acr")?;
        let assurance = Assurance {
            ial: level(m, "ial")?,
            aal: level(m, "aal")?,
            fal: level(m, "fal")?,
        };
        let act = Actor::from_value(m.remove("act").ok_or(ClaimsError::MissingClaim("act"))?)?;
        let agent_id = required_id(m, AGENT_ID)?;
        let agent_model = match m.remove(AGENT_MODEL) {
            Some(Value::String(s)) => s,
            Some(_) => {
                return Err(ClaimsError::InvalidClaim {
                    name: AGENT_MODEL,
                    reason: "not a string",
                });
            }
            None => return Err(ClaimsError::MissingClaim(AGENT_MODEL)),
        };
        let tool_scope = match m.remove(TOOL_SCOPE) {
            None => ScopeSet::empty(),
            Some(Value::Array(items)) => {
                let mut patterns = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => patterns.push(s),
                        _ => {
                            return Err(ClaimsError::InvalidClaim {
                                name: TOOL_SCOPE,
                                reason: "an entry is not a string",
                            });
                        }
                    }
                }
                ScopeSet::parse(patterns)?
            }
            Some(_) => {
                return Err(ClaimsError::InvalidClaim {
                    name: TOOL_SCOPE,
                    reason: "not an array of strings",
                });
            }
        };
        let task_purpose = optional_string(m, TASK_PURPOSE)?;
        let parent_jti = optional_id(m, PARENT_JTI)?;
        let parent_hash = optional_id(m, PARENT_HASH)?;
        Ok(Passport {
            iss,
            sub,
            aud,
            iat,
            nbf,
            exp,
            jti,
            acr,
            assurance,
            act,
            agent: AgentClaims {
                agent_id,
                agent_model,
                tool_scope,
                task_purpose,
                parent_jti,
            },
            parent_hash,
            extra: map,
        })
    }
}

#[derive(Serialize)]
struct Wire<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    nbf: i64,
    jti: &'a str,
    act: &'a Actor,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ial: Option<Level>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aal: Option<Level>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fal: Option<Level>,
    #[serde(rename = "https://agent-passport.org/claims/agent_id")]
    agent_id: &'a str,
    #[serde(rename = "https://agent-passport.org/claims/agent_model")]
    agent_model: &'a str,
    #[serde(rename = "https://agent-passport.org/claims/tool_scope")]
    tool_scope: &'a ScopeSet,
    #[serde(
        rename = "https://agent-passport.org/claims/task_purpose",
        skip_serializing_if = "Option::is_none"
    )]
    task_purpose: Option<&'a str>,
    #[serde(
        rename = "https://agent-passport.org/claims/parent_jti",
        skip_serializing_if = "Option::is_none"
    )]
    parent_jti: Option<&'a str>,
    #[serde(
        rename = "https://agent-passport.org/claims/parent_hash",
        skip_serializing_if = "Option::is_none"
    )]
    parent_hash: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

fn required_id(m: &mut Map<String, Value>, name: &'static str) -> Result<String, ClaimsError> {
    optional_id(m, name)?.ok_or(ClaimsError::MissingClaim(name))
}

fn optional_id(
    m: &mut Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, ClaimsError> {
    match m.remove(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(ClaimsError::InvalidClaim {
            name,
            reason: "not a non-empty string",
        }),
    }
}

fn optional_string(
    m: &mut Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, ClaimsError> {
    match m.remove(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ClaimsError::InvalidClaim {
            name,
            reason: "not a string",
        }),
    }
}

fn numeric_date(m: &mut Map<String, Value>, name: &'static str) -> Result<i64, ClaimsError> {
    match m.remove(name) {
        None => Err(ClaimsError::MissingClaim(name)),
        // `as_i64` is `None` for floats (even 1.0), negatives below i64 and
        // integers above i64::MAX, so only exact integers get through.
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (0..=MAX_NUMERIC_DATE).contains(&v) => Ok(v),
            _ => Err(ClaimsError::InvalidNumericDate(name)),
        },
        Some(_) => Err(ClaimsError::InvalidNumericDate(name)),
    }
}

fn level(m: &mut Map<String, Value>, name: &'static str) -> Result<Option<Level>, ClaimsError> {
    match m.remove(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u8::try_from(v).ok())
            .and_then(Level::new)
            .map(Some)
            .ok_or(ClaimsError::InvalidLevel(name)),
        Some(_) => Err(ClaimsError::InvalidLevel(name)),
    }
}
