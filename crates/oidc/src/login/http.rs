//! The HTTP client the `oauth2` crate's token request runs on: the
//! provider's reqwest client (its timeouts, no redirects, rustls on
//! aws-lc-rs), with the response body capped at [`MAX_RESPONSE_BYTES`].
//!
//! [`MAX_RESPONSE_BYTES`]: crate::MAX_RESPONSE_BYTES

use std::future::Future;
use std::pin::Pin;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

use crate::provider::read_bounded;

/// A transport failure, or a response over the size cap.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct TransportError(String);

/// `oauth2`'s async HTTP client hook, on our reqwest client.
pub(super) struct CappedHttp(reqwest::Client);

impl CappedHttp {
    pub(super) fn new(client: reqwest::Client) -> CappedHttp {
        CappedHttp(client)
    }
}

impl<'c> AsyncHttpClient<'c> for CappedHttp {
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)
                .map_err(|e| TransportError(e.without_url().to_string()))?;
            let response = self
                .0
                .execute(request)
                .await
                .map_err(|e| TransportError(e.without_url().to_string()))?;
            let mut builder = oauth2::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = read_bounded(response).await.map_err(TransportError)?;
            builder
                .body(body)
                .map_err(|e| TransportError(e.to_string()))
        })
    }
}
