//! The bundle: a leaf passport followed by its ancestors (SPEC §4).

use std::fmt;
use std::sync::Arc;

use passport_jose::{CompactJws, MAX_TOKEN_LEN};

use crate::{ClaimsError, PassportClaims};

/// The most passports a bundle may hold, whatever a policy says. A verifier's
/// `max_depth` is usually far lower (default 5) and is checked first.
pub const MAX_BUNDLE_LINKS: usize = 32;

/// The longest bundle accepted, in bytes.
pub const MAX_BUNDLE_LEN: usize = MAX_BUNDLE_LINKS * (MAX_TOKEN_LEN + 1);

/// A bundle whose signatures have **not** been checked:
/// `<leaf>~<parent>~…~<root>`.
///
/// It gives access to the raw tokens (for a verifier) and, through
/// [`UnverifiedBundle::inspect_unverified`], to decoded claims that say in
/// their type that nobody vouches for them. Nothing in this crate turns it
/// into a verified passport; only `passport-verifier` can.
///
/// ```
/// use passport_claims::UnverifiedBundle;
/// let bundle = UnverifiedBundle::parse("aaa.bbb.ccc~ddd.eee.fff\n")?;
/// assert_eq!(bundle.len(), 2);
/// assert_eq!(bundle.leaf(), "aaa.bbb.ccc");
/// assert_eq!(bundle.get(1), Some("ddd.eee.fff"));
/// assert_eq!(UnverifiedBundle::parse("aaa.bbb.ccc~").unwrap_err().code(), "malformed_bundle");
/// # Ok::<(), passport_claims::ClaimsError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct UnverifiedBundle {
    /// Shared: a verified passport keeps the bundle it came from, and a
    /// clone must not copy kilobytes on every request.
    text: Arc<str>,
    /// Where each token ends in `text`, leaf first: `ends[..len]` (the
    /// next starts one byte later, after its `~`); the rest is 0. Inline,
    /// so a clone allocates nothing.
    ends: [u32; MAX_BUNDLE_LINKS],
    /// How many tokens, at least 1.
    len: u8,
}

impl UnverifiedBundle {
    /// Splits and shape-checks a bundle. Surrounding ASCII whitespace (the
    /// newline a pipe adds) is ignored; anything else out of place is an error:
    /// an empty passport (`a~~b`, a trailing `~`), a passport that is not three
    /// non-empty dot-separated segments, whitespace or control bytes inside a
    /// passport, one longer than [`MAX_TOKEN_LEN`], more than
    /// [`MAX_BUNDLE_LINKS`] passports. The base64url alphabet itself is
    /// checked by the strict decoder every token goes through before its
    /// content is read (`passport_jose::CompactJws::parse`).
    pub fn parse(text: &str) -> Result<UnverifiedBundle, ClaimsError> {
        if text.len() > MAX_BUNDLE_LEN {
            return Err(ClaimsError::BundleTooLarge {
                len: text.len(),
                max: MAX_BUNDLE_LEN,
            });
        }
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if text.is_empty() {
            return Err(ClaimsError::EmptyBundle);
        }
        let count = count_byte(text.as_bytes(), b'~') + 1;
        if count > MAX_BUNDLE_LINKS {
            return Err(ClaimsError::BundleTooDeep {
                count,
                max: MAX_BUNDLE_LINKS,
            });
        }
        if count == 1 && plain_token(text.as_bytes()) {
            // A root alone, settled in one pass (what the passes below
            // would find for it). After the count, so that a chain's text
            // is never read by it first: that pass would fail at the end.
            let mut ends = [0; MAX_BUNDLE_LINKS];
            ends[0] = text.len() as u32;
            return Ok(UnverifiedBundle {
                text: Arc::from(text),
                ends,
                len: 1,
            });
        }
        // Structure only, with passes that vectorise: token boundaries,
        // segment counts, empty segments, sizes, and no whitespace or
        // control bytes inside. Every other byte is checked by the strict
        // base64url decoder each token goes through before anything reads
        // it (`invalid_base64`).
        //
        // One fused pass over the whole text first settles every check but
        // each token's size and dot count; only when it finds something out
        // of place does each token go through the full check, which names
        // the token and the reason. With `count` known, the last token (a
        // root alone: the whole text) is not searched for a `~`.
        let settled = separators_and_bytes_in_place(text.as_bytes());
        let mut ends = [0; MAX_BUNDLE_LINKS];
        let mut end = 0;
        for (index, token) in text.splitn(count, '~').enumerate() {
            let fine =
                settled && token.len() <= MAX_TOKEN_LEN && count_byte(token.as_bytes(), b'.') == 2;
            if !fine {
                check_token_shape(token)
                    .map_err(|reason| ClaimsError::MalformedBundle { index, reason })?;
            }
            end += token.len();
            // `count` ≤ MAX_BUNDLE_LINKS places, and `end` ≤ MAX_BUNDLE_LEN.
            if let Some(slot) = ends.get_mut(index) {
                *slot = end as u32;
            }
            end += 1;
        }
        Ok(UnverifiedBundle {
            text: Arc::from(text),
            ends,
            len: count as u8,
        })
    }

    /// The same as [`UnverifiedBundle::parse`]`(text)` — the same bundle,
    /// or the same error — but when `text` is a new leaf followed by exactly
    /// the ancestors of `known`, byte for byte (an agent's next passport
    /// under the same chain), only the leaf is checked: the ancestors'
    /// bytes were checked when `known` was parsed.
    ///
    /// ```
    /// use passport_claims::UnverifiedBundle;
    /// let known = UnverifiedBundle::parse("aaa.bbb.ccc~ddd.eee.fff")?;
    /// let next = UnverifiedBundle::parse_reusing("xxx.yyy.zzz~ddd.eee.fff", &known)?;
    /// assert_eq!(next, UnverifiedBundle::parse("xxx.yyy.zzz~ddd.eee.fff")?);
    /// assert!(UnverifiedBundle::parse_reusing("x y.z~ddd.eee.fff", &known).is_err());
    /// # Ok::<(), passport_claims::ClaimsError>(())
    /// ```
    pub fn parse_reusing(
        text: &str,
        known: &UnverifiedBundle,
    ) -> Result<UnverifiedBundle, ClaimsError> {
        match UnverifiedBundle::with_ancestors_of(text, known) {
            Some(bundle) => Ok(bundle),
            None => UnverifiedBundle::parse(text),
        }
    }

    /// `text` as a new leaf over `known`'s ancestors, or `None` when it is
    /// not exactly that (with a leaf `parse` accepts).
    fn with_ancestors_of(text: &str, known: &UnverifiedBundle) -> Option<UnverifiedBundle> {
        // Every bundle's text was trimmed and each of its tokens passed
        // `check_token_shape` when it was parsed; so did the ancestors.
        let first_end = *known.ends.first()? as usize;
        let ancestors = known.text.get(first_end..).filter(|a| !a.is_empty())?;
        if text.len() > MAX_BUNDLE_LEN {
            return None;
        }
        let leaf_len = text.len().checked_sub(ancestors.len())?;
        let (leaf, rest) = (text.get(..leaf_len)?, text.get(leaf_len..)?);
        // `rest` starts with the `~` after the leaf.
        // The leaf is checked as `parse` checks any token (and holds no
        // `~`); it refuses whitespace, so `text` needs no trimming (and ends
        // as `known`).
        if rest != ancestors || !plain_token(leaf.as_bytes()) {
            return None;
        }
        let mut ends = known.ends;
        let shift = |end: u32| end as usize - first_end + leaf_len;
        for end in ends.iter_mut().take(usize::from(known.len)) {
            *end = u32::try_from(shift(*end)).ok()?;
        }
        Some(UnverifiedBundle {
            text: Arc::from(text),
            ends,
            len: known.len,
        })
    }

    /// Builds a bundle from tokens, leaf first.
    pub fn from_tokens<S: AsRef<str>>(tokens: &[S]) -> Result<UnverifiedBundle, ClaimsError> {
        let joined: Vec<&str> = tokens.iter().map(AsRef::as_ref).collect();
        UnverifiedBundle::parse(&joined.join("~"))
    }

    /// How many passports: 1 for a root alone.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Never true: a parsed bundle holds at least its leaf.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The leaf (the passport being presented).
    pub fn leaf(&self) -> &str {
        self.get(0).unwrap_or_default()
    }

    /// The passport at `index` (0 = leaf, `len() - 1` = root).
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(..self.len())?.get(index)? as usize;
        let start = match index {
            0 => 0,
            _ => *self.ends.get(index - 1)? as usize + 1,
        };
        self.text.get(start..end)
    }

    /// The passports, leaf first.
    pub fn tokens(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|index| self.get(index).unwrap_or_default())
    }

    /// The ancestors of the leaf, nearest first (empty for a root).
    pub fn ancestors(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.tokens().skip(1)
    }

    /// The bundle text, `leaf~…~root`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Decodes every passport **without verifying anything**: for `inspect`
    /// and diagnostics only. Each entry is the decoded header `typ`/`alg`/`kid`
    /// and claims, or why the passport could not be decoded.
    pub fn inspect_unverified(&self) -> Vec<Result<Inspected, ClaimsError>> {
        self.tokens()
            .map(|token| {
                let jws = CompactJws::parse(token).map_err(ClaimsError::Json)?;
                let claims = PassportClaims::from_json(jws.unverified_payload())?;
                Ok(Inspected {
                    alg: jws.header().alg().to_string(),
                    kid: jws.header().kid().map(str::to_owned),
                    typ: jws.header().typ().map(str::to_owned),
                    claims,
                })
            })
            .collect()
    }
}

impl fmt::Debug for UnverifiedBundle {
    // Never print whole tokens: they are bearer credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedBundle")
            .field("passports", &self.len())
            .finish()
    }
}

/// A passport decoded without verification (see [`UnverifiedBundle::inspect_unverified`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspected {
    /// The header's `alg`.
    pub alg: String,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// The header's `typ`.
    pub typ: Option<String>,
    /// The claims, as the token states them. Unverified.
    pub claims: PassportClaims,
}

/// How many times `needle` occurs in `bytes`. Counting into a `u8` per
/// 255-byte chunk lets the compiler vectorise the loop (a plain
/// `filter().count()` does not), which matters on every request.
fn count_byte(bytes: &[u8], needle: u8) -> usize {
    bytes
        .chunks(255)
        .map(|chunk| usize::from(chunk.iter().fold(0u8, |n, &b| n + u8::from(b == needle))))
        .sum()
}

/// True when no whitespace or control byte appears and no separator (`.`,
/// `~`) starts, ends or follows another: then no passport and no JWS segment
/// is empty, and [`check_token_shape`] can only still refuse a token for its
/// size or its number of dots. A fold over byte pairs without an early exit,
/// so it vectorises.
fn separators_and_bytes_in_place(bytes: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let sep = |b: u8| (b == b'.') | (b == b'~');
    let control = |b: u8| (b <= b' ') | (b == 0x7f);
    let out_of_place = bytes
        .iter()
        .zip(&bytes[1..])
        .fold(false, |bad, (&a, &b)| bad | control(b) | (sep(a) & sep(b)));
    !(out_of_place || control(first) || sep(first) || sep(last))
}

/// True exactly when `token` holds no `~` and [`check_token_shape`]
/// accepts it, in one pass over the bytes (a fold over byte pairs without an
/// early exit, so it vectorises) where that takes four.
fn plain_token(token: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (token.first(), token.last()) else {
        return false;
    };
    if token.len() > MAX_TOKEN_LEN || first == b'.' || last == b'.' {
        return false;
    }
    let stray = |b: u8| (b <= b' ') | (b == 0x7f) | (b == b'~');
    let mut dots = 0;
    let mut bad = stray(first);
    // Each byte after the first with the one before it; a chunk counts at
    // most 255 dots, so its count fits a `u8`.
    for (before, after) in token.chunks(255).zip(token[1..].chunks(255)) {
        let (n, out) = before
            .iter()
            .zip(after)
            .fold((0u8, false), |(n, out), (&a, &b)| {
                let dot = b == b'.';
                (n + u8::from(dot), out | stray(b) | ((a == b'.') & dot))
            });
        dots += usize::from(n);
        bad |= out;
    }
    !bad && dots == 2
}

fn check_token_shape(token: &str) -> Result<(), &'static str> {
    let bytes = token.as_bytes();
    if bytes.is_empty() {
        return Err("empty passport");
    }
    if bytes.len() > MAX_TOKEN_LEN {
        return Err("passport larger than 16 KiB");
    }
    if count_byte(bytes, b'.') != 2 {
        return Err("not three dot-separated segments");
    }
    if bytes[0] == b'.' || bytes[bytes.len() - 1] == b'.' || token.contains("..") {
        return Err("empty JWS segment");
    }
    // Whitespace and control bytes inside a token (a line-wrapped or
    // concatenated paste) are structural mistakes worth naming here.
    // A fold rather than `any`: without an early exit the loop vectorises.
    if bytes
        .iter()
        .fold(false, |bad, &b| bad | (b <= b' ') | (b == 0x7f))
    {
        return Err("whitespace or control character inside a passport");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `plain_token` is the one-pass form of "no `~` and
    /// `check_token_shape` accepts": every string of up to 6 bytes over an
    /// alphabet of what matters, and every single-byte change of a real
    /// token's size.
    #[test]
    fn plain_token_is_the_shape_check_in_one_pass() {
        let reference = |t: &[u8]| {
            let text = std::str::from_utf8(t).unwrap();
            !t.contains(&b'~') && check_token_shape(text).is_ok()
        };
        let alphabet = [b'a', b'.', b'~', b' ', b'\n', 0x7f, 0x1f, b'Z'];
        let mut strings = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = strings
                .iter()
                .filter(|s| s.len() < 6)
                .flat_map(|s| {
                    alphabet.iter().map(move |&b| {
                        let mut t = s.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            strings.extend(longer);
            strings.sort();
            strings.dedup();
        }
        let token = format!("{}.{}.{}", "h".repeat(40), "p".repeat(600), "s".repeat(86));
        for at in 0..token.len() {
            for &b in &alphabet {
                let mut t = token.clone().into_bytes();
                t[at] = b;
                strings.push(t);
            }
        }
        // Sizes around the limit, where chunks of 255 meet.
        for len in [
            MAX_TOKEN_LEN - 1,
            MAX_TOKEN_LEN,
            MAX_TOKEN_LEN + 1,
            255,
            256,
            510,
            511,
        ] {
            let mut t = vec![b'a'; len];
            t[1] = b'.';
            t[len - 2] = b'.';
            strings.push(t);
        }
        let mut accepted = 0;
        for t in &strings {
            assert_eq!(
                plain_token(t),
                reference(t),
                "{:?}",
                String::from_utf8_lossy(t)
            );
            accepted += usize::from(plain_token(t));
        }
        assert!(accepted > 100, "{accepted}");
    }

    #[test]
    fn refuses_malformed_bundles_with_their_position() {
        let cases = [
            ("a.b.c~~d.e.f", 1),
            ("a.b.c~", 1),
            ("~a.b.c", 0),
            ("a.b", 0),
            ("a.b.c.d", 0),
            ("a.b.c~d.e.f~g..h", 2),
            ("a.b.c~d.e.f g", 1),
            ("a.b.c~d.e\t.f", 1),
        ];
        for (text, at) in cases {
            match UnverifiedBundle::parse(text) {
                Err(ClaimsError::MalformedBundle { index, .. }) => assert_eq!(index, at, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_empty_oversized_and_overdeep() {
        assert!(matches!(
            UnverifiedBundle::parse(" \n"),
            Err(ClaimsError::EmptyBundle)
        ));
        let deep = vec!["a.b.c"; MAX_BUNDLE_LINKS + 1].join("~");
        assert!(matches!(
            UnverifiedBundle::parse(&deep),
            Err(ClaimsError::BundleTooDeep { count: 33, .. })
        ));
        let ok = vec!["a.b.c"; MAX_BUNDLE_LINKS].join("~");
        assert_eq!(
            UnverifiedBundle::parse(&ok).unwrap().len(),
            MAX_BUNDLE_LINKS
        );
        let huge = "a".repeat(MAX_BUNDLE_LEN + 1);
        assert!(matches!(
            UnverifiedBundle::parse(&huge),
            Err(ClaimsError::BundleTooLarge { .. })
        ));
        let big_token = format!("a.{}.c", "b".repeat(MAX_TOKEN_LEN));
        assert!(matches!(
            UnverifiedBundle::parse(&big_token),
            Err(ClaimsError::MalformedBundle { index: 0, .. })
        ));
    }

    #[test]
    fn counting_bytes_is_exact_across_chunk_boundaries() {
        for len in [0usize, 1, 254, 255, 256, 510, 511, 1000] {
            let text: Vec<u8> = (0..len)
                .map(|i| if i % 3 == 0 { b'~' } else { b'a' })
                .collect();
            assert_eq!(
                count_byte(&text, b'~'),
                text.iter().filter(|b| **b == b'~').count(),
                "{len}"
            );
        }
        assert_eq!(count_byte(&[b'.'; 255], b'.'), 255);
        assert_eq!(count_byte(&[b'.'; 1024], b'.'), 1024);
    }

    #[test]
    fn debug_does_not_print_tokens() {
        let b = UnverifiedBundle::parse("secretheader.secretpayload.sig").unwrap();
        assert!(!format!("{b:?}").contains("secret"));
    }

    #[test]
    fn parse_reusing_takes_only_a_new_leaf_over_the_very_same_ancestors() {
        let known = UnverifiedBundle::parse("aaa.bbb.ccc~ddd.eee.fff~ggg.hhh.iii").unwrap();
        let next = UnverifiedBundle::parse_reusing("x.y.z~ddd.eee.fff~ggg.hhh.iii", &known);
        assert_eq!(next.as_ref().unwrap().leaf(), "x.y.z");
        assert_eq!(
            next.unwrap().tokens().collect::<Vec<_>>(),
            ["x.y.z", "ddd.eee.fff", "ggg.hhh.iii"]
        );
        let longer = format!("{}.y.z~ddd.eee.fff~ggg.hhh.iii", "x".repeat(5000));
        assert_eq!(
            UnverifiedBundle::parse_reusing(&longer, &known).unwrap(),
            UnverifiedBundle::parse(&longer).unwrap()
        );
        // Each refusal is parse's, with its position.
        for (text, index) in [
            ("x.y~ddd.eee.fff~ggg.hhh.iii", 0),
            ("x.y.z.w~ddd.eee.fff~ggg.hhh.iii", 0),
            ("x..z~ddd.eee.fff~ggg.hhh.iii", 0),
            ("x.y\t.z~ddd.eee.fff~ggg.hhh.iii", 0),
            ("~ddd.eee.fff~ggg.hhh.iii", 0),
            ("a.b.c~~ddd.eee.fff~ggg.hhh.iii", 1),
        ] {
            match UnverifiedBundle::parse_reusing(text, &known) {
                Err(ClaimsError::MalformedBundle { index: at, .. }) => {
                    assert_eq!(at, index, "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        // Surrounding whitespace is trimmed as by parse.
        let padded = " x.y.z~ddd.eee.fff~ggg.hhh.iii\n";
        assert_eq!(
            UnverifiedBundle::parse_reusing(padded, &known)
                .unwrap()
                .as_str(),
            "x.y.z~ddd.eee.fff~ggg.hhh.iii"
        );
        // A root alone has no ancestors to reuse.
        let root = UnverifiedBundle::parse("aaa.bbb.ccc").unwrap();
        assert_eq!(
            UnverifiedBundle::parse_reusing("x.y.z", &root).unwrap(),
            UnverifiedBundle::parse("x.y.z").unwrap()
        );
    }

    /// `parse_reusing(text, known)` answers exactly as `parse(text)`.
    fn reuses_as_parse(
        text: &str,
        known: &UnverifiedBundle,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let reused = UnverifiedBundle::parse_reusing(text, known);
        let parsed = UnverifiedBundle::parse(text);
        proptest::prop_assert_eq!(format!("{reused:?}"), format!("{parsed:?}"));
        if let (Ok(a), Ok(b)) = (&reused, &parsed) {
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(
                a.tokens().collect::<Vec<_>>(),
                b.tokens().collect::<Vec<_>>()
            );
        }
        Ok(())
    }

    proptest::proptest! {
        /// `parse_reusing` answers as `parse`, whatever the text: a new
        /// leaf (of any bytes) over the known ancestors, a suffix or prefix
        /// of them, or anything else.
        #[test]
        fn parse_reusing_answers_as_parse(
            leaf in "[ab.~ \t\x7f]{0,12}",
            links in 1usize..5,
            cut in 0usize..40,
            prefix in proptest::bool::ANY,
        ) {
            let chain: Vec<String> = (0..links).map(|i| format!("h{i}.p{i}.s{i}")).collect();
            let known_text = format!("known.leaf.sig~{}", chain.join("~"));
            let known = UnverifiedBundle::parse(&known_text).unwrap();
            let ancestors = &known_text[known_text.find('~').unwrap()..];
            let mut text = format!("{leaf}{ancestors}");
            if cut > 0 && cut < text.len() {
                if prefix { text.truncate(text.len() - cut) } else { text.drain(..cut); }
            }
            reuses_as_parse(&text, &known)?;
        }

        /// The same over ancestors of the known's length but other bytes
        /// (one replaced): the shortcut must compare them, not their length.
        #[test]
        fn parse_reusing_answers_as_parse_over_other_ancestors_of_that_length(
            links in 1usize..5,
            at in 0usize..64,
            byte in proptest::sample::select(vec![b'a', b'.', b'~', b' ', b'\t']),
        ) {
            let chain: Vec<String> = (0..links).map(|i| format!("h{i}.p{i}.s{i}")).collect();
            let known = UnverifiedBundle::parse(&format!("known.leaf.sig~{}", chain.join("~"))).unwrap();
            let mut ancestors = format!("~{}", chain.join("~")).into_bytes();
            let at = at % ancestors.len();
            ancestors[at] = byte;
            let text = format!("x.y.z{}", String::from_utf8(ancestors).unwrap());
            reuses_as_parse(&text, &known)?;
        }

        /// The fused pass never lets through what the full per-token check
        /// refuses (beyond size and dot count, which `parse` still checks).
        #[test]
        fn the_fused_pass_is_never_laxer_than_the_full_check(
            v in proptest::collection::vec(0u8..6, 0..40)
        ) {
            let text: String = v
                .into_iter()
                .map(|k| ['a', 'b', '.', '~', ' ', '\u{7f}'][usize::from(k)])
                .collect();
            if separators_and_bytes_in_place(text.as_bytes()) {
                for token in text.split('~') {
                    let dots_fine = count_byte(token.as_bytes(), b'.') == 2;
                    proptest::prop_assert_eq!(check_token_shape(token).is_ok(), dots_fine);
                }
            }
        }

        /// `parse` answers as the plain definition does — split on `~`,
        /// check each token in full — the same tokens or the same error,
        /// whatever the fused pass and the uncounted last token skip.
        #[test]
        fn parse_answers_as_the_plain_definition(
            // Tokens of 1 to 4 segments (3 is well formed): half the time
            // one alone (a root's one-pass path), else up to past the link
            // limit; one of them, sometimes, as long as a token may be, one
            // byte less or one more; then a few characters changed, among
            // them tabs, carriage returns and characters of two, three and
            // four bytes.
            segments in proptest::prop_oneof![
                proptest::collection::vec(1usize..5, 1..2),
                proptest::collection::vec(1usize..5, 1..40),
            ],
            long in proptest::option::of((proptest::num::usize::ANY, 0usize..3)),
            changes in proptest::collection::vec((proptest::num::usize::ANY, 0u8..12), 0..3),
        ) {
            let alphabet = ['a', 'b', '.', '~', ' ', '\u{7f}', '\n', '.', '\t', '\r', '\u{e9}', '\u{1f600}'];
            let mut tokens: Vec<String> = segments.iter().map(|&n| vec!["ab"; n].join(".")).collect();
            if let Some((which, delta)) = long {
                let at = which % tokens.len();
                // MAX_TOKEN_LEN - 1, MAX_TOKEN_LEN or MAX_TOKEN_LEN + 1 bytes
                tokens[at] = format!("a.{}.c", "b".repeat(MAX_TOKEN_LEN - 5 + delta));
            }
            let mut chars: Vec<char> = tokens.join("~").chars().collect();
            for (at, k) in changes {
                let at = at % chars.len();
                chars[at] = alphabet[usize::from(k)];
            }
            let text: String = chars.into_iter().collect();
            let plain = |text: &str| -> Result<Vec<String>, String> {
                let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
                if text.is_empty() {
                    return Err(ClaimsError::EmptyBundle.to_string());
                }
                let count = text.matches('~').count() + 1;
                if count > MAX_BUNDLE_LINKS {
                    return Err(ClaimsError::BundleTooDeep { count, max: MAX_BUNDLE_LINKS }.to_string());
                }
                text.split('~')
                    .enumerate()
                    .map(|(index, token)| {
                        check_token_shape(token)
                            .map(|()| token.to_owned())
                            .map_err(|reason| ClaimsError::MalformedBundle { index, reason }.to_string())
                    })
                    .collect()
            };
            let parsed = UnverifiedBundle::parse(&text)
                .map(|b| b.tokens().map(str::to_owned).collect::<Vec<_>>())
                .map_err(|e| e.to_string());
            proptest::prop_assert_eq!(parsed, plain(&text));
        }
    }
}
