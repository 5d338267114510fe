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

impl ScopeError {
    /// A stable, machine-readable code for this error:
    /// `"unsupported_scope_syntax"`, `"scope_pattern_too_long"` or
    /// `"too_many_scope_patterns"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedSyntax { .. } => "unsupported_scope_syntax",
            Self::PatternTooLong { .. } => "scope_pattern_too_long",
            Self::TooManyPatterns { .. } => "too_many_scope_patterns",
        }
    }
}

// ---------------------------------------------------------------------------
// ScopePattern
// ---------------------------------------------------------------------------

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

/// Is `child` implied by some pattern of `parent`? Digests `child` once.
fn implied_by_any(child: &ScopePattern, parent: &ScopeSet) -> bool {
    if parent.0.iter().any(|p| p == child || p.0 == "*") {
        return true;
    }
    let word = ChildWord::new(&child.0);
    parent.0.iter().any(|p| word.is_implied_by(&p.0))
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pat(s: &str) -> ScopePattern {
        ScopePattern::new(s).unwrap()
    }

    fn implied(child: &str, parent: &str) -> bool {
        pat(child).is_implied_by(&pat(parent))
    }

    // --- matching ---------------------------------------------------------

    #[test]
    fn empty_pattern_matches_only_empty() {
        assert!(pat("").matches(""));
        assert!(!pat("").matches("a"));
        assert!(!pat("").matches("*"));
    }

    #[test]
    fn star_matches_empty_and_everything() {
        for s in ["", "a", "files:read", "a/b:c", "*", "?", "[", "é€😀"] {
            assert!(pat("*").matches(s), "{s:?}");
            assert!(pat("**").matches(s), "{s:?}");
        }
        assert!(pat("a*").matches("a"));
        assert!(pat("*a").matches("a"));
        assert!(pat("a*b").matches("ab"));
        assert!(pat("a*b").matches("a:x/y:b"));
        assert!(!pat("a*b").matches("a:x/y:c"));
        assert!(!pat("a*b").matches("ba"));
    }

    #[test]
    fn literal_matching_is_exact_and_case_sensitive() {
        assert!(pat("files:read").matches("files:read"));
        assert!(!pat("files:read").matches("files:Read"));
        assert!(!pat("files:read").matches("files:rea"));
        assert!(!pat("files:read").matches("files:reads"));
        assert!(!pat("Files:*").matches("files:read"));
    }

    #[test]
    fn question_mark_is_one_char() {
        assert!(pat("?").matches("a"));
        assert!(pat("?").matches("é"));
        assert!(pat("?").matches("😀"));
        assert!(pat("?").matches("€"));
        assert!(!pat("?").matches(""));
        assert!(!pat("?").matches("ab"));
        assert!(!pat("?").matches("éa"));
        assert!(!pat("??").matches("é"));
        assert!(pat("??").matches("éa"));
        assert!(pat("caf?").matches("café"));
        assert!(pat("caf?:x").matches("café:x"));
        assert!(pat("*?").matches("é"));
        assert!(pat("*?é").matches("éé"));
        assert!(!pat("*?é").matches("é"));
        assert!(pat("é*é").matches("éé"));
        assert!(pat("é*é").matches("éxé"));
        assert!(!pat("é*é").matches("é"));
        assert!(pat("*é?").matches("aéé€"));
        // The star must give up whole characters when it backtracks.
        assert!(pat("*?b").matches("éab"));
        assert!(pat("*?b").matches("😀€b"));
        assert!(pat("*??").matches("€😀é"));
        assert!(!pat("*??b").matches("éb"));
    }

    #[test]
    fn multibyte_literals() {
        assert!(pat("日本:*").matches("日本:読む"));
        assert!(!pat("日本:*").matches("日木:読む"));
        assert!(pat("*本*").matches("日本語"));
        // `é` (C3 A9) and `é` as e + combining acute are different strings.
        assert!(!pat("caf\u{e9}").matches("cafe\u{301}"));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let long = "a".repeat(10_000);
        let start = std::time::Instant::now();
        assert!(!pat("a*a*a*a*a*b").matches(&long));
        assert!(pat("a*a*a*a*a*").matches(&long));
        let many = format!("{}b", "*a".repeat(100));
        assert!(!pat(&many).matches(&long));
        let mut with_b = long.clone();
        with_b.push('b');
        assert!(pat(&many).matches(&with_b));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    // --- validation -------------------------------------------------------

    #[test]
    fn bracket_is_refused() {
        for s in ["[", "files:[rw]", "a[", "[]", "*[!a]"] {
            let err = ScopePattern::new(s).unwrap_err();
            assert_eq!(
                err,
                ScopeError::UnsupportedSyntax {
                    pattern: s.to_owned()
                }
            );
            assert_eq!(err.code(), "unsupported_scope_syntax");
        }
        // `]` alone is a literal in fnmatch too.
        assert!(pat("a]").matches("a]"));
        assert!(ScopeSet::parse(["ok", "a[b"]).is_err());
    }

    #[test]
    fn bracket_error_message() {
        let err = ScopePattern::new("a[b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "scope pattern \"a[b\" uses `[`, which is not supported"
        );
    }

    #[test]
    fn pattern_length_limit() {
        assert!(ScopePattern::new("a".repeat(MAX_PATTERN_LEN)).is_ok());
        let err = ScopePattern::new("a".repeat(MAX_PATTERN_LEN + 1)).unwrap_err();
        assert_eq!(
            err,
            ScopeError::PatternTooLong {
                len: MAX_PATTERN_LEN + 1,
                max: MAX_PATTERN_LEN
            }
        );
        assert_eq!(err.code(), "scope_pattern_too_long");
        // The limit is in bytes: 128 two-byte chars fit, 129 do not.
        assert!(ScopePattern::new("é".repeat(128)).is_ok());
        assert!(matches!(
            ScopePattern::new("é".repeat(129)),
            Err(ScopeError::PatternTooLong { len: 258, .. })
        ));
        // The length is checked first: no huge pattern is echoed in an error.
        assert!(matches!(
            ScopePattern::new("[".repeat(1000)),
            Err(ScopeError::PatternTooLong { len: 1000, .. })
        ));
    }

    #[test]
    fn set_size_limit() {
        let ok = vec![pat("a"); MAX_PATTERNS];
        assert_eq!(ScopeSet::new(ok).unwrap().len(), MAX_PATTERNS);
        let err = ScopeSet::new(vec![pat("a"); MAX_PATTERNS + 1]).unwrap_err();
        assert_eq!(
            err,
            ScopeError::TooManyPatterns {
                count: MAX_PATTERNS + 1,
                max: MAX_PATTERNS
            }
        );
        assert_eq!(err.code(), "too_many_scope_patterns");

        assert!(ScopeSet::parse(vec!["x"; MAX_PATTERNS]).is_ok());
        assert_eq!(
            ScopeSet::parse(vec!["x"; MAX_PATTERNS + 5]).unwrap_err(),
            ScopeError::TooManyPatterns {
                count: MAX_PATTERNS + 5,
                max: MAX_PATTERNS
            }
        );
    }

    #[test]
    fn conversions() {
        let p = ScopePattern::try_from("files:*").unwrap();
        assert_eq!(p.as_str(), "files:*");
        assert_eq!(p.as_ref(), "files:*");
        assert_eq!(p.to_string(), "files:*");
        assert_eq!(format!("{p:?}"), "\"files:*\"");
        assert_eq!(ScopePattern::try_from(String::from("files:*")).unwrap(), p);
        assert_eq!("files:*".parse::<ScopePattern>().unwrap(), p);
        assert_eq!(String::from(p), "files:*");
        assert!("x[".parse::<ScopePattern>().is_err());

        let set = ScopeSet::parse(["b", "a", "b"]).unwrap();
        assert_eq!(format!("{set:?}"), r#"["b", "a", "b"]"#);
        let strs: Vec<&str> = (&set).into_iter().map(ScopePattern::as_str).collect();
        assert_eq!(strs, ["b", "a", "b"]);
        assert_eq!(set.iter().count(), 3);
        assert_eq!(set.patterns().len(), 3);
        assert!(ScopeSet::empty().is_empty());
        assert_eq!(ScopeSet::empty(), ScopeSet::default());
    }

    // --- serde ------------------------------------------------------------

    #[test]
    fn serde_round_trip() {
        let p = pat("files:?é*");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#""files:?é*""#);
        assert_eq!(serde_json::from_str::<ScopePattern>(&json).unwrap(), p);

        let set = ScopeSet::parse(["files:*", "mail:send", "files:*", ""]).unwrap();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["files:*","mail:send","files:*",""]"#);
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
        assert_eq!(
            serde_json::from_str::<ScopeSet>("[]").unwrap(),
            ScopeSet::empty()
        );
    }

    #[test]
    fn serde_refuses_bad_input() {
        let err = serde_json::from_str::<ScopePattern>(r#""a[b""#).unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
        let long = format!("\"{}\"", "a".repeat(MAX_PATTERN_LEN + 1));
        assert!(serde_json::from_str::<ScopePattern>(&long).is_err());
        assert!(serde_json::from_str::<ScopePattern>("42").is_err());
        assert!(serde_json::from_str::<ScopePattern>("null").is_err());

        assert!(serde_json::from_str::<ScopeSet>(r#"["ok", "a[b"]"#).is_err());
        assert!(serde_json::from_str::<ScopeSet>(r#""files:*""#).is_err());
        assert!(serde_json::from_str::<ScopeSet>(r#"[1]"#).is_err());
        assert!(serde_json::from_str::<ScopeSet>(r#"{"a":1}"#).is_err());

        let at_limit = serde_json::to_string(&vec!["x"; MAX_PATTERNS]).unwrap();
        assert_eq!(
            serde_json::from_str::<ScopeSet>(&at_limit).unwrap().len(),
            MAX_PATTERNS
        );
        let over = serde_json::to_string(&vec!["x"; MAX_PATTERNS + 3]).unwrap();
        let err = serde_json::from_str::<ScopeSet>(&over).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("scope has {} patterns", MAX_PATTERNS + 3)),
            "{err}"
        );
    }

    // --- covers / universal -------------------------------------------------

    #[test]
    fn covers_treats_required_literally() {
        let exact = ScopeSet::parse(["files:*"]).unwrap();
        assert!(exact.covers("files:*"));
        assert!(exact.covers("files:read"));
        assert!(ScopeSet::parse(["*"]).unwrap().covers("files:*"));
        let read = ScopeSet::parse(["files:read"]).unwrap();
        assert!(!read.covers("files:*"));
        assert!(!read.covers("files:?ead"));
        assert!(read.covers("files:read"));
        let q = ScopeSet::parse(["files:?"]).unwrap();
        assert!(q.covers("files:?"));
        assert!(q.covers("files:*"));
        assert!(!q.covers("files:"));
        assert!(!ScopeSet::parse(["files:x"]).unwrap().covers("files:["));
        assert!(ScopeSet::parse(["files:*"]).unwrap().covers("files:["));
        assert!(!ScopeSet::empty().covers(""));
        assert!(ScopeSet::parse([""]).unwrap().covers(""));
        assert!(ScopeSet::parse(["a", "b"]).unwrap().covers("b"));
    }

    #[test]
    fn universal_detection() {
        for s in ["*", "**", "?*", "*?", "?*?", "***?"] {
            assert!(pat(s).is_universal(), "{s:?}");
        }
        for s in ["", "?", "??", "a*", "*a", "files:*", "* "] {
            assert!(!pat(s).is_universal(), "{s:?}");
        }
        assert!(
            ScopeSet::parse(["files:read", "?*"])
                .unwrap()
                .has_universal()
        );
        assert!(!ScopeSet::parse(["files:*", "?"]).unwrap().has_universal());
        assert!(!ScopeSet::empty().has_universal());
    }

    // --- implication --------------------------------------------------------

    #[test]
    fn implication_examples() {
        let cases = [
            ("a:b:*", "a:*", true),
            ("a:*", "a:b:*", false),
            ("*", "*", true),
            ("files:read", "files:*", true),
            ("files:*", "files:read", false),
            ("a*b*c", "a*c", true),
            ("a*c", "a*b*c", false),
            ("x?z", "x*", true),
            ("x*", "x?z", false),
            ("x?", "x?", true),
            ("?", "*", true),
            ("*", "?*", false),
            // more
            ("", "*", true),
            ("", "", true),
            ("", "?", false),
            ("a", "", false),
            ("*", "", false),
            ("?", "?", true),
            ("a", "?", true),
            ("?", "a", false),
            ("*", "?", false),
            ("??", "?*", true),
            ("?*", "*?*", true),
            ("a*", "*", true),
            ("a*", "**", true),
            ("*a*", "*", true),
            ("*", "a*", false),
            ("files:read", "files:write", false),
            ("files:read", "*:read", true),
            ("files:re?d", "files:read", false),
            ("files:read", "files:re?d", true),
            ("é:*", "?:*", true),
            ("ab", "a*b", true),
            ("a*b", "ab", false),
            ("a**b", "a*b", true),
            ("a*b", "a**b", true),
            ("aXbYc", "a*b*c", true),
        ];
        for (child, parent, want) in cases {
            assert_eq!(
                implied(child, parent),
                want,
                "{child:?} implied by {parent:?}"
            );
        }
    }

    #[test]
    fn documented_incompleteness() {
        // Both mean "at least one character", but a parent `?` never matches a
        // child `*`: the inclusion is refused. That is sound, just strict.
        assert!(!implied("*?", "?*"));
        assert!(!implied("?*", "*?"));
        assert!(implied("?*", "?*"));
        assert!(implied("*?", "*?"));
    }

    #[test]
    fn implication_across_word_boundaries() {
        // Child words longer than 64 and 128 symbols exercise carries between
        // the u64 words of a row.
        let child = format!("{}:x", "a".repeat(200));
        assert!(implied(&child, "a*:x"));
        assert!(implied(&child, "*a:?"));
        assert!(implied(&child, &format!("{}*", "a".repeat(130))));
        assert!(!implied(&child, &format!("{}*", "a".repeat(201))));
        assert!(implied(&child, &format!("{}?:x", "a".repeat(199))));
        assert!(!implied(&child, &format!("{}?:x", "a".repeat(198))));
        let star_child = format!("{}*", "b".repeat(63));
        assert!(implied(&star_child, "b*"));
        assert!(implied(&star_child, &format!("{}*", "b".repeat(63))));
        assert!(!implied(&star_child, &format!("{}*", "b".repeat(64))));
        let exact63 = "c".repeat(63);
        let exact64 = "c".repeat(64);
        assert!(implied(&exact63, &format!("{exact63}*")));
        assert!(implied(&exact64, &format!("{exact63}*")));
        assert!(implied(&exact64, &format!("{exact63}?")));
        assert!(!implied(&exact63, &format!("{exact63}?")));
    }

    #[test]
    fn worst_case_attenuation_is_bounded() {
        // 128 × 128 pairs of 256-symbol patterns that keep the whole table alive.
        let child = ScopeSet::new(vec![pat(&"a".repeat(256)); MAX_PATTERNS]).unwrap();
        let parent_pat = format!("{}b", "*a".repeat(127));
        let parent = ScopeSet::new(vec![pat(&parent_pat); MAX_PATTERNS]).unwrap();
        let start = std::time::Instant::now();
        assert!(!child.attenuates(&parent));
        assert_eq!(child.not_implied_by(&parent).len(), MAX_PATTERNS);
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn set_attenuation() {
        let parent = ScopeSet::parse(["files:*", "mail:send"]).unwrap();
        assert!(ScopeSet::empty().attenuates(&parent));
        assert!(ScopeSet::empty().attenuates(&ScopeSet::empty()));
        assert!(
            !ScopeSet::parse(["a"])
                .unwrap()
                .attenuates(&ScopeSet::empty())
        );
        let child = ScopeSet::parse(["files:read", "mail:send", "mail:*", "files:*"]).unwrap();
        assert!(!child.attenuates(&parent));
        let missing: Vec<&str> = child
            .not_implied_by(&parent)
            .into_iter()
            .map(ScopePattern::as_str)
            .collect();
        assert_eq!(missing, ["mail:*"]);
        assert!(parent.attenuates(&ScopeSet::parse(["*"]).unwrap()));
        assert!(parent.attenuates(&parent));
    }

    // --- the bit-parallel table against a plain one -------------------------

    /// The plain O(n·m) boolean table of the symbolic match.
    fn implied_plain(child: &str, parent: &str) -> bool {
        let c: Vec<char> = child.chars().collect();
        let mut row = vec![false; c.len() + 1];
        row[0] = true;
        for pc in parent.chars() {
            let mut next = vec![false; c.len() + 1];
            for j in 0..=c.len() {
                next[j] = match pc {
                    '*' => row[j] || (j > 0 && next[j - 1]),
                    '?' => j > 0 && row[j - 1] && c[j - 1] != '*',
                    lit => j > 0 && row[j - 1] && c[j - 1] == lit,
                };
            }
            row = next;
        }
        row[c.len()]
    }

    /// Long patterns (up to 200 symbols, so rows span several `u64` words),
    /// mostly `a` so that long parent prefixes keep matching.
    fn long_pattern() -> impl Strategy<Value = String> {
        prop::collection::vec(0u8..10, 0..200).prop_map(|v| {
            v.into_iter()
                .map(|k| match k {
                    0..=5 => 'a',
                    6 => 'b',
                    7 | 8 => '*',
                    _ => '?',
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn bit_parallel_table_agrees_with_plain_table(
            child in long_pattern(),
            parent in long_pattern(),
        ) {
            let want = implied_plain(&child, &parent);
            prop_assert_eq!(ChildWord::new(&child).is_implied_by(&parent), want);
            // The fast paths in is_implied_by are consistent with the table.
            prop_assert_eq!(pat(&child).is_implied_by(&pat(&parent)), want);
        }

        #[test]
        fn bit_parallel_table_agrees_on_related_patterns(
            child in long_pattern(),
            edits in prop::collection::vec(0u8..20, 200),
        ) {
            // The parent is the child with a few symbols turned into `*` or
            // `?`, or dropped: often implied, sometimes not.
            let parent: String = child
                .chars()
                .zip(&edits)
                .filter_map(|(c, &e)| match e {
                    0 => Some('*'),
                    1 => Some('?'),
                    2 => None,
                    _ => Some(c),
                })
                .collect();
            let want = implied_plain(&child, &parent);
            prop_assert_eq!(ChildWord::new(&child).is_implied_by(&parent), want);
        }

        #[test]
        fn table_is_reflexive_on_long_patterns(child in long_pattern()) {
            prop_assert!(ChildWord::new(&child).is_implied_by(&child));
        }
    }
}
