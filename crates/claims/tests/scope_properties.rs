//! Property tests of scope patterns: the matcher against a reference matcher,
//! soundness of implication and attenuation, completeness of implication for
//! patterns without `?` in the parent, reflexivity.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use passport_claims::scope::{ScopePattern, ScopeSet};
use proptest::prelude::*;

/// A string of length in `len` over the characters of `alphabet`.
fn word(alphabet: &'static str, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet.chars().collect();
    prop::collection::vec(prop::sample::select(chars), len)
        .prop_map(|v| v.into_iter().collect::<String>())
}

/// A pattern over a small alphabet, so that collisions are likely.
fn pattern(
    alphabet: &'static str,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = ScopePattern> {
    word(alphabet, len).prop_map(|s| ScopePattern::new(s).unwrap())
}

fn scope_set() -> impl Strategy<Value = ScopeSet> {
    prop::collection::vec(pattern("ab:*?", 0..6), 0..4).prop_map(|v| ScopeSet::new(v).unwrap())
}

/// The obvious recursive `fnmatchcase` for `*`, `?` and literals (exponential
/// in general; only used on small inputs).
fn reference_match(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|k| reference_match(rest, &s[k..])),
        Some(('?', rest)) => !s.is_empty() && reference_match(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && reference_match(rest, &s[1..]),
    }
}

fn reference(p: &ScopePattern, s: &str) -> bool {
    let p: Vec<char> = p.as_str().chars().collect();
    let s: Vec<char> = s.chars().collect();
    reference_match(&p, &s)
}

/// Every string over `alphabet` of length at most `max_len`.
fn all_words(alphabet: &[char], max_len: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut layer = vec![String::new()];
    for _ in 0..max_len {
        let mut next = Vec::with_capacity(layer.len() * alphabet.len());
        for w in &layer {
            for &c in alphabet {
                let mut v = w.clone();
                v.push(c);
                next.push(v);
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

/// Brute-force `L(child) ⊆ L(parent)` for patterns whose literals are only `a`
/// and `b`, and whose parent has no `?`.
///
/// Why checking every string over {a, b, c} of length at most `len(child)`
/// decides the inclusion: let `w` be the child with each `*` and each `?`
/// replaced by `c` (a character neither pattern uses as a literal); `w` is
/// matched by the child and has length `len(child)`. If the parent matches
/// `w`, no `c` of `w` is matched by a parent literal (the parent's literals
/// are `a` and `b`) nor by a parent `?` (there is none), so each `c` lies in
/// the run of some parent `*`. Take any `s` matched by the child: it is `w`
/// with each `c` that stands for a child `*` replaced by some string and each
/// `c` that stands for a child `?` replaced by one character. Doing the same
/// replacements inside the runs of the parent's `*`s gives a parent match of
/// `s`. So the inclusion holds iff the parent matches `w`. If it holds, no
/// string at all is a counterexample; if it fails, `w` is one, and `w` is
/// among the strings checked. So the brute force is exact. This argument
/// needs the parent to be free of `?`; with a `?` in the parent the
/// implementation is allowed to be incomplete, and only soundness is tested.
fn brute_force_included(child: &ScopePattern, parent: &ScopePattern) -> bool {
    let max_len = child.as_str().chars().count();
    all_words(&['a', 'b', 'c'], max_len)
        .iter()
        .all(|s| !child.matches(s) || parent.matches(s))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// If `child` is implied by `parent`, everything the child matches, the
    /// parent matches.
    #[test]
    fn implication_is_sound(
        child in pattern("ab:*?", 0..8),
        parent in pattern("ab:*?", 0..8),
        s in word("ab:", 0..10),
    ) {
        if child.is_implied_by(&parent) && child.matches(&s) {
            prop_assert!(parent.matches(&s), "{:?} ⊆ {:?} claimed, but {:?}", child, parent, s);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// Soundness of implication, checked against every short string at once
    /// (and with a multibyte character in the alphabet).
    #[test]
    fn implication_is_sound_on_all_short_strings(
        child in pattern("aé:*?", 0..7),
        parent in pattern("aé:*?", 0..7),
    ) {
        if child.is_implied_by(&parent) {
            for s in all_words(&['a', 'é', ':'], 5) {
                prop_assert!(
                    !child.matches(&s) || parent.matches(&s),
                    "{:?} ⊆ {:?} claimed, but {:?}", child, parent, s
                );
            }
        }
    }

    /// If a child set attenuates a parent set, every string the child covers,
    /// the parent covers.
    #[test]
    fn attenuation_is_sound(
        child in scope_set(),
        parent in scope_set(),
        strings in prop::collection::vec(word("ab:", 0..8), 1..16),
    ) {
        let attenuates = child.attenuates(&parent);
        prop_assert_eq!(attenuates, child.not_implied_by(&parent).is_empty());
        if attenuates {
            for s in &strings {
                if child.covers(s) {
                    prop_assert!(parent.covers(s), "{:?} attenuates {:?} claimed, but {:?}", child, parent, s);
                }
            }
        }
    }

    /// For patterns made of literals and `*` only, implication is exactly
    /// language inclusion.
    #[test]
    fn implication_is_complete_without_question_marks(
        child in pattern("ab*", 0..6),
        parent in pattern("ab*", 0..6),
    ) {
        prop_assert_eq!(
            child.is_implied_by(&parent),
            brute_force_included(&child, &parent),
            "{:?} implied by {:?}", child, parent
        );
    }

    /// Still exact when only the child uses `?` (see `brute_force_included`).
    #[test]
    fn implication_is_complete_when_parent_has_no_question_mark(
        child in pattern("ab*?", 0..6),
        parent in pattern("ab*", 0..6),
    ) {
        prop_assert_eq!(
            child.is_implied_by(&parent),
            brute_force_included(&child, &parent),
            "{:?} implied by {:?}", child, parent
        );
    }

    /// The matcher agrees with the reference recursive matcher.
    #[test]
    fn matcher_agrees_with_reference(
        p in pattern("ab:*?", 0..8),
        s in word("ab:", 0..10),
    ) {
        prop_assert_eq!(p.matches(&s), reference(&p, &s), "{:?} against {:?}", p, s);
    }

    /// Same, with multibyte characters (2, 3 and 4 bytes of UTF-8), in both
    /// the pattern and the string.
    #[test]
    fn matcher_agrees_with_reference_on_multibyte(
        p in pattern("aé€😀*?", 0..8),
        s in word("aé€😀", 0..10),
    ) {
        prop_assert_eq!(p.matches(&s), reference(&p, &s), "{:?} against {:?}", p, s);
    }

    /// `covers` is "some pattern matches", and a required string's `*` and
    /// `?` are literal characters.
    #[test]
    fn covers_is_any_match(set in scope_set(), s in word("ab:*?", 0..8)) {
        let want = set.iter().any(|p| reference(p, &s));
        prop_assert_eq!(set.covers(&s), want);
    }

    /// Every pattern implies itself, and `*` implies every pattern; a set
    /// attenuates itself and anything attenuates `["*"]`.
    #[test]
    fn reflexivity_and_top(p in pattern("ab:*?", 0..12), set in scope_set()) {
        let star = ScopePattern::new("*").unwrap();
        prop_assert!(p.is_implied_by(&p));
        prop_assert!(p.is_implied_by(&star));
        prop_assert!(set.attenuates(&set));
        prop_assert!(set.attenuates(&ScopeSet::parse(["*"]).unwrap()));
        // A universal pattern with no `?` is `*` in disguise.
        prop_assert!(p.is_implied_by(&ScopePattern::new("***").unwrap()));
    }

    /// Implication is transitive on the cases it decides (a consequence of
    /// soundness + completeness for `*`-and-literal patterns).
    #[test]
    fn implication_is_transitive_without_question_marks(
        a in pattern("ab*", 0..6),
        b in pattern("ab*", 0..6),
        c in pattern("ab*", 0..6),
    ) {
        if a.is_implied_by(&b) && b.is_implied_by(&c) {
            prop_assert!(a.is_implied_by(&c));
        }
    }

    /// Serialization round-trips.
    #[test]
    fn serde_round_trip(set in scope_set()) {
        let json = serde_json::to_string(&set).unwrap();
        let back: ScopeSet = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, set);
    }
}

/// A literal or `prefix*` pattern (the shapes set attenuation answers
/// without the general algorithm), or anything else, over a multibyte
/// alphabet.
fn shaped(alphabet: &'static str) -> impl Strategy<Value = ScopePattern> {
    (word(alphabet, 0..5), 0u8..3).prop_map(|(s, shape)| {
        let literal: String = s.chars().filter(|c| *c != '*' && *c != '?').collect();
        ScopePattern::new(match shape {
            0 => literal,
            1 => format!("{literal}*"),
            _ => s,
        })
        .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// review2: the set-level shortcuts (literal and `prefix*` parents)
    /// never accept a child set covering a string the parent set does not,
    /// checked on every short string, multibyte characters included; and
    /// they agree with the per-pattern general algorithm.
    #[test]
    fn set_shortcuts_are_sound_and_agree_with_the_general_algorithm(
        child in prop::collection::vec(shaped("aé:*?"), 1..3),
        parent in prop::collection::vec(shaped("aé:*?"), 1..4),
    ) {
        let child_set = ScopeSet::new(child.clone()).unwrap();
        let parent_set = ScopeSet::new(parent.clone()).unwrap();
        let general = child
            .iter()
            .all(|c| parent.iter().any(|p| c.is_implied_by(p)));
        prop_assert_eq!(child_set.attenuates(&parent_set), general);
        if general {
            for s in all_words(&['a', 'é', ':'], 5) {
                prop_assert!(
                    !child_set.covers(&s) || parent_set.covers(&s),
                    "{:?} attenuates {:?} claimed, but {:?}", child_set, parent_set, s
                );
            }
        }
    }
}
