use aws_lc_rs::digest;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// SHA-256 of `bytes`, base64url-encoded (the form of RFC 9449 `ath` and of
/// the parent-token binding in a delegated passport).
pub fn sha256_b64url(bytes: &[u8]) -> String {
    crate::b64::encode(sha256(bytes))
}
