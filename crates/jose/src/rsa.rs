//! RSA keys (RS256) through aws-lc-rs: JWK import and export, generation,
//! and the checks every RSA key passes when it is loaded.

use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeyPairComponents, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{Map, Value};

use crate::key::member_b64;
use crate::modulus::{Fermat, fermat_base_2};
use crate::{JoseError, b64, der};

/// The smallest modulus accepted, in bits (RFC 7518 §3.3 requires 2048).
pub(crate) const MIN_MODULUS_BITS: usize = 2048;
/// The largest modulus aws-lc-rs verifies with (`RSA_PKCS1_2048_8192_SHA256`).
pub(crate) const MAX_MODULUS_BITS: usize = 8192;
/// The largest modulus of a holder's key (a DPoP proof key, a key a
/// passport is bound to). Such keys arrive with requests, one new key per
/// request if an attacker likes, and the primality test on load costs about
/// the cube of the modulus size: 4096 bits bound it to roughly eight times
/// the cost of a 2048-bit key (see `docs/performance.md`).
pub(crate) const MAX_HOLDER_MODULUS_BITS: usize = 4096;
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

/// Reads and checks `n` and `e` of an RSA JWK, with every check but the
/// costly one ([`check_not_factorable`]).
///
/// Refused as [`JoseError::WeakKey`]: a modulus under 2048 bits, or
/// divisible by a prime below 752 (2 included), or with the ROCA
/// fingerprint, or a square modulo every odd prime below 752; an exponent
/// that is even or below 65537. Refused as [`JoseError::InvalidKey`]: a
/// modulus over `max_bits` bits or an exponent over 33 bits (outside what
/// aws-lc-rs implements), and `n` or `e` with a leading zero octet (RFC 7518
/// §6.3.1 requires the minimal encoding; a second spelling of one key would
/// give it a second RFC 7638 thumbprint, so a second `kid` or `cnf.jkt`).
fn public_parts(map: &Map<String, Value>, max_bits: usize) -> Result<PublicParts, JoseError> {
    let n = minimal(member_b64(map, "n")?, "n")?;
    let e = minimal(member_b64(map, "e")?, "e")?;
    let bits = match n.first() {
        None => 0,
        Some(top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    };
    if bits < MIN_MODULUS_BITS {
        return Err(JoseError::WeakKey(format!(
            "RSA modulus of {bits} bits; at least {MIN_MODULUS_BITS} are required"
        )));
    }
    if bits > max_bits {
        return Err(JoseError::InvalidKey(format!(
            "RSA modulus of {bits} bits; at most {max_bits} are supported here"
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
    check_small_primes(&n)?;
    Ok(PublicParts { n, e })
}

/// `bytes` when it is the minimal encoding of its value: no leading zero
/// octet, except zero itself as the one octet `AA` (RFC 7518 §2).
fn minimal(bytes: Vec<u8>, member: &str) -> Result<Vec<u8>, JoseError> {
    if bytes.len() > 1 && bytes[0] == 0 {
        return Err(JoseError::InvalidKey(format!(
            "RSA member {member:?} has a leading zero octet; RFC 7518 §6.3.1 requires the \
             minimal encoding"
        )));
    }
    Ok(bytes)
}

/// The checks that reduce the modulus by the odd primes below 752.
///
/// - A prime factor below 752 is refused, as NIST SP 800-89 §5.3.3 (partial
///   public-key validation) asks: whoever divides it out may go on to find
///   the rest (a prime times a small number gives its private key away).
/// - The ROCA fingerprint (see [`ROCA_PRIMES`]).
/// - A modulus that is a quadratic residue modulo every one of these 132
///   primes is refused as a likely perfect square (every perfect square is
///   one; `n = p²` gives its private key away). A random modulus is one with
///   probability under 2^-125 (computed in this module's tests).
fn check_small_primes(n: &[u8]) -> Result<(), JoseError> {
    let residues = residues(n);
    if let Some((r, _)) = SMALL_PRIMES.iter().zip(&residues).find(|(_, x)| **x == 0) {
        return Err(JoseError::WeakKey(format!(
            "RSA modulus is divisible by {r}: its private key can be computed"
        )));
    }
    if has_roca_fingerprint(&residues) {
        return Err(JoseError::WeakKey(
            "RSA modulus has the ROCA fingerprint (CVE-2017-15361): its private key can be computed"
                .into(),
        ));
    }
    if SMALL_PRIMES
        .iter()
        .zip(&residues)
        .all(|(r, x)| is_quadratic_residue(*x, u64::from(*r)))
    {
        return Err(JoseError::WeakKey(
            "RSA modulus is a square modulo every odd prime below 752, as a perfect square is: \
             its private key can be computed"
                .into(),
        ));
    }
    Ok(())
}

/// The costly check: a modulus whose factors anyone can compute is refused
/// as [`JoseError::WeakKey`]. One base-2 Fermat test (`2^n mod n`, a
/// modular squaring per bit of `n`) refuses every prime modulus, whose
/// private exponent is `e⁻¹ mod n − 1`, and, through `gcd(2^n − 2, n)`,
/// every prime power `p^k` (a perfect square or cube included). An honest
/// modulus `p·q` passes unless `ord_p(2)` divides `q − 1` or the reverse,
/// which for random primes of 1024 bits or more has negligible probability.
fn check_not_factorable(n: &[u8]) -> Result<(), JoseError> {
    match fermat_base_2(n) {
        Some(Fermat::Composite) => Ok(()),
        Some(Fermat::ProbablePrime) => Err(JoseError::WeakKey(
            "RSA modulus is prime (it passes the base-2 Fermat test): its private key can be \
             computed"
                .into(),
        )),
        Some(Fermat::SharedFactor) => Err(JoseError::WeakKey(
            "RSA modulus has a factor that gcd(2^n - 2, n) reveals (a prime power): its private \
             key can be computed"
                .into(),
        )),
        // public_parts refused even and tiny moduli before.
        None => Err(JoseError::WeakKey("RSA modulus is even".into())),
    }
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

/// The odd primes below 752, the bound of NIST SP 800-89 §5.3.3; the first
/// [`ROCA_PRIMES`] of them are the ROCA test primes.
const SMALL_PRIMES: [u32; 132] = odd_primes();

/// `n mod r` for every `r` of [`SMALL_PRIMES`]: 132 passes over the bytes of
/// `n`, once per key load.
fn residues(n: &[u8]) -> [u64; SMALL_PRIMES.len()] {
    SMALL_PRIMES.map(|r| {
        let r = u64::from(r);
        n.iter()
            .fold(0u64, |acc, b| ((acc << 8) | u64::from(*b)) % r)
    })
}

/// The ROCA fingerprint: for every test prime `r`, `n mod r` is in the
/// subgroup of `(Z/r)*` generated by 65537; `residues` as [`residues`]
/// returns them. Most honest moduli fail the membership test at the first
/// few primes.
fn has_roca_fingerprint(residues: &[u64]) -> bool {
    SMALL_PRIMES[..ROCA_PRIMES]
        .iter()
        .zip(residues)
        .all(|(&r, &x)| in_subgroup_of_65537(x, u64::from(r)))
}

/// Euler's criterion: `x` (not divisible by the odd prime `r`) is a square
/// modulo `r` exactly when `x^((r-1)/2) ≡ 1`.
fn is_quadratic_residue(x: u64, r: u64) -> bool {
    let (mut result, mut base, mut e) = (1, x % r, (r - 1) / 2);
    while e > 0 {
        if e & 1 == 1 {
            result = result * base % r;
        }
        base = base * base % r;
        e >>= 1;
    }
    result == 1
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

/// Parses the public half of an RSA JWK once, for RS256 verification, after
/// every check of [`public_parts`] (moduli up to `max_bits` bits) and
/// [`check_not_factorable`]. Returns the parsed key and the signature
/// length (the modulus length).
pub(crate) fn verifying_key(
    map: &Map<String, Value>,
    max_bits: usize,
) -> Result<(ParsedPublicKey, usize), JoseError> {
    let parts = public_parts(map, max_bits)?;
    check_not_factorable(&parts.n)?;
    let parsed = PublicKeyComponents {
        n: &parts.n[..],
        e: &parts.e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .map_err(|e| JoseError::InvalidKey(format!("RSA: {e}")))?;
    Ok((parsed, parts.n.len()))
}

/// Builds a signing key from a private RSA JWK with all CRT members.
///
/// The public half passes [`public_parts`] here; [`check_not_factorable`]
/// is left to [`verifying_key`], which `SigningKey::from_jwk_map` runs on
/// the public half of every key it builds (and aws-lc's own check already
/// requires `n = p·q`). No private member may be longer than the modulus:
/// aws-lc's consistency check costs time in the length of `d`, so a
/// megabyte `d` would take a second to refuse.
pub(crate) fn key_pair(map: &Map<String, Value>) -> Result<KeyPair, JoseError> {
    if map.contains_key("oth") {
        return Err(JoseError::InvalidKey(
            "multi-prime RSA keys (`oth`) are not supported".into(),
        ));
    }
    if let Some(missing) = PRIVATE_MEMBERS.iter().find(|m| !map.contains_key(**m)) {
        return Err(JoseError::IncompleteRsaKey(missing));
    }
    let public = public_parts(map, MAX_MODULUS_BITS)?;
    let [d, p, q, dp, dq, qi] = PRIVATE_MEMBERS.map(|m| private_member(map, m, public.n.len()));
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

/// A private member, refused as [`JoseError::InvalidKey`] when it is longer
/// than `max_len` bytes; an overlong one is not even decoded.
fn private_member(
    map: &Map<String, Value>,
    name: &str,
    max_len: usize,
) -> Result<Vec<u8>, JoseError> {
    let too_long = || {
        JoseError::InvalidKey(format!(
            "private RSA member {name:?} is longer than the modulus ({max_len} bytes)"
        ))
    };
    // Unpadded base64url spells `max_len` bytes in at most this many characters.
    let max_chars = (max_len * 4).div_ceil(3);
    if map
        .get(name)
        .and_then(Value::as_str)
        .is_some_and(|s| s.len() > max_chars)
    {
        return Err(too_long());
    }
    let bytes = member_b64(map, name)?;
    if bytes.len() > max_len {
        return Err(too_long());
    }
    Ok(bytes)
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
    fn the_test_primes_are_the_odd_primes_below_752() {
        assert_eq!(SMALL_PRIMES[0], 3);
        assert_eq!(SMALL_PRIMES[37], 167);
        assert_eq!(SMALL_PRIMES[ROCA_PRIMES - 1], 701);
        assert_eq!(SMALL_PRIMES[SMALL_PRIMES.len() - 1], 751);
        assert!(SMALL_PRIMES.windows(2).all(|w| w[0] < w[1]));
        // 752 and 753 = 3·251 up to 756 = 4·189 are composite; the next prime is 757.
        assert!((752..757).all(|c| (2..c).any(|d| c % d == 0)));
        let primes_below_752 = (2..752u32).filter(|c| (2..*c).all(|d| c % d != 0)).count();
        assert_eq!(primes_below_752, SMALL_PRIMES.len() + 1);
    }

    /// A random modulus (prime to every test prime) is a square modulo `r`
    /// with probability 1/2 for each; the product over the 132 primes is
    /// 2^-132, so the perfect-square test refuses no honest key.
    #[test]
    fn the_square_test_is_exact_on_residues_and_rare_among_random_moduli() {
        for &r in &SMALL_PRIMES[..20] {
            let r = u64::from(r);
            let squares: std::collections::BTreeSet<u64> = (1..r).map(|x| x * x % r).collect();
            for x in 1..r {
                assert_eq!(
                    is_quadratic_residue(x, r),
                    squares.contains(&x),
                    "{x} mod {r}"
                );
            }
            assert_eq!(squares.len() as u64, (r - 1) / 2);
        }
        let log2: f64 = SMALL_PRIMES.iter().map(|_| 0.5f64.log2()).sum();
        assert!(log2 <= -125.0, "false-positive rate 2^{log2}");
    }

    #[test]
    fn a_perfect_square_and_a_small_factor_are_refused_by_the_residue_checks() {
        // A 1024-bit odd root prime to every test prime: 2^1024 - 1 - 2i for
        // the first such i. Its square has 2048 bits and no small factor, so
        // only the square test can refuse it.
        let mut root = vec![0xffu8; 128];
        while residues(&root).contains(&0) {
            let last = root.len() - 1;
            root[last] -= 2;
        }
        let square = square_be(&root);
        assert_eq!(square.len(), 256);
        let err = check_small_primes(&square).unwrap_err();
        assert!(matches!(err, JoseError::WeakKey(_)), "{err:?}");
        assert!(err.to_string().contains("square"), "{err}");
        // The root times a neighbour is not a square: accepted here.
        let mut other = root.clone();
        let last = other.len() - 1;
        other[last] -= 2;
        while residues(&other).contains(&0) {
            other[last] -= 2;
        }
        let product = multiply_be(&root, &other);
        check_small_primes(&product).unwrap();
        // 3 · 757 is divisible by 3; 751 · 757 by 751.
        let err = check_small_primes(&[0x08, 0xdf]).unwrap_err();
        assert!(err.to_string().contains("divisible by 3"), "{err}");
        let err = check_small_primes(&(751u32 * 757).to_be_bytes()).unwrap_err();
        assert!(err.to_string().contains("divisible by 751"), "{err}");
    }

    fn square_be(x: &[u8]) -> Vec<u8> {
        multiply_be(x, x)
    }

    /// Big-endian `x·y`, schoolbook.
    fn multiply_be(x: &[u8], y: &[u8]) -> Vec<u8> {
        let mut out = vec![0u64; x.len() + y.len()];
        for (i, a) in x.iter().rev().enumerate() {
            for (j, b) in y.iter().rev().enumerate() {
                out[i + j] += u64::from(*a) * u64::from(*b);
            }
        }
        let mut carry = 0u64;
        let mut bytes: Vec<u8> = out
            .iter()
            .map(|v| {
                let v = v + carry;
                carry = v >> 8;
                (v & 0xff) as u8
            })
            .collect();
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        bytes.reverse();
        bytes
    }

    /// The probability that a random modulus has the fingerprint is the
    /// product over the test primes of |<65537>| / (r - 1); under 2^-160.
    #[test]
    fn the_fingerprint_is_rare_among_random_moduli() {
        let log2: f64 = SMALL_PRIMES[..ROCA_PRIMES]
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
        assert!(has_roca_fingerprint(&residues(&n)));
        // Changed by two, it does not.
        if let Some(last) = n.last_mut() {
            *last ^= 2;
        }
        assert!(!has_roca_fingerprint(&residues(&n)));
    }
}
