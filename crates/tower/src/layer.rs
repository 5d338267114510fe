//! The tower layer and its service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Extensions, Request, Response, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::auth::Refused;
use crate::{Passport, PassportAuth, Requirements};

/// A tower [`Layer`] that authenticates every request with a
/// [`PassportAuth`] and [`Requirements`]; made by [`PassportAuth::layer`]
/// and [`PassportAuth::require`].
///
/// Refused requests are answered at once (the inner service never sees
/// them); accepted ones carry a [`Passport`] in their extensions. Each
/// request that presents a passport leaves one audit record of the layers'
/// decision (see [`Passport`]).
///
/// The service works with any inner service over the `http` crate's types,
/// `Service<http::Request<ReqBody>, Response = http::Response<ResBody>>`,
/// where `ResBody: From<Bytes>` — the bound that lets a refusal carry its
/// small JSON body. hyper's and `http-body-util`'s `Full<Bytes>`, axum's
/// `Body` and `Bytes` itself meet it.
///
/// The path in `htu` (DPoP) is the request URI's path. With the `axum`
/// feature, under axum's `nest` and `nest_service` (which strip the
/// prefix), it is the path of axum's `OriginalUri`, the one the client
/// used.
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

/// The future of a [`PassportService`]: the inner service's response, or
/// the refusal.
pub type ResponseFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

/// The path `htu` names: the one the client used.
fn request_path<'a>(uri: &'a Uri, extensions: &'a Extensions) -> &'a str {
    #[cfg(feature = "axum")]
    if let Some(original) = extensions.get::<axum::extract::OriginalUri>() {
        // Under `nest`, the URI is stripped of the prefix.
        return original.0.path();
    }
    #[cfg(not(feature = "axum"))]
    let _ = extensions;
    uri.path()
}

impl<S: Clone> PassportService<S> {
    /// The inner service that was made ready, to be called; a clone stays
    /// for the next `poll_ready`.
    fn ready_inner(&mut self) -> S {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for PassportService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // An outer layer of the same PassportAuth already verified this
        // request: only this layer's requirements are left to check (a
        // refusal is the request's audit record).
        let outcome = match request.extensions().get::<Passport>() {
            Some(passport) if passport.same_auth(&self.auth) => passport
                .require(&self.requirements)
                .map(|()| None)
                .map_err(Refused::Final),
            _ => self
                .auth
                .first_attempt(
                    request.method(),
                    request_path(request.uri(), request.extensions()),
                    request.headers(),
                    &self.requirements,
                    self.auth.refetches(),
                )
                .map(Some),
        };
        match outcome {
            Ok(passport) => {
                let mut inner = self.ready_inner();
                if let Some(passport) = &passport {
                    request.extensions_mut().insert(passport.clone());
                }
                let future = inner.call(request);
                Box::pin(settle(future, passport))
            }
            Err(Refused::Final(rejection)) => {
                let response = rejection.into_http_response();
                Box::pin(async move { Ok(response) })
            }
            Err(Refused::Retry { rejection, audit }) => {
                let mut inner = self.ready_inner();
                let auth = self.auth.clone();
                let requirements = self.requirements.clone();
                // Only the parts are borrowed across the wait: a body need
                // not be `Sync`.
                let (mut parts, body) = request.into_parts();
                Box::pin(async move {
                    let retried = auth
                        .refetch_and_retry(
                            &parts.method,
                            request_path(&parts.uri, &parts.extensions),
                            &parts.headers,
                            &requirements,
                            rejection,
                            audit,
                        )
                        .await;
                    match retried {
                        Ok(passport) => {
                            parts.extensions.insert(passport.clone());
                            let request = Request::from_parts(parts, body);
                            // `inner` was made ready for this request: the
                            // wait for the refetch does not change that.
                            settle(inner.call(request), Some(passport)).await
                        }
                        Err(rejection) => Ok(rejection.into_http_response()),
                    }
                })
            }
        }
    }
}

/// The inner service's response. This layer authenticated the request
/// (`passport`): unless an inner layer refused it or the handler took the
/// passport (either wrote the record), the acceptance is recorded now, and
/// one that cannot be is not answered.
async fn settle<F, B, E>(future: F, passport: Option<Passport>) -> Result<Response<B>, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<Bytes>,
{
    let response = future.await?;
    match passport.map(|p| p.settle_accepted()) {
        Some(Err(rejection)) => Ok(rejection.into_http_response()),
        _ => Ok(response),
    }
}
