//! The rotating passport cache: against a token endpoint played by wiremock
//! that mints a real passport per request on a `ManualClock` (reuse within
//! the margin, one rotation naming its predecessor, single flight, backoff),
//! and end to end against a real passport-server through the agent client.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use passport_agent::{
    ClientError, ClientSecret, OAuthClient, PassportClient, PassportRequest, RotatingPassport,
    RotationMargin, TokenService,
};
use passport_claims::{Clock as _, ManualClock, SystemClock};
use passport_testkit::{Kit, alice_ial2, bounded, issuance};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::{TokenServer, key, leaf_of};
use crate::token_service::{CLIENT_ID, authorization_server};

const AUD: &str = "https://files.example";
/// The lifetime of the mock's passports: the default margin is 20 s.
const TTL: u64 = 100;

const REFUSE_REPLACES: u8 = 1;
const DENY_ALL: u8 = 2;

/// `/token`: a fresh passport of `kit` per request (its clock is the
/// test's), or 503 while `failing`; a refresh token `r-N` for the N-th
/// answer when `refresh`.
struct Minting {
    kit: Kit,
    failing: Arc<AtomicBool>,
    /// [`REFUSE_REPLACES`]: answer 400 `invalid_request` to a request
    /// naming `replaces` (as passport-server does when the predecessor was
    /// revoked meanwhile); [`DENY_ALL`]: 400 `access_denied` to every
    /// request (a kill-switch); 0: mint
    refusing: Arc<AtomicU8>,
    refresh: bool,
    minted: std::sync::atomic::AtomicUsize,
}

impl Respond for Minting {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.failing.load(Ordering::SeqCst) {
            return ResponseTemplate::new(503);
        }
        let replacing = url::form_urlencoded::parse(&request.body).any(|(k, _)| k == "replaces");
        match self.refusing.load(Ordering::SeqCst) {
            REFUSE_REPLACES if replacing => {
                return ResponseTemplate::new(400).set_body_json(json!({
                    "error": "invalid_request",
                    "error_description": "replaces: the passport is revoked",
                }));
            }
            DENY_ALL => {
                return ResponseTemplate::new(400).set_body_json(json!({
                    "error": "access_denied",
                    "error_description": "kill-switch: agent agent-a",
                }));
            }
            _ => {}
        }
        let n = self.minted.fetch_add(1, Ordering::SeqCst) + 1;
        let passport = self
            .kit
            .issue(issuance(alice_ial2(), AUD, "agent-a", "model-a", &["files:read"]).ttl(TTL));
        let mut body = json!({
            "access_token": passport.bundle(),
            "token_type": "Bearer",
            "expires_in": TTL,
            "scope": "files:read",
        });
        if self.refresh {
            body["refresh_token"] = json!(format!("r-{n}"));
        }
        // long enough for every task of a burst to be waiting
        ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(Duration::from_millis(30))
    }
}

struct Setup {
    server: MockServer,
    clock: Arc<ManualClock>,
    failing: Arc<AtomicBool>,
    refusing: Arc<AtomicU8>,
    service: TokenService,
}

impl Setup {
    async fn start(refresh: bool) -> Setup {
        let server = authorization_server(None, true).await;
        let kit = Kit::at(SystemClock.now(), AUD);
        let clock = kit.clock.clone();
        let failing = Arc::new(AtomicBool::new(false));
        let refusing = Arc::new(AtomicU8::new(0));
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(Minting {
                kit,
                failing: failing.clone(),
                refusing: refusing.clone(),
                refresh,
                minted: Default::default(),
            })
            .mount(&server)
            .await;
        let service = TokenService::builder(
            &server.uri(),
            OAuthClient::with_secret(CLIENT_ID, ClientSecret::new("s3cr3t")),
        )
        .clock(clock.clone())
        .discover()
        .await
        .unwrap();
        Setup {
            server,
            clock,
            failing,
            refusing,
            service,
        }
    }

    fn request() -> PassportRequest {
        PassportRequest::new(AUD).scope("files:read")
    }

    /// The forms of the token requests so far.
    async fn forms(&self) -> Vec<HashMap<String, String>> {
        self.server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == "/token")
            .map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect())
            .collect()
    }
}

#[tokio::test]
async fn reused_within_the_margin_then_rotated_once_naming_the_predecessor() {
    bounded(async {
        let setup = Setup::start(false).await;
        let t0 = setup.clock.now();
        let cache = RotatingPassport::new(setup.service.clone(), Setup::request());
        assert!(cache.current().is_none());
        assert!(
            setup.forms().await.is_empty(),
            "nothing before the first call"
        );

        let first = cache.get().await.unwrap();
        assert_eq!(first.expires_at(), t0 + TTL as i64);
        assert_eq!(first.scopes(), ["files:read"]);
        let bundle = first.credentials().bundle();
        for shown in [format!("{cache:?}"), format!("{first:?}")] {
            assert!(shown.contains(first.jti()), "{shown}");
            assert!(!shown.contains(bundle), "never the bundle: {shown}");
        }
        let forms = setup.forms().await;
        assert_eq!(forms.len(), 1);
        assert_eq!(forms[0]["grant_type"], "client_credentials");
        assert!(!forms[0].contains_key("replaces"), "nothing to replace yet");

        // 20 % of 100 s: served until exp - 20 s
        setup.clock.advance(79);
        let again = cache.get().await.unwrap();
        assert_eq!(again.jti(), first.jti());
        assert_eq!(setup.forms().await.len(), 1);

        setup.clock.advance(1);
        let second = cache.get().await.unwrap();
        assert_ne!(second.jti(), first.jti());
        assert_eq!(second.expires_at(), t0 + 80 + TTL as i64);
        let forms = setup.forms().await;
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[1]["grant_type"], "client_credentials");
        assert_eq!(forms[1]["replaces"], first.jti());
        assert_eq!(forms[1]["resource"], AUD);

        // the new one is served until its own margin
        assert_eq!(cache.get().await.unwrap().jti(), second.jti());
        assert_eq!(cache.current().unwrap().jti(), second.jti());
        assert_eq!(setup.forms().await.len(), 2);
    })
    .await;
}

/// A predecessor revoked meanwhile (an administrator's revocation, a
/// kill-switch since lifted) cannot be replaced: the server refuses
/// `replaces`. The cache asks once more without it, instead of failing
/// until the revoked predecessor expires.
#[tokio::test]
async fn a_refused_replacement_is_asked_again_once_without_replaces() {
    bounded(async {
        let setup = Setup::start(false).await;
        let cache = RotatingPassport::new(setup.service.clone(), Setup::request());
        let first = cache.get().await.unwrap();
        setup.refusing.store(REFUSE_REPLACES, Ordering::SeqCst);
        setup.clock.advance(80);
        let second = cache.get().await.unwrap();
        assert_ne!(second.jti(), first.jti());
        let forms = setup.forms().await;
        assert_eq!(forms.len(), 3, "{forms:?}");
        assert_eq!(forms[1]["replaces"], first.jti());
        assert!(!forms[2].contains_key("replaces"), "{:?}", forms[2]);
        assert_eq!(forms[2]["grant_type"], "client_credentials");
    })
    .await;
}

/// Any other refusal is not asked again: a kill-switch's `access_denied`
/// is the answer (the held passport is served while it lasts, then the
/// typed error carries the refusal).
#[tokio::test]
async fn another_refusal_of_a_replacement_is_not_asked_again() {
    bounded(async {
        let setup = Setup::start(false).await;
        let cache = RotatingPassport::builder(setup.service.clone(), Setup::request())
            .backoff(Duration::from_secs(100), Duration::from_secs(100))
            .build();
        let first = cache.get().await.unwrap();
        setup.refusing.store(DENY_ALL, Ordering::SeqCst);
        setup.clock.advance(80);
        assert_eq!(cache.get().await.unwrap().jti(), first.jti(), "held");
        assert_eq!(setup.forms().await.len(), 2, "one attempt, not asked again");
        setup.clock.advance(20);
        match cache.get().await {
            Err(ClientError::RotationFailed { cause, .. }) => assert!(
                matches!(&*cause, ClientError::TokenRefused { error, .. } if error == "access_denied"),
                "{cause:?}"
            ),
            other => panic!("expected rotation_failed, got {other:?}"),
        }
        assert_eq!(setup.forms().await.len(), 2, "backing off");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_however_many_tasks_ask() {
    bounded(async {
        let setup = Setup::start(false).await;
        let cache = RotatingPassport::new(setup.service.clone(), Setup::request());
        let burst = |cache: &RotatingPassport| {
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let cache = cache.clone();
                    tokio::spawn(async move { cache.get().await })
                })
                .collect();
            async move {
                let mut jtis = Vec::new();
                for task in tasks {
                    jtis.push(task.await.unwrap().map(|p| p.jti().to_owned()));
                }
                jtis
            }
        };

        let first = burst(&cache).await;
        assert_eq!(setup.forms().await.len(), 1, "the first mint, once");
        let jti = first[0].as_ref().unwrap().clone();
        assert!(first.iter().all(|j| j.as_ref().unwrap() == &jti));

        setup.clock.advance(85);
        let rotated = burst(&cache).await;
        assert_eq!(setup.forms().await.len(), 2, "one rotation");
        let next = rotated[0].as_ref().unwrap().clone();
        assert_ne!(next, jti);
        assert!(rotated.iter().all(|j| j.as_ref().unwrap() == &next));

        // a failing flight is shared too: one request, one error for all
        setup.failing.store(true, Ordering::SeqCst);
        setup.clock.advance(TTL as i64);
        let failed = burst(&cache).await;
        assert_eq!(setup.forms().await.len(), 3);
        for result in failed {
            let err = result.unwrap_err();
            assert_eq!(err.code(), "rotation_failed", "{err:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn failures_back_off_serving_the_old_passport_until_it_expires() {
    bounded(async {
        let setup = Setup::start(false).await;
        let t0 = setup.clock.now();
        let cache = RotatingPassport::builder(setup.service.clone(), Setup::request())
            .backoff(Duration::from_secs(2), Duration::from_secs(8))
            .build();
        let first = cache.get().await.unwrap();
        let requests = || async { setup.forms().await.len() };

        setup.failing.store(true, Ordering::SeqCst);
        setup.clock.set(t0 + 81);
        // in the margin: the attempt fails, the old one is still valid
        assert_eq!(cache.get().await.unwrap().jti(), first.jti());
        assert_eq!(requests().await, 2);
        // backing off (2 s): no request
        setup.clock.set(t0 + 82);
        assert_eq!(cache.get().await.unwrap().jti(), first.jti());
        assert_eq!(requests().await, 2);
        // then 4 s, 8 s, 8 s (the cap)
        setup.clock.set(t0 + 83);
        cache.get().await.unwrap();
        assert_eq!(requests().await, 3);
        setup.clock.set(t0 + 86);
        cache.get().await.unwrap();
        assert_eq!(requests().await, 3);
        setup.clock.set(t0 + 87);
        cache.get().await.unwrap();
        assert_eq!(requests().await, 4);
        setup.clock.set(t0 + 94);
        cache.get().await.unwrap();
        assert_eq!(requests().await, 4);
        setup.clock.set(t0 + 95);
        assert_eq!(cache.get().await.unwrap().jti(), first.jti());
        assert_eq!(requests().await, 5);
        let forms = setup.forms().await;
        assert!(forms[1..].iter().all(|f| f["replaces"] == first.jti()));

        // expired, still backing off (until t0 + 103): the typed error, no request
        setup.clock.set(t0 + 100);
        let err = cache.get().await.unwrap_err();
        assert_eq!(err.code(), "rotation_failed");
        match &err {
            ClientError::RotationFailed { retry_at, cause } => {
                assert_eq!(*retry_at, t0 + 103);
                assert!(
                    matches!(
                        cause.as_ref(),
                        ClientError::TokenRefused { status: 503, .. }
                    ),
                    "{cause:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(requests().await, 5);

        // the token service is back: the next attempt after the wait works,
        // and names no expired predecessor
        setup.failing.store(false, Ordering::SeqCst);
        setup.clock.set(t0 + 102);
        assert_eq!(cache.get().await.unwrap_err().code(), "rotation_failed");
        setup.clock.set(t0 + 103);
        let next = cache.get().await.unwrap();
        assert_ne!(next.jti(), first.jti());
        let forms = setup.forms().await;
        assert_eq!(forms.len(), 6);
        assert!(!forms[5].contains_key("replaces"), "{:?}", forms[5]);

        // a success resets the backoff: the next failure waits 2 s again
        setup.failing.store(true, Ordering::SeqCst);
        setup.clock.set(t0 + 103 + 81);
        assert_eq!(cache.get().await.unwrap().jti(), next.jti());
        setup.clock.set(t0 + 103 + 83);
        cache.get().await.unwrap();
        assert_eq!(requests().await, 8);
    })
    .await;
}

#[tokio::test]
async fn no_passport_yet_and_the_first_attempt_fails() {
    bounded(async {
        let setup = Setup::start(false).await;
        setup.failing.store(true, Ordering::SeqCst);
        let cache = RotatingPassport::new(setup.service.clone(), Setup::request());
        let err = cache.get().await.unwrap_err();
        assert_eq!(err.code(), "rotation_failed");
        // default backoff: 1 s
        assert_eq!(cache.get().await.unwrap_err().code(), "rotation_failed");
        assert_eq!(setup.forms().await.len(), 1);
        setup.failing.store(false, Ordering::SeqCst);
        setup.clock.advance(1);
        cache.get().await.unwrap();
        assert_eq!(setup.forms().await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_grant_with_a_refresh_token_rotates_by_refresh() {
    bounded(async {
        let setup = Setup::start(true).await;
        // the grant the agent already holds (its refresh token is r-1)
        let grant = setup
            .service
            .client_credentials(&Setup::request())
            .await
            .unwrap();
        let cache = RotatingPassport::builder(setup.service.clone(), Setup::request())
            .margin(RotationMargin::Fixed(10))
            .grant(grant)
            .unwrap()
            .build();
        let held = cache.get().await.unwrap();
        assert_eq!(setup.forms().await.len(), 1, "the grant is served first");

        setup.clock.advance(89);
        assert_eq!(cache.get().await.unwrap().jti(), held.jti());
        setup.clock.advance(1);
        let second = cache.get().await.unwrap();
        assert_ne!(second.jti(), held.jti());
        setup.clock.advance(90);
        cache.get().await.unwrap();

        let forms = setup.forms().await;
        assert_eq!(forms.len(), 3);
        assert_eq!(forms[1]["grant_type"], "refresh_token");
        assert_eq!(forms[1]["refresh_token"], "r-1");
        assert!(!forms[1].contains_key("replaces"), "the family names it");
        assert_eq!(forms[2]["refresh_token"], "r-2", "the rotated token");
    })
    .await;
}

#[tokio::test]
async fn a_grant_that_is_not_a_passport_is_refused() {
    bounded(async {
        let setup = Setup::start(false).await;
        let server = authorization_server(None, true).await;
        crate::token_service::token_endpoint(
            &server,
            vec![
                ResponseTemplate::new(200).set_body_json(
                    json!({"access_token": "not-a-passport", "token_type": "Bearer"}),
                ),
            ],
        )
        .await;
        let other = TokenService::builder(
            &server.uri(),
            OAuthClient::with_secret(CLIENT_ID, ClientSecret::new("s3cr3t")),
        )
        .discover()
        .await
        .unwrap();
        let opaque = other.client_credentials(&Setup::request()).await.unwrap();
        let err = RotatingPassport::builder(setup.service.clone(), Setup::request())
            .grant(opaque)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_token_response");

        // and a token endpoint minting one is an error of the cache
        let cache = RotatingPassport::new(other, Setup::request());
        let err = cache.get().await.unwrap_err();
        match err {
            ClientError::RotationFailed { cause, .. } => {
                assert_eq!(cause.code(), "invalid_token_response");
            }
            other => panic!("{other:?}"),
        }
    })
    .await;
}

/// The leaf's jti of a `DPoP <bundle>` / `Bearer <bundle>` header.
fn jti_of(authorization: &str) -> String {
    leaf_of(authorization.split_once(' ').unwrap().1).jti
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_client_sends_a_rotating_dpop_bound_passport_from_a_real_server() {
    bounded(async {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let t0 = clock.now();
        // 300 s passports: the default margin is 60 s
        let token_server = TokenServer::start(t0, |b| {
            b.clock(clock.clone()).passport_ttl(300).dpop_nonces(true)
        })
        .await;
        let (issuer, server) = (&token_server.issuer, &token_server.server);
        let workload = server
            .register_workload_client("alice", "files:*")
            .await
            .unwrap();

        // the resource server records what each request carried
        let files = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/reports"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&files)
            .await;

        let service = TokenService::builder(
            issuer,
            OAuthClient::with_secret(
                workload.client_id.clone(),
                ClientSecret::new(workload.secret.expose()),
            ),
        )
        .clock(clock.clone())
        .discover()
        .await
        .unwrap();
        let dpop_key = key();
        let jkt = dpop_key.jkt().to_owned();
        let cache = RotatingPassport::new(
            service,
            PassportRequest::new("https://files.example/api")
                .scope("files:read")
                .dpop_key(dpop_key),
        );
        let client = PassportClient::builder(cache.clone())
            .allow_origin(files.uri())
            .clock(clock.clone())
            .build();
        let reports = format!("{}/reports", files.uri());

        // first call mints; calls within the margin reuse; one past it rotates
        for at in [0, 100, 239, 240, 241, 300] {
            clock.set(t0 + at);
            assert_eq!(client.get(&reports).await.unwrap().status(), 200);
        }
        let seen = files.received_requests().await.unwrap();
        assert_eq!(seen.len(), 6);
        let authorizations: Vec<String> = seen
            .iter()
            .map(|r| {
                assert!(r.headers.get("dpop").is_some(), "a proof on every request");
                r.headers["authorization"].to_str().unwrap().to_owned()
            })
            .collect();
        assert!(authorizations.iter().all(|a| a.starts_with("DPoP ")));
        let jtis: Vec<String> = authorizations.iter().map(|a| jti_of(a)).collect();
        assert!(jtis[..3].iter().all(|j| j == &jtis[0]), "{jtis:?}");
        assert_ne!(jtis[3], jtis[0]);
        assert!(jtis[3..].iter().all(|j| j == &jtis[3]), "{jtis:?}");

        // both are the server's, bound to the agent's key, the second
        // minted at the rotation
        let current = cache.current().unwrap();
        assert_eq!(current.jti(), jtis[3]);
        assert_eq!(current.expires_at(), t0 + 240 + 300);
        for jti in [&jtis[0], &jtis[3]] {
            let record = server.database().passport(jti).await.unwrap();
            assert!(record.is_some(), "{jti} is in the server's registry");
        }
        let leaf = leaf_of(current.credentials().bundle());
        assert_eq!(leaf.cnf_jkt.as_deref(), Some(jkt.as_str()));
        assert_eq!(leaf.agent.agent_id.as_str(), workload.client_id);
    })
    .await;
}
