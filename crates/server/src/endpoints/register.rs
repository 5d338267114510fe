//! `/register`: OAuth 2.0 dynamic client registration (RFC 7591), open to
//! anyone (MCP clients register themselves), so what it grants is narrow:
//! the grant types PKCE and refresh rotation protect (never
//! `client_credentials` or token exchange, which are for clients an
//! operator registers), at most the scopes the operator configured for open
//! clients ([`crate::ServerBuilder::registration_scopes`], none by
//! default), a per-address rate limit, a bounded body.

use passport_jose::JwkSet;
use passport_store::server::NewClient;

use super::clients::OPEN_GRANT_TYPES;
#[allow(clippy::wildcard_imports)]
use super::*;
use crate::client_auth::ClientSecret;
use crate::client_metadata::{ClientIdUrl, Load};

/// The largest registration request read, in bytes.
pub(crate) const MAX_REGISTRATION_BYTES: usize = 16 * 1024;
/// The most redirect URIs one client registers.
const MAX_REDIRECT_URIS: usize = 16;
/// The longest `client_name` kept, in characters.
const MAX_CLIENT_NAME: usize = 100;
/// RFC 7591 §3.2.2: a redirect URI is refused.
const INVALID_REDIRECT_URI: &str = "invalid_redirect_uri";
/// RFC 7591 §3.2.2: another member is refused.
const INVALID_CLIENT_METADATA: &str = "invalid_client_metadata";

fn invalid(why: impl AsRef<str>) -> OAuthError {
    OAuthError::new(400, INVALID_CLIENT_METADATA, why)
}

pub(super) async fn register(State(server): State<Server>, request: Request) -> Response {
    if !server.inner.clients.registration {
        return StatusCode::NOT_FOUND.into_response();
    }
    match register_inner(&server, request).await {
        Ok(body) => {
            let mut response = no_store(&body);
            *response.status_mut() = StatusCode::CREATED;
            response
        }
        Err(e) => oauth_error(&e),
    }
}

async fn register_inner(server: &Server, request: Request) -> Result<Value, OAuthError> {
    let (parts, body) = request.into_parts();
    let peer = super::peer_of(&parts.extensions);
    // the address's limit before anything is read
    server
        .inner
        .clients
        .register_limiter
        .check_address(peer)
        .map_err(|e| e.oauth())?;
    let bytes = axum::body::to_bytes(body, MAX_REGISTRATION_BYTES)
        .await
        .map_err(|_| {
            OAuthError::new(
                413,
                INVALID_CLIENT_METADATA,
                format!("the registration request is larger than {MAX_REGISTRATION_BYTES} bytes"),
            )
        })?;
    // a registration's keys may cost primality tests: in the strangers' turn
    let settings = &server.inner.clients;
    let how = Load::of(&bytes, Some("jwks"), true);
    let open_scopes = settings.open_scopes.clone();
    let client = settings
        .fetcher
        .key_loads()
        .run(
            how,
            peer,
            || None,
            move || Registration::parse(&bytes, &open_scopes),
        )
        .await
        .map_err(|e| e.busy())??;
    let mut answer = client.answer.clone();
    let secret = match client.method {
        "client_secret_basic" | "client_secret_post" => {
            let (secret, hash) = ClientSecret::generate()
                .map_err(|e| server_error("no secret could be generated", &e))?;
            Some((secret, hash.to_b64()))
        }
        _ => None,
    };
    let client_id = format!(
        "dyn-{}",
        crate::service::random_id().map_err(|e| server_error("no client id", &e))?
    );
    let now = server.now();
    server
        .inner
        .db
        .insert_client(NewClient {
            client_id: client_id.clone(),
            // whatever its method: `Public` is a public client an operator
            // registered, and no rule may mistake a stranger for one
            kind: ClientKind::Dynamic,
            secret_hash: secret.as_ref().map(|(_, hash)| hash.clone()),
            auth_method: client.method.into(),
            redirect_uris: client.redirect_uris,
            grant_types: client.grant_types,
            scopes: client.scopes,
            owner: None,
            jwks: client.jwks.as_ref().map(|(text, _)| text.clone()),
            metadata: Value::Object(client.stored).to_string(),
            created_at: now,
        })
        .await
        .map_err(|e| server_error("the client could not be registered", &e))?;
    // loaded once, here: its first request finds the set
    if let Some((text, keys)) = &client.jwks {
        settings.keep_open_keys(text, keys);
    }
    tracing::info!(client_id = %client_id, method = client.method, "client registered");
    answer.insert("client_id".into(), json!(client_id));
    answer.insert("client_id_issued_at".into(), json!(now));
    if let Some((secret, _)) = secret {
        // shown this once; the database keeps its hash
        answer.insert("client_secret".into(), json!(secret.expose()));
        answer.insert("client_secret_expires_at".into(), json!(0));
    }
    Ok(Value::Object(answer))
}

/// A registration request that passed every check.
pub(crate) struct Registration {
    method: &'static str,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    scopes: String,
    /// The `jwks` as stored, and the set loaded from it.
    jwks: Option<(String, JwkSet)>,
    /// What the client's record keeps besides (`client_name`, `jwks_uri`).
    stored: Map<String, Value>,
    /// The RFC 7591 §3.2.1 answer, without the id and secret.
    pub(crate) answer: Map<String, Value>,
}

impl Registration {
    /// Checks the body of a registration request, `open_scopes` being what
    /// an open client may be granted.
    pub(crate) fn parse(bytes: &[u8], open_scopes: &ScopeSet) -> Result<Registration, OAuthError> {
        let request: Map<String, Value> = passport_jose::json::parse_object(bytes, "registration")
            .map_err(|e| invalid(format!("not a JSON object: {e}")))?;
        Registration::from_json(open_scopes, &request)
    }

    fn from_json(
        open_scopes: &ScopeSet,
        r: &Map<String, Value>,
    ) -> Result<Registration, OAuthError> {
        let string = |name: &str| -> Result<Option<&str>, OAuthError> {
            match r.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(invalid(format!("{name} is not a string"))),
            }
        };
        let list = |name: &str| -> Result<Option<Vec<&str>>, OAuthError> {
            match r.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| invalid(format!("{name} holds a non-string")))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(invalid(format!("{name} is not an array"))),
            }
        };

        // RFC 7591 §2: the default is authorization_code
        let grant_types = list("grant_types")?.unwrap_or_else(|| vec!["authorization_code"]);
        if let Some(g) = grant_types.iter().find(|g| !OPEN_GRANT_TYPES.contains(g)) {
            return Err(invalid(format!(
                "grant type {} is not open to registration (client_credentials and token \
                 exchange are for clients an operator registers)",
                passport_jose::clip(g, 60)
            )));
        }
        if !grant_types.contains(&"authorization_code") {
            return Err(invalid("grant_types must include authorization_code"));
        }
        let response_types = list("response_types")?.unwrap_or_else(|| vec!["code"]);
        if response_types != ["code"] {
            return Err(invalid("response_types must be [\"code\"]"));
        }

        let redirect_uris = list("redirect_uris")?.unwrap_or_default();
        if redirect_uris.is_empty() {
            return Err(OAuthError::new(
                400,
                INVALID_REDIRECT_URI,
                "redirect_uris is required for authorization_code",
            ));
        }
        if redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::new(
                400,
                INVALID_REDIRECT_URI,
                format!("more than {MAX_REDIRECT_URIS} redirect_uris"),
            ));
        }
        for uri in &redirect_uris {
            crate::authorize::check_redirect_uri(uri).map_err(|why| {
                OAuthError::new(400, INVALID_REDIRECT_URI, format!("redirect_uri: {why}"))
            })?;
        }

        // RFC 7591 §2: the default is client_secret_basic
        let method = match string("token_endpoint_auth_method")?.unwrap_or("client_secret_basic") {
            "none" => "none",
            "client_secret_basic" => "client_secret_basic",
            "client_secret_post" => "client_secret_post",
            "private_key_jwt" => "private_key_jwt",
            other => {
                return Err(invalid(format!(
                    "token_endpoint_auth_method {} is not supported",
                    passport_jose::clip(other, 40)
                )));
            }
        };
        let mut stored = Map::new();
        let mut answer = Map::new();
        if let Some(name) = string("client_name")? {
            if name.chars().count() > MAX_CLIENT_NAME
                || !crate::client_metadata::displayable_name(name)
            {
                return Err(invalid(format!(
                    "client_name must be at most {MAX_CLIENT_NAME} characters without control, \
                     invisible or direction-changing characters"
                )));
            }
            stored.insert("client_name".into(), json!(name));
            answer.insert("client_name".into(), json!(name));
        }
        let scopes =
            super::clients::open_scope_string(open_scopes, string("scope")?).map_err(invalid)?;
        // The keys last: loading an RSA key costs a primality test, so a
        // registration that fails a cheap check above never costs one.
        let jwks_uri = string("jwks_uri")?;
        let jwks = match (method, r.get("jwks"), jwks_uri) {
            ("private_key_jwt", Some(_), Some(_)) => {
                return Err(invalid("jwks and jwks_uri are mutually exclusive"));
            }
            ("private_key_jwt", Some(jwks), None) => {
                let keys = JwkSet::from_client_json(jwks.to_string().as_bytes())
                    .map_err(|e| invalid(format!("jwks: {e}")))?;
                if keys.is_empty() {
                    return Err(invalid("jwks holds no usable public signing key"));
                }
                answer.insert("jwks".into(), keys.to_json());
                Some((keys.to_json().to_string(), keys))
            }
            ("private_key_jwt", None, Some(uri)) => {
                // fetched, when used, behind the metadata fetcher's SSRF
                // defences; here only its form
                ClientIdUrl::parse(uri, false).map_err(|e| invalid(format!("jwks_uri: {e}")))?;
                stored.insert("jwks_uri".into(), json!(uri));
                answer.insert("jwks_uri".into(), json!(uri));
                None
            }
            ("private_key_jwt", None, None) => {
                return Err(invalid("private_key_jwt needs jwks or jwks_uri"));
            }
            (_, None, None) => None,
            (_, _, _) => return Err(invalid("jwks and jwks_uri are for private_key_jwt only")),
        };

        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        answer.insert("redirect_uris".into(), json!(redirect_uris));
        answer.insert("grant_types".into(), json!(grant_types));
        answer.insert("response_types".into(), json!(["code"]));
        answer.insert("token_endpoint_auth_method".into(), json!(method));
        // what it may actually be granted: RFC 7591 §3.2.1 returns the
        // values the server registered, which may differ from those asked
        answer.insert("scope".into(), json!(scopes));
        Ok(Registration {
            method,
            redirect_uris: owned(&redirect_uris),
            grant_types: owned(&grant_types),
            scopes,
            jwks,
            stored,
            answer,
        })
    }
}
