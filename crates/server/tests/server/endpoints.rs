//! The token service over HTTP: a real server on 127.0.0.1:0 (SQLite in a
//! temporary directory), driven with reqwest. Every security rule is fed
//! its hostile input and must answer the specific OAuth error.

use std::sync::Arc;

use passport_claims::{ManualClock, PassportClaims, UnverifiedBundle};
use passport_dpop::DpopKey;
use passport_jose::Algorithm;
use passport_server::rate_limit::RateLimit;
use passport_server::{Server, ServerBuilder, WorkloadClient};
use passport_status::{ListExpectations, StatusListToken};
use passport_store::server::{Database, PassportState, RegistryRecord};
use passport_verifier::InMemoryKeyStore;
use reqwest::StatusCode;
use serde_json::Value;

pub(crate) const RESOURCE: &str = "https://tools.example/mcp";

pub(crate) struct Running {
    pub(crate) server: Server,
    pub(crate) url: String,
    pub(crate) http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
    pub(crate) dir: Option<tempfile::TempDir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) async fn start() -> Running {
    start_with(tempfile::tempdir().unwrap(), |b| b).await
}

pub(crate) async fn start_with(
    dir: tempfile::TempDir,
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> Running {
    let path = dir.path().join("server.db");
    let mut running = start_on(path.to_str().unwrap(), configure).await;
    running.dir = Some(dir);
    running
}

/// `server` served by `Server::serve` on a listener of its own until the
/// returned sender is used (or dropped): its address, the sender, and
/// `serve`'s task.
pub(crate) async fn serve_until_told(
    server: &Server,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), passport_server::ServerError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    (addr, stop, serving)
}

/// A server on a `ManualClock` set to now (the clock too), its builder
/// further `configure`d.
pub(crate) async fn start_clocked(
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> (Arc<ManualClock>, Running) {
    let clock = Arc::new(ManualClock::new(now()));
    let s = start_with(tempfile::tempdir().unwrap(), {
        let clock = clock.clone();
        move |b| configure(b.clock(clock))
    })
    .await;
    (clock, s)
}

/// A server on the SQLite database at `path` (another instance may share it).
pub(crate) async fn start_on(
    path: &str,
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let db = Database::open(&crate::test_database(path).await, now())
        .await
        .unwrap();
    let server = configure(Server::builder(&url, db)).build().await.unwrap();
    Running::serving(server, listener)
}

impl Running {
    /// `server`, serving on `listener`.
    pub(crate) fn serving(server: Server, listener: tokio::net::TcpListener) -> Running {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn({
            let server = server.clone();
            async move {
                server
                    .serve(listener, std::future::pending())
                    .await
                    .unwrap();
            }
        });
        Running {
            server,
            url,
            http: reqwest::Client::new(),
            task,
            dir: None,
        }
    }

    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A workload client of `alice` allowed `scopes`.
    pub(crate) async fn workload(&self, scopes: &str) -> WorkloadClient {
        self.workload_of("alice", scopes).await
    }

    /// A workload client of `owner` allowed `scopes`.
    pub(crate) async fn workload_of(&self, owner: &str, scopes: &str) -> WorkloadClient {
        self.server
            .register_workload_client(owner, scopes)
            .await
            .unwrap()
    }

    /// POSTs `form` to `path`, with HTTP Basic `(id, secret)` and a `DPoP`
    /// proof if given: the one request the helpers below send.
    pub(crate) async fn send(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
        dpop: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.at(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        if let Some(proof) = dpop {
            request = request.header("DPoP", proof);
        }
        request.send().await.unwrap()
    }

    /// POSTs `form` to `path`, with HTTP Basic `(id, secret)` if given.
    pub(crate) async fn post(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.send(path, basic, form, None).await
    }

    /// GETs `path`.
    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.at(path)).send().await.unwrap()
    }

    /// POSTs `form` to `path` as `client` (HTTP Basic), with a `DPoP` proof
    /// if given.
    pub(crate) async fn post_as(
        &self,
        path: &str,
        client: &impl Credentials,
        form: &[(&str, &str)],
        dpop: Option<&str>,
    ) -> reqwest::Response {
        self.send(path, Some(client.basic()), form, dpop).await
    }

    pub(crate) async fn token(
        &self,
        client: &WorkloadClient,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.post_authenticated("/token", client, form).await
    }

    /// `client_credentials` for [`RESOURCE`] as `client`, for `scope` (or
    /// every scope the client may have), DPoP-bound if `dpop` is given.
    pub(crate) async fn client_credentials(
        &self,
        client: &WorkloadClient,
        scope: Option<&str>,
        dpop: Option<&str>,
    ) -> reqwest::Response {
        let scope = scope.map(|scope| ("scope", scope));
        let form = cc_form(scope.as_slice());
        self.post_as("/token", client, &form, dpop).await
    }

    pub(crate) async fn mint(&self, client: &WorkloadClient, scope: &str) -> String {
        access_token(self.client_credentials(client, Some(scope), None).await).await
    }

    pub(crate) async fn post_authenticated(
        &self,
        path: &str,
        client: &WorkloadClient,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.post_as(path, client, form, None).await
    }

    /// The registry's record of the passport `jti` (which must exist).
    pub(crate) async fn record(&self, jti: &str) -> RegistryRecord {
        let record = self.server.database().passport(jti).await.unwrap();
        record.unwrap()
    }

    /// A DPoP proof by `key` for a POST to this server's `/token`, now.
    pub(crate) fn token_proof(&self, key: &DpopKey) -> String {
        key.proof("POST", &self.at("/token"), None, None, now())
            .unwrap()
    }

    /// `/introspect`'s answer for `token`, asked by `caller` (it must be
    /// 200).
    pub(crate) async fn introspect(&self, caller: &WorkloadClient, token: &str) -> Value {
        let r = self
            .post_authenticated("/introspect", caller, &[("token", token)])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// `/introspect`'s `active` for `token`, asked by `caller`.
    pub(crate) async fn active(&self, caller: &WorkloadClient, token: &str) -> bool {
        self.introspect(caller, token).await["active"]
            .as_bool()
            .unwrap()
    }

    /// Renames `table` of this server's database away, so that every read
    /// of it fails, until [`TableAway::mend`]: the SQLite file, or on the
    /// PostgreSQL run the test's scratch database (with `psql`, from the
    /// cluster's own binaries).
    pub(crate) async fn break_table(&self, table: &'static str) -> TableAway {
        let path = self.dir.as_ref().unwrap().path().join("server.db");
        let url = crate::test_database(path.to_str().unwrap()).await;
        let database = if url.starts_with("postgres") {
            TestDatabase::Postgres(url)
        } else {
            TestDatabase::Sqlite(rusqlite::Connection::open(&path).unwrap())
        };
        database.rename(table, &format!("{table}_away"));
        TableAway { database, table }
    }
}

/// A test server's database, for changes behind the server's back.
enum TestDatabase {
    Sqlite(rusqlite::Connection),
    /// The scratch database's URL.
    Postgres(String),
}

impl TestDatabase {
    fn rename(&self, from: &str, to: &str) {
        let sql = format!("ALTER TABLE {from} RENAME TO {to}");
        match self {
            TestDatabase::Sqlite(connection) => connection.execute_batch(&sql).unwrap(),
            TestDatabase::Postgres(url) => {
                // the cluster's psql (scripts/postgres.sh starts that
                // cluster from the same directory), else the one on PATH
                let psql = newest_psql().unwrap_or_else(|| "psql".into());
                let output = std::process::Command::new(psql)
                    .args([
                        "--no-psqlrc",
                        "-q",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-d",
                        url,
                        "-c",
                        &sql,
                    ])
                    .output()
                    .expect("psql, to break a table on the PostgreSQL run");
                assert!(
                    output.status.success(),
                    "psql: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
}

/// A table renamed away by [`Running::break_table`].
pub(crate) struct TableAway {
    database: TestDatabase,
    table: &'static str,
}

impl TableAway {
    /// Gives the table its name back.
    pub(crate) fn mend(self) {
        let table = self.table;
        self.database.rename(&format!("{table}_away"), table);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin/psql`.
fn newest_psql() -> Option<std::path::PathBuf> {
    let mut found: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let psql = entry.path().join("bin/psql");
            psql.exists().then_some((version, psql))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, psql)| psql)
}

/// A client that authenticates with HTTP Basic.
pub(crate) trait Credentials {
    /// Its `(client_id, secret)`.
    fn basic(&self) -> (&str, &str);
}

impl Credentials for WorkloadClient {
    fn basic(&self) -> (&str, &str) {
        (self.client_id.as_str(), self.secret.expose())
    }
}

/// An HTTP client that follows no redirect (each answer as a browser gets
/// it).
pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The URL of an authorization request at `s` for the public client
/// `client_id` and its `redirect_uri`, with a fresh S256 challenge, for
/// [`RESOURCE`], followed by `extra`.
pub(crate) fn authorize_url(
    s: &Running,
    (client_id, redirect_uri): (&str, &str),
    extra: &[(&str, &str)],
) -> url::Url {
    let challenge = passport_oidc::PkceVerifier::generate()
        .unwrap()
        .challenge_s256();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
    ];
    params.extend_from_slice(extra);
    url::Url::parse_with_params(&s.at("/authorize"), &params).unwrap()
}

/// A `client_credentials` form for [`RESOURCE`], followed by `extra`.
pub(crate) fn cc_form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("grant_type", "client_credentials"), ("resource", RESOURCE)];
    form.extend_from_slice(extra);
    form
}

/// The `access_token` of a token response, which must be 200.
pub(crate) async fn access_token(r: reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn claims_of(bundle: &str) -> PassportClaims {
    let parsed = UnverifiedBundle::parse(bundle).unwrap();
    parsed.inspect_unverified().remove(0).unwrap().claims
}

pub(crate) async fn error_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// The answer must be `status` with the OAuth `error` `code`, and its
/// description must start with the specific error code `why`.
pub(crate) async fn expect_refusal(
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
    why: &str,
) -> Value {
    let body = expect_error(response, status, code).await;
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.starts_with(why), "{body}");
    body
}

/// The answer must be 429 with a `Retry-After` of a second or more; the
/// answer.
pub(crate) fn throttled(response: reqwest::Response) -> reqwest::Response {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    response
}

/// The answer must be [`throttled`], with the OAuth error
/// `temporarily_unavailable`.
pub(crate) async fn rate_limited(response: reqwest::Response) {
    let response = throttled(response);
    expect_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    )
    .await;
}

/// The answer must be 403 `access_denied`, its description naming the
/// administrators' `role` it lacks.
pub(crate) async fn lacks_role(response: reqwest::Response, role: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "access_denied", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains(role), "{body}");
}

/// The answer must be 400 `invalid_dpop_proof` for the reason `why`.
pub(crate) async fn dpop_refused(response: reqwest::Response, why: &str) {
    expect_refusal(response, StatusCode::BAD_REQUEST, "invalid_dpop_proof", why).await;
}

/// The answer must be `status` with the OAuth `error` `code`.
/// A 503 `temporarily_unavailable` saying `description`.
pub(crate) async fn expect_unavailable(r: reqwest::Response, description: &str) {
    let body = expect_error(
        r,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    assert_eq!(body["error_description"], description);
}

pub(crate) async fn expect_error(
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
) -> Value {
    let body = error_of(response, status).await;
    assert_eq!(body["error"], code, "{body}");
    body
}

// ---- metadata, JWKS, status list ----

#[tokio::test]
async fn metadata_advertises_only_what_exists() {
    let s = start().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let m: Value = s.get(path).await.json().await.unwrap();
        assert_eq!(m["issuer"], s.url.as_str());
        assert_eq!(m["token_endpoint"], s.at("/token"));
        // no upstream provider: no /authorize, so no code grant and no
        // refresh tokens (authorize_flow checks them with one)
        assert_eq!(
            m["grant_types_supported"],
            serde_json::json!([
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        assert_eq!(
            m["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        // not implemented yet, so not advertised
        for absent in ["authorization_endpoint", "code_challenge_methods_supported"] {
            assert!(m.get(absent).is_none(), "{absent} advertised");
        }
        assert!(
            m["dpop_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .contains(&"ES256".into())
        );
        // every endpoint it names answers (an empty POST is refused, not 404)
        for member in [
            "jwks_uri",
            "token_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
            "registration_endpoint",
        ] {
            let url = m[member].as_str().unwrap();
            let get = s.http.get(url).send().await.unwrap().status();
            let post = s.http.post(url).send().await.unwrap().status();
            assert!(
                get != StatusCode::NOT_FOUND && post != StatusCode::NOT_FOUND,
                "{member} does not exist"
            );
        }
    }
}

#[tokio::test]
async fn jwks_publishes_the_signing_key_and_a_restart_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start_with(dir, |b| b).await;
    let kid = s.server.kid().to_owned();
    let r = s.get("/jwks.json").await;
    assert_eq!(r.headers()["cache-control"], "public, max-age=60");
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], kid.as_str());
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert!(keys[0].get("d").is_none(), "the private key is published");

    // a second start on the same database signs with the same key
    let dir = s.dir.take().unwrap();
    drop(s);
    let again = start_with(dir, |b| b).await;
    assert_eq!(again.server.kid(), kid);
}

pub(crate) async fn fetch_list(s: &Running) -> passport_status::VerifiedStatusList {
    let r = s.get("/status/1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/statuslist+jwt");
    assert_eq!(r.headers()["cache-control"], "public, max-age=60");
    let token = r.text().await.unwrap();
    let jwks = s.get("/jwks.json").await.bytes().await.unwrap();
    let keys =
        InMemoryKeyStore::from_jwks(&s.url, &passport_jose::JwkSet::from_json(&jwks).unwrap())
            .unwrap();
    let uri = s.at("/status/1");
    StatusListToken::verify(&token, &keys, &ListExpectations::new(&s.url, &uri, now())).unwrap()
}

#[tokio::test]
async fn the_status_list_is_signed_and_shows_a_revocation_on_the_next_fetch() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let bundle = s.mint(&client, "files:read").await;
    let status = claims_of(&bundle).status.unwrap();
    assert_eq!(status.uri(), s.at("/status/1"));

    let before = fetch_list(&s).await;
    assert_eq!(before.ttl, Some(60));
    assert_eq!(before.list.get(status.idx()).unwrap(), 0);

    let r = s
        .post_authenticated("/revoke", &client, &[("token", &bundle)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let after = fetch_list(&s).await;
    assert_eq!(after.list.get(status.idx()).unwrap(), 1);

    let other = s.get("/status/2").await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

// ---- /token: client_credentials ----

#[tokio::test]
async fn client_credentials_mints_a_recorded_passport_for_the_owner() {
    let s = start().await;
    let client = s.workload("files:* mail:send").await;
    let r = s
        .client_credentials(&client, Some("files:read"), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "files:read");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    // Issued for 900 s; `expires_in` is what is left when the answer is
    // written (this server's clock is the real one: a second may turn
    // between minting and answering, as it once did in CI).
    assert_eq!(claims.exp - claims.iat, 900);
    let left = body["expires_in"].as_i64().unwrap();
    assert!((898..=900).contains(&left), "expires_in {left}");
    assert_eq!(claims.iss, s.url);
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.aud, RESOURCE);
    assert_eq!(claims.agent.agent_id, client.client_id);
    assert!(claims.assurance.ial.is_none() && claims.acr.is_none());
    assert!(claims.cnf_jkt.is_none());
    // durable before the response
    let record = s.record(&claims.jti).await;
    assert_eq!(record.state, PassportState::Active);
    assert_eq!(record.entry.client_id, client.client_id);
    assert_eq!(record.entry.status_idx, Some(claims.status.unwrap().idx()));

    // no scope asked: everything the client may have
    let r = s.client_credentials(&client, None, None).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "files:* mail:send");
}

#[tokio::test]
async fn a_secret_in_the_body_is_refused_for_a_client_registered_for_basic() {
    // RFC 6749 §2.3: one authentication method per client. A workload
    // registers `client_secret_basic`; the same secret in the body is
    // another method and is refused like a wrong secret.
    let s = start().await;
    let client = s.workload("files:read").await;
    let form = cc_form(&[
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.secret.expose()),
    ]);
    let r = s.post("/token", None, &form).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn no_client_authentication_is_invalid_client() {
    let s = start().await;
    let client = s.workload("files:read").await;
    // nothing at all
    let r = s.post("/token", None, &cc_form(&[])).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // a client_id without a secret (the hole authgent-server had)
    let form = cc_form(&[("client_id", client.client_id.as_str())]);
    let r = s.post("/token", None, &form).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn a_wrong_secret_is_invalid_client_with_a_basic_challenge() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let wrong = (client.client_id.as_str(), "not-the-secret");
    let r = s.post("/token", Some(wrong), &cc_form(&[])).await;
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let body = error_of(r, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["error"], "invalid_client");
    // an unknown client the same
    let unknown = ("nobody", client.secret.expose());
    let r = s.post("/token", Some(unknown), &cc_form(&[])).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn a_scope_the_client_may_not_have_is_invalid_scope() {
    let s = start().await;
    let client = s.workload("files:read").await;
    for scope in ["files:write", "files:*", "files:read mail:send"] {
        let r = s.client_credentials(&client, Some(scope), None).await;
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
}

#[tokio::test]
async fn a_missing_resource_is_invalid_target() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let r = s
        .token(&client, &[("grant_type", "client_credentials")])
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
}

#[tokio::test]
async fn unknown_grants_are_unsupported_and_a_client_uses_only_its_own() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let r = s
        .token(&client, &[("grant_type", "password"), ("username", "x")])
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    // a workload is not registered for refresh_token
    let r = s
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

#[tokio::test]
async fn token_requests_over_the_limit_get_429_with_retry_after() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.token_rate_limit(RateLimit {
            burst: 2,
            per_second: 0.001,
        })
    })
    .await;
    let client = s.workload("files:read").await;
    let form = cc_form(&[]);
    assert_eq!(s.token(&client, &form).await.status(), StatusCode::OK);
    assert_eq!(s.token(&client, &form).await.status(), StatusCode::OK);
    rate_limited(s.token(&client, &form).await).await;
}

// ---- DPoP at /token ----

async fn dpop_token(s: &Running, client: &WorkloadClient, proof: &str) -> reqwest::Response {
    s.client_credentials(client, None, Some(proof)).await
}

#[tokio::test]
async fn a_dpop_proof_binds_the_passport_and_its_replay_is_refused() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = s.token_proof(&key);
    let r = dpop_token(&s, &client, &proof).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims.cnf_jkt.as_deref(), Some(key.jkt()));

    // the same proof again
    let replayed = dpop_token(&s, &client, &proof).await;
    dpop_refused(replayed, "replay:").await;

    // a proof for another URL
    let proof = key
        .proof("POST", &s.at("/revoke"), None, None, now())
        .unwrap();
    let elsewhere = dpop_token(&s, &client, &proof).await;
    dpop_refused(elsewhere, "htu_mismatch:").await;
}

#[tokio::test]
async fn a_dpop_proof_with_alg_none_is_refused() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let b64 = |v: &Value| passport_jose::b64::encode(serde_json::to_vec(v).unwrap());
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk()});
    let claims = serde_json::json!({
        "jti": "none-1", "htm": "POST", "htu": s.at("/token"), "iat": now(),
    });
    // with the empty signature of an unsecured JWS: not even well-formed here
    let proof = format!("{}.{}.", b64(&header), b64(&claims));
    let body = error_of(
        dpop_token(&s, &client, &proof).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(body["error"], "invalid_dpop_proof");
    // with some signature bytes: refused for its algorithm
    let proof = format!("{}.{}.AAAA", b64(&header), b64(&claims));
    expect_refusal(
        dpop_token(&s, &client, &proof).await,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        "dpop_alg_none:",
    )
    .await;
}

// ---- /introspect ----

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let bundle = s.mint(&client, "files:read").await;
    let r = s
        .post("/introspect", None, &[("token", bundle.as_str())])
        .await;
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let wrong = (client.client_id.as_str(), "wrong");
    let r = s
        .post("/introspect", Some(wrong), &[("token", bundle.as_str())])
        .await;
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn introspection_answers_the_verified_passport_or_inactive() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let caller = s.workload("introspect").await;
    let bundle = s.mint(&client, "files:read").await;
    let claims = claims_of(&bundle);
    let r = s
        .post_authenticated("/introspect", &caller, &[("token", &bundle)])
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "files:read");
    assert_eq!(answer["client_id"], client.client_id.as_str());
    assert_eq!(answer["sub"], "alice");
    assert_eq!(answer["aud"], RESOURCE);
    assert_eq!(answer["iss"], s.url.as_str());
    assert_eq!(answer["jti"], claims.jti.as_str());
    assert_eq!(answer["exp"], claims.exp);
    assert_eq!(answer["iat"], claims.iat);
    assert!(answer.get("act").is_some());
    assert_eq!(answer["token_type"], "Bearer");

    // a DPoP-bound passport reports its cnf
    let key = DpopKey::generate(Algorithm::EdDSA).unwrap();
    let proof = s.token_proof(&key);
    let bound = access_token(dpop_token(&s, &client, &proof).await).await;
    let answer = s.introspect(&caller, &bound).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["cnf"]["jkt"], key.jkt());
    assert_eq!(answer["token_type"], "DPoP");

    // garbage, a tampered passport, one signed by someone else: inactive
    let mut tampered = bundle.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let other = start().await;
    let other_client = other.workload("files:read").await;
    let foreign = other.mint(&other_client, "files:read").await;
    for token in ["not a token", tampered.as_str(), foreign.as_str()] {
        let answer = s.introspect(&caller, token).await;
        assert_eq!(answer, serde_json::json!({"active": false}), "{token:.20}");
    }
}

// ---- /revoke ----

#[tokio::test]
async fn revocation_requires_client_authentication() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let bundle = s.mint(&client, "files:read").await;
    let r = s.post("/revoke", None, &[("token", bundle.as_str())]).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // still active
    let jti = claims_of(&bundle).jti;
    let record = s.record(&jti).await;
    assert_eq!(record.state, PassportState::Active);
}

#[tokio::test]
async fn revocation_revokes_and_introspection_shows_it() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let stranger = s.workload("files:read").await;
    let bundle = s.mint(&client, "files:read").await;

    // unknown tokens: 200 (RFC 7009 §2.2)
    let r = s
        .post_authenticated("/revoke", &client, &[("token", "unknown")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // another client may not revoke it
    let r = s
        .post_authenticated("/revoke", &stranger, &[("token", &bundle)])
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;

    let r = s
        .post_authenticated("/revoke", &client, &[("token", &bundle)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.text().await.unwrap().is_empty(), "RFC 7009: no body");
    let jti = claims_of(&bundle).jti;
    let record = s.record(&jti).await;
    assert_eq!(record.state, PassportState::Revoked);
    let answer = s.introspect(&stranger, &bundle).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
    // a second revocation is still 200
    let r = s
        .post_authenticated("/revoke", &client, &[("token", &bundle)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Review rev11-c, finding 2: a registry that could not be read made the
/// passport "not a valid token", and `/revoke` answered 200 (RFC 7009's
/// answer for one) while nothing was revoked. Now it is 503 (RFC 7009
/// §2.2.1), and so is introspection, and the client can try again.
#[tokio::test]
async fn revocation_and_introspection_are_503_when_the_registry_cannot_be_read() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| b).await;
    let client = s.workload("files:read").await;
    let bundle = s.mint(&client, "files:read").await;
    let broken = s.break_table("registry").await;
    let r = s
        .post_authenticated("/revoke", &client, &[("token", &bundle)])
        .await;
    expect_unavailable(r, "the registry could not be read; try again later").await;
    let r = s
        .post_authenticated("/introspect", &client, &[("token", &bundle)])
        .await;
    expect_error(
        r,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    broken.mend();
    // nothing was revoked; the retry is
    assert!(s.active(&client, &bundle).await);
    let r = s
        .post_authenticated("/revoke", &client, &[("token", &bundle)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!s.active(&client, &bundle).await);
}

/// The same for a passport signed by a key the server has not loaded (one
/// another instance just promoted, say): the server reads its keys again
/// to know, and when they cannot be read it cannot tell whether the
/// passport is its own — 503, never "not a valid token" (200).
#[tokio::test]
async fn revocation_is_503_when_the_keys_cannot_be_read_for_an_unknown_kid() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| b).await;
    let client = s.workload("files:read").await;
    let minted = s.mint(&client, "files:read").await;
    // its claims under a key the server does not hold
    let mut parts = minted.split('.');
    let header: Value =
        serde_json::from_slice(&passport_jose::b64::decode(parts.next().unwrap()).unwrap())
            .unwrap();
    let payload = passport_jose::b64::decode(parts.next().unwrap()).unwrap();
    let key = passport_jose::SigningKey::generate(Algorithm::EdDSA).unwrap();
    let header = serde_json::json!({"alg": "EdDSA", "kid": "not-loaded-yet", "typ": header["typ"]});
    let Value::Object(header) = header else {
        unreachable!()
    };
    let unknown = key.sign_compact_with_header(&header, &payload).unwrap();
    let broken = s.break_table("signing_keys").await;
    let r = s
        .post_authenticated("/revoke", &client, &[("token", &unknown)])
        .await;
    expect_unavailable(r, "the signing keys could not be read; try again later").await;
    broken.mend();
}

#[tokio::test]
async fn workload_registration_refuses_bad_input() {
    let s = start().await;
    let err = s
        .server
        .register_workload_client("", "files:read")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "workload_owner_invalid");
    let err = s
        .server
        .register_workload_client("alice", "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "workload_scope_invalid");
}
