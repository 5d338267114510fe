//! The axum extractor.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::{AuthError, Passport, Rejection};

/// Takes the [`Passport`] the layer put in the request. On a route without
/// the layer it answers 500 `passport_layer_missing` (a server bug, never a
/// silent pass).
impl<S: Send + Sync> FromRequestParts<S> for Passport {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Passport, Rejection> {
        parts
            .extensions
            .get::<Passport>()
            .cloned()
            .ok_or_else(|| Rejection::new(AuthError::LayerMissing, None, None, false))
    }
}

/// `Option<Passport>`: `None` on a route without the layer.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Passport {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Passport>, Self::Rejection> {
        Ok(parts.extensions.get::<Passport>().cloned())
    }
}
