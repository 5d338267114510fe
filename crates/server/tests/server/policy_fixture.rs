//! The one fixture of the governed-server tests: the text of a policy file
//! (or of an administrators' role mapping on its own), built from the
//! values in which the tests' policies differ, and a server started on such
//! a file with the mock provider upstream.

use std::fmt::Write as _;
use std::path::PathBuf;

use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, Provider};
use passport_server::{ServerBuilder, WorkloadClient};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::endpoints::{Running, start_with};
use crate::exchange::{ID_TOKEN, exchange_of, links};

/// The audience of the environment `dev` (see [`PolicyText::environment`]).
pub(crate) const DEV: &str = "https://dev.example/api";
/// The audience of the environment `test`.
pub(crate) const TEST: &str = "https://test.example/api";
/// The audience of the environment `prod`.
pub(crate) const PROD: &str = "https://prod.example/api";

/// A policy file's text, written section by section in the order of the
/// calls (the tests `.replace()` its exact lines, and one reads an error's
/// line number in it): it opens with an empty line; each environment ends
/// with one; [`PolicyText::administrators`] closes it.
pub(crate) struct PolicyText(String);

impl PolicyText {
    pub(crate) fn new() -> PolicyText {
        PolicyText("\n".to_owned())
    }

    /// `approval_ttl = SECONDS`.
    pub(crate) fn approval_ttl(mut self, seconds: u32) -> PolicyText {
        writeln!(self.0, "approval_ttl = {seconds}\n").unwrap();
        self
    }

    /// `[environments.NAME]` with `max_ttl`, the one audience
    /// `https://NAME.example/api`, `approval`, and one grant row giving the
    /// identities of `roles` the scope patterns `scopes`.
    pub(crate) fn environment(
        mut self,
        name: &str,
        max_ttl: u32,
        approval: bool,
        roles: &[&str],
        scopes: &[&str],
    ) -> PolicyText {
        let (roles, scopes) = (list(roles), list(scopes));
        writeln!(
            self.0,
            "[environments.{name}]\nmax_ttl = {max_ttl}\n\
             audiences = [\"https://{name}.example/api\"]\napproval = {approval}\n\
             [[environments.{name}.grants]]\nroles = {roles}\nscopes = {scopes}\n"
        )
        .unwrap();
        self
    }

    /// The whole text, closed by `[administrators]` mapping each role to
    /// one upstream value of the `roles` claim, in the order given.
    pub(crate) fn administrators(self, roles: &[(&str, &str)]) -> String {
        format!(
            "{}[administrators]\n{}",
            self.0,
            mapping("[administrators.roles]", roles)
        )
    }
}

/// The dashboard's and the audit trail's policy: `dev` (120 s, role
/// `pipeline`: `build:*`) and `prod` (45 s, approval, role `prod_role`:
/// `deploy:run`); administrators: `identity_admins`, `owners`, `approvers`,
/// `auditors`.
pub(crate) fn dev_and_prod(prod_role: &str, identity_admins: &str) -> String {
    PolicyText::new()
        .environment("dev", 120, false, &["pipeline"], &["build:*"])
        .environment("prod", 45, true, &[prod_role], &["deploy:run"])
        .administrators(&[
            ("identity_admin", identity_admins),
            ("resource_owner", "owners"),
            ("approver", "approvers"),
            ("auditor", "auditors"),
        ])
}

/// An administrators' role mapping on its own (for
/// `ServerBuilder::admin_roles`), as [`PolicyText::administrators`] writes
/// it in a policy, after an empty line.
pub(crate) fn role_mapping(roles: &[(&str, &str)]) -> String {
    format!("\n{}", mapping("[roles]", roles))
}

fn mapping(table: &str, roles: &[(&str, &str)]) -> String {
    let mut text = format!("claim = \"roles\"\napi_client_id = \"passport-admin\"\n{table}\n");
    for (role, value) in roles {
        writeln!(text, "{role} = [\"{value}\"]").unwrap();
    }
    text
}

/// A TOML array of strings: `["a", "b"]`.
fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Writes `policy` to `policy.toml` in a new temporary directory, and
/// starts a server keeping its database there, with `mock` upstream and
/// that policy file, further `configure`d. The server (which keeps the
/// directory) and the policy file's path, for the tests that rewrite it.
pub(crate) async fn start_governed(
    mock: &MockOidc,
    policy: &str,
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> (Running, PathBuf) {
    let provider = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, policy).unwrap();
    let file = path.clone();
    let s = start_with(dir, move |b| {
        configure(b.upstream(provider).policy_file(file))
    })
    .await;
    (s, path)
}

/// `client`'s `client_credentials` request at `s` for `resource` and
/// `scope`.
pub(crate) async fn ask(
    s: &Running,
    client: &WorkloadClient,
    resource: &str,
    scope: &str,
) -> reqwest::Response {
    s.token(
        client,
        &[
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", scope),
        ],
    )
    .await
}

/// The refusal must be `status`, `error`, with the `rule` member and a
/// description starting `policy: RULE:`; the body.
pub(crate) async fn refused(
    r: reqwest::Response,
    status: StatusCode,
    error: &str,
    rule: &str,
) -> Value {
    let got = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["rule"], rule, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("policy: {rule}:")),
        "{body}"
    );
    body
}

/// The answer must wait for an approval in prod: 400
/// `authorization_pending` by `environments.prod.approval`; the body, with
/// the `approval_id`.
pub(crate) async fn awaits_approval(r: reqwest::Response) -> Value {
    let rule = "environments.prod.approval";
    refused(r, StatusCode::BAD_REQUEST, "authorization_pending", rule).await
}

/// `client`'s request at `s` for `deploy:run` in prod must wait for an
/// approval ([`awaits_approval`]); the body.
pub(crate) async fn pending(s: &Running, client: &WorkloadClient) -> Value {
    awaits_approval(ask(s, client, PROD, "deploy:run").await).await
}

/// The `jti` of the passport an answer's `access_token` ends with.
pub(crate) fn jti_of(body: &Value) -> String {
    links(body["access_token"].as_str().unwrap())
        .pop()
        .unwrap()
        .jti
}

/// An upstream user's login ID token of `sub` (issued to the users'
/// client, not the administrators').
pub(crate) fn login_token(mock: &MockOidc, sub: &str) -> String {
    let mut claims = mock.default_claims();
    claims["sub"] = json!(sub);
    mock.mint_id_token(claims)
}

/// `client`'s token exchange at `s` of the upstream ID token `id_token`
/// for `resource` (and `scope`, when given).
pub(crate) async fn exchange_id_token(
    s: &Running,
    client: &WorkloadClient,
    id_token: &str,
    resource: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut extra = vec![("resource", resource)];
    extra.extend(scope.map(|scope| ("scope", scope)));
    exchange_of(s, client, (id_token, ID_TOKEN), &extra, None).await
}
