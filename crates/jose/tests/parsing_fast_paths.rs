//! The fast paths of parsing answer as their plain definitions, on hostile
//! input:
//!
//! - `b64` decodes with the base64 crate's SIMD engine where the CPU has it
//!   (AVX2, NEON). Its answers — the bytes, or a refusal — must be the
//!   crate's scalar engine's under the same strict rules: every byte value
//!   at every position of every length up to 190 characters (the SIMD path
//!   starts past 64, in blocks of 32), random hostile text up to 400, non-zero
//!   trailing bits in the last character, and every size of output buffer
//!   (too small refused, nothing written past the end). Encoding too.
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
        proptest::collection::vec((any::<prop::sample::Index>(), 0..HOSTILE.len()), 0..4),
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

/// Every byte value at every position of a canonical encoding of each
/// length up to 190 characters: the SIMD engine's validity tables are
/// checked for every byte, in every lane of every block.
#[test]
fn every_byte_at_every_position_decodes_as_the_scalar_engine() {
    let source: Vec<u8> = (0..=255u8).cycle().skip(7).take(142).collect();
    for len in 0..=142 {
        let text = URL_SAFE_NO_PAD.encode(&source[..len]).into_bytes();
        for at in 0..text.len() {
            for value in 0..=255u8 {
                // A byte of 0x80 or more appears in text only within a
                // character: the first of these sequences that is UTF-8
                // puts `value` at `at` or right after it (0xC0, 0xC1 and
                // 0xF5–0xFF never appear in UTF-8).
                let sequences: [&[u8]; 7] = [
                    &[value],
                    &[0xC2, value],
                    &[value, 0x80],
                    &[value, 0xA0, 0x80],
                    &[value, 0x80, 0x80],
                    &[value, 0x90, 0x80, 0x80],
                    &[value, 0x80, 0x80, 0x80],
                ];
                let Some(hostile) = sequences.iter().find_map(|sequence| {
                    let mut bytes = text.clone();
                    bytes.splice(at..=at, sequence.iter().copied());
                    String::from_utf8(bytes).ok()
                }) else {
                    continue;
                };
                let expected = URL_SAFE_NO_PAD.decode(&hostile).ok();
                assert_eq!(b64::decode(&hostile), expected, "{hostile:?}");
            }
        }
    }
}

/// `decode_into` with every buffer size around the decoded length: the
/// bytes when they fit, a refusal when they do not, and nothing written
/// past what was decoded.
#[test]
fn decode_into_fits_or_refuses_and_writes_nothing_past_the_end() {
    for len in 0..300usize {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let text = URL_SAFE_NO_PAD.encode(&bytes);
        for size in 0..len + 8 {
            let mut out = vec![0xA5u8; size + 16];
            let got = b64::decode_into(&text, &mut out[..size]);
            if size >= len {
                assert_eq!(got, Some(len), "{len} into {size}");
                assert_eq!(&out[..len], &bytes[..], "{len} into {size}");
            } else {
                assert_eq!(got, None, "{len} into {size}");
            }
            let untouched = if got.is_some() { len } else { 0 };
            assert!(
                out[size..].iter().all(|&b| b == 0xA5),
                "{len} into {size}: written past the buffer"
            );
            if got.is_some() {
                assert!(
                    out[untouched..size].iter().all(|&b| b == 0xA5),
                    "{len} into {size}"
                );
            }
        }
    }
}

#[test]
fn encode_writes_what_the_scalar_engine_writes() {
    for len in 0..2000usize {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 131 + len) as u8).collect();
        assert_eq!(b64::encode(&bytes), URL_SAFE_NO_PAD.encode(&bytes), "{len}");
    }
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
