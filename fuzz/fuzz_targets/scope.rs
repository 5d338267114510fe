//! Scope patterns and their implication.
//!
//! The input is up to four NUL-separated strings: patterns `a`, `b`, `c`
//! and a concrete scope `s`. Properties, for the patterns that are valid:
//! - parse → display → parse and JSON round trips give the same pattern;
//! - reflexive: a pattern implies itself, a set attenuates itself;
//! - transitive: `a ⊑ b` and `b ⊑ c` give `a ⊑ c`;
//! - sound: `a ⊑ b` and `a` matching a string give `b` matching it, for
//!   `s` and for words `a` certainly matches (its `*` and `?` replaced);
//! - the set-level check (with its fast paths) agrees with the pattern-level
//!   one, and `not_implied_by` is empty exactly when `attenuates` holds;
//! - `covers` is "some pattern matches"; a universal pattern matches every
//!   string at least as long as its `?` count;
//! - every refusal has a documented code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport_claims::{ScopePattern, ScopeSet};
use passport_fuzz::{assert_documented, parts, text};

/// Words `p` certainly matches: each `?` as `fill`, each `*` as `""` or
/// as `star`.
fn witnesses(p: &ScopePattern, fill: char, star: &str) -> [String; 2] {
    let word = |star: &str| {
        p.as_str()
            .chars()
            .map(|c| match c {
                '?' => fill.to_string(),
                '*' => star.to_owned(),
                c => c.to_string(),
            })
            .collect::<String>()
    };
    [word(""), word(star)]
}

fn pattern(raw: &str) -> Option<ScopePattern> {
    match ScopePattern::new(raw) {
        Ok(p) => {
            let shown: ScopePattern = p.to_string().parse().expect("a displayed pattern parses");
            assert_eq!(shown, p);
            let json = serde_json::to_string(&p).expect("a pattern serializes");
            let back: ScopePattern = serde_json::from_str(&json).expect("its JSON parses");
            assert_eq!(back, p);
            assert!(p.is_implied_by(&p), "{p:?} does not imply itself");
            Some(p)
        }
        Err(e) => {
            assert_documented(e.code());
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let parts = parts(data);
    let (a, b, c) = (text(&parts, 0), text(&parts, 1), text(&parts, 2));
    let s = text(&parts, 3);
    let (Some(a), Some(b), Some(c)) = (pattern(&a), pattern(&b), pattern(&c)) else {
        return;
    };
    let set = |p: &ScopePattern| ScopeSet::new(vec![p.clone()]).expect("one pattern");
    for (x, y) in [(&a, &b), (&b, &c), (&a, &c), (&b, &a), (&c, &b), (&c, &a)] {
        let implied = x.is_implied_by(y);
        assert_eq!(
            set(x).attenuates(&set(y)),
            implied,
            "set and pattern implication disagree on {x:?} ⊑ {y:?}"
        );
        assert_eq!(set(x).not_implied_by(&set(y)).is_empty(), implied);
        if implied {
            if x.matches(&s) {
                assert!(y.matches(&s), "{x:?} ⊑ {y:?} but only {x:?} matches {s:?}");
            }
            for w in witnesses(x, 'z', "é/:*")
                .iter()
                .chain(&witnesses(x, '?', "?"))
            {
                assert!(x.matches(w), "{x:?} does not match its own witness {w:?}");
                assert!(y.matches(w), "{x:?} ⊑ {y:?} but {y:?} misses {w:?}");
            }
        }
    }
    if a.is_implied_by(&b) && b.is_implied_by(&c) {
        assert!(
            a.is_implied_by(&c),
            "⊑ not transitive: {a:?} ⊑ {b:?} ⊑ {c:?}"
        );
    }
    let all = ScopeSet::new(vec![a.clone(), b.clone(), c.clone()]).expect("three patterns");
    assert!(all.attenuates(&all));
    assert_eq!(all.covers(&s), [&a, &b, &c].iter().any(|p| p.matches(&s)));
    for p in [&a, &b, &c] {
        assert!(set(p).attenuates(&all));
        if p.is_universal() {
            let at_least = p.as_str().bytes().filter(|&b| b == b'?').count();
            if s.chars().count() >= at_least {
                assert!(p.matches(&s), "universal {p:?} misses {s:?}");
            }
        }
    }
    let json = serde_json::to_string(&all).expect("a set serializes");
    assert!(serde_json::from_str::<ScopeSet>(&json).expect("its JSON parses") == all);
});
