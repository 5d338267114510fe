//! Every governance action is in the hash-chained audit trail (issue 14):
//! each is performed over HTTP (the admin API with an upstream ID token,
//! the browser session for login and logout), then read back from
//! `/admin/api/audit` as an auditor — action, actor, subject, outcome,
//! rule — and the chain must still verify, at the server
//! (`/admin/api/audit/verify`) and over the stored lines (as `passport
//! audit verify` reads them).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use passport_audit::chain::{Head, Verifier};
use passport_audit::{Action, AuditRecord, Outcome};
use passport_mock_oidc::MockOidc;
use passport_server::WorkloadClient;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};

use crate::endpoints::{Running, lacks_role, no_redirects};
use crate::policy_fixture::{DEV, PROD, dev_and_prod, jti_of, start_governed};

/// The deployer identity is the one deploying to prod here.
static POLICY: LazyLock<String> = LazyLock::new(|| dev_and_prod("deployer", "idadmins"));

/// A governed server (the policy above) with the mock provider upstream,
/// whose users log in at the dashboard by `login_hint`.
struct Trail {
    mock: MockOidc,
    s: Running,
    policy: std::path::PathBuf,
    browser: reqwest::Client,
}

async fn trail() -> Trail {
    let mock = MockOidc::builder()
        .redirect_path("/authorize/callback")
        .user("ada", json!({"roles": ["idadmins", "owners"]}))
        .user("nobody", json!({"roles": ["employees"]}))
        .start()
        .await
        .unwrap();
    let (s, policy) = start_governed(&mock, &POLICY, |b| {
        b.policy_reload_interval(Duration::from_secs(3600))
    })
    .await;
    let browser = no_redirects();
    Trail {
        mock,
        s,
        policy,
        browser,
    }
}

impl Trail {
    /// An upstream ID token of `sub` holding the upstream `roles`.
    fn bearer(&self, sub: &str, roles: &[&str]) -> String {
        crate::kill_switch::id_token(&self.mock, sub, roles)
    }

    async fn api(&self, path: &str, bearer: &str, body: Option<Value>) -> reqwest::Response {
        let mut r = match body {
            Some(body) => self.s.http.post(self.s.at(path)).json(&body),
            None => self.s.http.get(self.s.at(path)),
        };
        if !bearer.is_empty() {
            r = r.bearer_auth(bearer);
        }
        r.send().await.unwrap()
    }

    /// POSTs to the admin API as `sub` with `roles`; the status must be
    /// `expected`.
    async fn act(
        &self,
        (sub, roles): (&str, &[&str]),
        path: &str,
        body: Value,
        expected: StatusCode,
    ) -> Value {
        let r = self.api(path, &self.bearer(sub, roles), Some(body)).await;
        let status = r.status();
        let answer: Value = r.json().await.unwrap();
        assert_eq!(status, expected, "{path}: {answer}");
        answer
    }

    /// A workload client registered as an agent identity (owner alice)
    /// with `roles`, by the identity administrator ada.
    async fn agent(&self, roles: &[&str]) -> WorkloadClient {
        let client = self.s.workload("build:* deploy:run").await;
        self.act(
            ADA,
            "/admin/api/identities",
            json!({"agent_id": client.client_id, "owner": "alice", "team": "ci", "roles": roles}),
            StatusCode::CREATED,
        )
        .await;
        client
    }

    async fn ask(&self, client: &WorkloadClient, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut all = vec![("grant_type", "client_credentials")];
        all.extend_from_slice(form);
        let r = self.s.token(client, &all).await;
        (r.status(), r.json().await.unwrap())
    }

    /// Every record of the trail, read by the auditor carl; the chain is
    /// checked to verify first.
    async fn records(&self) -> Vec<AuditRecord> {
        let auditor = self.bearer("carl", &["auditors"]);
        let verdict: Value = self
            .api("/admin/api/audit/verify", &auditor, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(verdict["ok"], true, "{verdict}");
        self.verifies_over_the_stored_lines().await;
        let r = self.api("/admin/api/audit", &auditor, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        serde_json::from_value(body["records"].clone()).unwrap()
    }

    /// The stored lines, read as `passport audit verify --database` does,
    /// verify against the chains' heads.
    async fn verifies_over_the_stored_lines(&self) {
        let db = self.s.server.database();
        let lines = db
            .export_audit(&passport_audit::Filter::default(), 10_000)
            .await
            .unwrap();
        let mut verifier = Verifier::default();
        for (n, line) in lines.iter().enumerate() {
            verifier.push(n + 1, line.as_bytes());
        }
        let heads: BTreeMap<String, Head> = db
            .audit_heads()
            .await
            .unwrap()
            .into_iter()
            .map(|h| {
                (
                    h.chain_id,
                    Head {
                        seq: h.seq,
                        hash: h.hash,
                    },
                )
            })
            .collect();
        let report = verifier.finish(&heads);
        assert!(report.ok(), "{report:?}");
        assert!(!report.chains.is_empty());
    }

    /// The records of `action`, oldest first.
    async fn of(&self, action: Action) -> Vec<AuditRecord> {
        self.records()
            .await
            .into_iter()
            .filter(|r| r.action == action)
            .collect()
    }

    /// The browser login of `user` at `/admin/login` up to the callback:
    /// its status and the session cookie (`passport-admin=…`) if any.
    async fn login(&self, user: &str) -> (StatusCode, Option<String>) {
        let start = self
            .browser
            .get(self.s.at("/admin/login"))
            .send()
            .await
            .unwrap();
        let binding = cookie_named(&start, "passport-admin-login").unwrap();
        let upstream = start.headers()[LOCATION].to_str().unwrap().to_owned();
        let at_mock = self
            .browser
            .get(format!("{upstream}&login_hint={user}"))
            .send()
            .await
            .unwrap();
        let callback = at_mock.headers()[LOCATION].to_str().unwrap().to_owned();
        let r = self
            .browser
            .get(callback)
            .header(COOKIE, binding)
            .send()
            .await
            .unwrap();
        (r.status(), cookie_named(&r, "passport-admin"))
    }
}

/// `name=value` of the `Set-Cookie` named `name`.
fn cookie_named(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// The identity and resource administrator.
const ADA: (&str, &[&str]) = ("ada", &["idadmins", "owners"]);
/// The approver.
const BOB: (&str, &[&str]) = ("bob", &["approvers"]);

#[tokio::test]
async fn governance_refusals_name_the_client_the_agent_and_the_rule() {
    let t = trail().await;
    let stranger = t.s.workload("build:*").await;
    let (status, _) = t
        .ask(&stranger, &[("resource", DEV), ("scope", "build:x")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let agent = t.agent(&["pipeline"]).await;
    let (status, _) = t
        .ask(&agent, &[("resource", DEV), ("scope", "deploy:run")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = t
        .ask(&agent, &[("resource", "https://elsewhere.example/api")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, issued) = t
        .ask(&agent, &[("resource", DEV), ("scope", "build:x")])
        .await;
    assert_eq!(status, StatusCode::OK, "{issued}");

    let refused = t.of(Action::Refuse).await;
    let seen: Vec<(&str, &str, &str, Outcome)> = refused
        .iter()
        .map(|r| {
            (
                r.agent_id.as_deref().unwrap(),
                r.rule.as_deref().unwrap(),
                r.error.as_deref().unwrap(),
                r.outcome,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                stranger.client_id.as_str(),
                "identities",
                "access_denied",
                Outcome::Refused
            ),
            (
                agent.client_id.as_str(),
                "environments.dev.grants",
                "invalid_scope",
                Outcome::Refused
            ),
            (
                agent.client_id.as_str(),
                "environments",
                "invalid_target",
                Outcome::Refused
            ),
        ]
    );
    for r in &refused {
        assert_eq!(r.actor, r.client_id, "the asking client acted");
        assert_eq!(r.sub.as_deref(), Some("alice"));
    }
    // the issuance after them, in its environment
    let issue = t.of(Action::Issue).await;
    assert_eq!(issue.len(), 1);
    assert_eq!(issue[0].links[0].jti, jti_of(&issued));
    assert_eq!(issue[0].environment.as_deref(), Some("dev"));
}

#[tokio::test]
async fn identities_registered_and_changed_name_the_administrator() {
    let t = trail().await;
    let agent = t.agent(&["pipeline"]).await;
    t.act(
        ADA,
        &format!("/admin/api/identities/{}", agent.client_id),
        json!({"state": "disabled", "team": "ops"}),
        StatusCode::OK,
    )
    .await;
    // refused changes leave no record: an agent may not be registered by
    // an approver, nor twice
    t.act(
        BOB,
        "/admin/api/identities",
        json!({"agent_id": "other", "owner": "bob", "team": "ci", "roles": []}),
        StatusCode::FORBIDDEN,
    )
    .await;
    t.act(
        ADA,
        "/admin/api/identities",
        json!({"agent_id": agent.client_id, "owner": "alice", "team": "ci", "roles": []}),
        StatusCode::CONFLICT,
    )
    .await;

    let changes = t.of(Action::IdentityChanged).await;
    let seen: Vec<(&str, &str, &str, &str, Outcome)> = changes
        .iter()
        .map(|r| {
            let detail = r.policy.as_ref().unwrap();
            (
                r.actor.as_deref().unwrap(),
                r.agent_id.as_deref().unwrap(),
                detail["change"].as_str().unwrap(),
                detail["state"].as_str().unwrap(),
                r.outcome,
            )
        })
        .collect();
    let id = agent.client_id.as_str();
    assert_eq!(
        seen,
        [
            ("ada", id, "registered", "active", Outcome::Done),
            ("ada", id, "changed", "disabled", Outcome::Done),
        ]
    );
    assert_eq!(changes[1].policy.as_ref().unwrap()["team"], "ops");
    assert_eq!(changes[1].sub.as_deref(), Some("alice"), "the owner");
}

#[tokio::test]
async fn approvals_requested_refused_to_the_owner_decided_and_cited() {
    let t = trail().await;
    let deployer = t.agent(&["deployer"]).await;
    let prod = [("resource", PROD), ("scope", "deploy:run")];
    let (status, pending) = t.ask(&deployer, &prod).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(pending["error"], "authorization_pending");
    let id = pending["approval_id"].as_str().unwrap().to_owned();
    let approve = format!("/admin/api/approvals/{id}/approve");
    // the identity's owner (and requester) alice may not approve it
    let body = t
        .act(
            ("alice", &["approvers"]),
            &approve,
            json!({}),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("self_approval:")
    );
    t.act(BOB, &approve, json!({}), StatusCode::OK).await;
    let (status, issued) = t.ask(&deployer, &prod).await;
    assert_eq!(status, StatusCode::OK, "{issued}");

    // another agent's request, denied, then asked again
    let other = t.agent(&["deployer"]).await;
    let (_, pending) = t.ask(&other, &prod).await;
    let denied = pending["approval_id"].as_str().unwrap().to_owned();
    t.act(
        BOB,
        &format!("/admin/api/approvals/{denied}/deny"),
        json!({}),
        StatusCode::OK,
    )
    .await;
    let (status, body) = t.ask(&other, &prod).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("access_denied"))
    );

    let records = t.records().await;
    let requested: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.action == Action::ApprovalRequested)
        .collect();
    assert_eq!(requested.len(), 2);
    assert_eq!(requested[0].approval_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        requested[0].agent_id.as_deref(),
        Some(deployer.client_id.as_str())
    );
    assert_eq!(requested[0].outcome, Outcome::Refused);
    assert_eq!(requested[0].error.as_deref(), Some("authorization_pending"));
    assert_eq!(
        requested[0].rule.as_deref(),
        Some("environments.prod.approval")
    );
    assert_eq!(requested[0].environment.as_deref(), Some("prod"));

    let approvals: Vec<(&str, Outcome, Option<&str>)> = records
        .iter()
        .filter(|r| r.action == Action::ApprovalApproved)
        .map(|r| (r.actor.as_deref().unwrap(), r.outcome, r.rule.as_deref()))
        .collect();
    assert_eq!(
        approvals,
        [
            ("alice", Outcome::Refused, Some("approvals.self_approval")),
            ("bob", Outcome::Done, None),
        ]
    );
    assert!(
        records
            .iter()
            .filter(|r| r.action == Action::ApprovalApproved)
            .all(|r| r.approval_id.as_deref() == Some(id.as_str())
                && r.agent_id.as_deref() == Some(deployer.client_id.as_str()))
    );
    // the passport cites the approval
    let issue = records.iter().find(|r| r.action == Action::Issue).unwrap();
    assert_eq!(issue.links[0].jti, jti_of(&issued));
    assert_eq!(issue.approval_id.as_deref(), Some(id.as_str()));
    assert_eq!(issue.environment.as_deref(), Some("prod"));
    // the denial, and the refusal it caused
    let denial = records
        .iter()
        .find(|r| r.action == Action::ApprovalDenied)
        .unwrap();
    assert_eq!(
        (
            denial.actor.as_deref(),
            denial.outcome,
            denial.approval_id.as_deref()
        ),
        (Some("bob"), Outcome::Done, Some(denied.as_str()))
    );
    let refusal = records.iter().find(|r| r.action == Action::Refuse).unwrap();
    assert_eq!(
        (
            refusal.agent_id.as_deref(),
            refusal.rule.as_deref(),
            refusal.approval_id.as_deref(),
            refusal.error.as_deref()
        ),
        (
            Some(other.client_id.as_str()),
            Some("environments.prod.approval"),
            Some(denied.as_str()),
            Some("access_denied")
        )
    );
}

#[tokio::test]
async fn a_kill_switch_its_revocations_its_refusals_and_its_lifting() {
    let t = trail().await;
    let agent = t.agent(&["pipeline"]).await;
    let dev = [("resource", DEV), ("scope", "build:x")];
    let (_, first) = t.ask(&agent, &dev).await;
    let (_, second) = t.ask(&agent, &dev).await;
    let subject = json!({"kind": "agent", "subject": agent.client_id, "reason": "leaked"});
    t.act(ADA, "/admin/api/kill-switches", subject, StatusCode::OK)
        .await;
    let (status, refused) = t.ask(&agent, &dev).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"], "access_denied");
    t.act(
        ADA,
        "/admin/api/kill-switches/lift",
        json!({"kind": "agent", "subject": agent.client_id}),
        StatusCode::OK,
    )
    .await;
    let (status, _) = t.ask(&agent, &dev).await;
    assert_eq!(status, StatusCode::OK);

    let records = t.records().await;
    let id = agent.client_id.as_str();
    let engaged = records
        .iter()
        .find(|r| r.action == Action::KillSwitchEngaged)
        .unwrap();
    assert_eq!(
        (
            engaged.actor.as_deref(),
            engaged.agent_id.as_deref(),
            engaged.outcome
        ),
        (Some("ada"), Some(id), Outcome::Done)
    );
    assert_eq!(engaged.policy.as_ref().unwrap()["reason"], "leaked");
    let revoked: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| r.action == Action::Revoke)
        .map(|r| {
            assert_eq!(r.actor.as_deref(), Some("ada"));
            assert_eq!(r.rule.as_deref(), Some("kill-switch"));
            r.links[0].jti.as_str()
        })
        .collect();
    let (a, b) = (jti_of(&first), jti_of(&second));
    assert_eq!(revoked, [a.as_str(), b.as_str()].into_iter().collect());
    let refusal = records.iter().find(|r| r.action == Action::Refuse).unwrap();
    assert_eq!(
        (
            refusal.agent_id.as_deref(),
            refusal.rule.as_deref(),
            refusal.actor.as_deref()
        ),
        (Some(id), Some("kill-switch"), Some(id))
    );
    let lifted = records
        .iter()
        .find(|r| r.action == Action::KillSwitchLifted)
        .unwrap();
    assert_eq!(
        (lifted.actor.as_deref(), lifted.agent_id.as_deref()),
        (Some("ada"), Some(id))
    );
    // in this order
    let order: Vec<Action> = records
        .iter()
        .map(|r| r.action)
        .filter(|a| *a != Action::IdentityChanged)
        .collect();
    assert_eq!(
        order,
        [
            Action::Issue,
            Action::Issue,
            Action::KillSwitchEngaged,
            Action::Revoke,
            Action::Revoke,
            Action::Refuse,
            Action::KillSwitchLifted,
            Action::Issue,
        ]
    );
}

#[tokio::test]
async fn a_rotation_names_the_successor_and_its_predecessor() {
    let t = trail().await;
    let agent = t.agent(&["pipeline"]).await;
    let (_, first) = t
        .ask(&agent, &[("resource", DEV), ("scope", "build:x")])
        .await;
    let old = jti_of(&first);
    let (status, next) = t
        .ask(
            &agent,
            &[("resource", DEV), ("scope", "build:x"), ("replaces", &old)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{next}");
    let rotations = t.of(Action::Rotate).await;
    assert_eq!(rotations.len(), 1);
    let r = &rotations[0];
    let lineage: Vec<&str> = r.links.iter().map(|l| l.jti.as_str()).collect();
    assert_eq!(lineage, [jti_of(&next).as_str(), old.as_str()]);
    assert_eq!(
        (r.actor.as_deref(), r.outcome),
        (Some(agent.client_id.as_str()), Outcome::Done)
    );
}

#[tokio::test]
async fn an_administrator_s_revocation_names_the_administrator() {
    let t = trail().await;
    let agent = t.agent(&["pipeline"]).await;
    let (_, issued) = t
        .ask(&agent, &[("resource", DEV), ("scope", "build:x")])
        .await;
    let jti = jti_of(&issued);
    let path = format!("/admin/api/registry/{jti}/revoke");
    // an auditor may not revoke: nothing recorded
    t.act(
        ("carl", &["auditors"]),
        &path,
        json!({}),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(t.of(Action::Revoke).await.is_empty());
    let body = t.act(ADA, &path, json!({}), StatusCode::OK).await;
    assert_eq!(body["revoked"], json!([jti]));
    // again: already revoked, the request is recorded all the same
    t.act(ADA, &path, json!({}), StatusCode::OK).await;
    let revocations = t.of(Action::Revoke).await;
    assert_eq!(revocations.len(), 2);
    for r in &revocations {
        assert_eq!(
            (
                r.actor.as_deref(),
                r.rule.as_deref(),
                r.links[0].jti.as_str()
            ),
            (Some("ada"), Some("admin.revoke"), jti.as_str())
        );
        assert_eq!(r.agent_id.as_deref(), Some(agent.client_id.as_str()));
    }
    assert_eq!(
        revocations[1].policy.as_ref().unwrap()["already_revoked"],
        true
    );
}

#[tokio::test]
async fn policy_reloads_applied_and_refused() {
    let t = trail().await;
    let tighter = POLICY.replace("max_ttl = 120", "max_ttl = 60");
    std::fs::write(&t.policy, tighter).unwrap();
    let status = t.s.server.reload_policy_now().await.unwrap();
    assert_eq!(status.version, 2);
    // overlapping audiences: refused, the running policy stays
    std::fs::write(&t.policy, POLICY.replace(PROD, DEV)).unwrap();
    let status = t.s.server.reload_policy_now().await.unwrap();
    assert_eq!(status.version, 2);
    assert!(status.last_error.is_some());

    let reloads = t.of(Action::PolicyReloaded).await;
    let seen: Vec<(Outcome, Option<&str>, &Value)> = reloads
        .iter()
        .map(|r| {
            (
                r.outcome,
                r.error.as_deref(),
                &r.policy.as_ref().unwrap()["version"],
            )
        })
        .collect();
    assert_eq!(seen.len(), 2, "{reloads:?}");
    assert_eq!(
        (seen[0].0, seen[0].1, seen[0].2),
        (Outcome::Done, None, &json!(2))
    );
    assert_eq!(seen[1].0, Outcome::Refused);
    assert!(seen[1].1.unwrap().starts_with("policy_"), "{:?}", seen[1]);
    assert_eq!(
        reloads[0].policy.as_ref().unwrap()["environments"],
        json!(["dev", "prod"])
    );
    assert!(
        reloads[1].policy.as_ref().unwrap()["reason"]
            .as_str()
            .unwrap()
            .contains("dev.example"),
        "{:?}",
        reloads[1]
    );
}

#[tokio::test]
async fn logins_refused_logins_and_logouts() {
    let t = trail().await;
    // a principal without an administrator role: no session, recorded
    let (status, cookie) = t.login("nobody").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(cookie.is_none());
    let (status, cookie) = t.login("ada").await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.unwrap();
    let page = t
        .browser
        .get(t.s.at("/admin"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    let csrf = page[at..].split('"').next().unwrap().to_owned();
    // a forged logout (wrong CSRF token) is refused and not recorded
    let r = t
        .browser
        .post(t.s.at("/admin/logout"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &t.s.url)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = t
        .browser
        .post(t.s.at("/admin/logout"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &t.s.url)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let records = t.records().await;
    let sessions: Vec<(Action, Outcome, &str)> = records
        .iter()
        .map(|r| (r.action, r.outcome, r.actor.as_deref().unwrap()))
        .collect();
    assert_eq!(
        sessions,
        [
            (Action::AdminLogin, Outcome::Refused, "nobody"),
            (Action::AdminLogin, Outcome::Done, "ada"),
            (Action::AdminLogout, Outcome::Done, "ada"),
        ]
    );
    assert_eq!(records[0].rule.as_deref(), Some("administrators.roles"));
    assert_eq!(
        records[1].policy.as_ref().unwrap()["roles"],
        json!(["identity_admin", "resource_owner"])
    );
    // never the session id
    let id = cookie.split('=').nth(1).unwrap();
    let lines =
        t.s.server
            .database()
            .export_audit(&passport_audit::Filter::default(), 100)
            .await
            .unwrap();
    assert!(lines.iter().all(|l| !l.contains(id)));
}

#[tokio::test]
async fn only_an_authenticated_auditor_reads_the_trail() {
    let t = trail().await;
    t.agent(&["pipeline"]).await;
    for path in ["/admin/api/audit", "/admin/api/audit/verify"] {
        let r = t.api(path, "", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        // every other role, but not the auditor's
        let r = t
            .api(
                path,
                &t.bearer("ada", &["idadmins", "owners", "approvers"]),
                None,
            )
            .await;
        lacks_role(r, "auditor").await;
    }
    // the auditor does
    assert_eq!(t.records().await.len(), 1);
}

/// The rule when the trail cannot be written: an administrative change is
/// not answered as done (500; the kill-switch stands, fail closed), a
/// refusal is still the refusal; once the trail is back, engaging again
/// records the switch and the chain verifies.
#[tokio::test]
async fn without_its_record_a_change_is_not_answered_done_and_a_refusal_stays_one() {
    let t = trail().await;
    let agent = t.agent(&["pipeline"]).await;
    let db = t.s.server.database();
    db.execute_script_for_tests("ALTER TABLE audit_log RENAME TO audit_log_away")
        .await
        .unwrap();
    let body = t
        .act(
            ADA,
            "/admin/api/identities",
            json!({"agent_id": "late", "owner": "alice", "team": "ci", "roles": []}),
            StatusCode::INTERNAL_SERVER_ERROR,
        )
        .await;
    assert_eq!(body["error"], "server_error");
    let switch = json!({"kind": "agent", "subject": agent.client_id, "reason": "leaked"});
    let body = t
        .act(
            ADA,
            "/admin/api/kill-switches",
            switch.clone(),
            StatusCode::INTERNAL_SERVER_ERROR,
        )
        .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("is engaged (issuance is refused) but the audit trail could not be written"),
        "{body}"
    );
    // the switch stands, and its refusal is answered unrecorded
    let (status, refused) = t
        .ask(&agent, &[("resource", DEV), ("scope", "build:x")])
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("access_denied"))
    );
    // a policy refusal too
    let stranger = t.s.workload("build:*").await;
    let (status, refused) = t
        .ask(&stranger, &[("resource", DEV), ("scope", "build:x")])
        .await;
    assert_eq!(
        (status, refused["rule"].as_str()),
        (StatusCode::BAD_REQUEST, Some("identities"))
    );
    db.execute_script_for_tests("ALTER TABLE audit_log_away RENAME TO audit_log")
        .await
        .unwrap();
    t.act(ADA, "/admin/api/kill-switches", switch, StatusCode::OK)
        .await;
    let actions: Vec<(Action, Outcome)> = t
        .records()
        .await
        .iter()
        .map(|r| (r.action, r.outcome))
        .collect();
    assert_eq!(
        actions,
        [
            (Action::IdentityChanged, Outcome::Done),
            (Action::KillSwitchEngaged, Outcome::Done),
        ]
    );
}

/// Review S14 re-review: `/admin/api/audit` parsed each stored line and
/// serialised it again, so C1 and bidi characters went out raw (undoing
/// the seal's escaping), for records sealed before the fix (held raw) and
/// after (held escaped). The answer holds neither raw.
#[tokio::test]
async fn the_admin_api_never_answers_raw_terminal_controls() {
    let t = trail().await;
    let agent = t.agent(&["pipeline"]).await;
    let db = t.s.server.database();
    let lines = db
        .export_audit(&passport_audit::Filter::default(), 10)
        .await
        .unwrap();
    let line = lines.iter().find(|l| l.contains(&agent.client_id)).unwrap();
    // a record as stored before the seal escaped: the characters raw
    let hostile = "evil\u{9b}31m\u{202e}\u{2028}";
    let old = line.replace(&agent.client_id, hostile).replace('\'', "''");
    db.execute_script_for_tests(&format!(
        "INSERT INTO audit_log (chain_id, seq, at, line) VALUES ('review-s14', 1, 0, '{old}')"
    ))
    .await
    .unwrap();
    let auditor = t.bearer("carl", &["auditors"]);
    let r = t.api("/admin/api/audit", &auditor, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(
        !text.chars().any(passport_audit::text::is_terminal_control),
        "{text:?}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let records = body["records"].as_array().unwrap();
    assert_eq!(records.len(), lines.len() + 1, "{text}");
    assert!(text.contains(r"evil\u009b31m\u202e\u2028"), "{text}");
    assert!(records.iter().any(|r| r.to_string().contains(hostile)));
}
