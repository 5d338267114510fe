//! RSA keys (RS256) through aws-lc-rs: JWK import and export, generation,
//! and the checks every RSA key passes when it is loaded.

use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeyPairComponents, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{Map, Value};

use crate::key::member_b64;
use crate::{JoseError, b64, der};

/// The smallest modulus accepted, in bits (RFC 7518 §3.3 requires 2048).
pub(crate) const MIN_MODULUS_BITS: usize = 2048;
/// The largest modulus aws-lc-rs verifies with (`RSA_PKCS1_2048_8192_SHA256`).
const MAX_MODULUS_BITS: usize = 8192;
/// The smallest public exponent accepted (F4). Small exponents such as 3 are
/// what Bleichenbacher's 2006 forgery of PKCS#1 v1.5 signatures needs, and
/// `e = 1` makes the "signature" equal to the encoded message.
const MIN_EXPONENT: u64 = 65_537;
/// The largest public exponent aws-lc accepts, in bits.
const MAX_EXPONENT_BITS: u32 = 33;

/// The private members of an RSA JWK (RFC 7518 §6.3.2), all required here:
/// aws-lc-rs builds a key only from the full CRT form.
const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

/// A checked RSA public key: minimal big-endian `n` and `e`.
struct PublicParts {
    n: Vec<u8>,
    e: Vec<u8>,
}

/// Reads and checks `n` and `e` of an RSA JWK.
///
/// Refused as [`JoseError::WeakKey`]: a modulus under 2048 bits or even, or
/// with the ROCA fingerprint; an exponent that is even or below 65537. Refused as [`JoseError::InvalidKey`]:
/// a modulus over 8192 bits or an exponent over 33 bits (outside what
/// aws-lc-rs implements). Leading zero bytes, which RFC 7518 §2 forbids but
/// some encoders write, are ignored: they do not change the value.
fn public_parts(map: &Map<String, Value>) -> Result<PublicParts, JoseError> {
    let n = strip_zeros(member_b64(map, "n")?);
    let e = strip_zeros(member_b64(map, "e")?);
    let bits = match n.first() {
        None => 0,
        Some(top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    };
    if bits < MIN_MODULUS_BITS {
        return Err(JoseError::WeakKey(format!(
            "RSA modulus of {bits} bits; at least {MIN_MODULUS_BITS} are required"
        )));
    }
    if bits > MAX_MODULUS_BITS {
        return Err(JoseError::InvalidKey(format!(
            "RSA modulus of {bits} bits; at most {MAX_MODULUS_BITS} are supported"
        )));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(JoseError::WeakKey("RSA modulus is even".into()));
    }
    if e.len() > 8 {
        return Err(JoseError::InvalidKey(format!(
            "RSA public exponent over {MAX_EXPONENT_BITS} bits is not supported"
        )));
    }
    let exponent = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if exponent & 1 == 0 {
        return Err(JoseError::WeakKey(format!(
            "RSA public exponent {exponent} is even"
        )));
    }
    if exponent < MIN_EXPONENT {
        return Err(JoseError::WeakKey(format!(
            "RSA public exponent {exponent} is below {MIN_EXPONENT}"
        )));
    }
    if exponent >> MAX_EXPONENT_BITS != 0 {
        return Err(JoseError::InvalidKey(format!(
            "RSA public exponent over {MAX_EXPONENT_BITS} bits is not supported"
        )));
    }
    if has_roca_fingerprint(&n) {
        return Err(JoseError::WeakKey(
            "RSA modulus has the ROCA fingerprint (CVE-2017-15361): its private key can be computed"
                .into(),
        ));
    }
    Ok(PublicParts { n, e })
}

/// How many odd primes the ROCA test reduces the modulus by: 3 to 701, the
/// odd primes among the first 126. The library with the flaw builds each
/// prime of a key whose modulus has 1984 to 3936 bits as `k·M + (65537^a mod
/// M)`, `M` the product of the first 126 primes (225 of them above 3936
/// bits), so that every such modulus `n = p·q` is, modulo each of these
/// primes, a power of 65537 (Nemec, Sýs, Švenda, Klinec, Matyáš, "The Return
/// of Coppersmith's Attack", ACM CCS 2017, §2). A random modulus passes all
/// 125 tests with probability 2^-167 (computed in this module's tests), so
/// the test refuses no honest key in practice.
const ROCA_PRIMES: usize = 125;

/// The odd primes from 3 up, by trial division, at compile time.
const fn odd_primes<const N: usize>() -> [u32; N] {
    let mut out = [0u32; N];
    let (mut found, mut candidate) = (0, 3u32);
    while found < N {
        let mut divisor = 3;
        let mut prime = true;
        while divisor * divisor <= candidate {
            if candidate % divisor == 0 {
                prime = false;
                break;
            }
            divisor += 2;
        }
        if prime {
            out[found] = candidate;
            found += 1;
        }
        candidate += 2;
    }
    out
}

const ROCA_TEST_PRIMES: [u32; ROCA_PRIMES] = odd_primes();

/// The ROCA fingerprint: for every test prime `r`, `n mod r` is in the
/// subgroup of `(Z/r)*` generated by 65537. Costs at most a few tens of
/// thousands of word operations, once per key load; most honest moduli fail
/// the membership test at the first few primes.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    ROCA_TEST_PRIMES.iter().all(|&r| {
        let r = u64::from(r);
        let residue = n
            .iter()
            .fold(0u64, |acc, b| ((acc << 8) | u64::from(*b)) % r);
        in_subgroup_of_65537(residue, r)
    })
}

/// True when `x` is a power of 65537 modulo the prime `r`.
fn in_subgroup_of_65537(x: u64, r: u64) -> bool {
    let generator = 65_537 % r;
    let mut power = 1;
    loop {
        if power == x {
            return true;
        }
        power = power * generator % r;
        if power == 1 {
            return false;
        }
    }
}

fn strip_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// Parses the public half of an RSA JWK once, for RS256 verification.
/// Returns the parsed key and the signature length (the modulus length).
pub(crate) fn verifying_key(
    map: &Map<String, Value>,
) -> Result<(ParsedPublicKey, usize), JoseError> {
    let parts = public_parts(map)?;
    let parsed = PublicKeyComponents {
        n: &parts.n[..],
        e: &parts.e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .map_err(|e| JoseError::InvalidKey(format!("RSA: {e}")))?;
    Ok((parsed, parts.n.len()))
}

/// Builds a signing key from a private RSA JWK with all CRT members.
pub(crate) fn key_pair(map: &Map<String, Value>) -> Result<KeyPair, JoseError> {
    if map.contains_key("oth") {
        return Err(JoseError::InvalidKey(
            "multi-prime RSA keys (`oth`) are not supported".into(),
        ));
    }
    if let Some(missing) = PRIVATE_MEMBERS.iter().find(|m| !map.contains_key(**m)) {
        return Err(JoseError::IncompleteRsaKey(missing));
    }
    let public = public_parts(map)?;
    let [d, p, q, dp, dq, qi] = PRIVATE_MEMBERS.map(|m| member_b64(map, m));
    let components = KeyPairComponents {
        public_key: PublicKeyComponents {
            n: public.n,
            e: public.e,
        },
        d: d?,
        p: p?,
        q: q?,
        dP: dp?,
        dQ: dq?,
        qInv: qi?,
    };
    KeyPair::from_components(&components)
        .map_err(|e| JoseError::InvalidKey(format!("RSA private key: {e}")))
}

/// Generates a 2048-bit RSA key and returns its private JWK members
/// (`kty`, `n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`).
pub(crate) fn generate() -> Result<Map<String, Value>, JoseError> {
    let pair =
        KeyPair::generate(KeySize::Rsa2048).map_err(|_| JoseError::Crypto("RSA key generation"))?;
    let pkcs8: Pkcs8V1Der<'static> = pair
        .as_der()
        .map_err(|_| JoseError::Crypto("RSA key export"))?;
    let parts = der::rsa_components_from_pkcs8(pkcs8.as_ref())
        .ok_or(JoseError::Crypto("RSA key export"))?;
    let mut map = Map::new();
    map.insert("kty".into(), "RSA".into());
    for (name, value) in ["n", "e", "d", "p", "q", "dp", "dq", "qi"]
        .iter()
        .zip(parts)
    {
        map.insert((*name).into(), b64::encode(value).into());
    }
    Ok(map)
}

/// Signs with RSASSA-PKCS1-v1_5 and SHA-256 (RS256).
pub(crate) fn sign(pair: &KeyPair, message: &[u8]) -> Result<Vec<u8>, JoseError> {
    let mut signature = vec![0u8; pair.public_modulus_len()];
    // aws-lc-rs ignores the RNG for PKCS#1 v1.5, which is deterministic.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    pair.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &rng,
        message,
        &mut signature,
    )
    .map_err(|_| JoseError::Crypto("RSA signing"))?;
    Ok(signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_primes_are_the_odd_primes_up_to_701() {
        assert_eq!(ROCA_TEST_PRIMES[0], 3);
        assert_eq!(ROCA_TEST_PRIMES[37], 167);
        assert_eq!(ROCA_TEST_PRIMES[ROCA_PRIMES - 1], 701);
        assert!(ROCA_TEST_PRIMES.windows(2).all(|w| w[0] < w[1]));
    }

    /// The probability that a random modulus has the fingerprint is the
    /// product over the test primes of |<65537>| / (r - 1); under 2^-160.
    #[test]
    fn the_fingerprint_is_rare_among_random_moduli() {
        let log2: f64 = ROCA_TEST_PRIMES
            .iter()
            .map(|&r| {
                let r = u64::from(r);
                let order = (1..r).filter(|x| in_subgroup_of_65537(*x, r)).count();
                (order as f64 / (r - 1) as f64).log2()
            })
            .sum();
        assert!(log2 < -160.0, "false-positive rate 2^{log2}");
    }

    #[test]
    fn a_modulus_built_like_the_flawed_library_has_the_fingerprint() {
        // n = 65537^k (mod every test prime) for a product of two such
        // "primes": the smallest positive representative is a power of 65537
        // itself, so 65537^40 (a 641-bit number) has the fingerprint.
        let mut n = vec![1u8];
        for _ in 0..40 {
            let mut carry = 0u64;
            for byte in n.iter_mut().rev() {
                let v = u64::from(*byte) * 65_537 + carry;
                *byte = (v & 0xff) as u8;
                carry = v >> 8;
            }
            while carry > 0 {
                n.insert(0, (carry & 0xff) as u8);
                carry >>= 8;
            }
        }
        assert!(has_roca_fingerprint(&n));
        // Changed by two, it does not.
        if let Some(last) = n.last_mut() {
            *last ^= 2;
        }
        assert!(!has_roca_fingerprint(&n));
    }
}
