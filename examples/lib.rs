//! Shared helpers for the example programs: start the in-process mock OIDC
//! provider, run the PKCE login with this program playing the browser, and
//! print readable sections.
#![forbid(unsafe_code)]

use std::sync::Arc;

use passport_claims::{Assurance, IdentityAssertion};
use passport_issuer::Issuer;
use passport_jose::{Algorithm, SigningKey};
use passport_mock_oidc::MockOidc;
use passport_oidc::{LoginOptions, OidcConfig, Provider};
use passport_verifier::InMemoryKeyStore;

/// Any error, for `main`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The NIST IAL2 `acr` the mock provider asserts in the examples.
pub const ACR_IAL2: &str = "http://idmanagement.gov/ns/assurance/ial/2";

/// The local issuer's identifier in the examples.
pub const ISSUER: &str = "https://issuer.local";

/// Prints a section heading.
pub fn section(title: &str) {
    println!("\n== {title} ==");
}

/// Starts the mock provider on 127.0.0.1 (a free port) asserting IAL2.
pub async fn start_provider() -> Result<MockOidc, BoxError> {
    Ok(MockOidc::builder().acr(ACR_IAL2).start().await?)
}

/// Logs in with authorization code + PKCE: the login engine listens on a
/// loopback port, and this function plays the browser (it fetches the
/// authorization URL and follows the redirect back to the listener).
pub async fn login_without_browser(mock: &MockOidc) -> Result<IdentityAssertion, BoxError> {
    let mut config = OidcConfig::new(mock.discovery_url(), mock.client_id());
    config.redirect_uri = "http://127.0.0.1:0/callback".into();
    let provider = Provider::new(config)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let tx = std::sync::Mutex::new(Some(tx));
    let options = LoginOptions::new()
        .open_browser(false)
        .url_sink(move |url| {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(url.to_owned());
            }
        });
    let browser = async move {
        let url = rx.await?;
        println!(
            "   (browser) GET {}…",
            &url[..url.find('?').unwrap_or(url.len())]
        );
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let response = client.get(&url).send().await?;
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .ok_or("the provider did not redirect")?
            .to_owned();
        println!(
            "   (browser) redirected to the loopback listener {}",
            &location[..location.find('?').unwrap_or(0)]
        );
        client.get(&location).send().await?;
        Ok::<(), BoxError>(())
    };
    let (login, browser) = tokio::join!(passport_oidc::login(&provider, options), browser);
    browser?;
    Ok(login?.assertion)
}

/// A fresh local issuer (EdDSA key) and a key store trusting it.
pub fn local_issuer() -> Result<(Issuer, Arc<InMemoryKeyStore>), BoxError> {
    let key = SigningKey::generate(Algorithm::EdDSA)?;
    let keys = Arc::new(InMemoryKeyStore::new());
    keys.insert(ISSUER, key.verifying_key())?;
    Ok((Issuer::new(ISSUER, key), keys))
}

/// A one-line description of an identity.
pub fn describe(identity: &IdentityAssertion) -> String {
    let Assurance { .. } = identity.assurance;
    format!(
        "{} from {} ({})",
        identity.subject, identity.issuer, identity.assurance
    )
}

/// The README's Rust examples, compiled and run by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The MCP server of the `mcp_server` and `mcp_agent` examples, and the
/// agents' side of the protocol.
pub mod mcp;

/// The `remote_trust` example's issuer: metadata, JWKS and a status list
/// over HTTP.
pub mod remote;
