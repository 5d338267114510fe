//! The tower layer and its service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::OriginalUri;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Passport, PassportAuth, Requirements};

/// A tower [`Layer`] that authenticates every request with a
/// [`PassportAuth`] and [`Requirements`]; made by [`PassportAuth::layer`]
/// and [`PassportAuth::require`].
///
/// Refused requests are answered at once (the inner service never sees
/// them); accepted ones carry a [`Passport`] in their extensions. Each
/// request that presents a passport leaves one audit record of the layers'
/// decision (see [`Passport`]).
#[derive(Clone, Debug)]
pub struct PassportLayer {
    auth: PassportAuth,
    requirements: Arc<Requirements>,
}

impl PassportLayer {
    pub(crate) fn new(auth: PassportAuth, requirements: Requirements) -> PassportLayer {
        PassportLayer {
            auth,
            requirements: Arc::new(requirements),
        }
    }
}

impl<S> Layer<S> for PassportLayer {
    type Service = PassportService<S>;

    fn layer(&self, inner: S) -> PassportService<S> {
        PassportService {
            inner,
            auth: self.auth.clone(),
            requirements: self.requirements.clone(),
        }
    }
}

/// The service of a [`PassportLayer`].
#[derive(Clone, Debug)]
pub struct PassportService<S> {
    inner: S,
    auth: PassportAuth,
    requirements: Arc<Requirements>,
}

/// The future of a [`PassportService`].
pub type ResponseFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<S, B> Service<Request<B>> for PassportService<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // An outer layer of the same PassportAuth already verified this
        // request: only this layer's requirements are left to check (a
        // refusal is the request's audit record).
        let outcome = match request.extensions().get::<Passport>() {
            Some(passport) if passport.same_auth(&self.auth) => {
                passport.require(&self.requirements).map(|()| None)
            }
            _ => {
                // Under `nest`, the URI is stripped of the prefix; `htu`
                // names the full path the client used.
                let path = match request.extensions().get::<OriginalUri>() {
                    Some(original) => original.0.path(),
                    None => request.uri().path(),
                };
                self.auth
                    .authenticate_deferred(
                        request.method(),
                        path,
                        request.headers(),
                        &self.requirements,
                    )
                    .map(Some)
            }
        };
        match outcome {
            Ok(passport) => {
                if let Some(passport) = &passport {
                    request.extensions_mut().insert(passport.clone());
                }
                // The clone that was made ready is the one that is called.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let future = inner.call(request);
                Box::pin(async move {
                    let response = future.await?.into_response();
                    // This layer authenticated the request: unless an inner
                    // layer refused it or the handler took the passport
                    // (either wrote the record), the acceptance is recorded
                    // now, and one that cannot be is not answered.
                    match passport.map(|p| p.settle_accepted()) {
                        Some(Err(rejection)) => Ok(rejection.into_response()),
                        _ => Ok(response),
                    }
                })
            }
            Err(rejection) => {
                let response = rejection.into_response();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
