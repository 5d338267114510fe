//! The bundle parser (`leaf~parent~…~root`) and what reads a bundle next:
//! the unverified inspection and the verifier.
//!
//! Properties: a parsed bundle re-parses from its own text to the same
//! bundle; its tokens joined with `~` are that text; it holds 1 to
//! `MAX_BUNDLE_LINKS` tokens of three non-empty segments; every refusal
//! (parser, inspection, verifier) has a documented code; the verifier never
//! accepts a bundle the parser refuses; `parse_reusing` answers as `parse`
//! (over a known bundle with the same ancestors as the input, so its
//! shortcut is taken whenever the input's leaf allows it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport_claims::{MAX_BUNDLE_LINKS, UnverifiedBundle};
use passport_fuzz::{assert_documented, kit};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let verified = kit().verify(text);
    if let Err(e) = &verified {
        assert_documented(e.code());
    }
    let parsed = UnverifiedBundle::parse(text);
    if let Some(at) = text.find('~') {
        // The input's own ancestors, and the same with one byte changed
        // (same length, other bytes: the shortcut must compare bytes).
        let ancestors = &text[at..];
        let mut altered = ancestors.as_bytes().to_vec();
        if let Some(last) = altered.last_mut() {
            *last = if *last == b'A' { b'B' } else { b'A' };
        }
        let altered = String::from_utf8_lossy(&altered).into_owned();
        for ancestors in [ancestors, altered.as_str()] {
            let Ok(known) = UnverifiedBundle::parse(&format!("k.k.k{ancestors}")) else {
                continue;
            };
            let reused = UnverifiedBundle::parse_reusing(text, &known);
            assert_eq!(format!("{reused:?}"), format!("{parsed:?}"));
            if let (Ok(a), Ok(b)) = (&reused, &parsed) {
                assert!(a == b, "parse_reusing built another bundle");
            }
        }
    }
    let bundle = match parsed {
        Ok(bundle) => bundle,
        Err(e) => {
            assert_documented(e.code());
            assert!(
                verified.is_err(),
                "the verifier accepted a bundle the parser refuses"
            );
            return;
        }
    };
    assert!((1..=MAX_BUNDLE_LINKS).contains(&bundle.len()));
    assert_eq!(bundle.tokens().len(), bundle.len());
    assert_eq!(bundle.ancestors().len(), bundle.len() - 1);
    assert_eq!(
        bundle.tokens().collect::<Vec<_>>().join("~"),
        bundle.as_str()
    );
    assert_eq!(bundle.leaf(), bundle.get(0).unwrap());
    for token in bundle.tokens() {
        let segments: Vec<&str> = token.split('.').collect();
        assert_eq!(
            segments.len(),
            3,
            "a token of the bundle is not three segments"
        );
        assert!(segments.iter().all(|s| !s.is_empty()));
        assert!(
            !token
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        );
    }
    let again = UnverifiedBundle::parse(bundle.as_str()).expect("a bundle re-parses");
    assert!(again == bundle);
    for inspected in bundle.inspect_unverified() {
        if let Err(e) = inspected {
            assert_documented(e.code());
        }
    }
});
