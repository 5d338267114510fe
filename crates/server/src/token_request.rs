//! Strict parsing of token endpoint requests (RFC 6749 §4.1.3, §4.4, §6;
//! RFC 8693 §2.1) into a typed [`TokenRequest`].
//!
//! The body is parsed by [`Form::parse`] (size cap, each parameter at most
//! once, RFC 6749 §3.2); client credentials are read from the same form by
//! [`crate::client_auth::ClientCredentials::extract`]. Errors answer with
//! RFC 6749 §5.2 JSON and `Cache-Control: no-store` ([`OAuthError`]).
//!
//! ```
//! use passport_server::form::Form;
//! use passport_server::token_request::{TokenRequest, TokenType};
//!
//! let body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
//!     &subject_token=a.b.c&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt\
//!     &resource=https%3A%2F%2Ftools.example%2Fmcp&scope=files%3Aread";
//! let request = TokenRequest::from_form(&Form::parse(body.as_bytes(), 65536)?)?;
//! let TokenRequest::TokenExchange(exchange) = request else { unreachable!() };
//! assert_eq!(exchange.subject_token_type, TokenType::Jwt);
//!
//! let err = TokenRequest::from_form(&Form::parse(b"grant_type=password", 100)?).unwrap_err();
//! assert_eq!(err.oauth().error, "unsupported_grant_type");
//! let err = TokenRequest::from_form(&Form::parse(b"grant_type=authorization_code", 100)?).unwrap_err();
//! assert_eq!(err.oauth().description, "missing parameters: code, redirect_uri, code_verifier");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use passport_claims::ScopeSet;

use crate::authorize::{AuthorizeError, check_resource, parse_scope};
use crate::form::{Form, FormError};
use crate::oauth::{OAuthError, codes};

/// RFC 8693's grant type.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Why a token request was refused before any credential was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRequestError {
    /// The body is oversized, has a repeated parameter or too many.
    #[error(transparent)]
    Form(#[from] FormError),
    /// Required parameters are absent (all of them named).
    #[error("missing parameters: {0}")]
    MissingParameters(String),
    /// `grant_type` is not one of the four.
    #[error("grant_type not supported: {0}")]
    UnsupportedGrantType(String),
    /// A `*_token_type` is not one this server reads or issues.
    #[error("{param} not supported: {value}")]
    UnsupportedTokenType {
        /// The parameter.
        param: &'static str,
        /// Its value (clipped).
        value: String,
    },
    /// `resource` (or a token exchange's `audience`) is not an absolute
    /// http(s) URI without a fragment, or the two differ.
    #[error("resource invalid: {0}")]
    InvalidResource(&'static str),
    /// `scope` is not valid.
    #[error("scope invalid: {0}")]
    InvalidScope(String),
}

passport_jose::error_codes! {
    TokenRequestError {
        TokenRequestError::MissingParameters(_) => "token_request_missing_parameters":
            "A token request lacks parameters its grant type requires.",
        TokenRequestError::UnsupportedGrantType(_) => "grant_type_unsupported":
            "grant_type is missing or not one this server supports.",
        TokenRequestError::UnsupportedTokenType { .. } => "token_type_unsupported":
            "A token exchange names a subject, actor or requested token type this server does not handle.",
        TokenRequestError::InvalidResource(_) => "resource_invalid":
            "resource (or a token exchange's audience) is not an absolute http(s) URI without a fragment, or the two differ.",
        TokenRequestError::InvalidScope(_) => "scope_invalid":
            "scope is not a space-separated list of valid scope patterns.",
    }
    wraps {
        TokenRequestError::Form(e) => e.code(),
    }
}

impl TokenRequestError {
    /// The RFC 6749 §5.2 answer (400).
    pub fn oauth(&self) -> OAuthError {
        let error = match self {
            TokenRequestError::UnsupportedGrantType(_) => codes::UNSUPPORTED_GRANT_TYPE,
            TokenRequestError::InvalidResource(_) => codes::INVALID_TARGET,
            TokenRequestError::InvalidScope(_) => codes::INVALID_SCOPE,
            _ => codes::INVALID_REQUEST,
        };
        OAuthError::new(400, error, self.to_string())
    }
}

/// The token types of RFC 8693 §3 this server handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenType {
    /// `urn:ietf:params:oauth:token-type:jwt` (a passport bundle).
    Jwt,
    /// `urn:ietf:params:oauth:token-type:id_token` (an upstream ID token).
    IdToken,
    /// `urn:ietf:params:oauth:token-type:access_token` (a passport).
    AccessToken,
}

impl TokenType {
    /// The URN.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Jwt => "urn:ietf:params:oauth:token-type:jwt",
            TokenType::IdToken => "urn:ietf:params:oauth:token-type:id_token",
            TokenType::AccessToken => "urn:ietf:params:oauth:token-type:access_token",
        }
    }

    fn parse(param: &'static str, value: &str) -> Result<TokenType, TokenRequestError> {
        [TokenType::Jwt, TokenType::IdToken, TokenType::AccessToken]
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| TokenRequestError::UnsupportedTokenType {
                param,
                value: passport_jose::clip(value, 80),
            })
    }
}

/// A token request, by grant type. Secrets (codes, refresh tokens, subject
/// tokens) are never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenRequest {
    /// RFC 6749 §4.1.3 with PKCE.
    AuthorizationCode {
        /// The code.
        code: String,
        /// The redirect URI of the authorization request.
        redirect_uri: String,
        /// The PKCE verifier.
        code_verifier: String,
        /// RFC 8707 `resource`, if sent.
        resource: Option<String>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        /// The refresh token.
        refresh_token: String,
        /// A narrower scope, if asked.
        scope: Option<ScopeSet>,
        /// RFC 8707 `resource`, if sent.
        resource: Option<String>,
    },
    /// RFC 8693.
    TokenExchange(TokenExchange),
    /// RFC 6749 §4.4.
    ClientCredentials {
        /// The scope asked.
        scope: Option<ScopeSet>,
        /// RFC 8707 `resource`, if sent.
        resource: Option<String>,
        /// The `jti` of the passport this one replaces (a rotation: the
        /// predecessor then reads ROTATED), if sent.
        replaces: Option<String>,
    },
}

/// The parameters of an RFC 8693 token exchange.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenExchange {
    /// `subject_token`.
    pub subject_token: String,
    /// `subject_token_type`.
    pub subject_token_type: TokenType,
    /// `actor_token`, with its type: a passport bundle (`jwt` or
    /// `access_token`) naming the agent that will act; an `id_token` is
    /// refused when parsing.
    pub actor_token: Option<(String, TokenType)>,
    /// `requested_token_type` (a JWT / access token: passports are both).
    pub requested_token_type: Option<TokenType>,
    /// `resource`.
    pub resource: Option<String>,
    /// `audience`: checked like `resource`, and equal to it when both are
    /// sent.
    pub audience: Option<String>,
    /// `scope`.
    pub scope: Option<ScopeSet>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (grant, resource) = match self {
            TokenRequest::AuthorizationCode { resource, .. } => ("authorization_code", resource),
            TokenRequest::RefreshToken { resource, .. } => ("refresh_token", resource),
            TokenRequest::TokenExchange(x) => (TOKEN_EXCHANGE, &x.resource),
            TokenRequest::ClientCredentials { resource, .. } => ("client_credentials", resource),
        };
        f.debug_struct("TokenRequest")
            .field("grant_type", &grant)
            .field("resource", resource)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchange")
            .field("subject_token_type", &self.subject_token_type)
            .field("actor_token", &self.actor_token.as_ref().map(|(_, t)| t))
            .field("resource", &self.resource)
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenRequest {
    /// The request in `form`.
    pub fn from_form(form: &Form) -> Result<TokenRequest, TokenRequestError> {
        let grant = form
            .get("grant_type")
            .ok_or_else(|| TokenRequestError::MissingParameters("grant_type".into()))?;
        let required: &[&'static str] = match grant {
            "authorization_code" => &["code", "redirect_uri", "code_verifier"],
            "refresh_token" => &["refresh_token"],
            TOKEN_EXCHANGE => &["subject_token", "subject_token_type"],
            "client_credentials" => &[],
            other => {
                return Err(TokenRequestError::UnsupportedGrantType(
                    passport_jose::clip(other, 80),
                ));
            }
        };
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|p| form.get(p).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(TokenRequestError::MissingParameters(missing.join(", ")));
        }
        let owned = |name: &str| form.get(name).map(str::to_owned).unwrap_or_default();
        let resource = form
            .get("resource")
            .map(|r| check_resource(r).map(|()| r.to_owned()))
            .transpose()
            .map_err(TokenRequestError::InvalidResource)?;
        let scope = form
            .get("scope")
            .map(|s| parse_scope(Some(s)))
            .transpose()
            .map_err(|e| match e {
                AuthorizeError::InvalidScope(reason) => TokenRequestError::InvalidScope(reason),
                other => TokenRequestError::InvalidScope(other.to_string()),
            })?;
        Ok(match grant {
            "authorization_code" => TokenRequest::AuthorizationCode {
                code: owned("code"),
                redirect_uri: owned("redirect_uri"),
                code_verifier: owned("code_verifier"),
                resource,
            },
            "refresh_token" => TokenRequest::RefreshToken {
                refresh_token: owned("refresh_token"),
                scope,
                resource,
            },
            TOKEN_EXCHANGE => {
                let subject_token_type =
                    TokenType::parse("subject_token_type", &owned("subject_token_type"))?;
                let actor_token = match (form.get("actor_token"), form.get("actor_token_type")) {
                    (None, None) => None,
                    // the actor is named by a passport (its agent, its key):
                    // an ID token names a person, not an agent that acts
                    (Some(t), Some(ty)) => match TokenType::parse("actor_token_type", ty)? {
                        TokenType::IdToken => {
                            return Err(TokenRequestError::UnsupportedTokenType {
                                param: "actor_token_type",
                                value: ty.to_owned(),
                            });
                        }
                        actor => Some((t.to_owned(), actor)),
                    },
                    // RFC 8693 §2.1: actor_token_type is required with an
                    // actor_token and must not appear without one.
                    (Some(_), None) => {
                        return Err(TokenRequestError::MissingParameters(
                            "actor_token_type".into(),
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(TokenRequestError::MissingParameters("actor_token".into()));
                    }
                };
                let requested_token_type = form
                    .get("requested_token_type")
                    .map(|t| match TokenType::parse("requested_token_type", t)? {
                        TokenType::IdToken => Err(TokenRequestError::UnsupportedTokenType {
                            param: "requested_token_type",
                            value: t.to_owned(),
                        }),
                        ok => Ok(ok),
                    })
                    .transpose()?;
                // RFC 8693 `audience` becomes the passport's `aud` as
                // `resource` does, so it meets the same rules; both sent
                // must name the same target (one `aud` is minted)
                let audience = form
                    .get("audience")
                    .map(|a| {
                        check_resource(a).map(|()| a.to_owned()).map_err(
                            |_| "audience is not an absolute http(s) URI without a fragment",
                        )
                    })
                    .transpose()
                    .map_err(TokenRequestError::InvalidResource)?;
                if let (Some(r), Some(a)) = (&resource, &audience)
                    && r != a
                {
                    return Err(TokenRequestError::InvalidResource(
                        "resource and audience name different targets",
                    ));
                }
                TokenRequest::TokenExchange(TokenExchange {
                    subject_token: owned("subject_token"),
                    subject_token_type,
                    actor_token,
                    requested_token_type,
                    resource,
                    audience,
                    scope,
                })
            }
            _ => TokenRequest::ClientCredentials {
                scope,
                resource,
                replaces: form.get("replaces").map(str::to_owned),
            },
        })
    }

    /// The RFC 6749 name of the grant type.
    pub fn grant_type(&self) -> &'static str {
        match self {
            TokenRequest::AuthorizationCode { .. } => "authorization_code",
            TokenRequest::RefreshToken { .. } => "refresh_token",
            TokenRequest::TokenExchange(_) => TOKEN_EXCHANGE,
            TokenRequest::ClientCredentials { .. } => "client_credentials",
        }
    }
}
