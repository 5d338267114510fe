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

/// A reader of compact JSON — no whitespace between tokens, strings without
/// escapes or control characters, numbers that are non-negative integers —
/// for decoders that take the usual shape of a document they issue
/// themselves without a general parser. Every method answers `None` for
/// anything outside that subset, valid JSON or not; the caller then decodes
/// the document with a general parser, which decides and names any error.
/// Checking that the text is UTF-8 is the caller's (it is a `&str`).
///
/// ```
/// use passport_jose::json::Compact;
/// fn read() -> Option<()> {
///     let mut r = Compact::new(r#"{"a":"x","b":[7]}"#);
///     r.object()?;
///     assert_eq!(r.member(true)?, Some("a"));
///     assert_eq!(r.string()?, "x");
///     assert_eq!(r.member(false)?, Some("b"));
///     r.array()?;
///     assert!(r.element(true)?);
///     assert_eq!(r.integer()?, 7);
///     assert!(!r.element(false)?);
///     assert_eq!(r.member(false)?, None);
///     r.end()
/// }
/// assert!(read().is_some());
/// assert!(Compact::new(r#""a\u0062""#).string().is_none()); // an escape
/// assert!(Compact::new("1.0").integer().is_none()); // not an integer
/// ```
#[derive(Debug, Clone)]
pub struct Compact<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Compact<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Compact<'a> {
        Compact { text, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// The `{` that opens an object.
    pub fn object(&mut self) -> Option<()> {
        self.eat(b'{')
    }

    /// The next member's name and its `:` (`Some(name)`), or the object's
    /// closing `}` (`Some(None)`); `first` when no member was read yet.
    pub fn member(&mut self, first: bool) -> Option<Option<&'a str>> {
        if self.eat(b'}').is_some() {
            // `{}` or a member just read; never after a comma.
            return Some(None);
        }
        if !first {
            self.eat(b',')?;
        }
        let name = self.string()?;
        self.eat(b':')?;
        Some(Some(name))
    }

    /// The `[` that opens an array.
    pub fn array(&mut self) -> Option<()> {
        self.eat(b'[')
    }

    /// Whether another element follows (`true`) or the array's closing `]`
    /// was read (`false`); `first` when no element was read yet.
    pub fn element(&mut self, first: bool) -> Option<bool> {
        if self.eat(b']').is_some() {
            return Some(false);
        }
        if !first {
            self.eat(b',')?;
        }
        Some(true)
    }

    /// A string without escapes or control characters, borrowed.
    pub fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let len = special_position(self.text.as_bytes().get(start..)?)?;
        // The quote is ASCII, so `start + len` is a character boundary.
        let value = self.text.get(start..start + len)?;
        self.at = start + len;
        self.eat(b'"')?;
        Some(value)
    }

    /// A non-negative integer written without sign, fraction or exponent,
    /// at most `u64::MAX`.
    pub fn integer(&mut self) -> Option<u64> {
        let digits = self.text.as_bytes().get(self.at..)?;
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || (len > 1 && digits.first() == Some(&b'0')) {
            return None;
        }
        // A fraction or an exponent makes it another number.
        if matches!(digits.get(len), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = digits.get(..len)?.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?;
        self.at += len;
        Some(value)
    }

    /// The end of the text: nothing follows, not even whitespace.
    pub fn end(&self) -> Option<()> {
        (self.at == self.text.len()).then_some(())
    }
}

/// Whether a byte ends the run [`Compact::string`] reads: a quote, a
/// backslash or a control character.
fn special(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20)
}

/// The index of the first [`special`] byte of `bytes`, eight bytes at a
/// time: in a word `w`, `(w - 0x01…01) & !w & 0x80…80` sets the high bit of
/// each zero byte and of no byte below the lowest zero byte (a borrow only
/// runs upwards from a zero byte), so the lowest bit set of the three masks
/// below (a byte equal to `"`, equal to `\`, less than 0x20) marks the first
/// special byte. Claims are mostly short strings, where a loop over 16-byte
/// chunks ends in a byte-by-byte search.
fn special_position(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let found = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = words.remainder().iter().position(|&b| special(b))?;
    Some(at + tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time search finds exactly the first special byte, at
    /// every offset of every word and with every byte value around it.
    #[test]
    fn special_position_is_the_first_special_byte() {
        let plain = |b: u8| if special(b) { b'a' } else { b };
        for len in 0..40 {
            for at in 0..=len {
                for value in 0..=255u8 {
                    // Bytes before `at` are every non-special value in turn,
                    // the byte at `at` is `value`, and a special one follows.
                    let mut bytes: Vec<u8> = (0..len)
                        .map(|i| plain((i as u8).wrapping_mul(37).wrapping_add(value)))
                        .collect();
                    if at < len {
                        bytes[at] = value;
                        bytes.push(b'"');
                    }
                    let expected = bytes.iter().position(|&b| special(b));
                    assert_eq!(special_position(&bytes), expected, "{bytes:?}");
                }
            }
        }
    }

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

    /// Every reader of [`Compact`] refuses what is outside its subset,
    /// valid JSON or not, and consumes nothing it did not accept whole.
    #[test]
    fn the_compact_reader_takes_only_its_subset() {
        for text in [
            r#""a\"b""#,
            r#""a\u0062""#,
            "\"a\tb\"",
            "\"a\u{0}b\"",
            "\"unterminated",
            "'single'",
            " \"lead\"",
        ] {
            assert_eq!(Compact::new(text).string(), None, "{text:?}");
        }
        assert_eq!(Compact::new("\"é ✓ x\"").string(), Some("é ✓ x"));
        let long = format!("\"{}\"", "a".repeat(40));
        assert_eq!(Compact::new(&long).string().map(str::len), Some(40));
        let quote_in_chunk = format!("\"{}\\\"{}\"", "a".repeat(20), "b".repeat(20));
        assert_eq!(Compact::new(&quote_in_chunk).string(), None);
        for text in [
            "",
            "-1",
            "-0",
            "01",
            "00",
            "1.0",
            "1e3",
            "1E3",
            "+1",
            "18446744073709551616",
            "x",
        ] {
            assert_eq!(Compact::new(text).integer(), None, "{text:?}");
        }
        assert_eq!(Compact::new("0").integer(), Some(0));
        assert_eq!(
            Compact::new("18446744073709551615").integer(),
            Some(u64::MAX)
        );
        // Structure: a comma only between members, no whitespace, nothing
        // after the end.
        let members = |text: &str| -> Option<Vec<String>> {
            let mut r = Compact::new(text);
            r.object()?;
            let mut names = Vec::new();
            while let Some(name) = r.member(names.is_empty())? {
                names.push(name.to_owned());
                r.integer()?;
            }
            r.end()?;
            Some(names)
        };
        assert_eq!(
            members(r#"{"a":1,"b":2}"#),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(members("{}"), Some(vec![]));
        for text in [
            r#"{"a":1,}"#,
            r#"{,"a":1}"#,
            r#"{"a":1 }"#,
            r#"{ "a":1}"#,
            r#"{"a" :1}"#,
            r#"{"a":1,,"b":2}"#,
            r#"{"a":1}x"#,
            r#"{"a":1}{}"#,
            r#"{"a":1} "#,
            r#"{"a":1"#,
            r#"{"a"}"#,
        ] {
            assert_eq!(members(text), None, "{text}");
        }
        let elements = |text: &str| -> Option<usize> {
            let mut r = Compact::new(text);
            r.array()?;
            let mut n = 0;
            while r.element(n == 0)? {
                r.string()?;
                n += 1;
            }
            r.end().map(|()| n)
        };
        assert_eq!(elements(r#"["a","b"]"#), Some(2));
        assert_eq!(elements("[]"), Some(0));
        for text in [
            r#"["a",]"#,
            r#"[,"a"]"#,
            r#"["a" ,"b"]"#,
            r#"["a""b"]"#,
            r#"["a""#,
        ] {
            assert_eq!(elements(text), None, "{text}");
        }
    }

    #[test]
    fn keeps_numbers_exact() {
        let map = parse_object(br#"{"i":1700000000,"f":1.5,"n":-3}"#, "doc").unwrap();
        assert_eq!(map["i"].as_u64(), Some(1_700_000_000));
        assert_eq!(map["f"].as_f64(), Some(1.5));
        assert_eq!(map["n"].as_i64(), Some(-3));
    }
}
