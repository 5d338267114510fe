//! The layer never panics and never answers 500 on hostile `Authorization`
//! and `DPoP` headers: a fuzz-style table, over a real server, each case
//! answered 400 or 401 with a well-formed challenge and JSON body.

use crate::common::*;
use axum::http::HeaderValue;
use passport_testkit::bounded;

fn v(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_headers_are_refused_with_400_or_401() {
    bounded(async {
        let mut f = Fixture::new().await;
        let auth = f.auth().build().unwrap();
        f.serve(auth.clone()).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let bundle = leaf.bundle().to_owned();
        let root = f.root(&["files:read"], None);
        let proof = f.proof(&key, "GET", "/files", &bundle);
        let huge = format!("Bearer {}", "A".repeat(70 * 1024));
        let deep = format!("Bearer {}", vec![root.token(); 40].join("~"));
        let nested_jws = format!("Bearer {}", "a.b.c~".repeat(50));

        // (Authorization values, DPoP values, expected status, expected code)
        let cases: Vec<(Vec<HeaderValue>, Vec<HeaderValue>, u16, &str)> = vec![
            (vec![v(b"")], vec![], 400, "malformed_authorization"),
            (vec![v(b"Bearer")], vec![], 400, "malformed_authorization"),
            (vec![v(b"Bearer ")], vec![], 400, "malformed_authorization"),
            (vec![v(b"   ")], vec![], 400, "malformed_authorization"),
            (
                vec![v(b"Bearer    ")],
                vec![],
                400,
                "malformed_authorization",
            ),
            (vec![v(b"DPoP")], vec![], 400, "malformed_authorization"),
            (
                vec![v(b"Bearer \xff\xfe\x80")],
                vec![],
                400,
                "malformed_authorization",
            ),
            (
                vec![v("Bearer jos\u{e9}".as_bytes())],
                vec![],
                400,
                "malformed_authorization",
            ),
            (
                vec![v(b"Bearer\ttoken")],
                vec![],
                400,
                "malformed_authorization",
            ),
            (
                vec![v(b"Bearer a\tb")],
                vec![],
                400,
                "malformed_authorization",
            ),
            (
                vec![v(b"Bearer a b")],
                vec![],
                400,
                "malformed_authorization",
            ),
            (
                vec![v(b"Bearer a,b")],
                vec![],
                400,
                "malformed_authorization",
            ),
            (vec![v(b"Bearer =")], vec![], 400, "malformed_authorization"),
            (
                vec![v(b"Bearer \"quoted\"")],
                vec![],
                400,
                "malformed_authorization",
            ),
            (
                vec![v(b"B\"arer x")],
                vec![],
                400,
                "malformed_authorization",
            ),
            (vec![v(b"Bearer ~~~")], vec![], 401, "malformed_bundle"),
            (vec![v(b"Bearer abc")], vec![], 401, "malformed_bundle"),
            (vec![v(b"Bearer a.b.c")], vec![], 401, "invalid_base64"),
            (vec![v(b"Bearer ....")], vec![], 401, "malformed_bundle"),
            (
                vec![v(nested_jws.as_bytes())],
                vec![],
                401,
                "bundle_too_deep",
            ),
            (vec![v(deep.as_bytes())], vec![], 401, "bundle_too_deep"),
            (vec![v(huge.as_bytes())], vec![], 401, "token_too_large"),
            (vec![v(b"Basic xxx")], vec![], 401, "unsupported_scheme"),
            (vec![v(b"Negotiate")], vec![], 401, "unsupported_scheme"),
            (vec![v(b"Bearerx abc")], vec![], 401, "unsupported_scheme"),
            (
                vec![v(b"Bearer a"), v(b"Bearer b")],
                vec![],
                400,
                "multiple_authorization_headers",
            ),
            (
                vec![
                    v(format!("Bearer {}", root.bundle()).as_bytes()),
                    v(b"Basic x"),
                ],
                vec![],
                400,
                "multiple_authorization_headers",
            ),
            // DPoP scheme, proof headers hostile.
            (
                vec![v(format!("DPoP {bundle}").as_bytes())],
                vec![],
                400,
                "missing_dpop_proof",
            ),
            (
                vec![v(format!("DPoP {bundle}").as_bytes())],
                vec![v(b"")],
                401,
                "malformed_dpop_proof",
            ),
            (
                vec![v(format!("DPoP {bundle}").as_bytes())],
                vec![v(b"\xff\xfe")],
                401,
                "malformed_dpop_proof",
            ),
            (
                vec![v(format!("DPoP {bundle}").as_bytes())],
                vec![v(b"~~~")],
                401,
                "malformed_dpop_proof",
            ),
            (
                vec![v(format!("DPoP {bundle}").as_bytes())],
                vec![v("x".repeat(20_000).as_bytes())],
                401,
                "dpop_proof_too_large",
            ),
            (
                vec![v(format!("DPoP {bundle}").as_bytes())],
                vec![v(proof.as_bytes()), v(proof.as_bytes())],
                400,
                "multiple_dpop_proofs",
            ),
            (
                vec![v(format!("DPoP {bundle}").as_bytes())],
                vec![v(format!("{proof}, {proof}").as_bytes())],
                400,
                "multiple_dpop_proofs",
            ),
            (
                vec![v(format!("DPoP {bundle}").as_bytes())],
                vec![v(root.token().as_bytes())],
                401,
                "invalid_dpop_typ",
            ),
            // A passport token used as its own proof, and garbage JSON.
            (
                vec![v(format!("DPoP {bundle}").as_bytes())],
                vec![v(b"e30.e30.AA")],
                401,
                "invalid_dpop_typ",
            ),
        ];
        assert!(cases.len() >= 30, "{}", cases.len());

        let mut mismatches = Vec::new();
        for (i, (authorization, dpop, status, code)) in cases.iter().enumerate() {
            let answer = f.raw("GET", "/files", authorization, dpop).await;
            let label: String = format!("case {i}: {authorization:?} / {dpop:?}")
                .chars()
                .take(120)
                .collect();
            assert!(
                answer.status == 400 || answer.status == 401,
                "{label}: {answer:#?}"
            );
            if (answer.status, answer.code()) != (*status, *code) {
                mismatches.push(format!(
                    "{label}: got {} {}, expected {status} {code}",
                    answer.status,
                    answer.code()
                ));
            }
            assert!(!answer.challenges.is_empty(), "{label}");
            for c in &answer.challenges {
                assert!(c.len() < 600, "{label}: challenge of {} bytes", c.len());
                assert!(param(c, "resource_metadata").is_some(), "{label}: {c}");
            }
        }
        assert!(mismatches.is_empty(), "{mismatches:#?}");
        // The server still works.
        let ok = f.call("GET", "/files", "DPoP", &bundle, Some(&proof)).await;
        assert_eq!(ok.status, 200, "{ok:#?}");
    })
    .await;
}
