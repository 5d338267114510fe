//! Just enough DER (ITU-T X.690) to read the RSA components out of the PKCS#8
//! document that aws-lc-rs exports for a freshly generated key, so the key
//! can be saved as a private JWK. It never sees untrusted input, but it is
//! still bounds-checked throughout and returns `None` on anything unexpected.

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OBJECT_IDENTIFIER: u8 = 0x06;
/// 1.2.840.113549.1.1.1 (`rsaEncryption`, RFC 8017 Appendix A.1).
const RSA_ENCRYPTION: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The eight integers of a two-prime `RSAPrivateKey` (RFC 8017 Appendix
/// A.1.2), each as minimal unsigned big-endian bytes: `n`, `e`, `d`, `p`,
/// `q`, `dP`, `dQ`, `qInv`.
pub(crate) type RsaPrivateComponents = [Vec<u8>; 8];

/// Reads the RSA components from a PKCS#8 v1 `PrivateKeyInfo` (RFC 5208 §5).
pub(crate) fn rsa_components_from_pkcs8(der: &[u8]) -> Option<RsaPrivateComponents> {
    let mut info = Reader::new(Reader::new(der).only(SEQUENCE)?);
    if !info.integer()?.is_empty() {
        return None; // version 0
    }
    let mut algorithm = Reader::new(info.next(SEQUENCE)?);
    if algorithm.next(OBJECT_IDENTIFIER)? != RSA_ENCRYPTION {
        return None;
    }
    let mut key = Reader::new(Reader::new(info.next(OCTET_STRING)?).only(SEQUENCE)?);
    if !key.integer()?.is_empty() {
        return None; // version 0: two primes, no otherPrimeInfos
    }
    let mut out: RsaPrivateComponents = Default::default();
    for slot in &mut out {
        let value = key.integer()?;
        if value.is_empty() {
            return None;
        }
        *slot = value.to_vec();
    }
    key.rest.is_empty().then_some(out)
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    /// The content of the next element, which must have tag `tag`.
    fn next(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&found, rest) = self.rest.split_first()?;
        if found != tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form: 1 to 4 length bytes (no indefinite lengths in DER).
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let (bytes, tail) = rest.split_at_checked(count)?;
            rest = tail;
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        let (content, tail) = rest.split_at_checked(len)?;
        self.rest = tail;
        Some(content)
    }

    /// The content of the only element, which must have tag `tag`.
    fn only(mut self, tag: u8) -> Option<&'a [u8]> {
        let content = self.next(tag)?;
        self.rest.is_empty().then_some(content)
    }

    /// A non-negative INTEGER as minimal unsigned big-endian bytes (empty for 0).
    fn integer(&mut self) -> Option<&'a [u8]> {
        let content = self.next(INTEGER)?;
        if content.first().is_none_or(|b| b & 0x80 != 0) {
            return None; // empty or negative
        }
        let zeros = content.iter().take_while(|b| **b == 0).count();
        Some(&content[zeros..])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend((content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    fn pkcs8(integers: &[&[u8]]) -> Vec<u8> {
        let key: Vec<u8> = integers.iter().flat_map(|i| tlv(INTEGER, i)).collect();
        let mut algorithm = tlv(OBJECT_IDENTIFIER, &RSA_ENCRYPTION);
        algorithm.extend([0x05, 0x00]);
        let mut info = tlv(INTEGER, &[0]);
        info.extend(tlv(SEQUENCE, &algorithm));
        info.extend(tlv(OCTET_STRING, &tlv(SEQUENCE, &key)));
        tlv(SEQUENCE, &info)
    }

    #[test]
    fn reads_components_and_strips_sign_bytes() {
        let big = [0x00, 0x80, 0x01];
        let doc = pkcs8(&[&[0], &big, &[1, 0, 1], &[3], &[4], &[5], &[6], &[7], &[8]]);
        let parts = rsa_components_from_pkcs8(&doc).unwrap();
        assert_eq!(parts[0], [0x80, 0x01]);
        assert_eq!(parts[1], [1, 0, 1]);
        assert_eq!(parts[7], [8]);
    }

    #[test]
    fn refuses_what_it_does_not_expect() {
        let ok: [&[u8]; 9] = [&[0], &[9], &[3], &[3], &[4], &[5], &[6], &[7], &[8]];
        assert!(rsa_components_from_pkcs8(&pkcs8(&ok)).is_some());
        // Multi-prime version, a missing component, a negative or zero one.
        let mut multi = ok;
        multi[0] = &[1];
        assert!(rsa_components_from_pkcs8(&pkcs8(&multi)).is_none());
        assert!(rsa_components_from_pkcs8(&pkcs8(&ok[..8])).is_none());
        let mut negative = ok;
        negative[4] = &[0x80];
        assert!(rsa_components_from_pkcs8(&pkcs8(&negative)).is_none());
        let mut zero = ok;
        zero[4] = &[0];
        assert!(rsa_components_from_pkcs8(&pkcs8(&zero)).is_none());
        // Truncated, trailing garbage, empty.
        let doc = pkcs8(&ok);
        for cut in 0..doc.len() {
            assert!(rsa_components_from_pkcs8(&doc[..cut]).is_none());
        }
        let mut trailing = doc.clone();
        trailing.push(0);
        assert!(rsa_components_from_pkcs8(&trailing).is_none());
        // A long-form length that claims more than there is.
        assert!(rsa_components_from_pkcs8(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
