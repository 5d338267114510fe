//! Just enough arithmetic on big unsigned integers to tell whether anyone can
//! factor a public RSA modulus `n`: `2^n mod n` by Montgomery multiplication,
//! and a binary gcd.
//!
//! Every input is a public key, so nothing here needs to run in constant
//! time; this is key validation, not a second signature implementation
//! (aws-lc-rs does every signature). Numbers are little-endian `u64` limbs.

use std::cmp::Ordering;

/// What the base-2 Fermat test says of an odd modulus `n > 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fermat {
    /// `2^n ≡ 2 (mod n)`: every prime passes, and a composite that does
    /// (a base-2 pseudoprime) is no honest RSA modulus either.
    ProbablePrime,
    /// `gcd(2^n − 2 mod n, n)` is a proper factor of `n`: computed from the
    /// public key alone. This finds a prime `p` of every prime power
    /// `n = p^k` (`n ≡ 1 mod p − 1`, so `2^n ≡ 2 mod p`).
    SharedFactor,
    /// Neither: the modulus of an honest key.
    Composite,
}

/// The base-2 Fermat test of the odd number whose big-endian bytes are
/// `n_be`, with the factor search that comes free with it. `None` when `n`
/// is even or below 3.
pub(crate) fn fermat_base_2(n_be: &[u8]) -> Option<Fermat> {
    let n = Montgomery::new(limbs(n_be))?;
    let k = n.n.len();
    // R mod n, R = 2^(64k), by doubling 1 (which is below n) 64k times.
    let mut one = vec![0u64; k];
    one[0] = 1;
    for _ in 0..64 * k {
        n.double(&mut one);
    }
    let mut two = one.clone();
    n.double(&mut two);
    // 2^n in Montgomery form, left to right: a squaring per bit, and a
    // multiplication by the base 2 (a modular doubling) per set bit.
    let mut x = one;
    let mut scratch = vec![0u64; k + 2];
    let bits = 64 * k - n.n[k - 1].leading_zeros() as usize;
    for i in (0..bits).rev() {
        n.square(&mut x, &mut scratch);
        if n.n[i / 64] >> (i % 64) & 1 == 1 {
            n.double(&mut x);
        }
    }
    // Montgomery form multiplies by R, which is prime to n: comparing and
    // the gcd give the same answers as on the plain values.
    if x == two {
        return Some(Fermat::ProbablePrime);
    }
    let mut difference = x;
    if cmp(&difference, &two) == Ordering::Less {
        add_in_place(&mut difference, &n.n);
    }
    sub_in_place(&mut difference, &two);
    Some(if is_one(&gcd_with_odd(difference, &n.n)) {
        Fermat::Composite
    } else {
        Fermat::SharedFactor
    })
}

/// Big-endian bytes as little-endian limbs, without leading zero limbs.
fn limbs(be: &[u8]) -> Vec<u64> {
    let mut out: Vec<u64> = be
        .rchunks(8)
        .map(|chunk| chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        .collect();
    trim(&mut out);
    out
}

fn trim(x: &mut Vec<u64>) {
    while x.last() == Some(&0) {
        x.pop();
    }
}

/// An odd modulus and `-n⁻¹ mod 2^64`.
struct Montgomery {
    n: Vec<u64>,
    n0_inv: u64,
}

impl Montgomery {
    fn new(n: Vec<u64>) -> Option<Montgomery> {
        let low = *n.first()?;
        if low & 1 == 0 || (n.len() == 1 && low < 3) {
            return None;
        }
        // Newton's iteration doubles the correct low bits each step: an odd
        // `low` is its own inverse modulo 8 (3 bits), so five steps give 96.
        let mut inv = low;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(low.wrapping_mul(inv)));
        }
        Some(Montgomery {
            n,
            n0_inv: inv.wrapping_neg(),
        })
    }

    /// `x = 2x mod n`, for `x < n`.
    fn double(&self, x: &mut [u64]) {
        let mut carry = 0;
        for limb in x.iter_mut() {
            let top = *limb >> 63;
            *limb = (*limb << 1) | carry;
            carry = top;
        }
        if carry == 1 || cmp(x, &self.n) != Ordering::Less {
            sub_in_place(x, &self.n);
        }
    }

    /// `x = x·x·R⁻¹ mod n` (coarsely integrated Montgomery multiplication);
    /// `t` is scratch space of `k + 2` limbs.
    fn square(&self, x: &mut [u64], t: &mut [u64]) {
        let k = self.n.len();
        t.fill(0);
        for i in 0..k {
            let a = u128::from(x[i]);
            let mut carry = 0u128;
            for j in 0..k {
                let v = u128::from(t[j]) + a * u128::from(x[j]) + carry;
                t[j] = v as u64;
                carry = v >> 64;
            }
            let v = u128::from(t[k]) + carry;
            t[k] = v as u64;
            t[k + 1] = (v >> 64) as u64;

            let m = u128::from(t[0].wrapping_mul(self.n0_inv));
            let mut carry = (u128::from(t[0]) + m * u128::from(self.n[0])) >> 64;
            for j in 1..k {
                let v = u128::from(t[j]) + m * u128::from(self.n[j]) + carry;
                t[j - 1] = v as u64;
                carry = v >> 64;
            }
            let v = u128::from(t[k]) + carry;
            t[k - 1] = v as u64;
            t[k] = t[k + 1] + (v >> 64) as u64;
        }
        // The result, t[..=k], is below 2n.
        x.copy_from_slice(&t[..k]);
        if t[k] != 0 || cmp(x, &self.n) != Ordering::Less {
            sub_in_place(x, &self.n);
        }
    }
}

/// Compares two numbers of the same limb count.
fn cmp(a: &[u64], b: &[u64]) -> Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

/// `a -= b` modulo `2^(64·len)`, `b` no longer than `a`.
fn sub_in_place(a: &mut [u64], b: &[u64]) {
    let mut borrow = false;
    for (i, limb) in a.iter_mut().enumerate() {
        let (d, b1) = limb.overflowing_sub(b.get(i).copied().unwrap_or(0));
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        *limb = d;
        borrow = b1 || b2;
    }
}

/// `a += b` modulo `2^(64·len)`, `b` no longer than `a`.
fn add_in_place(a: &mut [u64], b: &[u64]) {
    let mut carry = false;
    for (i, limb) in a.iter_mut().enumerate() {
        let (s, c1) = limb.overflowing_add(b.get(i).copied().unwrap_or(0));
        let (s, c2) = s.overflowing_add(u64::from(carry));
        *limb = s;
        carry = c1 || c2;
    }
}

fn is_one(x: &[u64]) -> bool {
    x.first() == Some(&1) && x.iter().skip(1).all(|l| *l == 0)
}

/// `x >>= shift` bits.
fn shift_right(x: &mut [u64], shift: usize) {
    let (limbs, bits) = (shift / 64, shift % 64);
    let len = x.len();
    for i in 0..len {
        let lo = x.get(i + limbs).copied().unwrap_or(0);
        let hi = x.get(i + limbs + 1).copied().unwrap_or(0);
        x[i] = if bits == 0 {
            lo
        } else {
            (lo >> bits) | (hi << (64 - bits))
        };
    }
}

/// `gcd(a, n)` for an odd `n`, by Stein's binary algorithm (powers of two
/// in `a` do not matter, `n` being odd). `a` has `n`'s limb count.
fn gcd_with_odd(mut a: Vec<u64>, n: &[u64]) -> Vec<u64> {
    let mut b = n.to_vec();
    loop {
        let Some(zeros) = trailing_zeros(&a) else {
            return b; // gcd(0, b) = b
        };
        shift_right(&mut a, zeros);
        match cmp(&a, &b) {
            Ordering::Equal => return a,
            Ordering::Less => std::mem::swap(&mut a, &mut b),
            Ordering::Greater => {}
        }
        sub_in_place(&mut a, &b);
    }
}

/// The number of trailing zero bits, `None` for zero.
fn trailing_zeros(x: &[u64]) -> Option<usize> {
    let i = x.iter().position(|l| *l != 0)?;
    Some(i * 64 + x[i].trailing_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(n: u128) -> Vec<u8> {
        n.to_be_bytes().to_vec()
    }

    /// `a·b mod m` by doubling and adding, for `m < 2^127`.
    fn mul_mod(a: u128, mut b: u128, m: u128) -> u128 {
        let (mut result, mut a) = (0u128, a % m);
        while b > 0 {
            if b & 1 == 1 {
                result = (result + a) % m;
            }
            a = (a + a) % m;
            b >>= 1;
        }
        result
    }

    /// `2^e mod m`, for `m < 2^127`.
    fn pow2_mod(e: u128, m: u128) -> u128 {
        let (mut result, mut base, mut e) = (1u128, 2 % m, e);
        while e > 0 {
            if e & 1 == 1 {
                result = mul_mod(result, base, m);
            }
            base = mul_mod(base, base, m);
            e >>= 1;
        }
        result
    }

    fn reference(n: u128) -> Fermat {
        let x = pow2_mod(n, n);
        if x == 2 % n {
            return Fermat::ProbablePrime;
        }
        let (mut a, mut b) = ((x + n - 2) % n, n);
        while a != 0 {
            (a, b) = (b % a, a);
        }
        if b == 1 {
            Fermat::Composite
        } else {
            Fermat::SharedFactor
        }
    }

    #[test]
    fn small_cases_match_a_reference_implementation() {
        // Primes, prime powers, products, a Carmichael number (561), the
        // smallest base-2 pseudoprime (341), 1093² (a Wieferich prime
        // squared: 2^n ≡ 2 mod n), and numbers of one and two limbs.
        let cases: [u128; 18] = [
            3,
            5,
            7,
            9,
            15,
            341,
            561,
            1093 * 1093,
            65_537,
            65_537 * 65_537,
            65_537 * 65_539,
            (1 << 61) - 1,
            ((1 << 61) - 1) * ((1 << 31) - 1),
            ((1u128 << 61) - 1) * ((1 << 61) - 1),
            ((1u128 << 89) - 1) * 3 * 3,
            ((1u128 << 61) - 1) * ((1 << 31) - 1) * 7919,
            (1u128 << 126) + 1,
            (1u128 << 127) - 1,
        ];
        for n in cases {
            assert_eq!(fermat_base_2(&be(n)), Some(reference(n)), "{n}");
        }
        assert_eq!(fermat_base_2(&be(65_537)), Some(Fermat::ProbablePrime));
        assert_eq!(
            fermat_base_2(&be(65_537 * 65_537)),
            Some(Fermat::SharedFactor)
        );
        assert_eq!(fermat_base_2(&be(65_537 * 65_539)), Some(Fermat::Composite));
        assert_eq!(fermat_base_2(&be(341)), Some(Fermat::ProbablePrime));
        for odd in (3..2000u128).step_by(2) {
            assert_eq!(fermat_base_2(&be(odd)), Some(reference(odd)), "{odd}");
        }
    }

    #[test]
    fn even_and_tiny_numbers_are_not_tested() {
        assert_eq!(fermat_base_2(&[]), None);
        assert_eq!(fermat_base_2(&[0, 0]), None);
        assert_eq!(fermat_base_2(&[1]), None);
        assert_eq!(fermat_base_2(&[4, 0]), None);
    }

    #[test]
    fn gcd_and_shifts() {
        assert_eq!(gcd_with_odd(vec![12, 0], &[9, 0]), vec![3, 0]);
        assert_eq!(gcd_with_odd(vec![0, 1], &[(1 << 63) + 1, 0])[0], 1);
        let mut x = vec![0, 0, 8];
        shift_right(&mut x, 131);
        assert_eq!(x, vec![1, 0, 0]);
        assert_eq!(
            limbs(&[0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            vec![0x0203_0405_0607_0809, 1]
        );
    }
}
