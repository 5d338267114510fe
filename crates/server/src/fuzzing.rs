//! Entry points for the fuzz targets in `fuzz/` (not a public API: hidden,
//! unstable, may change in any release).

use passport_claims::ScopeSet;
use serde_json::{Map, Value};

use crate::OAuthError;

/// The checks `/register` (RFC 7591) runs on a request body, `open_scopes`
/// being what an open client may be granted: the RFC 7591 §3.2.1 answer it
/// would send (without the client id and secret), or the error.
pub fn registration(body: &[u8], open_scopes: &ScopeSet) -> Result<Map<String, Value>, OAuthError> {
    crate::endpoints::register::Registration::parse(body, open_scopes).map(|r| r.answer)
}
