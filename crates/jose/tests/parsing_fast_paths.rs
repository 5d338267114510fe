//! The fast paths of parsing answer as their plain definitions, on hostile
//! input:
//!
//! - `b64` decodes with the base64 crate's SIMD engine where the CPU has it
//!   (AVX2, NEON; the `simd` feature). Its answers — the bytes, or a refusal
//!   — must be the crate's scalar engine's under the same strict rules, for
//!   lengths that cross the SIMD block sizes (32 characters, and the 64 below
//!   which the SIMD path is not taken) and with a hostile byte anywhere:
//!   outside the alphabet, padding, whitespace, non-ASCII, or non-zero
//!   trailing bits in the last character.
//! - `CompactJws::parse` searches only for the first and the last dot. A
//!   token must still be refused as "not three segments" exactly when
//!   splitting the whole token on dots says so, whatever else is wrong with
//!   it, and as "empty segment" exactly when it has three with one empty.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passport_jose::{CompactJws, b64};
use proptest::prelude::*;

/// Bytes a hostile encoding may hold: the alphabet's edges, padding, the
/// other alphabet's symbols, separators, whitespace, control, non-ASCII.
const HOSTILE: [&str; 12] = [
    "=", "+", "/", ".", "~", " ", "\n", "\0", "\u{7f}", "é", "@", "`",
];

/// The canonical encoding of `len` bytes, then up to three characters
/// replaced by hostile ones and maybe one character dropped.
fn hostile_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec((any::<prop::sample::Index>(), 0..HOSTILE.len()), 0..3),
        proptest::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(bytes, changes, drop)| {
            let mut chars: Vec<String> = URL_SAFE_NO_PAD
                .encode(bytes)
                .chars()
                .map(String::from)
                .collect();
            if chars.is_empty() {
                return String::new();
            }
            for (at, hostile) in changes {
                let at = at.index(chars.len());
                chars[at] = HOSTILE[hostile].to_owned();
            }
            if let Some(at) = drop {
                chars.remove(at.index(chars.len()));
            }
            chars.concat()
        })
}

/// A canonical encoding whose last character carries non-zero trailing
/// bits: the same length, refused by the strict rules.
fn non_canonical_text() -> impl Strategy<Value = String> {
    (proptest::collection::vec(any::<u8>(), 40..300), 1u8..4)
        .prop_filter("a partial last group", |(bytes, _)| bytes.len() % 3 != 0)
        .prop_map(|(bytes, bits)| {
            let mut text = URL_SAFE_NO_PAD.encode(&bytes).into_bytes();
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let last = text.last_mut().expect("not empty");
            let value = alphabet
                .iter()
                .position(|c| c == last)
                .expect("in the alphabet");
            // 2 bytes left over: the last character's low 2 bits are unused;
            // 1 byte left over: its low 4 bits. Set some of them.
            let unused = if bytes.len() % 3 == 2 { 0b11 } else { 0b1111 };
            *last = alphabet[value | (usize::from(bits) & unused)];
            String::from_utf8(text).expect("ASCII")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_answers_as_the_scalar_engine(text in hostile_text()) {
        let expected = URL_SAFE_NO_PAD.decode(&text).ok();
        prop_assert_eq!(b64::decode(&text), expected.clone());
        let mut out = [0u8; 320];
        let got = b64::decode_into(&text, &mut out).map(|n| out[..n].to_vec());
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn non_zero_trailing_bits_are_refused_after_the_simd_blocks(text in non_canonical_text()) {
        prop_assert_eq!(URL_SAFE_NO_PAD.decode(&text).ok(), None);
        prop_assert_eq!(b64::decode(&text), None);
        prop_assert_eq!(b64::decode_into(&text, &mut [0u8; 320]), None);
    }

    #[test]
    fn segment_errors_are_those_of_splitting_the_whole_token(
        header_ok in any::<bool>(),
        segments in proptest::collection::vec(hostile_text(), 1..6),
    ) {
        // A valid header first, or a hostile one, then the rest.
        let header = if header_ok {
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"passport+jwt"}"#)
        } else {
            segments[0].clone()
        };
        let token = std::iter::once(header.as_str())
            .chain(segments.iter().skip(1).map(String::as_str))
            .collect::<Vec<_>>()
            .join(".");
        let parts: Vec<&str> = token.split('.').collect();
        let parsed = CompactJws::parse(&token);
        let message = parsed.as_ref().err().map(ToString::to_string);
        let three = "malformed compact JWS: a compact JWS has exactly three segments";
        let empty = "malformed compact JWS: empty segment";
        if parts.len() != 3 {
            prop_assert_eq!(message.as_deref(), Some(three), "{}", token);
        } else if parts.iter().any(|p| p.is_empty()) {
            prop_assert_eq!(message.as_deref(), Some(empty), "{}", token);
        } else {
            prop_assert!(message.as_deref() != Some(three) && message.as_deref() != Some(empty), "{}", token);
            if let Ok(jws) = parsed {
                let signing_input = format!("{}.{}", parts[0], parts[1]);
                prop_assert_eq!(jws.signing_input(), signing_input.as_bytes());
                prop_assert_eq!(Some(jws.unverified_payload().to_vec()), URL_SAFE_NO_PAD.decode(parts[1]).ok());
            }
        }
    }
}
