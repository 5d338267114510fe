//! The server's tamper-evident audit trail: every issuance and revocation
//! is in this process's hash chain, durably before it is answered; many
//! concurrent requests keep the chain linear; the admin API refuses
//! callers without the auditor role.

use passport_audit::chain::hash_line;
use passport_audit::{Action, AuditRecord, Filter, Outcome};
use passport_claims::UnverifiedBundle;
use passport_oidc::{OidcConfig, Provider};
use passport_store::server::Database;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::endpoints::{Running, lacks_role, start, start_with};

fn jti_of(bundle: &str) -> String {
    let parsed = UnverifiedBundle::parse(bundle).unwrap();
    parsed.inspect_unverified().remove(0).unwrap().claims.jti
}

/// A second handle on the server's database (as `passport audit` opens it).
async fn database_of(s: &Running) -> Database {
    let path = s.dir.as_ref().unwrap().path().join("server.db");
    Database::open(
        &crate::test_database(path.to_str().unwrap()).await,
        1_800_000_000,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn an_issuance_and_a_revocation_are_chained() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let token = s.mint(&client, "files:read").await;
    let jti = jti_of(&token);
    let r = s
        .post_authenticated("/revoke", &client, &[("token", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let db = database_of(&s).await;
    let report = db.verify_audit().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.chains.len(), 1);
    assert_eq!(report.chains[0].records, 2);
    let lines = db.export_audit(&Filter::default(), 100).await.unwrap();
    let records: Vec<AuditRecord> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[0].action, Action::Issue);
    assert_eq!(records[0].outcome, Outcome::Done);
    assert_eq!(records[0].links[0].jti, jti);
    assert_eq!(
        records[0].client_id.as_deref(),
        Some(client.client_id.as_str())
    );
    assert_eq!(records[0].sub.as_deref(), Some("alice"));
    assert_eq!(records[1].action, Action::Revoke);
    assert_eq!(records[1].links[0].jti, jti);
    // chained: seq 1 then 2, the second's prev the first's hash
    assert_eq!((records[0].seq, records[1].seq), (Some(1), Some(2)));
    assert_eq!(records[0].chain, records[1].chain);
    assert_eq!(
        records[1].prev.as_deref(),
        Some(hash_line(lines[0].as_bytes()).as_str())
    );
    // never the token
    assert!(lines.iter().all(|l| !l.contains(&token)));
    // the export filters
    let revocations = Filter {
        principal: Some("alice".into()),
        since: Some(records[1].time),
        ..Filter::default()
    };
    let only = db.export_audit(&revocations, 100).await.unwrap();
    assert!(only.iter().any(|l| l == &lines[1]));
    let nobody = Filter {
        principal: Some("mallory".into()),
        ..Filter::default()
    };
    assert!(db.export_audit(&nobody, 100).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_issuance_keeps_the_chain_linear() {
    const N: usize = 40;
    let s = std::sync::Arc::new(start().await);
    let client = std::sync::Arc::new(s.workload("files:read").await);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..N {
        let (s, client) = (s.clone(), client.clone());
        tasks.spawn(async move { s.mint(&client, "files:read").await });
    }
    let mut jtis = std::collections::BTreeSet::new();
    while let Some(token) = tasks.join_next().await {
        jtis.insert(jti_of(&token.unwrap()));
    }
    let db = database_of(&s).await;
    let report = db.verify_audit().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.chains.len(), 1);
    assert_eq!(report.chains[0].records, N as u64);
    assert_eq!(report.chains[0].head.seq, N as u64);
    let audited: std::collections::BTreeSet<String> = db
        .export_audit(&Filter::default(), 1000)
        .await
        .unwrap()
        .iter()
        .map(|l| {
            serde_json::from_str::<AuditRecord>(l).unwrap().links[0]
                .jti
                .clone()
        })
        .collect();
    assert_eq!(audited, jtis);
}

#[tokio::test]
async fn a_second_instance_keeps_a_chain_of_its_own() {
    let s = start().await;
    let path = s.dir.as_ref().unwrap().path().join("server.db");
    let other = crate::endpoints::start_on(path.to_str().unwrap(), |b| b).await;
    let client = s.workload("files:read").await;
    s.mint(&client, "files:read").await;
    other.mint(&client, "files:read").await;
    s.mint(&client, "files:read").await;
    let report = database_of(&s).await.verify_audit().await.unwrap();
    assert!(report.ok(), "{report:?}");
    let mut sizes: Vec<u64> = report.chains.iter().map(|c| c.records).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2]);
}

#[tokio::test]
async fn the_admin_api_needs_an_authenticated_auditor() {
    // no upstream provider: nobody is an administrator
    let s = start().await;
    let r = s.http.get(s.at("/admin/api/audit")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");

    let mock = passport_mock_oidc::MockOidc::start().await;
    let provider = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id())).unwrap();
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.upstream(provider)
            .admin_roles(r#"api_client_id = "passport-admin""#)
    })
    .await;
    for path in ["/admin/api/audit", "/admin/api/audit/verify"] {
        // no token, then a forged one
        let r = s.http.get(s.at(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = s
            .http
            .get(s.at(path))
            .bearer_auth("e30.e30.AAAA")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        // a user's login token (issued to the client users log in with)
        // is no administrator's credential, whatever it claims
        let mut claims = mock.default_claims();
        claims["roles"] = json!(["auditor"]);
        let r = s
            .http
            .get(s.at(path))
            .bearer_auth(mock.mint_id_token(claims))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        // an admin client's token without the auditor role (no mapping
        // gives it)
        let r = s
            .http
            .get(s.at(path))
            .bearer_auth(crate::kill_switch::id_token(&mock, "alice", &["auditor"]))
            .send()
            .await
            .unwrap();
        lacks_role(r, "auditor").await;
    }
}
