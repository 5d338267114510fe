//! The rotating passport cache: the current passport, replaced before it
//! expires by one refresh however many tasks ask, with backoff on failure.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use passport_claims::{Clock, UnverifiedBundle};

use crate::token_service::{PassportRequest, RefreshToken, TokenResponse, TokenService};
use crate::{ClientError, CredentialSource, Credentials, CredentialsFuture};

/// The default margin: this share of the passport's lifetime, in percent…
const DEFAULT_MARGIN_PERCENT: u8 = 20;
/// … and at most this many seconds.
const DEFAULT_MARGIN_MAX_SECS: u64 = 60;
/// The default wait after the first failed attempt.
const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// The default longest wait between attempts.
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// How long before its expiry a [`RotatingPassport`] replaces its passport.
///
/// The default is 20 % of the passport's lifetime (`exp - iat`), at most
/// 60 seconds: a 45-second passport is replaced 9 s before it expires, a
/// 15-minute one 60 s before. A margin as long as the lifetime makes every
/// call obtain a new passport.
///
/// ```
/// use passport_agent::RotationMargin;
/// assert_eq!(RotationMargin::default().seconds(45), 9);
/// assert_eq!(RotationMargin::default().seconds(900), 60);
/// assert_eq!(RotationMargin::Fixed(30).seconds(900), 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotationMargin {
    /// `percent` of the lifetime, at most `max_secs` seconds.
    Proportional {
        /// The share of the lifetime, in percent (more than 100 counts as 100).
        percent: u8,
        /// The cap, in seconds.
        max_secs: u64,
    },
    /// This many seconds, whatever the lifetime.
    Fixed(u64),
}

impl Default for RotationMargin {
    fn default() -> RotationMargin {
        RotationMargin::Proportional {
            percent: DEFAULT_MARGIN_PERCENT,
            max_secs: DEFAULT_MARGIN_MAX_SECS,
        }
    }
}

impl RotationMargin {
    /// The margin, in seconds, for a passport living `lifetime` seconds.
    pub fn seconds(&self, lifetime: i64) -> i64 {
        match *self {
            RotationMargin::Proportional { percent, max_secs } => {
                let share = lifetime.max(0).saturating_mul(i64::from(percent.min(100))) / 100;
                share.min(i64::try_from(max_secs).unwrap_or(i64::MAX))
            }
            RotationMargin::Fixed(secs) => i64::try_from(secs).unwrap_or(i64::MAX),
        }
    }
}

/// One passport a [`RotatingPassport`] holds: its credentials and what the
/// cache read from its leaf (`jti`, `iat`, `exp` — unverified: the agent's
/// own passport, read only to know when to replace it). `Debug` never
/// shows the bundle.
#[derive(Clone)]
pub struct CachedPassport {
    credentials: Credentials,
    jti: Arc<str>,
    issued_at: i64,
    expires_at: i64,
    scopes: Arc<[String]>,
}

impl fmt::Debug for CachedPassport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedPassport")
            .field("jti", &self.jti)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl CachedPassport {
    /// Reads `response`'s leaf passport. Its expiry is the leaf's `exp`, or
    /// the response's `expires_in` when that comes sooner: `expires_in` is
    /// only RECOMMENDED (RFC 6749 §5.1) and may be absent or run past the
    /// passport's own expiry. A response whose leaf cannot be read is
    /// refused (`invalid_token_response`): its expiry would be unknown.
    /// [`crate::ServicePassport`] renews by the same expiry.
    pub(crate) fn read(response: &TokenResponse) -> Result<CachedPassport, ClientError> {
        let unreadable =
            || ClientError::TokenResponse("the passport's claims cannot be read".into());
        let leaf = UnverifiedBundle::parse(response.credentials.bundle())
            .map_err(|_| unreadable())?
            .inspect_unverified()
            .into_iter()
            .next()
            .ok_or_else(unreadable)?
            .map_err(|_| unreadable())?
            .claims;
        let expires_at = match response.expires_at {
            Some(stated) => stated.min(leaf.exp),
            None => leaf.exp,
        };
        Ok(CachedPassport {
            credentials: response.credentials.clone(),
            jti: leaf.jti.into(),
            issued_at: leaf.iat,
            expires_at,
            scopes: response.scopes.clone().into(),
        })
    }

    /// The credentials (bundle and DPoP key) to send.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The leaf passport's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The leaf passport's `iat`.
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    /// When it expires (seconds since the epoch).
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// The scopes it was granted.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// True while it is not expired at `now`.
    fn valid_at(&self, now: i64) -> bool {
        self.expires_at > now
    }
}

/// What the cache holds between calls.
struct State {
    current: Option<CachedPassport>,
    /// The grant's refresh token (the latest of its rotation), if any.
    refresh_token: Option<RefreshToken>,
    /// Consecutive failed attempts.
    failures: u32,
    /// No attempt before this time (after a failure).
    retry_at: i64,
    /// Why the last attempt failed.
    last_error: Option<Arc<ClientError>>,
}

struct Inner {
    service: TokenService,
    request: PassportRequest,
    margin: RotationMargin,
    backoff_initial: i64,
    backoff_max: i64,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Held by the one task obtaining a passport; the others wait on it and
    /// then read what it obtained (single flight).
    flight: tokio::sync::Mutex<()>,
}

/// A rotating passport cache for a workload: holds the current passport
/// from a [`TokenService`] grant and hands it out while it has more than
/// the [`RotationMargin`] left; then it obtains the next one — by the
/// grant's refresh token when it gave one (the server knows the
/// predecessor), else by client credentials naming the predecessor
/// (`replaces=<jti>`, see [`TokenService::client_credentials_replacing`])
/// so the server marks it ROTATED. When the server refuses to succeed
/// that predecessor (`invalid_request`: revoked meanwhile, say by a
/// kill-switch since lifted), the same grant is asked once more without
/// `replaces`; the lineage is lost, not the agent's access.
///
/// - **One refresh in flight**: however many tasks call
///   [`RotatingPassport::get`] at once, one request goes to the token
///   service; the others wait for it and get its passport (or its error).
/// - **Backoff**: after a failed attempt, none is made before a delay that
///   doubles with each consecutive failure (1 s, 2 s, 4 s… at most 60 s by
///   default, [`RotatingPassportBuilder::backoff`]). Meanwhile the old
///   passport is served while it has not expired; after its expiry callers
///   get [`ClientError::RotationFailed`] (code `rotation_failed`) naming
///   the last cause and the time of the next attempt.
/// - **Lazy**: nothing is requested before the first call.
/// - Time is the [`TokenService`]'s clock unless
///   [`RotatingPassportBuilder::clock`] says otherwise.
///
/// It is a [`CredentialSource`]: a [`crate::PassportClient`] built on it
/// sends a current passport (DPoP-bound when the request names a key) on
/// every request. Cheap to clone (shared). A caller that drops its
/// [`RotatingPassport::get`] future mid-request abandons that attempt;
/// the next caller makes it again. It does not step up on
/// `insufficient_scope` (see [`crate::ServicePassport`] for that).
///
/// ```no_run
/// # async fn run(secret: String) -> Result<(), passport_agent::ClientError> {
/// use passport_agent::{
///     ClientSecret, OAuthClient, PassportClient, PassportRequest, RotatingPassport,
///     RotationMargin, TokenService,
/// };
/// use std::time::Duration;
///
/// let me = OAuthClient::with_secret("workload-reports", ClientSecret::new(secret));
/// let service = TokenService::discover("https://auth.example", me).await?;
/// let key = passport_dpop::DpopKey::generate(passport_jose::Algorithm::ES256)?;
/// let request = PassportRequest::new("https://files.example").scope("files:read").dpop_key(key);
/// let passport = RotatingPassport::builder(service, request)
///     .margin(RotationMargin::Fixed(30))
///     .backoff(Duration::from_secs(1), Duration::from_secs(30))
///     .build();
/// // every request carries a passport with more than 30 s left
/// let client = PassportClient::builder(passport.clone()).build();
/// let listing = client.get("https://files.example/reports").await?;
/// // or ask the cache directly
/// let current = passport.get().await?;
/// eprintln!("passport {} expires at {}", current.jti(), current.expires_at());
/// # let _ = listing; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RotatingPassport {
    inner: Arc<Inner>,
}

impl fmt::Debug for RotatingPassport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state();
        f.debug_struct("RotatingPassport")
            .field("issuer", &self.inner.service.issuer())
            .field("request", &self.inner.request)
            .field("margin", &self.inner.margin)
            .field("current", &state.current)
            .field("failures", &state.failures)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RotatingPassport`].
#[must_use]
pub struct RotatingPassportBuilder {
    service: TokenService,
    request: PassportRequest,
    margin: RotationMargin,
    backoff: (Duration, Duration),
    clock: Option<Arc<dyn Clock>>,
    grant: Option<(CachedPassport, Option<RefreshToken>)>,
}

impl fmt::Debug for RotatingPassportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatingPassportBuilder")
            .field("request", &self.request)
            .field("margin", &self.margin)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl RotatingPassportBuilder {
    /// Replaces the passport this long before it expires (default: 20 % of
    /// its lifetime, at most 60 s).
    pub fn margin(mut self, margin: RotationMargin) -> RotatingPassportBuilder {
        self.margin = margin;
        self
    }

    /// Waits `initial` after a first failed attempt, twice as long after
    /// each further one, never more than `max` (whole seconds, at least
    /// one; default 1 s and 60 s).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> RotatingPassportBuilder {
        self.backoff = (initial, max);
        self
    }

    /// Uses `clock` instead of the token service's.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> RotatingPassportBuilder {
        self.clock = Some(clock);
        self
    }

    /// Starts from a passport already obtained (by the code flow, say):
    /// it is served first, and its refresh token, when it has one,
    /// obtains the next. Fails when `response` holds no readable passport.
    pub fn grant(
        mut self,
        response: TokenResponse,
    ) -> Result<RotatingPassportBuilder, ClientError> {
        self.grant = Some((CachedPassport::read(&response)?, response.refresh_token));
        Ok(self)
    }

    /// The cache.
    pub fn build(self) -> RotatingPassport {
        let (current, refresh_token) = match self.grant {
            Some((passport, refresh_token)) => (Some(passport), refresh_token),
            None => (None, None),
        };
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1);
        let backoff_initial = secs(self.backoff.0);
        RotatingPassport {
            inner: Arc::new(Inner {
                clock: self.clock.unwrap_or_else(|| self.service.clock()),
                service: self.service,
                request: self.request,
                margin: self.margin,
                backoff_initial,
                backoff_max: secs(self.backoff.1).max(backoff_initial),
                state: Mutex::new(State {
                    current,
                    refresh_token,
                    failures: 0,
                    retry_at: i64::MIN,
                    last_error: None,
                }),
                flight: tokio::sync::Mutex::new(()),
            }),
        }
    }
}

impl RotatingPassport {
    /// A cache of passports for `request` from `service` (client
    /// credentials), with the default margin and backoff.
    pub fn new(service: TokenService, request: PassportRequest) -> RotatingPassport {
        RotatingPassport::builder(service, request).build()
    }

    /// A builder, for another margin, backoff, clock or a first grant.
    pub fn builder(service: TokenService, request: PassportRequest) -> RotatingPassportBuilder {
        RotatingPassportBuilder {
            service,
            request,
            margin: RotationMargin::default(),
            backoff: (DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX),
            clock: None,
            grant: None,
        }
    }

    /// The passport held now, whatever its age (`None` before the first).
    pub fn current(&self) -> Option<CachedPassport> {
        self.inner.state().current.clone()
    }

    /// A passport with more than the margin left: the one held, or a new
    /// one (one request however many tasks ask). When obtaining one fails,
    /// the one held while it has not expired, else
    /// [`ClientError::RotationFailed`].
    pub async fn get(&self) -> Result<CachedPassport, ClientError> {
        let inner = &self.inner;
        if let Some(fresh) = inner.fresh(inner.clock.now()) {
            return Ok(fresh);
        }
        let _flight = inner.flight.lock().await;
        // the time after the wait: the flight before may have taken long
        let now = inner.clock.now();
        if let Some(fresh) = inner.fresh(now) {
            // another task obtained it while this one waited
            return Ok(fresh);
        }
        let (predecessor, refresh_token, retry_at) = {
            let state = inner.state();
            (
                state.current.clone(),
                state.refresh_token.clone(),
                state.retry_at,
            )
        };
        if now < retry_at {
            // backing off (this includes a flight that failed while this
            // task waited): no request
            return inner.held_or_failed(predecessor, now);
        }
        match inner.obtain(predecessor.as_ref(), refresh_token, now).await {
            Ok((passport, refresh_token)) => {
                let mut state = inner.state();
                state.current = Some(passport.clone());
                if refresh_token.is_some() {
                    state.refresh_token = refresh_token;
                }
                state.failures = 0;
                state.retry_at = i64::MIN;
                state.last_error = None;
                Ok(passport)
            }
            Err(error) => {
                {
                    let mut state = inner.state();
                    state.failures = state.failures.saturating_add(1);
                    state.retry_at = now.saturating_add(inner.delay(state.failures));
                    state.last_error = Some(Arc::new(error));
                }
                inner.held_or_failed(predecessor, now)
            }
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // every field is written whole: never left half-updated
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The passport held, when it has more than the margin left at `now`.
    fn fresh(&self, now: i64) -> Option<CachedPassport> {
        let state = self.state();
        let current = state.current.as_ref()?;
        let lifetime = current.expires_at.saturating_sub(current.issued_at);
        let renew_at = current
            .expires_at
            .saturating_sub(self.margin.seconds(lifetime));
        (renew_at > now).then(|| current.clone())
    }

    /// The wait after `failures` consecutive failures.
    fn delay(&self, failures: u32) -> i64 {
        let doublings = failures.saturating_sub(1).min(62);
        self.backoff_initial
            .saturating_mul(1_i64 << doublings)
            .min(self.backoff_max)
    }

    /// `held` while it has not expired, else the typed error.
    fn held_or_failed(
        &self,
        held: Option<CachedPassport>,
        now: i64,
    ) -> Result<CachedPassport, ClientError> {
        if let Some(held) = held.filter(|p| p.valid_at(now)) {
            return Ok(held);
        }
        let state = self.state();
        let cause = state.last_error.clone().unwrap_or_else(|| {
            Arc::new(ClientError::Credentials(
                "no passport has been obtained".into(),
            ))
        });
        Err(ClientError::RotationFailed {
            retry_at: state.retry_at,
            cause,
        })
    }

    /// The next passport (and the refresh token to keep).
    async fn obtain(
        &self,
        predecessor: Option<&CachedPassport>,
        refresh_token: Option<RefreshToken>,
        now: i64,
    ) -> Result<(CachedPassport, Option<RefreshToken>), ClientError> {
        let response = match (refresh_token, predecessor) {
            // the refresh family knows its previous passport
            (Some(refresh), _) => self.service.refresh(&refresh, &self.request).await?,
            // an expired predecessor is nothing to rotate: the server keeps
            // it EXPIRED
            (None, Some(predecessor)) if predecessor.valid_at(now) => {
                match self
                    .service
                    .client_credentials_replacing(&self.request, predecessor.jti())
                    .await
                {
                    // The server refuses `replaces` for a predecessor it
                    // cannot succeed (revoked meanwhile, say by a
                    // kill-switch since lifted): the lineage is lost, not
                    // the agent's access. Asked once more without it; any
                    // other refusal stands.
                    Err(ClientError::TokenRefused {
                        status: 400, error, ..
                    }) if error == "invalid_request" => {
                        self.service.client_credentials(&self.request).await?
                    }
                    other => other?,
                }
            }
            (None, _) => self.service.client_credentials(&self.request).await?,
        };
        let passport = CachedPassport::read(&response)?;
        Ok((passport, response.refresh_token))
    }
}

impl CredentialSource for RotatingPassport {
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(async move { Ok(self.get().await?.credentials) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_margin_is_a_fifth_of_the_lifetime_capped_at_a_minute() {
        let margin = RotationMargin::default();
        assert_eq!(margin.seconds(100), 20);
        assert_eq!(margin.seconds(45), 9);
        assert_eq!(margin.seconds(300), 60);
        assert_eq!(margin.seconds(3600), 60);
        assert_eq!(margin.seconds(0), 0);
        assert_eq!(margin.seconds(-5), 0);
        assert_eq!(margin.seconds(i64::MAX), 60);
        let all = RotationMargin::Proportional {
            percent: 250,
            max_secs: u64::MAX,
        };
        assert_eq!(all.seconds(90), 90);
        assert_eq!(RotationMargin::Fixed(u64::MAX).seconds(1), i64::MAX);
    }
}
