//! The token service: passport-server embedded in this program (SQLite in a
//! temporary directory, 127.0.0.1 only), with the mock OIDC provider as its
//! upstream. An agent registers, gets a DPoP-bound passport through the
//! authorization code flow, has it exchanged for a narrower child for a
//! sub-agent, a tool introspects the child, and revoking the agent's
//! passport revokes the child with it.
//!
//! Run: `cargo run -p passport-examples --example token_service`

use std::sync::Arc;

use passport_agent::{
    AuthorizationRequest, AuthorizationResponse, ClientError, ClientSecret, OAuthClient,
    PassportRequest, TokenService, UserAgent,
};
use passport_claims::{Clock as _, PassportClaims, SystemClock, UnverifiedBundle};
use passport_dpop::DpopKey;
use passport_examples::{ACR_IAL2, BoxError, section};
use passport_jose::Algorithm;
use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, OidcError, Provider};
use passport_server::{Server, WorkloadClient};
use passport_status::{ListExpectations, StatusListToken};
use passport_store::server::Database;
use passport_verifier::JwksKeyStore;
use serde_json::{Value, json};

/// The files API the passports are for (RFC 8707 `resource` → `aud`).
const RESOURCE: &str = "https://files.example/api";
/// Where the agent's loopback listener would receive the code.
const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
/// RFC 8693 §3: a passport bundle is an access token.
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    section("1. The token service starts embedded, in front of an upstream provider");
    let mock = MockOidc::builder()
        .acr(ACR_IAL2)
        .redirect_path("/authorize/callback")
        .start()
        .await?;
    let upstream = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id()))?;
    let dir = tempfile::tempdir()?;
    let database = dir.path().join("server.db");
    let db = Database::open(database.to_str().ok_or("a non-UTF-8 path")?, now()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let server = Server::builder(&issuer, db)
        .upstream(upstream)
        // no consent page: the server refuses this unless on loopback
        .auto_consent(true)
        .dpop_nonces(true)
        .registration_scopes("files:read files:write")
        .build()
        .await?;
    // the operator's clients: the sub-agent (a workload acting for alice)
    // and the files tool, which may introspect
    let sub_agent = server
        .register_workload_client("alice", "files:read")
        .await?;
    let tool = server
        .register_workload_client("files-tool", "introspect")
        .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let metadata: Value = http
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let endpoint = |name: &str| -> Result<String, BoxError> {
        Ok(metadata[name]
            .as_str()
            .ok_or_else(|| format!("the metadata has no {name}"))?
            .to_owned())
    };
    println!("   upstream provider   {}", mock.issuer());
    println!("   token service       {issuer} (SQLite in a temporary directory)");
    let advertised: Vec<&str> = [
        "authorization",
        "token",
        "registration",
        "introspection",
        "revocation",
    ]
    .into_iter()
    .filter(|name| metadata[format!("{name}_endpoint")].is_string())
    .collect();
    println!(
        "   RFC 8414 metadata:  {} endpoints;",
        advertised.join(", ")
    );
    println!(
        "                       PKCE {}; DPoP {}",
        metadata["code_challenge_methods_supported"], metadata["dpop_signing_alg_values_supported"]
    );

    section("2. An agent registers and gets a passport through the code flow");
    let registered: Value = http
        .post(endpoint("registration_endpoint")?)
        .json(&json!({
            "client_name": "Alice's report agent",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "scope": "files:read files:write",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let client_id = registered["client_id"]
        .as_str()
        .ok_or("no client_id")?
        .to_owned();
    println!("   RFC 7591 /register → {client_id} (a public client: PKCE, no secret)");
    let agent = TokenService::discover(&issuer, OAuthClient::public(&client_id)).await?;
    let agent_key = Arc::new(DpopKey::generate(Algorithm::ES256)?);
    let browser = Browser { http: http.clone() };
    let passport = agent
        .authorization_code(
            &browser,
            &PassportRequest::new(RESOURCE)
                .scope("files:read")
                .scope("files:write")
                .shared_dpop_key(agent_key.clone()),
        )
        .await?;
    let bundle = passport.credentials.bundle().to_owned();
    let root = leaf(&bundle)?;
    println!("   passport (decoded here; the tool verifies it below):");
    describe(&root, &bundle)?;
    if root.cnf_jkt.as_deref() != Some(agent_key.jkt()) {
        return Err("the passport is not bound to the agent's key".into());
    }
    println!("   bound to the agent's key: a stolen copy is useless without it");

    section("3. Token exchange: a narrower child for a sub-agent");
    println!("   flow: RFC 8693 with actor_token. A public client may not exchange, so the");
    println!("   sub-agent (a workload client) asks; the subject token is the agent's bound");
    println!("   passport, proven by a DPoP proof the agent signs for this one request;");
    println!("   the actor token is the sub-agent's own bound passport (client credentials).");
    let sub_key = DpopKey::generate(Algorithm::ES256)?;
    let sub_jkt = sub_key.jkt().to_owned();
    let sub_service = TokenService::discover(
        &issuer,
        OAuthClient::with_secret(
            sub_agent.client_id.clone(),
            ClientSecret::new(sub_agent.secret.expose()),
        ),
    )
    .await?;
    let actor = sub_service
        .client_credentials(
            &PassportRequest::new(RESOURCE)
                .scope("files:read")
                .dpop_key(sub_key),
        )
        .await?;
    println!(
        "   sub-agent {} holds its own passport, bound to {sub_jkt}",
        sub_agent.client_id
    );
    let token_endpoint = endpoint("token_endpoint")?;
    let child = exchange(
        &http,
        &token_endpoint,
        &sub_agent,
        &agent_key,
        &bundle,
        actor.credentials.bundle(),
    )
    .await?;
    let narrow = leaf(&child)?;
    println!("   child passport ({} links):", links(&child)?);
    describe(&narrow, &child)?;
    if narrow.cnf_jkt.as_deref() != Some(sub_jkt.as_str()) {
        return Err("the child is not bound to the sub-agent's key".into());
    }
    println!("   narrower (files:read only), bound to the sub-agent's key, parent recorded");

    section("4. A tool introspects the child (RFC 7662, authenticated)");
    let introspection = endpoint("introspection_endpoint")?;
    let answer = introspect(&http, &introspection, &tool, &child).await?;
    println!("   active: {}", answer["active"]);
    println!("   scope:  {}", answer["scope"]);
    println!("   act:    {}", answer["act"]);
    println!("   cnf:    {}", answer["cnf"]);
    println!(
        "   client: {}   sub: {}",
        answer["client_id"], answer["sub"]
    );
    if answer["active"] != json!(true) {
        return Err("the child is not active".into());
    }

    section("5. The agent revokes its own passport: the child goes with it");
    let revoked = http
        .post(endpoint("revocation_endpoint")?)
        .form(&[
            ("token", bundle.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await?;
    println!(
        "   POST /revoke (the agent, a public client, revokes its own) → HTTP {}",
        revoked.status().as_u16()
    );
    revoked.error_for_status()?;
    let answer = introspect(&http, &introspection, &tool, &child).await?;
    println!(
        "   the tool introspects the child again → active: {}",
        answer["active"]
    );
    if answer["active"] != json!(false) {
        return Err("the child is still active after its parent was revoked".into());
    }
    let jwks = http
        .get(endpoint("jwks_uri")?)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let keys = JwksKeyStore::from_json(issuer.as_str(), &jwks)?;
    for (name, claims) in [("agent's passport", &root), ("child", &narrow)] {
        let status = claims.status.as_ref().ok_or("no status reference")?;
        let token = http
            .get(status.uri())
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let list = StatusListToken::verify(
            &token,
            &keys,
            &ListExpectations::new(&issuer, status.uri(), now()),
        )?;
        let value = list.list.get(status.idx())?;
        println!(
            "   signed status list: {name:<16} index {:>3} → {}",
            status.idx(),
            if value == 1 { "revoked" } else { "valid" }
        );
        if value != 1 {
            return Err(format!("the status list does not show the {name} revoked").into());
        }
    }

    let _ = stop.send(());
    serving.await??;
    println!("\nDone.");
    Ok(())
}

/// The person's browser: follows the redirects by hand — the token
/// service's `/authorize`, the upstream provider's login, the service's
/// callback (auto-consent) — until the redirect back to the agent, whose
/// query carries the code, `state` and `iss`.
struct Browser {
    http: reqwest::Client,
}

#[async_trait::async_trait]
impl UserAgent for Browser {
    async fn authorize(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationResponse, ClientError> {
        let refused = |why: String| ClientError::from(OidcError::InvalidCallback(why));
        let mut url =
            reqwest::Url::parse(&request.url(REDIRECT_URI)).map_err(|e| refused(e.to_string()))?;
        for _ in 0..8 {
            if url.as_str().starts_with(REDIRECT_URI) {
                println!("   (browser) back at the agent's {REDIRECT_URI}");
                let params = url.query_pairs().into_owned().collect();
                return Ok(AuthorizationResponse::new(REDIRECT_URI, params));
            }
            println!(
                "   (browser) GET {}{}",
                url.origin().ascii_serialization(),
                url.path()
            );
            let response = self.http.get(url.clone()).send().await?;
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| refused(format!("HTTP {} without a redirect", response.status())))?;
            url = url.join(location).map_err(|e| refused(e.to_string()))?;
        }
        Err(refused("no redirect back to the agent after 8 hops".into()))
    }
}

fn now() -> i64 {
    SystemClock.now()
}

/// The leaf passport of a bundle, decoded without verifying (for display).
fn leaf(bundle: &str) -> Result<PassportClaims, BoxError> {
    let parsed = UnverifiedBundle::parse(bundle)?;
    let first = parsed.inspect_unverified().into_iter().next();
    Ok(first.ok_or("an empty bundle")??.claims)
}

/// How many passports a bundle holds.
fn links(bundle: &str) -> Result<usize, BoxError> {
    Ok(UnverifiedBundle::parse(bundle)?.inspect_unverified().len())
}

/// Prints who a passport is for and what it allows.
fn describe(claims: &PassportClaims, bundle: &str) -> Result<(), BoxError> {
    let scopes: Vec<&str> = claims.agent.tool_scope.iter().map(|p| p.as_str()).collect();
    println!("     principal {} ({})", claims.sub, claims.assurance);
    println!("     agent     {}", claims.agent.agent_id);
    println!("     scopes    {scopes:?}");
    println!("     audience  {}", claims.aud);
    println!(
        "     cnf.jkt   {}",
        claims
            .cnf_jkt
            .as_deref()
            .unwrap_or("(none: a bearer passport)")
    );
    println!("     act       {}", serde_json::to_string(&claims.act)?);
    println!(
        "     expires in {} s; the bundle is {} bytes",
        claims.exp - now(),
        bundle.len()
    );
    Ok(())
}

/// RFC 8693 token exchange, sent by the sub-agent: it authenticates as its
/// workload client, names itself with `actor_token`, and carries the DPoP
/// proof the agent signs with the subject passport's key — once more with
/// the server's nonce when the server asks for it (RFC 9449 §8).
async fn exchange(
    http: &reqwest::Client,
    token_endpoint: &str,
    sub_agent: &WorkloadClient,
    agent_key: &DpopKey,
    subject: &str,
    actor: &str,
) -> Result<String, BoxError> {
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor),
        ("actor_token_type", ACCESS_TOKEN),
        ("requested_token_type", ACCESS_TOKEN),
        ("resource", RESOURCE),
        ("scope", "files:read"),
    ];
    let mut nonce: Option<String> = None;
    for _ in 0..2 {
        // the agent's consent to this one delegation: a proof by its key
        let proof = agent_key.proof("POST", token_endpoint, None, nonce.as_deref(), now())?;
        let response = http
            .post(token_endpoint)
            .basic_auth(&sub_agent.client_id, Some(sub_agent.secret.expose()))
            .header("DPoP", proof)
            .form(&form)
            .send()
            .await?;
        let status = response.status();
        let fresh = response
            .headers()
            .get("dpop-nonce")
            .and_then(|n| n.to_str().ok())
            .map(str::to_owned);
        let body: Value = response.json().await?;
        if status.is_success() {
            println!(
                "   POST /token (token exchange) → HTTP {}, token_type {}",
                status.as_u16(),
                body["token_type"]
            );
            return Ok(body["access_token"]
                .as_str()
                .ok_or("no access_token")?
                .to_owned());
        }
        if body["error"] == "use_dpop_nonce" && nonce.is_none() {
            println!(
                "   POST /token → {} use_dpop_nonce: the agent signs again with the nonce",
                status.as_u16()
            );
            nonce = Some(fresh.ok_or("use_dpop_nonce without a DPoP-Nonce")?);
            continue;
        }
        return Err(format!("the exchange was refused: HTTP {status} {body}").into());
    }
    Err("the exchange was refused twice".into())
}

/// RFC 7662 introspection by the tool, authenticated with its secret.
async fn introspect(
    http: &reqwest::Client,
    endpoint: &str,
    tool: &WorkloadClient,
    token: &str,
) -> Result<Value, BoxError> {
    Ok(http
        .post(endpoint)
        .basic_auth(&tool.client_id, Some(tool.secret.expose()))
        .form(&[("token", token)])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}
