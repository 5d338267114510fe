//! Shared set-up: a mock provider and a provider client on one manual clock.

use std::sync::Arc;
use std::time::Duration;

use passport_claims::{IdentityAssertion, ManualClock};
use passport_mock_oidc::{MockOidc, MockOidcBuilder};
use passport_oidc::{OidcConfig, OidcError, Provider};

/// Every test future gets a hard limit, so a regression hangs nothing.
pub(crate) use passport_testkit::bounded;

/// The instant the provider's and the mock's clock start at.
pub(crate) use passport_testkit::NOW as T0;

pub(crate) struct Env {
    pub(crate) mock: MockOidc,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) provider: Provider,
}

impl Env {
    pub(crate) async fn validate(&self, token: &str) -> Result<IdentityAssertion, OidcError> {
        bounded(self.provider.validate_id_token(token, None)).await
    }

    pub(crate) async fn validate_code(&self, token: &str) -> &'static str {
        match self.validate(token).await {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }
}

pub(crate) async fn env() -> Env {
    env_with(MockOidc::builder(), |_| {}).await
}

pub(crate) async fn env_with(builder: MockOidcBuilder, tweak: impl FnOnce(&mut OidcConfig)) -> Env {
    let clock = Arc::new(ManualClock::new(T0));
    let mock = builder.clock(clock.clone()).start().await.unwrap();
    let mut config = OidcConfig::new(mock.discovery_url(), mock.client_id());
    config.http_timeout = Duration::from_secs(5);
    tweak(&mut config);
    let provider = Provider::with_clock(config, clock.clone()).unwrap();
    Env {
        mock,
        clock,
        provider,
    }
}
