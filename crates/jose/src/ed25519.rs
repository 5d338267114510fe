//! The checks every Ed25519 public key passes when it is loaded.
//!
//! A public key `A` of small order (dividing the cofactor 8) admits
//! signatures that need no private key: with `R` the identity and `S = 0`,
//! the verification equation `[S]B = R + [k]A` holds whenever the order of
//! `A` divides `k = SHA-512(R || A || M) mod L` — for every message when `A`
//! is the identity, for one message in eight at worst otherwise, so a forger
//! grinds a few messages. aws-lc-rs (like RFC 8032 §5.1.7 itself) does not
//! refuse such keys, so they are refused here, on load, as
//! [`JoseError::WeakKey`], whatever the key's source.
//!
//! The check is a blocklist, as libsodium's `crypto_sign_verify` does, and
//! needs no curve arithmetic:
//!
//! - the group of edwards25519 is `Z/8 × Z/L` (RFC 8032 §5.1: cofactor 8),
//!   so exactly eight points have small order: the identity `(0, 1)`, the
//!   point of order 2 `(0, -1)`, the two points of order 4 `(±√-1, 0)`, and
//!   four points of order 8, whose `y` solves `d·y⁴ + 2y² − 1 = 0` (doubling
//!   them gives `y = 0`). [`SMALL_ORDER`] lists their RFC 8032 §5.1.2
//!   encodings, plus the encodings of `x = 0` with the sign bit set, which
//!   some decoders (ref10, BoringSSL) accept as the same points;
//! - an encoding whose `y` (the low 255 bits, little-endian) is not below
//!   `p = 2^255 − 19` is not canonical (RFC 8032 §5.1.3 step 1 says decoding
//!   fails); `p` and `p + 1` are non-canonical spellings of `y = 0` and of
//!   the identity. Every such encoding is refused.
//!
//! The values were derived from the curve equation (the derivation is in
//! `fixtures/vectors/README.md`); `crates/jose/tests/weak_keys.rs` proves each
//! one admits a signature forged without a private key, through aws-lc-rs.

use crate::JoseError;

/// The RFC 8032 encodings of the eight points of small order of
/// edwards25519, and of the two points with `x = 0` spelled with the sign
/// bit set.
const SMALL_ORDER: [([u8; 32], &str); 10] = [
    (
        hex("0100000000000000000000000000000000000000000000000000000000000000"),
        "the identity",
    ),
    (
        hex("0100000000000000000000000000000000000000000000000000000000000080"),
        "the identity",
    ),
    (
        hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        "of order 2",
    ),
    (
        hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        "of order 2",
    ),
    (
        hex("0000000000000000000000000000000000000000000000000000000000000000"),
        "of order 4",
    ),
    (
        hex("0000000000000000000000000000000000000000000000000000000000000080"),
        "of order 4",
    ),
    (
        hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        "of order 8",
    ),
    (
        hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
        "of order 8",
    ),
    (
        hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        "of order 8",
    ),
    (
        hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
        "of order 8",
    ),
];

/// `p = 2^255 − 19` (RFC 8032 §5.1), little-endian.
const P: [u8; 32] = hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");

/// Refuses a public key that is a point of small order or is not canonically
/// encoded, as [`JoseError::WeakKey`]. `x` is the JWK's 32-byte `x`.
pub(crate) fn check_public_key(x: &[u8]) -> Result<(), JoseError> {
    if let Some((_, what)) = SMALL_ORDER.iter().find(|(point, _)| point[..] == *x) {
        return Err(JoseError::WeakKey(format!(
            "Ed25519 public key is the point {what}: anyone can sign for it"
        )));
    }
    if !is_canonical(x) {
        return Err(JoseError::WeakKey(
            "Ed25519 public key is not canonically encoded (y is not below 2^255 - 19)".into(),
        ));
    }
    Ok(())
}

/// True when the low 255 bits of `x`, read little-endian, are below `p`.
fn is_canonical(x: &[u8]) -> bool {
    // Compare from the most significant byte down; the sign bit is not part of y.
    for i in (0..32).rev() {
        let byte = match (i, x.get(i)) {
            (31, Some(b)) => b & 0x7f,
            (_, Some(b)) => *b,
            (_, None) => return false,
        };
        if byte != P[i] {
            return byte < P[i];
        }
    }
    false
}

/// 32 bytes from 64 hex digits, at compile time (a malformed literal is a
/// build error, not a runtime one).
#[allow(clippy::panic)] // only evaluated in constants: a panic fails the build
const fn hex(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lower-case hex digit"),
        }
    }
    let s = s.as_bytes();
    assert!(s.len() == 64, "not 64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(s[2 * i]) << 4) | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `v` as a little-endian 32-byte integer.
    fn le(v: u64) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&v.to_le_bytes());
        out
    }

    /// `p + k` for small `k`, little-endian (no carry out of the low byte).
    fn p_plus(k: u8) -> [u8; 32] {
        let mut out = P;
        out[0] += k;
        out
    }

    #[test]
    fn canonical_is_exactly_below_p() {
        assert!(is_canonical(&le(2)));
        let mut p_minus_1 = P;
        p_minus_1[0] -= 1;
        assert!(is_canonical(&p_minus_1));
        for k in 0..=18 {
            assert!(!is_canonical(&p_plus(k)), "p + {k}");
            let mut signed = p_plus(k);
            signed[31] |= 0x80;
            assert!(!is_canonical(&signed), "p + {k} with the sign bit");
        }
        assert!(!is_canonical(&[0u8; 31]));
    }

    #[test]
    fn small_order_and_non_canonical_keys_are_weak() {
        for (point, what) in SMALL_ORDER {
            let err = check_public_key(&point).unwrap_err();
            assert_eq!(err.code(), "weak_key", "{what}");
        }
        // p + 1: the identity, spelled non-canonically.
        assert_eq!(check_public_key(&p_plus(1)).unwrap_err().code(), "weak_key");
        assert!(check_public_key(&le(2)).is_ok());
    }

    #[test]
    fn the_blocklist_has_eight_points_and_two_sign_variants() {
        // Eight distinct y-coordinates' worth of points: comparing the
        // encodings with the sign bit cleared leaves five y values (1, p-1,
        // 0 and the two of order 8), as the derivation says.
        let mut ys: Vec<[u8; 32]> = SMALL_ORDER
            .iter()
            .map(|(p, _)| {
                let mut y = *p;
                y[31] &= 0x7f;
                y
            })
            .collect();
        ys.sort_unstable();
        ys.dedup();
        assert_eq!(ys.len(), 5);
        let mut all: Vec<[u8; 32]> = SMALL_ORDER.iter().map(|(p, _)| *p).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 10);
    }
}
