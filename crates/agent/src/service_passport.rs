//! A credential source backed by the token service: renews the passport
//! before it expires and steps up on `insufficient_scope`.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::rotating::CachedPassport;
use crate::token_service::{PassportRequest, RefreshToken, TokenResponse, TokenService};
use crate::user_agent::UserAgent;
use crate::{ClientError, CredentialSource, Credentials, CredentialsFuture};

/// A passport is renewed when it has at most this many seconds left.
const RENEW_BEFORE_SECS: i64 = 30;
/// The most declined scopes remembered (the oldest are forgotten first).
const MAX_DECLINED: usize = 256;

/// How the passport was obtained, and so how more is obtained.
enum Grant {
    ClientCredentials,
    /// From the parent's passport (asked for each time: a renewing parent
    /// hands its current bundle).
    Exchange(Arc<dyn CredentialSource>),
    AuthorizationCode(Arc<dyn UserAgent>),
}

struct Held {
    request: PassportRequest,
    response: TokenResponse,
    /// When the passport expires: its leaf's `exp`, or `expires_in` when
    /// that comes sooner ([`CachedPassport`]'s reading, as a
    /// [`crate::RotatingPassport`]'s).
    expires_at: i64,
}

impl Held {
    /// Refused when the leaf passport cannot be read
    /// (`invalid_token_response`): it could not be renewed in time.
    fn new(request: PassportRequest, response: TokenResponse) -> Result<Held, ClientError> {
        let expires_at = CachedPassport::read(&response)?.expires_at();
        Ok(Held {
            request,
            response,
            expires_at,
        })
    }
}

/// A [`CredentialSource`] whose passport comes from a [`TokenService`]:
/// the agent's passport for a [`crate::PassportClient`], obtained once
/// when it is made, renewed when it has 30 seconds or less left — by the
/// leaf passport's `exp`, or the response's `expires_in` when that comes
/// sooner (a server may send no `expires_in`, or one past the passport's
/// expiry) — with the refresh token after the code flow, rotated, by the
/// same grant otherwise; and
/// **stepped up** when a resource server answers `insufficient_scope`:
///
/// - code flow: a new authorization for the passport's scopes plus the
///   ones the challenge named (the person consents again);
/// - token exchange: a new child of the parent with those scopes;
/// - client credentials: a new passport with those scopes.
///
/// The middleware then retries the refused request once (see
/// [`CredentialSource::step_up`]). Only scopes the challenge named are
/// added; a challenge naming nothing new asks for nothing; one step-up
/// runs at a time (a second request refused meanwhile uses its result
/// when it covers the scopes it was refused for).
///
/// ```no_run
/// # async fn run(service: passport_agent::TokenService) -> Result<(), passport_agent::ClientError> {
/// use passport_agent::{LoopbackUserAgent, PassportClient, PassportRequest, ServicePassport};
///
/// let browser = LoopbackUserAgent::new("http://127.0.0.1:8765/callback", |url| {
///     eprintln!("Open this URL to continue:\n  {url}");
/// });
/// let request = PassportRequest::new("https://files.example").scope("files:read");
/// let passport = ServicePassport::authorization_code(service, browser, request).await?;
/// let client = PassportClient::builder(passport).build();
/// // 403 insufficient_scope, scope="files:write" → the person is asked to
/// // consent to files:read files:write, and the upload is sent once more
/// let upload = client.post_json("https://files.example/upload", &"…").await?;
/// # let _ = upload; Ok(()) }
/// ```
pub struct ServicePassport {
    service: TokenService,
    grant: Grant,
    held: Mutex<Held>,
    /// One renewal or step-up at a time.
    obtaining: tokio::sync::Mutex<()>,
    /// Scopes a step-up asked for and did not get (the person declined,
    /// the token service refused): not asked for again, so a resource
    /// server repeating its challenge cannot make every request open a
    /// consent page or a token request.
    declined: Mutex<Vec<String>>,
}

impl fmt::Debug for ServicePassport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.held();
        f.debug_struct("ServicePassport")
            .field("issuer", &self.service.issuer())
            .field("request", &held.request)
            .field("passport", &held.response)
            .finish_non_exhaustive()
    }
}

impl ServicePassport {
    /// A workload's passport (client credentials).
    pub async fn client_credentials(
        service: TokenService,
        request: PassportRequest,
    ) -> Result<ServicePassport, ClientError> {
        ServicePassport::obtain_first(service, Grant::ClientCredentials, request).await
    }

    /// A sub-agent's passport, exchanged from `parent`'s (its current
    /// bundle is the subject token each time one is obtained).
    pub async fn exchange(
        service: TokenService,
        parent: impl CredentialSource,
        request: PassportRequest,
    ) -> Result<ServicePassport, ClientError> {
        let grant = Grant::Exchange(Arc::new(parent));
        ServicePassport::obtain_first(service, grant, request).await
    }

    /// A person's agent's passport (the code flow through `user_agent`).
    pub async fn authorization_code(
        service: TokenService,
        user_agent: impl UserAgent + 'static,
        request: PassportRequest,
    ) -> Result<ServicePassport, ClientError> {
        let grant = Grant::AuthorizationCode(Arc::new(user_agent));
        ServicePassport::obtain_first(service, grant, request).await
    }

    async fn obtain_first(
        service: TokenService,
        grant: Grant,
        request: PassportRequest,
    ) -> Result<ServicePassport, ClientError> {
        let response = obtain(&service, &grant, &request).await?;
        Ok(ServicePassport {
            service,
            grant,
            held: Mutex::new(Held::new(request, response)?),
            obtaining: tokio::sync::Mutex::new(()),
            declined: Mutex::new(Vec::new()),
        })
    }

    /// The current passport.
    pub fn current(&self) -> Credentials {
        self.held().response.credentials.clone()
    }

    /// The scopes the current passport was granted.
    pub fn scopes(&self) -> Vec<String> {
        self.held().response.scopes.clone()
    }

    /// The refresh token held (the code flow's, the latest of its rotation).
    pub fn refresh_token(&self) -> Option<RefreshToken> {
        self.held().response.refresh_token.clone()
    }

    /// A new passport with the same scopes: with the refresh token when one
    /// is held (the new refresh token replaces it; a server that sends none
    /// leaves it in place), by the grant otherwise.
    pub async fn renew(&self) -> Result<Credentials, ClientError> {
        let _one = self.obtaining.lock().await;
        self.renew_locked().await
    }

    /// Holds `response` (for `request`) from now on, and returns its
    /// credentials. A response whose passport cannot be read is refused,
    /// but its refresh token is kept: the server rotated the grant, the old
    /// token is spent, and presenting it again would look like a stolen
    /// token's reuse and end the whole grant.
    fn hold(
        &self,
        request: PassportRequest,
        response: TokenResponse,
    ) -> Result<Credentials, ClientError> {
        let expires_at = match CachedPassport::read(&response) {
            Ok(read) => read.expires_at(),
            Err(e) => {
                if let Some(rotated) = response.refresh_token {
                    self.held().response.refresh_token = Some(rotated);
                }
                return Err(e);
            }
        };
        let credentials = response.credentials.clone();
        *self.held() = Held {
            request,
            response,
            expires_at,
        };
        Ok(credentials)
    }

    async fn renew_locked(&self) -> Result<Credentials, ClientError> {
        let (request, refresh) = {
            let held = self.held();
            (held.request.clone(), held.response.refresh_token.clone())
        };
        let response = match refresh {
            Some(refresh) => {
                let mut response = self.service.refresh(&refresh, &request).await?;
                response.refresh_token.get_or_insert(refresh);
                response
            }
            None => obtain(&self.service, &self.grant, &request).await?,
        };
        self.hold(request, response)
    }

    async fn step_up_to(
        &self,
        current: &Credentials,
        scopes: &[String],
    ) -> Result<Credentials, ClientError> {
        let _one = self.obtaining.lock().await;
        let (base, granted, held) = {
            let held = self.held();
            (
                held.request.clone(),
                held.response.scopes.clone(),
                held.response.credentials.clone(),
            )
        };
        let covered = scopes.iter().all(|s| granted.contains(s));
        if covered && held.bundle() != current.bundle() {
            // another request stepped up meanwhile
            return Ok(held);
        }
        if covered {
            return Err(ClientError::Credentials(
                "the challenge names no scope this passport lacks".into(),
            ));
        }
        // declined while this request waited for another's step-up
        if self.declined_before(&granted, scopes) {
            return Err(ClientError::Credentials(
                "the scopes the challenge names were asked for and not granted".into(),
            ));
        }
        // the passport's scopes and the challenge's: nothing else
        let request = base.with_exact_scopes(&granted).with_scopes(scopes);
        let obtained = match &self.grant {
            // a refresh may only narrow: a wider passport needs consent
            Grant::AuthorizationCode(_) => {
                let refresh = self.held().response.refresh_token.clone();
                obtain(&self.service, &self.grant, &request)
                    .await
                    .map(|mut response| {
                        if response.refresh_token.is_none() {
                            response.refresh_token = refresh;
                        }
                        response
                    })
            }
            _ => obtain(&self.service, &self.grant, &request).await,
        };
        let not_granted: Vec<&String> = match &obtained {
            Ok(response) => scopes
                .iter()
                .filter(|s| !response.scopes.contains(s))
                .collect(),
            // a refusal (the person or the server said no), not an outage
            Err(ClientError::TokenRefused { error, .. })
                if error == "invalid_scope" || error == "access_denied" =>
            {
                scopes.iter().collect()
            }
            Err(ClientError::Authorization(e)) if e.code() == "provider_error" => {
                scopes.iter().collect()
            }
            Err(_) => Vec::new(),
        };
        {
            let mut declined = self.lock_declined();
            for scope in not_granted {
                if !declined.contains(scope) {
                    declined.push(scope.clone());
                }
            }
            let excess = declined.len().saturating_sub(MAX_DECLINED);
            declined.drain(..excess);
        }
        let response = obtained?;
        self.hold(request, response)
    }

    /// True when every scope of `scopes` not in `granted` was asked for
    /// by an earlier step-up and not granted.
    fn declined_before(&self, granted: &[String], scopes: &[String]) -> bool {
        let declined = self.lock_declined();
        scopes
            .iter()
            .filter(|s| !granted.contains(s))
            .all(|s| declined.contains(s))
    }

    fn lock_declined(&self) -> MutexGuard<'_, Vec<String>> {
        self.declined.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        // replaced whole, never left half-written
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One passport by `grant`.
async fn obtain(
    service: &TokenService,
    grant: &Grant,
    request: &PassportRequest,
) -> Result<TokenResponse, ClientError> {
    match grant {
        Grant::ClientCredentials => service.client_credentials(request).await,
        Grant::Exchange(parent) => {
            let subject = parent.credentials().await?;
            service.exchange(subject.bundle(), request).await
        }
        Grant::AuthorizationCode(user_agent) => {
            service
                .authorization_code(user_agent.as_ref(), request)
                .await
        }
    }
}

impl CredentialSource for ServicePassport {
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(async move {
            let now = self.service.now();
            let due = |expires_at: i64| expires_at.saturating_sub(now) <= RENEW_BEFORE_SECS;
            if !due(self.held().expires_at) {
                return Ok(self.current());
            }
            let _one = self.obtaining.lock().await;
            // renewed by another request while this one waited?
            let (expires_at, credentials) = {
                let held = self.held();
                (held.expires_at, held.response.credentials.clone())
            };
            if due(expires_at) {
                self.renew_locked().await
            } else {
                Ok(credentials)
            }
        })
    }

    fn step_up<'a>(
        &'a self,
        current: &'a Credentials,
        scopes: &'a [String],
    ) -> Option<CredentialsFuture<'a>> {
        {
            let held = self.held();
            let covered = scopes.iter().all(|s| held.response.scopes.contains(s));
            if covered && held.response.credentials.bundle() == current.bundle() {
                // asking again for what was granted cannot help
                return None;
            }
            if !covered && self.declined_before(&held.response.scopes, scopes) {
                // asked for before and not granted: the refusal stands
                return None;
            }
        }
        Some(Box::pin(self.step_up_to(current, scopes)))
    }
}
