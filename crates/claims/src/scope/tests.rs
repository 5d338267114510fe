//! Unit tests of the scope algebra: matching, validation, serde, coverage,
//! implication, and the bit-parallel table against a plain one.

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

/// Short patterns over a small alphabet, often literal or `prefix*`: the
/// shapes `implied_by_any` answers without the table.
fn shaped_pattern() -> impl Strategy<Value = String> {
    (prop::collection::vec(0u8..8, 0..8), 0u8..4).prop_map(|(v, tail)| {
        let mut s: String = v
            .into_iter()
            .map(|k| match k {
                0..=3 => 'a',
                4 | 5 => 'b',
                6 => '*',
                _ => '?',
            })
            .collect();
        if tail == 0 {
            s.push('*');
        } else if tail == 1 {
            s.retain(|c| c != '*' && c != '?');
            s.push('*');
        } else if tail == 2 {
            s.retain(|c| c != '*' && c != '?');
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    /// The literal and `prefix*` shortcuts of set attenuation give the
    /// table's answer, pattern by pattern and for whole sets.
    #[test]
    fn set_shortcuts_agree_with_the_table(
        child in shaped_pattern(),
        parents in prop::collection::vec(shaped_pattern(), 1..4),
    ) {
        let want = parents.iter().any(|p| implied_plain(&child, p));
        let set = ScopeSet::parse(parents.iter().map(String::as_str)).unwrap();
        let child_set = ScopeSet::parse([child.as_str()]).unwrap();
        prop_assert_eq!(child_set.attenuates(&set), want);
        prop_assert_eq!(child_set.not_implied_by(&set).is_empty(), want);
    }
}
