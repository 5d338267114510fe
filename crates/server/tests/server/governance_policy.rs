//! Governance (issue 14): policy as data, agent identities, approvals —
//! every rule fed the input it refuses, expecting the status, the OAuth
//! `error` and the `rule`.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use passport_claims::{Clock as _, ManualClock};
use passport_mock_oidc::MockOidc;
use passport_server::{Server, WorkloadClient};
use passport_store::server::Database;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::endpoints::{Running, expect_refusal};
use crate::exchange::{links, now};
use crate::policy_fixture::{
    DEV, PROD, PolicyText, TEST, ask, awaits_approval, exchange_id_token, jti_of, login_token,
    pending, refused, start_governed,
};

/// The reference's pipeline: dev 120 s, test 90 s, prod 45 s + approval.
pub(crate) static POLICY: LazyLock<String> = LazyLock::new(|| {
    PolicyText::new()
        .approval_ttl(900)
        .environment("dev", 120, false, &["pipeline"], &["build:*", "files:read"])
        .environment("test", 90, false, &["pipeline"], &["test:run"])
        .environment("prod", 45, true, &["deployer"], &["deploy:run"])
        .administrators(&[
            ("identity_admin", "idadmins"),
            ("approver", "approvers"),
            ("auditor", "auditors"),
        ])
});

/// The identity administrator of these tests (owner of no identity).
pub(crate) const CAROL: (&str, &[&str]) = ("carol", &["idadmins"]);
/// The approver of these tests.
pub(crate) const BOB: (&str, &[&str]) = ("bob", &["approvers"]);

pub(crate) struct Governed {
    pub(crate) mock: MockOidc,
    pub(crate) s: Running,
    pub(crate) clock: Arc<ManualClock>,
    policy: std::path::PathBuf,
}

pub(crate) async fn governed(policy: &str) -> Governed {
    let mock = MockOidc::start().await;
    let clock = Arc::new(ManualClock::new(now()));
    let c = clock.clone();
    let (s, policy) = start_governed(&mock, policy, move |b| {
        b.clock(c)
            // the periodic check is tested on its own below
            .policy_reload_interval(Duration::from_secs(3600))
    })
    .await;
    Governed {
        mock,
        s,
        clock,
        policy,
    }
}

impl Governed {
    /// An upstream ID token of `sub` holding the upstream `roles`.
    /// (Issued to the administrators' client, and authenticated at the
    /// server's time: the tests move the server's clock.)
    pub(crate) fn admin(&self, sub: &str, roles: &[&str]) -> String {
        let mut claims = crate::kill_switch::admin_claims(&self.mock, sub, roles);
        claims["auth_time"] = json!(self.clock.now());
        self.mock.mint_id_token(claims)
    }

    pub(crate) async fn api(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let url = self.s.at(path);
        let mut r = match method {
            "GET" => self.s.http.get(url),
            _ => self.s.http.post(url),
        };
        if !bearer.is_empty() {
            r = r.bearer_auth(bearer);
        }
        if let Some(body) = body {
            r = r.json(&body);
        }
        r.send().await.unwrap()
    }

    /// `POST`s `body` to the admin API's `path` as the administrator `sub`
    /// holding `roles` (logged in now).
    pub(crate) async fn post_as(
        &self,
        (sub, roles): (&str, &[&str]),
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        self.api("POST", path, &self.admin(sub, roles), body).await
    }

    /// Registers the agent identity `identity` (the API's JSON) as the
    /// identity administrator [`CAROL`].
    pub(crate) async fn register(&self, identity: Value) {
        let r = self
            .post_as(CAROL, "/admin/api/identities", Some(identity))
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }

    /// Decides (`approve` or `deny`) the approval `id` as `who`; the answer.
    pub(crate) async fn decide(
        &self,
        who: (&str, &[&str]),
        id: &str,
        decision: &str,
    ) -> reqwest::Response {
        let path = format!("/admin/api/approvals/{id}/{decision}");
        self.post_as(who, &path, None).await
    }

    /// Approves `id` as the approver [`BOB`] (logged in now: the tests
    /// move the server's clock past a login's age); it must be approved.
    pub(crate) async fn approve(&self, id: &str) {
        let r = self.decide(BOB, id, "approve").await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn ask(&self, client: &WorkloadClient, resource: &str, scope: &str) -> reqwest::Response {
        ask(&self.s, client, resource, scope).await
    }

    /// The request of `client` for `resource` and `scope` must be refused
    /// 400 with `error` by `rule` (see [`refused`]); the body.
    async fn refuses(
        &self,
        client: &WorkloadClient,
        (resource, scope): (&str, &str),
        error: &str,
        rule: &str,
    ) -> Value {
        let r = self.ask(client, resource, scope).await;
        refused(r, StatusCode::BAD_REQUEST, error, rule).await
    }

    async fn pending(&self, client: &WorkloadClient) -> Value {
        pending(&self.s, client).await
    }

    async fn workload(&self, roles: &[&str]) -> WorkloadClient {
        let client = self
            .s
            .workload("build:* files:read test:* deploy:run")
            .await;
        // owner alice, as its client
        self.register(
            json!({"agent_id": client.client_id, "owner": "alice", "team": "ci", "roles": roles}),
        )
        .await;
        client
    }
}

async fn issued(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn each_environment_caps_the_lifetime_and_is_recorded() {
    let g = governed(&POLICY).await;
    let client = g.workload(&["pipeline"]).await;
    for (resource, scope, ttl, env) in
        [(DEV, "build:x", 120, "dev"), (TEST, "test:run", 90, "test")]
    {
        let body = issued(g.ask(&client, resource, scope).await).await;
        assert_eq!(body["expires_in"], ttl, "{body}");
        let claims = links(body["access_token"].as_str().unwrap()).pop().unwrap();
        assert_eq!(claims.exp - claims.iat, ttl);
        let row = g.s.record(&claims.jti).await;
        assert_eq!(row.entry.environment.as_deref(), Some(env));
        assert_eq!(row.entry.approval_id, None);
    }
}

#[tokio::test]
async fn a_resource_in_no_environment_is_refused() {
    let g = governed(&POLICY).await;
    let client = g.workload(&["pipeline"]).await;
    // not even a prefix or a trailing slash matches
    for resource in [
        "https://tools.example/mcp",
        "https://dev.example/api/",
        "https://dev.example",
    ] {
        g.refuses(
            &client,
            (resource, "build:x"),
            "invalid_target",
            "environments",
        )
        .await;
    }
}

#[tokio::test]
async fn unregistered_and_disabled_identities_are_refused() {
    let g = governed(&POLICY).await;
    let stranger = g.s.workload("build:*").await;
    let body = g
        .refuses(&stranger, (DEV, "build:x"), "access_denied", "identities")
        .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not registered")
    );

    let client = g.workload(&["pipeline"]).await;
    issued(g.ask(&client, DEV, "build:x").await).await;
    let r = g
        .post_as(
            CAROL,
            &format!("/admin/api/identities/{}", client.client_id),
            Some(json!({"state": "disabled"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = g
        .refuses(&client, (DEV, "build:x"), "access_denied", "identities")
        .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
}

#[tokio::test]
async fn scopes_beyond_the_grants_are_refused_naming_them() {
    let g = governed(&POLICY).await;
    let client = g.workload(&["pipeline"]).await;
    // within the client's scopes, but not granted in dev
    let body = g
        .refuses(
            &client,
            (DEV, "build:x deploy:run"),
            "invalid_scope",
            "environments.dev.grants",
        )
        .await;
    let description = body["error_description"].as_str().unwrap();
    assert!(description.ends_with("deploy:run"), "{description}");
    // a role the identity lacks grants nothing: prod is the deployers'
    g.refuses(
        &client,
        (PROD, "deploy:run"),
        "invalid_scope",
        "environments.prod.grants",
    )
    .await;
    // a pattern wider than the grant is beyond it too
    g.refuses(
        &client,
        (TEST, "test:*"),
        "invalid_scope",
        "environments.test.grants",
    )
    .await;
}

#[tokio::test]
async fn prod_waits_for_another_principal_s_approval_until_it_expires() {
    let g = governed(&POLICY).await;
    let client = g.workload(&["deployer"]).await;
    let body = g.pending(&client).await;
    let id = body["approval_id"].as_str().unwrap().to_owned();
    // asking again finds the same pending approval
    let again = g.pending(&client).await;
    assert_eq!(again["approval_id"], id.as_str());
    let listed: Value = g
        .api(
            "GET",
            "/admin/api/approvals?state=pending",
            &g.admin("bob", &["approvers"]),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["approvals"].as_array().unwrap().len(), 1, "{listed}");

    // the owner (and requester) of the identity may not approve it
    let r = g.decide(("alice", &["approvers"]), &id, "approve").await;
    expect_refusal(r, StatusCode::FORBIDDEN, "access_denied", "self_approval:").await;
    // nor may someone without the approver role
    let r = g
        .decide(("dave", &["idadmins", "auditors"]), &id, "approve")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("approver"),
        "{body}"
    );
    // still pending
    g.pending(&client).await;

    let r = g.decide(BOB, &id, "approve").await;
    assert_eq!(r.status(), StatusCode::OK);
    let decided: Value = r.json().await.unwrap();
    assert_eq!(
        (decided["state"].as_str(), decided["decided_by"].as_str()),
        (Some("approved"), Some("bob"))
    );
    // a second decision is refused
    let r = g.decide(BOB, &id, "deny").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let body = issued(g.ask(&client, PROD, "deploy:run").await).await;
    assert_eq!(body["expires_in"], 45);
    let row = g.s.record(&jti_of(&body)).await;
    assert_eq!(row.entry.approval_id.as_deref(), Some(id.as_str()));
    assert_eq!(row.entry.environment.as_deref(), Some("prod"));

    // 15 minutes later the approval no longer admits: a new request waits
    g.clock.advance(900);
    let body = g.pending(&client).await;
    let next = body["approval_id"].as_str().unwrap().to_owned();
    assert_ne!(next, id);
    // denied: access_denied naming it, until the denial expires
    let r = g.decide(BOB, &next, "deny").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = g
        .refuses(
            &client,
            (PROD, "deploy:run"),
            "access_denied",
            "environments.prod.approval",
        )
        .await;
    assert_eq!(body["approval_id"], next.as_str());
}

#[tokio::test]
async fn a_delegated_child_is_governed_for_its_own_agent() {
    let g = governed(&POLICY).await;
    let parent = g.workload(&["pipeline"]).await;
    let body = issued(g.ask(&parent, DEV, "build:x").await).await;
    let bundle = body["access_token"].as_str().unwrap().to_owned();
    let exchange = [
        ("grant_type", crate::exchange::EXCHANGE),
        ("subject_token", bundle.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("resource", DEV),
        ("scope", "build:x"),
    ];
    // into another environment: its grants apply (test:run only in test)
    let to_test = [
        ("grant_type", crate::exchange::EXCHANGE),
        ("subject_token", bundle.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("resource", TEST),
        ("scope", "build:x"),
    ];
    refused(
        g.s.token(&parent, &to_test).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        "environments.test.grants",
    )
    .await;
    // the parent's own client exchanging for itself is checked as any mint
    let r = g.s.token(&parent, &exchange).await;
    let child = issued(r).await;
    assert!(child["expires_in"].as_i64().unwrap() <= 120);
    let jti = jti_of(&child);
    let row = g.s.record(&jti).await;
    assert_eq!(row.entry.environment.as_deref(), Some("dev"));
    // and refused once its identity is disabled
    let r = g
        .post_as(
            CAROL,
            &format!("/admin/api/identities/{}", parent.client_id),
            Some(json!({"state": "disabled"})),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{} {}",
        parent.client_id,
        r.text().await.unwrap()
    );
    refused(
        g.s.token(&parent, &exchange).await,
        StatusCode::BAD_REQUEST,
        "access_denied",
        "identities",
    )
    .await;
}

#[tokio::test]
async fn a_good_new_policy_is_applied_and_a_bad_one_kept_out() {
    let g = governed(&POLICY).await;
    let client = g.workload(&["pipeline"]).await;
    g.refuses(
        &client,
        (DEV, "files:read deploy:run"),
        "invalid_scope",
        "environments.dev.grants",
    )
    .await;
    // grant the agent itself deploy:run in dev, and shorten dev
    let granted = POLICY.replace(
        "[environments.test]",
        &format!(
            "[[environments.dev.grants]]\nagents = [\"{}\"]\nscopes = [\"deploy:run\"]\n\n[environments.test]",
            client.client_id
        ),
    )
    .replace("max_ttl = 120", "max_ttl = 60");
    std::fs::write(&g.policy, &granted).unwrap();
    let status = g.s.server.reload_policy_now().await.unwrap();
    assert_eq!((status.version, status.last_error.as_deref()), (2, None));
    let body = issued(g.ask(&client, DEV, "files:read deploy:run").await).await;
    assert_eq!(body["expires_in"], 60);

    // a bad file: overlapping audiences
    std::fs::write(&g.policy, granted.replace(TEST, DEV)).unwrap();
    let status = g.s.server.reload_policy_now().await.unwrap();
    assert_eq!(status.version, 2);
    let error = status.last_error.unwrap();
    assert!(error.contains("environments.test.audiences"), "{error}");
    assert!(error.contains("policy.toml"), "{error}");
    // the running policy stays: dev is still 60 s, test still served
    let body = issued(g.ask(&client, DEV, "files:read deploy:run").await).await;
    assert_eq!(body["expires_in"], 60);
    issued(g.ask(&client, TEST, "test:run").await).await;
    // and the error is visible to administrators
    let r = g
        .api(
            "GET",
            "/admin/api/policy",
            &g.admin("erin", &["auditors"]),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["policy"]["version"], 2);
    assert!(
        body["policy"]["last_error"]
            .as_str()
            .unwrap()
            .contains("environments.test.audiences")
    );
    // a file of unknown keys or no file at all: kept out too
    std::fs::write(&g.policy, "[environments.dev]\nmax_tll = 5\n").unwrap();
    let status = g.s.server.reload_policy_now().await.unwrap();
    assert!(status.last_error.unwrap().contains("policy.toml:2"));
    std::fs::remove_file(&g.policy).unwrap();
    let status = g.s.server.reload_policy_now().await.unwrap();
    assert!(status.last_error.unwrap().contains("cannot read"));
    issued(g.ask(&client, DEV, "build:x").await).await;
}

#[tokio::test]
async fn the_policy_file_is_watched_for_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, &*POLICY).unwrap();
    let db = Database::open(dir.path().join("s.db").to_str().unwrap(), now())
        .await
        .unwrap();
    let server = Server::builder("http://127.0.0.1:9", db)
        .policy_file(&path)
        .policy_reload_interval(Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    assert_eq!(server.policy_status().unwrap().version, 1);
    std::fs::write(
        &path,
        POLICY.replace("max_ttl = 45", "max_ttl = 30\n# changed size"),
    )
    .unwrap();
    let mut waited = 0;
    while server.policy_status().unwrap().version < 2 {
        assert!(waited < 250, "the change was not picked up");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    std::fs::write(&path, "not toml [").unwrap();
    while server.policy_status().unwrap().last_error.is_none() {
        assert!(waited < 500, "the bad file was not reported");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_eq!(server.policy_status().unwrap().version, 2);
}

#[tokio::test]
async fn a_bad_policy_refuses_to_start_naming_file_line_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad-policy.toml");
    std::fs::write(&path, POLICY.replace("max_ttl = 90", "max_ttl = 0")).unwrap();
    let db = Database::open(dir.path().join("s.db").to_str().unwrap(), now())
        .await
        .unwrap();
    let e = Server::builder("http://127.0.0.1:9", db)
        .policy_file(&path)
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "policy_invalid");
    let text = e.to_string();
    assert!(
        text.contains("bad-policy.toml:12: environments.test.max_ttl"),
        "{text}"
    );
}

#[tokio::test]
async fn without_a_policy_nothing_is_governed() {
    let s = crate::endpoints::start().await;
    let client = s.workload("files:read").await;
    // unregistered agent, any resource, the default lifetime
    let r = s
        .token(
            &client,
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://anything.example"),
                ("scope", "files:read"),
            ],
        )
        .await;
    let body = issued(r).await;
    assert_eq!(body["expires_in"], 900);
    assert!(s.server.policy_status().is_none());
    let row = s.record(&jti_of(&body)).await;
    assert_eq!((row.entry.environment, row.entry.approval_id), (None, None));
}

#[tokio::test]
async fn agents_and_unprivileged_administrators_cannot_change_identities() {
    let g = governed(&POLICY).await;
    let client = g.workload(&["pipeline"]).await;
    let passport = issued(g.ask(&client, DEV, "build:x").await).await;
    let body = json!({"roles": ["deployer"]});
    let path = format!("/admin/api/identities/{}", client.client_id);
    // an agent's passport is no administrator's ID token
    let r = g
        .api(
            "POST",
            &path,
            passport["access_token"].as_str().unwrap(),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // nor are its client credentials
    let r =
        g.s.http
            .post(g.s.at(&path))
            .basic_auth(&client.client_id, Some(client.secret.expose()))
            .json(&body)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = g.api("GET", "/admin/api/identities", "", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // an administrator without identity_admin
    let r = g.post_as(BOB, &path, Some(body.clone())).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // an identity admin who owns the identity may not give it roles
    let r = g
        .post_as(("alice", &["idadmins"]), &path, Some(body.clone()))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let refusal: Value = r.json().await.unwrap();
    assert_eq!(refusal["rule"], "identities.self_grant", "{refusal}");
    // nor by making itself the owner in the same change
    let r = g
        .post_as(
            ("mallory", &["idadmins"]),
            &path,
            Some(json!({"owner": "mallory", "roles": ["deployer"]})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // nor register one it owns with roles
    let r = g
        .post_as(
            ("mallory", &["idadmins"]),
            "/admin/api/identities",
            Some(json!({"agent_id": "mine", "owner": "mallory", "roles": ["deployer"]})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // it may take roles away from its own identity
    let r = g
        .post_as(("alice", &["idadmins"]), &path, Some(json!({"roles": []})))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // another identity admin may grant
    let r = g.post_as(CAROL, &path, Some(body)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["roles"], json!(["deployer"]));
    assert_eq!(changed["updated_by"], "carol");
    // hostile bodies: unknown members, bad values, a duplicate
    for bad in [
        json!({"role": ["x"]}),
        json!({"state": "deleted"}),
        json!({"roles": [""]}),
    ] {
        let r = g.post_as(CAROL, &path, Some(bad)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = g
        .post_as(
            CAROL,
            "/admin/api/identities",
            Some(json!({"agent_id": client.client_id, "owner": "x"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = g
        .post_as(CAROL, "/admin/api/identities/nobody", Some(json!({})))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// An approval admits the principal that asked, and nobody else through
/// the same agent: the approver exchanging its own login token there gets
/// a request of its own, pending (self-approval by another route; found by
/// the session-5 review).
#[tokio::test]
async fn an_approval_admits_only_the_principal_that_asked() {
    let g = governed(&POLICY).await;
    let client = g.workload(&["deployer"]).await;
    let body = g.pending(&client).await;
    let id = body["approval_id"].as_str().unwrap().to_owned();
    g.approve(&id).await;
    // bob's own login token (issued to the users' client), exchanged by
    // the same agent
    let bob_login = login_token(&g.mock, "bob");
    let r = exchange_id_token(&g.s, &client, &bob_login, PROD, Some("deploy:run")).await;
    let body = awaits_approval(r).await;
    assert_ne!(body["approval_id"], id.as_str(), "{body}");
    // the principal that asked is issued under it
    issued(g.ask(&client, PROD, "deploy:run").await).await;
}

/// "No one grants itself a role" holds across several changes: an
/// identity administrator may not hand an identity it owns to another
/// owner (then add roles, then take it back), nor take ownership of an
/// identity that has roles; another administrator may do both (found by
/// the session-5 review).
#[tokio::test]
async fn an_identity_admin_cannot_grant_its_own_identity_roles_in_steps() {
    let g = governed(&POLICY).await;
    let carol = g.admin("carol", &["idadmins"]);
    let dave = g.admin("dave", &["idadmins"]);
    let r = g
        .api(
            "POST",
            "/admin/api/identities",
            &carol,
            Some(json!({"agent_id": "carols-bot", "owner": "carol", "roles": []})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let change = |who: &str, body: Value| {
        let who = who.to_owned();
        let g = &g;
        async move {
            g.api("POST", "/admin/api/identities/carols-bot", &who, Some(body))
                .await
        }
    };
    let self_grant = |r: reqwest::Response| async move {
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["rule"], "identities.self_grant", "{body}");
    };
    // directly, and by handing it to a placeholder first
    self_grant(change(&carol, json!({"roles": ["deployer"]})).await).await;
    self_grant(change(&carol, json!({"owner": "placeholder"})).await).await;
    // another administrator hands it over and gives it a role
    let r = change(
        &dave,
        json!({"owner": "placeholder", "roles": ["deployer"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // carol may not take it back with its role
    self_grant(change(&carol, json!({"owner": "carol"})).await).await;
    // nor register a new one of her own with roles
    let r = g
        .api(
            "POST",
            "/admin/api/identities",
            &carol,
            Some(json!({"agent_id": "carols-2", "owner": "carol", "roles": ["deployer"]})),
        )
        .await;
    self_grant(r).await;
    // dave gives it back to carol: an act of another administrator
    let r = change(&dave, json!({"owner": "carol"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // taking roles away and disabling her own stay hers to do
    let r = change(&carol, json!({"roles": [], "state": "disabled"})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// REVIEW S5: a refresh refused by governance (here: the approval expired)
/// has already spent the refresh token, and the successor is never handed
/// out; the client's retry after a fresh approval is taken as a reuse and
/// revokes the whole grant.
#[tokio::test]
async fn review_a_refresh_refused_by_governance_does_not_spend_the_grant() {
    use crate::code_grant::code_for;
    // prod holds the code-flow client "code-app", registered as a deployer
    let t = crate::grant_governance::setup().await;
    let (g, c) = (&t.g, &t.c);
    // first code: pending
    code_for(&g.s, c, "code-1", "deploy:run", now() + 600).await;
    let body: Value = t.redeem("code-1").await.json().await.unwrap();
    assert_eq!(body["error"], "authorization_pending", "{body}");
    g.approve(body["approval_id"].as_str().unwrap()).await;
    code_for(&g.s, c, "code-2", "deploy:run", now() + 600).await;
    let r = t.redeem("code-2").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let r1 = body["refresh_token"].as_str().unwrap().to_owned();
    // the approval expires; the refresh waits for a new one
    g.clock.advance(901);
    let body: Value = t.refresh(&r1).await.json().await.unwrap();
    assert_eq!(body["error"], "authorization_pending", "{body}");
    g.approve(body["approval_id"].as_str().unwrap()).await;
    // the client asks again with the only refresh token it has
    let r = t.refresh(&r1).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "after approval, the retry of the refused refresh: {body}"
    );
}

/// A request nobody decided within `approval_ttl` expires: an approver
/// cannot approve it afterwards (409), and the agent's next request opens
/// a new one (an approver never approves a stale request).
#[tokio::test]
async fn a_request_nobody_decided_in_time_expires() {
    let g = governed(&POLICY).await;
    let client = g.workload(&["deployer"]).await;
    let body = g.pending(&client).await;
    let stale = body["approval_id"].as_str().unwrap().to_owned();
    g.clock.advance(901);
    let r = g.decide(BOB, &stale, "approve").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("approval_decided"),
        "{body}"
    );
    let body = g.pending(&client).await;
    assert_ne!(body["approval_id"], stale.as_str(), "{body}");
}
