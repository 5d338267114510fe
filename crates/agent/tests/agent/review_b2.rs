//! Review B2 (issue 13): the agent's token-service client, step-up and
//! loopback login, attacked. Each test is a finding: ignored while it
//! fails.

use std::collections::HashMap;

use passport_agent::{
    LoopbackUserAgent, OAuthClient, PassportClient, PassportRequest, ServicePassport,
};
use passport_testkit::bounded;
use serde_json::json;

use crate::token_service::{
    CLIENT_ID, FakeBrowser, ResourceServer, Tamper, authorization_server, bundle_for, service,
    service_for, token_endpoint, with_refresh,
};

/// Finding 3: a step-up the person (or the token service) declined is asked
/// for again at every refused request. A resource server that keeps
/// answering `insufficient_scope, scope="files:write"` makes the agent open
/// a consent page per request (with client credentials: a token request
/// per request) — nothing remembers that the scope was asked for and not
/// granted.
#[tokio::test]
async fn a_declined_step_up_is_not_asked_for_at_every_request() {
    bounded(async {
        let authz = authorization_server(None, true).await;
        let rs = ResourceServer::start().await; // refuses everything
        let b1 = bundle_for(&rs.server.uri(), &["files:read"]);
        let b2 = bundle_for(&rs.server.uri(), &["files:read"]);
        // the person consents to files:read only, each time
        token_endpoint(
            &authz,
            vec![
                with_refresh(&b1, "files:read", "r-1"),
                with_refresh(&b2, "files:read", "r-2"),
            ],
        )
        .await;
        let browser = FakeBrowser::new(&authz.uri(), Tamper::None);
        let passport = ServicePassport::authorization_code(
            service_for(&authz).await,
            browser.clone(),
            PassportRequest::new(rs.server.uri()).scope("files:read"),
        )
        .await
        .unwrap();
        let client = PassportClient::builder(passport).build();
        for _ in 0..4 {
            let answer = client.post_json(&rs.upload(), &json!({})).await.unwrap();
            assert_eq!(answer.status(), 403);
        }
        let prompts = browser.urls().len();
        assert!(
            prompts <= 2,
            "the person was sent to a consent page {prompts} times for one declined scope"
        );
    })
    .await;
}

/// Finding 4: the loopback listener takes the first request on its path as
/// the callback, whoever sends it. Any web page open in the person's
/// browser can fire `GET http://127.0.0.1:PORT/callback?error=access_denied`
/// (an image, a no-cors fetch; the port is fixed in most configurations)
/// and end the login — or a step-up — before the real redirect arrives:
/// whatever it holds ends the flow with an error (here `issuer_mismatch`:
/// no `iss`; without `iss` support, an error without `state` is taken as
/// the provider's answer, callback.rs:49; a wrong `state` ends it too). A callback whose `state` is not the
/// request's should be answered 400 and the wait go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_callback_does_not_end_the_loopback_login() {
    bounded(async {
        let server = authorization_server(None, true).await;
        let bundle = bundle_for("https://files.example", &["files:read"]);
        token_endpoint(&server, vec![with_refresh(&bundle, "files:read", "r-1")]).await;
        let issuer = server.uri();
        let browser = LoopbackUserAgent::new("http://127.0.0.1:0/callback", move |url| {
            let query: HashMap<String, String> = url::Url::parse(url)
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect();
            let mut forged = url::Url::parse(&query["redirect_uri"]).unwrap();
            forged
                .query_pairs_mut()
                .append_pair("error", "access_denied");
            let mut genuine = url::Url::parse(&query["redirect_uri"]).unwrap();
            genuine
                .query_pairs_mut()
                .append_pair("code", "loop-code")
                .append_pair("state", &query["state"])
                .append_pair("iss", &issuer);
            tokio::spawn(async move {
                // another page in the browser, then the real redirect
                let _ = reqwest::get(forged).await;
                let _ = reqwest::get(genuine).await;
            });
        })
        .timeout(std::time::Duration::from_secs(10));
        let issued = service(&server, OAuthClient::public(CLIENT_ID))
            .await
            .authorization_code(&browser, &PassportRequest::new("https://files.example"))
            .await;
        match issued {
            Ok(issued) => assert_eq!(issued.credentials.bundle(), bundle),
            Err(e) => panic!("a forged callback ended the login: {}", e.code()),
        }
    })
    .await;
}
