//! Reading a POST and authenticating its client.

#[allow(clippy::wildcard_imports)]
use super::*;

// ---- client authentication ----

/// A POST request read: its form, its `Authorization` header, the peer.
pub(super) struct Posted {
    pub(super) form: Form,
    pub(super) headers: HeaderMap,
    pub(super) peer: IpAddr,
}

pub(super) async fn read_post(request: Request) -> Result<Posted, OAuthError> {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let bytes: Bytes = axum::body::to_bytes(body, DEFAULT_MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            OAuthError::new(
                413,
                codes::INVALID_REQUEST,
                "the request body is too large or unreadable",
            )
        })?;
    let form = Form::parse(&bytes, DEFAULT_MAX_FORM_BYTES).map_err(|e| e.oauth())?;
    Ok(Posted {
        form,
        headers: parts.headers,
        peer,
    })
}

impl Posted {
    pub(super) fn credentials(&self) -> Result<ClientCredentials, OAuthError> {
        let authorization = match self.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| ClientAuthError::MalformedBasic("not ASCII").oauth(true))?,
            ),
        };
        ClientCredentials::extract(authorization, &self.form)
            .map_err(|e| e.oauth(authorization.is_some()))
    }
}

/// Authenticates the client of a request by its secret, presented the way
/// it registered (`client_secret_basic` or `client_secret_post`, RFC 6749
/// §2.3: one method per client). A client presenting no secret, another
/// method, an unknown id or a wrong secret is `invalid_client` (401).
pub(super) async fn authenticate(
    server: &Server,
    credentials: &ClientCredentials,
) -> Result<ClientRecord, OAuthError> {
    let basic = credentials.used_basic();
    let secret = match credentials {
        ClientCredentials::SecretBasic { secret, .. }
        | ClientCredentials::SecretPost { secret, .. } => secret,
        other => {
            return Err(ClientAuthError::MethodMismatch {
                used: other.method(),
                registered: "client_secret_basic",
            }
            .oauth(basic));
        }
    };
    match server
        .inner
        .db
        .authenticate_client(credentials.client_id(), &ClientSecret::new(secret.clone()))
        .await
    {
        Ok(client)
            if SECRET_METHODS.contains(&client.auth_method.as_str())
                && client.auth_method == credentials.method() =>
        {
            Ok(client)
        }
        Ok(_) | Err(StoreError::ClientAuthFailed) => Err(ClientAuthError::BadSecret.oauth(basic)),
        Err(e) => Err(server_error("client authentication failed", &e)),
    }
}

/// The client a `client_id` names, for the endpoints that do not
/// authenticate it (`/authorize`): a registered client. An unknown id is
/// `invalid_client` (401).
#[allow(dead_code)] // the authorization endpoint's, next
pub(super) async fn client_by_id(
    server: &Server,
    client_id: &str,
) -> Result<ClientRecord, OAuthError> {
    match server.inner.db.client(client_id).await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => Err(OAuthError::new(
            401,
            codes::INVALID_CLIENT,
            "this client is not registered",
        )),
        Err(e) => Err(server_error("client lookup failed", &e)),
    }
}
