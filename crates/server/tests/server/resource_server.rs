//! The resource-server side against a real passport-server: a tool behind
//! `passport_axum::PassportAuth::trusting(<server issuer URL>)` accepts a
//! passport minted by `/token` (client_credentials) and refuses it after
//! `/revoke`, once its status refresher fetched the list again (the list's
//! `ttl` and the refresher's interval are configured short).

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use passport_axum::{Passport, PassportAuth, Requirements};
use reqwest::StatusCode;

use crate::endpoints::start_with;

async fn call(url: &str, bundle: &str) -> (StatusCode, String) {
    let r = reqwest::Client::new()
        .get(url)
        .header("authorization", format!("Bearer {bundle}"))
        .send()
        .await
        .unwrap();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status(), challenge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passport_from_token_passes_a_trusting_tool_until_revoked() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| b.status_ttl(1)).await;
    let tool = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/files", tool.local_addr().unwrap());
    let auth = PassportAuth::trusting(s.url.clone())
        .resource(url.clone())
        .configure_status(|o| {
            o.min_interval(Duration::from_secs(1))
                .check_interval(Duration::from_millis(200))
        })
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/files",
            get(|p: Passport| async move { p.principal().to_owned() }),
        )
        .route_layer(auth.require(Requirements::scope("files:read")));
    let served = tokio::spawn(async move {
        let _ = axum::serve(tool, app).await;
    });

    let client = s.workload("files:read").await;
    let r = s
        .token(
            &client,
            &[
                ("grant_type", "client_credentials"),
                ("resource", url.as_str()),
                ("scope", "files:read"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    let bundle = body["access_token"].as_str().unwrap().to_owned();

    let (status, challenge) = call(&url, &bundle).await;
    assert_eq!(status, StatusCode::OK, "{challenge}");

    // a passport for another resource is refused by this tool
    let other = s
        .token(
            &client,
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://elsewhere.example"),
            ],
        )
        .await;
    let other: serde_json::Value = other.json().await.unwrap();
    let (status, _) = call(&url, other["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let r = s
        .post_authenticated("/revoke", &client, &[("token", &bundle)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, challenge) = call(&url, &bundle).await;
        if status == StatusCode::UNAUTHORIZED {
            assert!(challenge.contains("revoked"), "{challenge}");
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(Instant::now() < deadline, "the revocation never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    served.abort();
}
