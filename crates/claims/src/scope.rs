//! Scope patterns: the `tool_scope` of an Agent Passport.
//!
//! A passport carries a list of scope patterns ([`ScopeSet`]). Each pattern
//! ([`ScopePattern`]) is an `fnmatch`-style glob with the semantics of Python's
//! `fnmatch.fnmatchcase` (case-sensitive), restricted so that the Rust and the
//! Python implementations can never disagree:
//!
//! | character | meaning |
//! |---|---|
//! | `*` | any run of characters, including the empty run and `:` `/` … |
//! | `?` | exactly one character (a Unicode scalar value, a Rust [`char`]) |
//! | `[` | **refused** ([`ScopeError::UnsupportedSyntax`]): Python would read a character class |
//! | anything else | itself, literally |
//!
//! A pattern is at most [`MAX_PATTERN_LEN`] bytes of UTF-8 and a set holds at
//! most [`MAX_PATTERNS`] patterns. The empty pattern is allowed; it matches only
//! the empty string.
//!
//! # Coverage and attenuation
//!
//! A set [covers](ScopeSet::covers) a *concrete* required scope string when one
//! of its patterns matches it (the `*`, `?` and `[` of the required string are
//! ordinary characters there).
//!
//! A delegated (child) set [attenuates](ScopeSet::attenuates) its parent set
//! when each child pattern is [implied](ScopePattern::is_implied_by) by some
//! parent pattern, that is when everything the child pattern matches is also
//! matched by that parent pattern. The implication test is *sound*: it never
//! answers `true` for a child pattern that matches a string the parent pattern
//! does not match. It is also *complete* (it answers `true` for every real
//! inclusion) whenever the parent pattern contains no `?`; with a `?` in the
//! parent it may refuse a few true inclusions, such as `*?` implied by `?*`.
//! See [`ScopePattern::is_implied_by`] for the algorithm and the proofs.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// The maximum length of one scope pattern, in bytes of UTF-8.
pub const MAX_PATTERN_LEN: usize = 256;

/// The maximum number of patterns in one [`ScopeSet`].
pub const MAX_PATTERNS: usize = 128;

/// Why a scope pattern or a scope set was refused.
///
/// ```
/// use passport_claims::scope::{ScopeError, ScopePattern};
///
/// let err = ScopePattern::new("files:[rw]").unwrap_err();
/// assert_eq!(err.code(), "unsupported_scope_syntax");
/// assert!(matches!(err, ScopeError::UnsupportedSyntax { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// The pattern contains `[`, which `fnmatch` would read as the start of a
    /// character class; such patterns are refused.
    #[error("scope pattern {pattern:?} uses `[`, which is not supported")]
    UnsupportedSyntax {
        /// The refused pattern.
        pattern: String,
    },
    /// The pattern is longer than [`MAX_PATTERN_LEN`] bytes.
    #[error("scope pattern is {len} bytes long; at most {max} bytes are allowed")]
    PatternTooLong {
        /// The length of the refused pattern, in bytes.
        len: usize,
        /// The limit, [`MAX_PATTERN_LEN`].
        max: usize,
    },
    /// The set has more than [`MAX_PATTERNS`] patterns.
    #[error("scope has {count} patterns; at most {max} are allowed")]
    TooManyPatterns {
        /// The number of patterns given.
        count: usize,
        /// The limit, [`MAX_PATTERNS`].
        max: usize,
    },
}

passport_jose::error_codes! {
    ScopeError {
        ScopeError::UnsupportedSyntax { .. } => "unsupported_scope_syntax":
            "A scope pattern uses `[`, which is not supported.",
        ScopeError::PatternTooLong { .. } => "scope_pattern_too_long":
            "A scope pattern is longer than `MAX_PATTERN_LEN` bytes.",
        ScopeError::TooManyPatterns { .. } => "too_many_scope_patterns":
            "A scope has more than `MAX_PATTERNS` patterns.",
    }
}

// ---------------------------------------------------------------------------
// ScopePattern
// ---------------------------------------------------------------------------

/// Whether `scope` is an OAuth `scope` parameter: scope tokens separated by
/// single spaces (RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B /
/// %x5D-7E )`). A [`ScopePattern`] is looser (wire compatibility with the
/// reference allows any character but `[`); whatever travels in an OAuth
/// parameter or a `WWW-Authenticate` challenge, which is written unescaped,
/// must pass this.
///
/// ```
/// use passport_claims::scope::is_oauth_scope;
/// assert!(is_oauth_scope("files:read files:*"));
/// assert!(!is_oauth_scope(""));
/// assert!(!is_oauth_scope("files:read  files:write")); // two spaces
/// assert!(!is_oauth_scope("say\"hi\""));
/// assert!(!is_oauth_scope("caf\u{e9}"));
/// ```
pub fn is_oauth_scope(scope: &str) -> bool {
    scope.split(' ').all(|token| {
        !token.is_empty()
            && token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    })
}

/// One validated scope pattern.
///
/// It (de)serializes as a plain JSON string; deserialization validates it like
/// [`ScopePattern::new`].
///
/// ```
/// use passport_claims::scope::ScopePattern;
///
/// let pattern = ScopePattern::new("files:*")?;
/// assert!(pattern.matches("files:read"));
/// assert!(pattern.matches("files:"));
/// assert!(!pattern.matches("mail:send"));
///
/// let narrower: ScopePattern = "files:read".parse()?;
/// assert!(narrower.is_implied_by(&pattern));
/// assert!(!pattern.is_implied_by(&narrower));
///
/// assert!(ScopePattern::new("files:[rw]").is_err());
/// assert_eq!(serde_json::to_string(&pattern)?, r#""files:*""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopePattern(String);

impl ScopePattern {
    /// Validates `s` as a scope pattern.
    ///
    /// # Errors
    ///
    /// [`ScopeError::PatternTooLong`] if `s` is longer than [`MAX_PATTERN_LEN`]
    /// bytes, [`ScopeError::UnsupportedSyntax`] if it contains `[`.
    pub fn new(s: impl Into<String>) -> Result<Self, ScopeError> {
        let s = s.into();
        if s.len() > MAX_PATTERN_LEN {
            return Err(ScopeError::PatternTooLong {
                len: s.len(),
                max: MAX_PATTERN_LEN,
            });
        }
        if s.contains('[') {
            return Err(ScopeError::UnsupportedSyntax { pattern: s });
        }
        Ok(Self(s))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Does this pattern match the concrete scope string `s`?
    ///
    /// This is `fnmatch.fnmatchcase(s, pattern)` for the supported syntax:
    /// `*` matches any run of characters, `?` exactly one [`char`], anything
    /// else itself. It runs in `O(len(pattern) · len(s))` time at worst, with
    /// no recursion and no allocation.
    pub fn matches(&self, s: &str) -> bool {
        glob_match(self.0.as_bytes(), s.as_bytes())
    }

    /// True if the pattern consists only of `*` and `?` and has at least one
    /// `*` (`"*"`, `"**"`, `"?*"` …): it matches every string, or every string
    /// of at least some length. A policy treats these as the bare wildcard.
    pub fn is_universal(&self) -> bool {
        self.0.contains('*') && self.0.bytes().all(|b| b == b'*' || b == b'?')
    }

    /// Sound implication: returns `true` only if every string matched by
    /// `self` is matched by `parent`.
    ///
    /// # Algorithm
    ///
    /// The child pattern (`self`) is read as a word over three kinds of
    /// symbols: a literal character `c`, ANY1 (`?`) and ANYSTAR (`*`). The
    /// parent pattern is then matched *symbolically* against that word: a
    /// parent literal `c` matches only the child literal `c`; a parent `?`
    /// matches exactly one child symbol that is a literal or a `?` (never a
    /// child `*`); a parent `*` matches any run of child symbols, possibly
    /// empty, including child `*` and `?`. This is decided by a dynamic
    /// programme over (parent position, child position), kept as one rolling
    /// row of bits over the child positions, in `O(len(parent) · len(child))`
    /// time at worst (bit-parallel, so in practice `len(parent) · ⌈len(child)
    /// / 64⌉` word operations), with no recursion and no backtracking.
    ///
    /// # Soundness
    ///
    /// A successful symbolic match assigns each parent symbol a contiguous
    /// segment of child symbols, the segments covering the child word in
    /// order. A string `s` matched by the child is the concatenation of an
    /// expansion of each child symbol (a literal expands to itself, `?` to one
    /// character, `*` to any string), so `s` splits into the expansions of the
    /// parent symbols' segments. A parent literal `c`'s segment is the child
    /// literal `c`, which expands to `"c"`; a parent `?`'s segment is one child
    /// literal or `?`, which expands to exactly one character; a parent `*`
    /// accepts whatever its segment expands to. So the parent matches `s`.
    ///
    /// # Completeness
    ///
    /// When the parent has no `?`, the converse holds too. Let `z` be a
    /// character that appears in neither pattern (one exists: patterns are
    /// short and Unicode is large) and `w` the child with each `*` and `?`
    /// replaced by `z`. `w` is matched by the child, so, if the inclusion
    /// holds, by the parent. In that match no `z` can be matched by a parent
    /// literal, so each `z` lies inside the run of some parent `*`; putting the
    /// child's `*` and `?` back in place of the `z`s turns the match into a
    /// symbolic match. With a `?` in the parent some true inclusions are
    /// refused, e.g. `*?` implied by `?*` (both mean "at least one
    /// character"), because a parent `?` never matches a child `*`.
    pub fn is_implied_by(&self, parent: &ScopePattern) -> bool {
        if self == parent || parent.0 == "*" {
            return true;
        }
        ChildWord::new(&self.0).is_implied_by(&parent.0)
    }
}

impl fmt::Debug for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ScopePattern {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ScopePattern {
    type Error = ScopeError;

    fn try_from(s: String) -> Result<Self, ScopeError> {
        Self::new(s)
    }
}

impl TryFrom<&str> for ScopePattern {
    type Error = ScopeError;

    fn try_from(s: &str) -> Result<Self, ScopeError> {
        Self::new(s)
    }
}

impl From<ScopePattern> for String {
    fn from(p: ScopePattern) -> String {
        p.0
    }
}

impl FromStr for ScopePattern {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, ScopeError> {
        Self::new(s)
    }
}

impl Serialize for ScopePattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ScopePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::new(s).map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------

/// The length in bytes of the UTF-8 sequence that starts with `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        // 0xF0..=0xF7; continuation bytes never start a character here.
        _ => 4,
    }
}

/// Iterative glob matching with star backtracking.
///
/// Both slices are valid UTF-8. Literal characters are compared byte by byte,
/// which is exact for UTF-8, and keeps `si` on a character boundary whenever
/// `pi` is on one (`*` and `?` are ASCII, so they are always on one). Only the
/// last `*` seen needs to be remembered: a later `*` can absorb whatever an
/// earlier one would have had to absorb more of.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    // (pattern position just after the last `*`, text position it restarts at)
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if let Some(&pc) = p.get(pi) {
            match pc {
                b'*' => {
                    pi += 1;
                    star = Some((pi, si));
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += utf8_len(s[si]);
                    continue;
                }
                _ if pc == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((star_pi, star_si)) => {
                // Let the last `*` absorb one more character and retry.
                let next = star_si + utf8_len(s[star_si]);
                star = Some((star_pi, next));
                pi = star_pi;
                si = next;
            }
            None => return false,
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'*'))
}

// ---------------------------------------------------------------------------
// Implication (symbolic matching)
// ---------------------------------------------------------------------------

/// The child pattern of an implication test, pre-digested into bit masks over
/// its symbol positions: bit `j` of a mask describes child symbol `j`.
///
/// The rows of the dynamic programme have one bit per child *prefix* length
/// `0..=m`; bit `j` of the row after `i` parent symbols says "the first `i`
/// parent symbols match the first `j` child symbols".
struct ChildWord {
    /// The number of child symbols.
    m: usize,
    /// The number of `u64` words of a row (`m + 1` bits).
    words: usize,
    /// Child symbols that are not `*` (literals and `?`).
    not_star: Vec<u64>,
    /// For each distinct literal character of the child, where it occurs;
    /// sorted by character.
    literals: Vec<(char, Vec<u64>)>,
}

impl ChildWord {
    fn new(child: &str) -> Self {
        let m = child.chars().count();
        let words = (m + 1).div_ceil(64);
        let mut not_star = vec![0u64; words];
        let mut literals: Vec<(char, Vec<u64>)> = Vec::new();
        for (j, c) in child.chars().enumerate() {
            let (w, bit) = (j / 64, 1u64 << (j % 64));
            if c != '*' {
                not_star[w] |= bit;
            }
            if c != '*' && c != '?' {
                let k = match literals.binary_search_by(|(l, _)| l.cmp(&c)) {
                    Ok(k) => k,
                    Err(k) => {
                        literals.insert(k, (c, vec![0u64; words]));
                        k
                    }
                };
                literals[k].1[w] |= bit;
            }
        }
        Self {
            m,
            words,
            not_star,
            literals,
        }
    }

    fn literal_mask(&self, c: char) -> Option<&[u64]> {
        self.literals
            .binary_search_by(|(l, _)| l.cmp(&c))
            .ok()
            .map(|k| self.literals[k].1.as_slice())
    }

    /// Does `parent` symbolically match this child word?
    fn is_implied_by(&self, parent: &str) -> bool {
        let mut row = vec![0u64; self.words];
        row[0] = 1; // the empty parent prefix matches the empty child prefix
        for pc in parent.chars() {
            let alive = match pc {
                '*' => fill_from_lowest(&mut row, self.m),
                '?' => and_shift(&mut row, &self.not_star),
                c => match self.literal_mask(c) {
                    Some(mask) => and_shift(&mut row, mask),
                    None => false,
                },
            };
            if !alive {
                return false;
            }
        }
        row[self.m / 64] >> (self.m % 64) & 1 == 1
    }
}

/// `row = (row & mask) << 1`: a parent symbol that consumes exactly one child
/// symbol, allowed where `mask` has a bit. Returns whether `row` is non-zero.
///
/// `mask` has bits only below `m`, so the shift never leaves `0..=m`.
fn and_shift(row: &mut [u64], mask: &[u64]) -> bool {
    let mut carry = 0u64;
    let mut any = 0u64;
    for (r, &k) in row.iter_mut().zip(mask) {
        let v = *r & k;
        *r = (v << 1) | carry;
        carry = v >> 63;
        any |= *r;
    }
    any != 0
}

/// A parent `*`: bit `j` becomes set when any bit `k <= j` was set, for `j` in
/// `0..=m`. Returns whether `row` is non-zero.
fn fill_from_lowest(row: &mut [u64], m: usize) -> bool {
    let Some(first) = row.iter().position(|&w| w != 0) else {
        return false;
    };
    let low = row[first].trailing_zeros();
    row[first] |= u64::MAX << low;
    for w in row.iter_mut().skip(first + 1) {
        *w = u64::MAX;
    }
    // Clear the bits above position `m` in the last word.
    let top = m % 64;
    if let Some(last) = row.last_mut()
        && top != 63
    {
        *last &= (1u64 << (top + 1)) - 1;
    }
    true
}

// ---------------------------------------------------------------------------
// ScopeSet
// ---------------------------------------------------------------------------

/// An ordered list of at most [`MAX_PATTERNS`] scope patterns, as it appears
/// on the wire (order and duplicates are kept as given).
///
/// It (de)serializes as a JSON array of strings; deserialization validates
/// every pattern and the number of patterns.
///
/// ```
/// use passport_claims::scope::ScopeSet;
///
/// let parent = ScopeSet::parse(["files:*", "mail:send"])?;
/// let child = ScopeSet::parse(["files:read"])?;
///
/// assert!(parent.covers("files:write"));
/// assert!(!parent.covers("mail:read"));
/// assert!(child.attenuates(&parent));
/// assert!(!parent.attenuates(&child));
/// assert_eq!(parent.not_implied_by(&child).len(), 2);
///
/// let json = serde_json::to_string(&child)?;
/// assert_eq!(json, r#"["files:read"]"#);
/// assert_eq!(serde_json::from_str::<ScopeSet>(&json)?, child);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<ScopePattern>);

impl ScopeSet {
    /// A set of the given patterns, in the given order.
    ///
    /// # Errors
    ///
    /// [`ScopeError::TooManyPatterns`] if there are more than [`MAX_PATTERNS`].
    pub fn new(patterns: Vec<ScopePattern>) -> Result<Self, ScopeError> {
        if patterns.len() > MAX_PATTERNS {
            return Err(ScopeError::TooManyPatterns {
                count: patterns.len(),
                max: MAX_PATTERNS,
            });
        }
        Ok(Self(patterns))
    }

    /// Validates each string as a pattern and the list as a set.
    ///
    /// # Errors
    ///
    /// The first [`ScopePattern::new`] error among the first [`MAX_PATTERNS`]
    /// strings, else [`ScopeError::TooManyPatterns`] if there are more.
    pub fn parse<I, S>(patterns: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut iter = patterns.into_iter();
        let mut out = Vec::new();
        for s in iter.by_ref() {
            if out.len() == MAX_PATTERNS {
                return Err(ScopeError::TooManyPatterns {
                    count: MAX_PATTERNS + 1 + iter.count(),
                    max: MAX_PATTERNS,
                });
            }
            out.push(ScopePattern::new(s.as_ref())?);
        }
        Ok(Self(out))
    }

    /// The empty set, which covers nothing.
    pub const fn empty() -> Self {
        Self(Vec::new())
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[ScopePattern] {
        &self.0
    }

    /// Iterates over the patterns, in order.
    pub fn iter(&self) -> impl Iterator<Item = &ScopePattern> {
        self.0.iter()
    }

    /// The number of patterns.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Is the concrete scope string `required` covered, i.e. matched by some
    /// pattern?
    ///
    /// `required` is not a pattern: its `*`, `?` and `[` are literal
    /// characters, so `"files:*"` is covered by the patterns `"files:*"` and
    /// `"*"` but not by `"files:read"`.
    pub fn covers(&self, required: &str) -> bool {
        self.0.iter().any(|p| p.matches(required))
    }

    /// True if some pattern is universal (see [`ScopePattern::is_universal`]).
    pub fn has_universal(&self) -> bool {
        self.0.iter().any(ScopePattern::is_universal)
    }

    /// Does `self` (the child) attenuate `parent`: is every child pattern
    /// [implied](ScopePattern::is_implied_by) by at least one parent pattern?
    ///
    /// An empty child attenuates anything. The answer is sound: when it is
    /// `true`, every string covered by the child is covered by the parent.
    pub fn attenuates(&self, parent: &ScopeSet) -> bool {
        self.0.iter().all(|c| implied_by_any(c, parent))
    }

    /// The child patterns that are not implied by any parent pattern, in
    /// order (for error messages). Empty exactly when `self.attenuates(parent)`.
    pub fn not_implied_by<'a>(&'a self, parent: &ScopeSet) -> Vec<&'a ScopePattern> {
        self.0
            .iter()
            .filter(|c| !implied_by_any(c, parent))
            .collect()
    }
}

/// Is `child` implied by some pattern of `parent`? Digests `child` once,
/// and only when a parent pattern needs the general algorithm.
///
/// Two parent shapes, the common ones, are answered exactly without it:
/// - a literal (no `*`, no `?`) matches one string, so it implies only the
///   identical child (a child with a wildcard matches at least two strings);
/// - a literal prefix `P` then one final `*` matches the strings starting
///   with `P`: it implies the child exactly when the child starts with the
///   characters of `P` (literals, as `P` has no wildcard). A child differing
///   from `P`, or with a `?` or `*`, within `P`'s length matches a string
///   that does not start with `P` (a `*` may match any other character).
///
/// The general algorithm gives the same answers for these shapes (it is
/// complete for parents without `?`); the unit tests compare the two.
fn implied_by_any(child: &ScopePattern, parent: &ScopeSet) -> bool {
    let mut general = false;
    for p in &parent.0 {
        if *p == *child {
            return true;
        }
        match p.0.find(['*', '?']) {
            None => {}
            Some(i)
                if i + 1 == p.0.len() && p.0.ends_with('*') && child.0.starts_with(&p.0[..i]) =>
            {
                return true;
            }
            Some(i) if i + 1 == p.0.len() && p.0.ends_with('*') => {}
            Some(_) => general = true,
        }
    }
    if !general {
        return false;
    }
    let word = ChildWord::new(&child.0);
    parent
        .0
        .iter()
        .filter(|p| p.0.contains(['*', '?']))
        .any(|p| word.is_implied_by(&p.0))
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a ScopePattern;
    type IntoIter = std::slice::Iter<'a, ScopePattern>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for p in &self.0 {
            seq.serialize_element(p)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SetVisitor;

        impl<'de> Visitor<'de> for SetVisitor {
            type Value = ScopeSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an array of at most {MAX_PATTERNS} scope patterns")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ScopeSet, A::Error> {
                let cap = seq.size_hint().unwrap_or(0).min(MAX_PATTERNS);
                let mut out = Vec::with_capacity(cap);
                while let Some(p) = seq.next_element::<ScopePattern>()? {
                    if out.len() == MAX_PATTERNS {
                        // Count the rest without keeping (or validating) it.
                        let mut count = MAX_PATTERNS + 1;
                        while seq.next_element::<IgnoredAny>()?.is_some() {
                            count += 1;
                        }
                        return Err(de::Error::custom(ScopeError::TooManyPatterns {
                            count,
                            max: MAX_PATTERNS,
                        }));
                    }
                    out.push(p);
                }
                Ok(ScopeSet(out))
            }
        }

        deserializer.deserialize_seq(SetVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
