//! Entry points for the fuzz targets in `fuzz/` (not a public API: hidden,
//! unstable, may change in any release).

use http::HeaderMap;

use crate::{AuthError, Scheme};

/// The `Authorization` header parser the layer runs on every request: the
/// scheme and token of the one `Authorization` header of `headers`.
pub fn credentials(
    headers: &HeaderMap,
    max_len: usize,
    dpop_enabled: bool,
) -> Result<(Scheme, &str), AuthError> {
    crate::credentials::credentials(headers, max_len, dpop_enabled)
}
