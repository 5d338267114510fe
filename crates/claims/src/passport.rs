//! The passport claim set (SPEC §3), wire-compatible with csp-agent-passport 0.2.x.

use serde::Serialize;
use serde_json::{Map, Value};

use passport_jose::JoseError;
use passport_jose::json::Text;

use crate::scope::ScopeSet;
use crate::status::StatusWire;
use crate::{Assurance, ClaimsError, Level, StatusReference};

mod typed;

/// The namespace of the agent claims: `https://agent-passport.org/claims/`.
pub const CLAIM_NAMESPACE: &str = "https://agent-passport.org/claims/";

/// The `typ` of passports minted here (RFC 8725 §3.11 explicit typing).
pub const PASSPORT_TYP: &str = "passport+jwt";

/// The largest NumericDate accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

pub(crate) const AGENT_ID: &str = "https://agent-passport.org/claims/agent_id";
pub(crate) const AGENT_MODEL: &str = "https://agent-passport.org/claims/agent_model";
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
        // `shift_remove`, not `remove` (a swap with the last member under
        // `preserve_order`): the other members keep their order, so
        // decoding then encoding is stable (found by fuzz/ `claims`).
        let sub = match map.shift_remove("sub") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => {
                return Err(ClaimsError::InvalidClaim {
                    name: "act",
                    reason: "`sub` is not a non-empty string",
                });
            }
        };
        let act = match map.shift_remove("act") {
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
/// [`PassportClaims::from_json`].
///
/// ```
/// use passport_claims::{Actor, AgentClaims, PassportClaims, ScopeSet};
/// let p = PassportClaims::new(
///     "https://issuer.local", "alice", "https://tool.example", "jti-1",
///     1_700_000_000, 1_700_000_900,
///     AgentClaims {
///         agent_id: "bot".into(), agent_model: "m1".into(),
///         tool_scope: ScopeSet::parse(["files:read"])?, task_purpose: None, parent_jti: None,
///     },
/// );
/// let json = p.to_json();
/// assert_eq!(PassportClaims::from_json(&json)?, p);
/// assert!(String::from_utf8(json).unwrap().contains(r#""act":{"sub":"bot"}"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PassportClaims {
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
    /// RFC 7800 / RFC 9449 `cnf.jkt`: the RFC 7638 thumbprint of the key the
    /// holder must prove possession of (DPoP). `None` = a bearer passport.
    pub cnf_jkt: Option<String>,
    /// draft-ietf-oauth-status-list `status`: where this passport's
    /// revocation status is published. `None` = no status list.
    pub status: Option<StatusReference>,
    /// Every other claim, kept as decoded.
    pub extra: Map<String, Value>,
}

impl PassportClaims {
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
    ) -> PassportClaims {
        PassportClaims {
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
            cnf_jkt: None,
            status: None,
            extra: Map::new(),
        }
    }

    /// True when this passport names no parent (a root).
    pub fn is_root(&self) -> bool {
        self.agent.parent_jti.is_none()
    }

    /// The JSON payload, members in the order csp-agent-passport writes them;
    /// absent optional claims are omitted (never `null`).
    ///
    /// Members of [`PassportClaims::extra`] that share a name with a claim modelled
    /// here are not written: an extra claim can never shadow or duplicate one.
    pub fn to_json(&self) -> Vec<u8> {
        let filtered;
        let extra = if self.extra.keys().any(|k| field_index(k).is_some()) {
            filtered = self
                .extra
                .iter()
                .filter(|(k, _)| field_index(k).is_none())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<String, Value>>();
            &filtered
        } else {
            &self.extra
        };
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
            cnf: self.cnf_jkt.as_deref().map(|jkt| Cnf { jkt }),
            status: self.status.as_ref().map(StatusReference::wire),
            extra,
        };
        // Serialising strings, integers and maps of JSON values cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Decodes a payload strictly: valid JSON with no duplicate member at any
    /// depth; every claim of SPEC §3 with its type (strings non-empty where
    /// they identify something); levels 1–3; NumericDates integers in
    /// `0..=MAX_NUMERIC_DATE`; scope patterns valid. Unknown claims are kept
    /// in [`PassportClaims::extra`].
    ///
    /// The document is read in one pass: known claims go straight to their
    /// slot, and only unknown ones are collected into a map.
    pub fn from_json(bytes: &[u8]) -> Result<PassportClaims, ClaimsError> {
        // The typed path takes a valid passport in one pass without building
        // JSON values for its claims; anything it does not take (every
        // error, whatever its kind) goes through the general path below,
        // which decides and names the error. The typed path only accepts
        // what the general one accepts, with the same result.
        if let Some(claims) = typed::decode(bytes) {
            return Ok(claims);
        }
        PassportClaims::from_json_general(bytes)
    }

    /// [`PassportClaims::from_json`] through JSON values: every member read
    /// whole, then each claim checked in a fixed order, so that the first
    /// error found is the same whatever the members' order.
    fn from_json_general(bytes: &[u8]) -> Result<PassportClaims, ClaimsError> {
        use serde::de::DeserializeSeed as _;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let mut duplicate = None;
        let parsed = DocumentSeed {
            duplicate: &mut duplicate,
        }
        .deserialize(&mut de)
        .and_then(|doc| {
            de.end()?;
            Ok(doc)
        });
        if let Some(name) = duplicate {
            return Err(ClaimsError::Json(JoseError::DuplicateMember {
                part: "payload",
                name,
            }));
        }
        match parsed {
            Ok(Some((slots, extra))) => PassportClaims::from_slots(slots, extra),
            Ok(None) => Err(ClaimsError::Json(JoseError::InvalidJson {
                part: "payload",
                reason: "not a JSON object".into(),
            })),
            Err(e) => Err(ClaimsError::Json(JoseError::InvalidJson {
                part: "payload",
                reason: e.to_string(),
            })),
        }
    }

    /// As [`PassportClaims::from_json`], from an already strictly parsed object.
    pub fn from_map(mut map: Map<String, Value>) -> Result<PassportClaims, ClaimsError> {
        let mut slots = Slots::default();
        for (index, name) in FIELDS.iter().enumerate() {
            // the extra claims keep their order (see `Actor::from_value`)
            slots[index] = map.shift_remove(*name);
        }
        PassportClaims::from_slots(slots, map)
    }

    fn from_slots(
        mut slots: Slots,
        extra: Map<String, Value>,
    ) -> Result<PassportClaims, ClaimsError> {
        let mut take = |f: Field| slots[f as usize].take();
        let iss = required_id(take(Field::Iss), "iss")?;
        let sub = required_id(take(Field::Sub), "sub")?;
        let aud = match take(Field::Aud) {
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
        let iat = numeric_date(take(Field::Iat), "iat")?;
        let nbf = numeric_date(take(Field::Nbf), "nbf")?;
        let exp = numeric_date(take(Field::Exp), "exp")?;
        let jti = required_id(take(Field::Jti), "jti")?;
        let acr = optional_string(take(Field::Acr), "acr")?;
        let assurance = Assurance {
            ial: level(take(Field::Ial), "ial")?,
            aal: level(take(Field::Aal), "aal")?,
            fal: level(take(Field::Fal), "fal")?,
        };
        let act = Actor::from_value(take(Field::Act).ok_or(ClaimsError::MissingClaim("act"))?)?;
        let agent_id = required_id(take(Field::AgentId), AGENT_ID)?;
        let agent_model = match take(Field::AgentModel) {
            Some(Value::String(s)) => s,
            Some(_) => {
                return Err(ClaimsError::InvalidClaim {
                    name: AGENT_MODEL,
                    reason: "not a string",
                });
            }
            None => return Err(ClaimsError::MissingClaim(AGENT_MODEL)),
        };
        let tool_scope = match take(Field::ToolScope) {
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
        let task_purpose = optional_string(take(Field::TaskPurpose), TASK_PURPOSE)?;
        let parent_jti = optional_id(take(Field::ParentJti), PARENT_JTI)?;
        let parent_hash = optional_id(take(Field::ParentHash), PARENT_HASH)?;
        let cnf_jkt = match take(Field::Cnf) {
            None => None,
            // Only the jkt confirmation method is understood; a passport bound
            // some other way must not be mistaken for a bearer passport.
            Some(Value::Object(mut cnf)) if cnf.len() == 1 => match cnf.remove("jkt") {
                Some(Value::String(jkt)) if !jkt.is_empty() => Some(jkt),
                _ => {
                    return Err(ClaimsError::InvalidClaim {
                        name: "cnf",
                        reason: "only {\"jkt\": <thumbprint>} is supported",
                    });
                }
            },
            Some(_) => {
                return Err(ClaimsError::InvalidClaim {
                    name: "cnf",
                    reason: "only {\"jkt\": <thumbprint>} is supported",
                });
            }
        };
        let status = take(Field::Status)
            .map(StatusReference::from_value)
            .transpose()?;
        Ok(PassportClaims {
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
            cnf_jkt,
            status,
            extra,
        })
    }
}

/// The claims with a slot of their own, in [`FIELDS`] order.
#[derive(Clone, Copy)]
enum Field {
    Iss,
    Sub,
    Aud,
    Iat,
    Nbf,
    Exp,
    Jti,
    Acr,
    Ial,
    Aal,
    Fal,
    Act,
    AgentId,
    AgentModel,
    ToolScope,
    TaskPurpose,
    ParentJti,
    ParentHash,
    Cnf,
    Status,
}

const FIELDS: [&str; 20] = [
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
];

type Slots = [Option<Value>; 20];

/// The slot of a member name (a `match` the compiler turns into a few length
/// and byte comparisons, rather than a scan of [`FIELDS`]).
fn field_index(name: &str) -> Option<usize> {
    let field = match name {
        "iss" => Field::Iss,
        "sub" => Field::Sub,
        "aud" => Field::Aud,
        "iat" => Field::Iat,
        "nbf" => Field::Nbf,
        "exp" => Field::Exp,
        "jti" => Field::Jti,
        "acr" => Field::Acr,
        "ial" => Field::Ial,
        "aal" => Field::Aal,
        "fal" => Field::Fal,
        "act" => Field::Act,
        AGENT_ID => Field::AgentId,
        AGENT_MODEL => Field::AgentModel,
        TOOL_SCOPE => Field::ToolScope,
        TASK_PURPOSE => Field::TaskPurpose,
        PARENT_JTI => Field::ParentJti,
        PARENT_HASH => Field::ParentHash,
        "cnf" => Field::Cnf,
        "status" => Field::Status,
        _ => return None,
    };
    Some(field as usize)
}

/// Reads the top-level object: known members into their slot, the rest into
/// a map; any duplicate (known or not, at any depth) is recorded and refused.
struct DocumentSeed<'a> {
    duplicate: &'a mut Option<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = Option<(Slots, Map<String, Value>)>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for DocumentSeed<'_> {
    type Value = Option<(Slots, Map<String, Value>)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut slots = Slots::default();
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let value =
                map.next_value_seed(passport_jose::json::StrictSeed::new(&mut *self.duplicate))?;
            let name = key.as_str();
            let slot = field_index(name);
            let seen = match slot {
                Some(i) => slots[i].replace(value).is_some(),
                None => extra.insert(name.to_owned(), value).is_some(),
            };
            if seen {
                *self.duplicate = Some(name.to_owned());
                return Err(serde::de::Error::custom("duplicate member"));
            }
        }
        Ok(Some((slots, extra)))
    }

    // Any other top-level JSON value is "not an object".
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[derive(Serialize)]
struct Cnf<'a> {
    jkt: &'a str,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Cnf<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusWire<'a>>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

fn required_id(value: Option<Value>, name: &'static str) -> Result<String, ClaimsError> {
    optional_id(value, name)?.ok_or(ClaimsError::MissingClaim(name))
}

fn optional_id(value: Option<Value>, name: &'static str) -> Result<Option<String>, ClaimsError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(ClaimsError::InvalidClaim {
            name,
            reason: "not a non-empty string",
        }),
    }
}

fn optional_string(
    value: Option<Value>,
    name: &'static str,
) -> Result<Option<String>, ClaimsError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ClaimsError::InvalidClaim {
            name,
            reason: "not a string",
        }),
    }
}

fn numeric_date(value: Option<Value>, name: &'static str) -> Result<i64, ClaimsError> {
    match value {
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

fn level(value: Option<Value>, name: &'static str) -> Result<Option<Level>, ClaimsError> {
    match value {
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
