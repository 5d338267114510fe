//! Strict JSON for security-relevant documents.
//!
//! `serde_json` keeps the last of two members with the same name; two parsers
//! that disagree on which one wins is a classic way to smuggle a claim past a
//! verifier. Everything this project reads from a token or a key file goes
//! through [`parse_object`], which refuses a duplicate member at any depth.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::JoseError;

/// Parses `bytes` as a JSON object, refusing duplicate member names at any
/// depth, trailing data, and anything that is not an object at the top.
///
/// `part` names the document in errors (`header`, `payload`, `jwk`, …).
///
/// ```
/// use passport_jose::json::parse_object;
/// assert!(parse_object(br#"{"a":1,"b":{"c":2}}"#, "doc").is_ok());
/// let err = parse_object(br#"{"a":1,"b":{"c":2,"c":3}}"#, "doc").unwrap_err();
/// assert_eq!(err.code(), "duplicate_member");
/// ```
pub fn parse_object(bytes: &[u8], part: &'static str) -> Result<Map<String, Value>, JoseError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut duplicate: Option<String> = None;
    let value = StrictSeed {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    if let Some(name) = duplicate {
        return Err(JoseError::DuplicateMember { part, name });
    }
    match value {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JoseError::InvalidJson {
            part,
            reason: "not a JSON object".into(),
        }),
        Err(e) => Err(JoseError::InvalidJson {
            part,
            reason: e.to_string(),
        }),
    }
}

/// Deserializes one JSON value, refusing (and recording in `duplicate`) the
/// first duplicate member name at any depth. For decoders that walk a
/// document themselves and need [`parse_object`]'s strictness for the values.
pub struct StrictSeed<'a> {
    duplicate: &'a mut Option<String>,
}

impl<'a> StrictSeed<'a> {
    /// A seed that records a duplicate member's name in `duplicate`.
    pub fn new(duplicate: &'a mut Option<String>) -> StrictSeed<'a> {
        StrictSeed { duplicate }
    }
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed {
            duplicate: &mut *self.duplicate,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictSeed {
                duplicate: &mut *self.duplicate,
            })?;
            if out.contains_key(&key) {
                *self.duplicate = Some(key.clone());
                return Err(de::Error::custom(format_args!("duplicate member {key:?}")));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A JSON string borrowed from the input when it has no escapes, owned
/// otherwise: what typed decoders read member names and short values into,
/// so that the common case allocates nothing.
///
/// ```
/// use passport_jose::json::Text;
/// let mut de = serde_json::Deserializer::from_slice(br#""plain""#);
/// let text: Text<'_> = serde::Deserialize::deserialize(&mut de).unwrap();
/// assert_eq!(text.as_str(), "plain");
/// ```
#[derive(Debug)]
pub enum Text<'de> {
    /// Borrowed from the input.
    Borrowed(&'de str),
    /// Unescaped into a buffer of its own.
    Owned(String),
}

impl Text<'_> {
    /// The string.
    pub fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }

    /// The string, owned (a copy only when it was borrowed).
    pub fn into_string(self) -> String {
        match self {
            Text::Borrowed(s) => s.to_owned(),
            Text::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text::Owned(v))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicates_at_every_depth() {
        for doc in [
            &br#"{"a":1,"a":1}"#[..],
            br#"{"a":{"b":1,"b":2}}"#,
            br#"{"a":[{"b":1,"b":2}]}"#,
            br#"{"a":[[{"x":{"y":0,"y":0}}]]}"#,
        ] {
            let err = parse_object(doc, "doc").unwrap_err();
            assert!(matches!(err, JoseError::DuplicateMember { .. }), "{err:?}");
        }
    }

    #[test]
    fn refuses_non_objects_and_trailing_data() {
        for doc in [
            &b"[]"[..],
            b"1",
            b"\"s\"",
            b"null",
            b"{} {}",
            b"{",
            b"",
            b"{\"a\":1,}",
        ] {
            let err = parse_object(doc, "doc").unwrap_err();
            assert_eq!(err.code(), "invalid_json", "{doc:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut doc = String::from("{\"a\":");
        doc.push_str(&"[".repeat(10_000));
        doc.push_str(&"]".repeat(10_000));
        doc.push('}');
        assert_eq!(
            parse_object(doc.as_bytes(), "doc").unwrap_err().code(),
            "invalid_json"
        );
    }

    #[test]
    fn keeps_numbers_exact() {
        let map = parse_object(br#"{"i":1700000000,"f":1.5,"n":-3}"#, "doc").unwrap();
        assert_eq!(map["i"].as_u64(), Some(1_700_000_000));
        assert_eq!(map["f"].as_f64(), Some(1.5));
        assert_eq!(map["n"].as_i64(), Some(-3));
    }
}
