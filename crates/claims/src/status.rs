//! The `status` claim (draft-ietf-oauth-status-list §6.1) and the hook an
//! issuer asks for one.

use std::error::Error as StdError;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{ClaimsError, PassportClaims};

/// A passport's place in a Token Status List: the `status` claim
/// `{"status_list": {"idx": N, "uri": U}}`.
///
/// ```
/// use passport_claims::StatusReference;
/// let r = StatusReference::new(7, "https://issuer.example/status/1")?;
/// assert_eq!(r.idx(), 7);
/// assert!(StatusReference::new(7, "").is_err());
/// # Ok::<(), passport_claims::ClaimsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusReference {
    idx: u64,
    uri: String,
}

impl StatusReference {
    /// A reference to index `idx` of the list published at `uri` (the list
    /// token's `sub`). The URI must not be empty.
    pub fn new(idx: u64, uri: impl Into<String>) -> Result<StatusReference, ClaimsError> {
        let uri = uri.into();
        if uri.is_empty() {
            return Err(ClaimsError::InvalidClaim {
                name: "status",
                reason: "`status_list.uri` is empty",
            });
        }
        Ok(StatusReference { idx, uri })
    }

    /// The passport's index in the list.
    pub fn idx(&self) -> u64 {
        self.idx
    }

    /// The list's URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Decodes the claim's value. Only the `status_list` mechanism is
    /// understood, and nothing else may stand beside it: a passport whose
    /// status this project cannot check must not pass as one without status.
    pub(crate) fn from_value(value: Value) -> Result<StatusReference, ClaimsError> {
        const SHAPE: &str = "must be {\"status_list\": {\"idx\": <integer>, \"uri\": <string>}}";
        let invalid = |reason| ClaimsError::InvalidClaim {
            name: "status",
            reason,
        };
        let mut status = as_object(value).ok_or_else(|| invalid(SHAPE))?;
        let list = status.remove("status_list").and_then(as_object);
        let (Some(mut list), true) = (list, status.is_empty()) else {
            return Err(invalid(SHAPE));
        };
        let idx = list.remove("idx").and_then(|v| v.as_u64());
        let uri = match list.remove("uri") {
            Some(Value::String(uri)) if !uri.is_empty() => Some(uri),
            _ => None,
        };
        match (idx, uri, list.is_empty()) {
            (Some(idx), Some(uri), true) => Ok(StatusReference { idx, uri }),
            _ => Err(invalid(SHAPE)),
        }
    }

    pub(crate) fn wire(&self) -> StatusWire<'_> {
        StatusWire {
            status_list: ListWire {
                idx: self.idx,
                uri: &self.uri,
            },
        }
    }
}

fn as_object(value: Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[derive(Serialize)]
pub(crate) struct StatusWire<'a> {
    status_list: ListWire<'a>,
}

#[derive(Serialize)]
struct ListWire<'a> {
    idx: u64,
    uri: &'a str,
}

/// Hands out status-list places for new passports; an issuer configured
/// with one gives every passport it mints a `status` claim.
///
/// Implementations must never hand out an index twice (even across
/// restarts) and should not hand them out in order, so that a list does not
/// reveal how many passports exist.
pub trait StatusAllocator: Send + Sync + fmt::Debug {
    /// Reserves a place for `passport`, which is about to be signed (its
    /// `jti`, agent and `exp` are final; its `status` is not yet set).
    fn allocate(&self, passport: &PassportClaims) -> Result<StatusReference, AllocationError>;
}

/// Why a [`StatusAllocator`] could not hand out a place. It keeps the
/// allocator's own error as its [`source`](StdError::source).
#[derive(Debug, thiserror::Error)]
#[error("cannot allocate a status-list index")]
pub struct AllocationError {
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

impl AllocationError {
    /// Wraps the allocator's error.
    pub fn new(source: impl Into<Box<dyn StdError + Send + Sync>>) -> AllocationError {
        AllocationError {
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_status_list_mechanism() {
        let r =
            StatusReference::from_value(json!({"status_list": {"idx": 3, "uri": "https://i/s"}}))
                .unwrap();
        assert_eq!((r.idx(), r.uri()), (3, "https://i/s"));
    }

    #[test]
    fn refuses_every_other_shape() {
        for bad in [
            json!("x"),
            json!({}),
            json!({"status_list": {"idx": 3}}),
            json!({"status_list": {"uri": "https://i/s"}}),
            json!({"status_list": {"idx": -1, "uri": "https://i/s"}}),
            json!({"status_list": {"idx": 1.5, "uri": "https://i/s"}}),
            json!({"status_list": {"idx": 3, "uri": ""}}),
            json!({"status_list": {"idx": 3, "uri": 7}}),
            json!({"status_list": {"idx": 3, "uri": "https://i/s", "x": 1}}),
            json!({"status_list": {"idx": 3, "uri": "https://i/s"}, "other_mechanism": {}}),
        ] {
            let err = StatusReference::from_value(bad.clone()).unwrap_err();
            assert_eq!(err.code(), "invalid_claim", "{bad}");
        }
    }

    #[test]
    fn allocation_error_keeps_its_source() {
        let inner = std::io::Error::other("disk full");
        let err = AllocationError::new(inner);
        assert_eq!(err.source().unwrap().to_string(), "disk full");
    }
}
