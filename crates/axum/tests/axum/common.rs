//! A real axum server on 127.0.0.1:0 protected by passport-axum, an issuer
//! for its audience, and helpers to send raw requests and read challenges.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use passport_axum::{Level, Passport, PassportAuth, PassportAuthBuilder, Requirements};
use passport_claims::{Clock as _, SystemClock};
use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier, NonceIssuer};
use passport_issuer::IssuedPassport;
use passport_jose::Algorithm;
use passport_testkit::{Kit, ROOT_SCOPES, alice_ial2, issuance};
use passport_verifier::{VerificationPolicy, Verifier};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A [`Kit`] for this server's audience, and the server.
pub(crate) struct Fixture {
    /// Issuer, key store and clock; the clock starts at the wall-clock time.
    pub(crate) kit: Kit,
    /// `http://127.0.0.1:<port>`: the server's origin and the passports' audience.
    pub(crate) base: String,
    listener: Option<TcpListener>,
    pub(crate) hits: Arc<AtomicUsize>,
    pub(crate) http: reqwest::Client,
}

impl Fixture {
    pub(crate) async fn new() -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Fixture {
            kit: Kit::at(SystemClock.now(), &base),
            base,
            listener: Some(listener),
            hits: Arc::new(AtomicUsize::new(0)),
            http,
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.kit.now()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn policy(&self) -> VerificationPolicy {
        self.kit.policy()
    }

    pub(crate) fn verifier(&self, policy: VerificationPolicy) -> Verifier {
        self.kit.verifier(policy)
    }

    pub(crate) fn dpop(&self) -> DpopVerifier {
        DpopVerifier::new(DpopPolicy::default(), self.kit.clock.clone())
    }

    pub(crate) fn dpop_with_nonces(&self) -> DpopVerifier {
        let policy = DpopPolicy {
            require_nonce: true,
            ..DpopPolicy::default()
        };
        let clock = self.kit.clock.clone();
        DpopVerifier::new(policy, clock.clone())
            .with_nonce_issuer(NonceIssuer::generate(clock).unwrap())
    }

    /// The standard builder: the fixture's verifier, DPoP enabled.
    pub(crate) fn auth(&self) -> PassportAuthBuilder {
        PassportAuth::builder(Arc::new(self.verifier(self.policy())))
            .dpop(self.dpop())
            .scopes_supported(["files:read", "files:write"])
    }

    /// A root for Alice at IAL 2, for `aud`, bound to `holder` when given.
    pub(crate) fn root_for(
        &self,
        aud: &str,
        scopes: &[&str],
        holder: Option<&DpopKey>,
    ) -> IssuedPassport {
        let mut request = issuance(alice_ial2(), aud, "agent-a", "model-a", scopes);
        if let Some(key) = holder {
            request = request.holder_jkt(key.jkt());
        }
        self.kit.issue(request)
    }

    /// A root for this server, bound to `holder` when given.
    pub(crate) fn root(&self, scopes: &[&str], holder: Option<&DpopKey>) -> IssuedPassport {
        self.root_for(&self.base, scopes, holder)
    }

    /// A child of `parent_bundle`'s leaf, bound to `holder` when given.
    pub(crate) fn delegate(
        &self,
        parent_bundle: &str,
        agent: &str,
        scopes: &[&str],
        holder: Option<&DpopKey>,
    ) -> IssuedPassport {
        self.kit
            .delegate_bound(parent_bundle, agent, scopes, holder.map(DpopKey::jkt))
    }

    /// root (agent-a, key a) → agent-b (key b) → agent-c (key c), narrowing;
    /// the leaf is bound to `leaf_key`.
    pub(crate) fn chain3(&self, leaf_key: &DpopKey) -> IssuedPassport {
        let a = DpopKey::generate(Algorithm::EdDSA).unwrap();
        let b = DpopKey::generate(Algorithm::EdDSA).unwrap();
        let root = self.root(ROOT_SCOPES, Some(&a));
        let child = self.delegate(root.bundle(), "agent-b", &["files:*"], Some(&b));
        self.delegate(child.bundle(), "agent-c", &["files:read"], Some(leaf_key))
    }

    /// A root (agent-a) with file and MCP scopes, and its child for
    /// agent-b (`files:read`, `mcp:*`) bound to `leaf_key`.
    pub(crate) fn mcp_leaf(&self, leaf_key: &DpopKey) -> IssuedPassport {
        let a = Fixture::key();
        let root = self.root(&["files:*", "mcp:*"], Some(&a));
        self.delegate(
            root.bundle(),
            "agent-b",
            &["files:read", "mcp:*"],
            Some(leaf_key),
        )
    }

    pub(crate) fn key() -> DpopKey {
        DpopKey::generate(Algorithm::ES256).unwrap()
    }

    /// A proof by `key` for `method` and `path` on this server, with `ath`
    /// over `bundle`, at the fixture's time.
    pub(crate) fn proof(&self, key: &DpopKey, method: &str, path: &str, bundle: &str) -> String {
        key.proof(method, &self.url(path), Some(bundle), None, self.now())
            .unwrap()
    }

    /// Starts the server with `auth`:
    /// - `GET /whoami`: any valid passport;
    /// - `GET /files`: `files:read`; `POST /files/write`: `files:write`;
    /// - `GET /aal3`: AAL 3; `GET /pop`: proof of possession;
    /// - `GET /handler-scope`: a scope checked inside the handler;
    /// - `POST /mcp/...`: a nested service;
    /// - the metadata document, public;
    /// - every request counted in `hits`.
    pub(crate) async fn serve(&mut self, auth: PassportAuth) {
        let app = Router::new()
            .route("/whoami", get(whoami))
            .merge(
                Router::new()
                    .route("/files", get(whoami))
                    .route_layer(auth.require(Requirements::scope("files:read"))),
            )
            .merge(
                Router::new()
                    .route("/files/write", post(whoami))
                    .route_layer(auth.require(Requirements::scope("files:write"))),
            )
            .merge(
                Router::new()
                    .route("/aal3", get(whoami))
                    .route_layer(auth.require(Requirements::none().min_aal(Level::THREE))),
            )
            .merge(
                Router::new()
                    .route("/pop", get(whoami))
                    .route_layer(auth.require(Requirements::none().with_proof_of_possession())),
            )
            .route("/handler-scope", get(handler_scope))
            .nest_service("/mcp", Router::new().route("/tools/{name}", post(whoami)))
            .layer(auth.layer())
            .merge(auth.metadata_router())
            .layer(from_fn_with_state(self.hits.clone(), count));
        self.serve_app(app).await;
    }

    /// Starts the server with `app` as it is.
    pub(crate) async fn serve_app(&mut self, app: Router) {
        let listener = self.listener.take().expect("serve once");
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
    }

    /// Sends a request with raw header values.
    pub(crate) async fn raw(
        &self,
        method: &str,
        path: &str,
        authorization: &[HeaderValue],
        dpop: &[HeaderValue],
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, self.url(path));
        for value in authorization {
            request = request.header("authorization", value.clone());
        }
        for value in dpop {
            request = request.header("dpop", value.clone());
        }
        Answer::read(request.send().await.unwrap()).await
    }

    /// `DPoP <bundle>` with a fresh proof by `key` for this very request.
    pub(crate) async fn dpop_call(
        &self,
        key: &DpopKey,
        method: &str,
        path: &str,
        bundle: &str,
    ) -> Answer {
        let proof = self.proof(key, method, path, bundle);
        self.call(method, path, "DPoP", bundle, Some(&proof)).await
    }

    /// `<scheme> <bundle>` with an optional proof.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        scheme: &str,
        bundle: &str,
        proof: Option<&str>,
    ) -> Answer {
        let auth = HeaderValue::from_str(&format!("{scheme} {bundle}")).unwrap();
        let dpop: Vec<HeaderValue> = proof
            .map(|p| HeaderValue::from_str(p).unwrap())
            .into_iter()
            .collect();
        self.raw(method, path, &[auth], &dpop).await
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn count(State(hits): State<Arc<AtomicUsize>>, request: Request, next: Next) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

async fn whoami(passport: Passport) -> Json<Value> {
    Json(json!({
        "principal": passport.principal(),
        "agent": passport.agent_id(),
        "depth": passport.depth(),
        "scheme": passport.scheme().as_str(),
        "proof_jkt": passport.proof().map(|p| p.jkt.clone()),
    }))
}

async fn handler_scope(passport: Passport) -> Result<Json<Value>, passport_axum::Rejection> {
    passport.require_scope("mail:send")?;
    Ok(whoami(passport).await)
}

/// A response, read.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) challenges: Vec<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let challenges = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let nonce = response
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            challenges,
            nonce,
            retry_after,
            body,
        }
    }

    /// The challenge of `scheme`.
    pub(crate) fn challenge(&self, scheme: &str) -> Option<&str> {
        self.challenges
            .iter()
            .find(|c| c.split(' ').next() == Some(scheme))
            .map(String::as_str)
    }

    /// The error parameters of whichever challenge carries them:
    /// (scheme, error, error_description).
    pub(crate) fn error(&self) -> Option<(String, String, String)> {
        self.challenges.iter().find_map(|c| {
            let scheme = c.split(' ').next()?.to_owned();
            Some((scheme, param(c, "error")?, param(c, "error_description")?))
        })
    }

    /// The stable code in the body.
    pub(crate) fn code(&self) -> &str {
        self.body["error_description"].as_str().unwrap_or("")
    }

    /// Asserts a refusal: status, OAuth error (in a challenge and the body)
    /// and stable code.
    pub(crate) fn assert_refused(&self, status: u16, error: &str, code: &str) {
        assert_eq!(self.status, status, "{self:#?}");
        assert_eq!(self.code(), code, "{self:#?}");
        assert_eq!(self.body["error"], error, "{self:#?}");
        let (_, e, d) = self
            .error()
            .unwrap_or_else(|| panic!("no error challenge: {self:#?}"));
        assert_eq!((e.as_str(), d.as_str()), (error, code), "{self:#?}");
    }
}

/// The value of `name="…"` in a challenge (unescaping `\x`).
pub(crate) fn param(challenge: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = challenge
        .match_indices(&needle)
        .find(|(i, _)| *i == 0 || matches!(challenge.as_bytes()[i - 1], b' ' | b','))?
        .0
        + needle.len();
    let mut out = String::new();
    let mut chars = challenge[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}
