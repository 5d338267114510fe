//! Writes the seed corpora of the fuzz targets, `fuzz/corpus/<target>/`,
//! from real fixtures: passports and chains the test kit mints, DPoP proofs
//! a `DpopKey` makes, a Status List Token `StatusListToken::sign` makes,
//! and the forms and documents the server's tests send.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds` (see
//! docs/fuzzing.md); each seed file is named by its content's hash, so a
//! rerun adds nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use passport_dpop::DpopKey;
use passport_jose::{Algorithm, b64};
use passport_status::{StatusList, StatusListToken};
use passport_testkit::{Kit, NOW};

const ACCESS_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln";
const URL: &str = "https://as.example/token";

fn write(target: &str, data: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let name = passport_jose::sha256_b64url(data);
    std::fs::write(dir.join(&name[..16]), data).unwrap();
}

fn with_mode(mode: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend_from_slice(rest);
    out
}

fn joined(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&0u8)
}

fn segment(token: &str, i: usize) -> Vec<u8> {
    b64::decode(token.split('.').nth(i).unwrap()).unwrap()
}

fn main() {
    let kit = Kit::new();
    let [root, child, grandchild] = kit.chain3();
    let holder = DpopKey::generate(Algorithm::EdDSA).unwrap();
    let bound = kit.delegate_bound(
        root.bundle(),
        "agent-d",
        &["files:read"],
        Some(holder.jkt()),
    );
    let bundles = [
        root.bundle(),
        child.bundle(),
        grandchild.bundle(),
        bound.bundle(),
    ];

    for bundle in bundles {
        write("bundle", bundle.as_bytes());
        write(
            "authorization_header",
            format!("\x01Bearer {bundle}").as_bytes(),
        );
        write(
            "authorization_header",
            format!("\x01DPoP {bundle}").as_bytes(),
        );
    }
    write("bundle", format!("{}\n", root.bundle()).as_bytes());
    write("authorization_header", b"\x00bearer  a.b~c");
    write("authorization_header", b"\x00Bearer a.b.c\x00Bearer a.b.c");

    for bundle in bundles {
        let leaf = bundle.split('~').next().unwrap();
        write("compact_jws", &with_mode(0, leaf.as_bytes()));
        let header = segment(leaf, 0);
        let payload = segment(leaf, 1);
        write("compact_jws", &with_mode(1, &joined(&[&header, &payload])));
        write("claims", &with_mode(0, &payload));
        write("claims", &with_mode(1, &payload));
    }

    for (a, b, c, s) in [
        ("files:read", "files:*", "*", "files:read"),
        ("a?c", "a*", "?*", "abc"),
        ("*?", "?*", "**", "x"),
        ("mail:send:*", "mail:*", "mail:*:*", "mail:send:bob"),
        ("files:[rw]", "files:*", "*", "files:["),
        ("", "*", "?", ""),
    ] {
        write(
            "scope",
            &joined(&[a.as_bytes(), b.as_bytes(), c.as_bytes(), s.as_bytes()]),
        );
    }

    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let key = DpopKey::generate(alg).unwrap();
        let plain = key.proof("POST", URL, None, None, NOW).unwrap();
        let with_ath = key
            .proof("POST", URL, Some(ACCESS_TOKEN), None, NOW)
            .unwrap();
        let nonce = key
            .proof("POST", URL, None, Some("n-0S6_WzA2Mj"), NOW - 30)
            .unwrap();
        write("dpop_proof", &with_mode(0, plain.as_bytes()));
        write("dpop_proof", &with_mode(2, with_ath.as_bytes()));
        write("dpop_proof", &with_mode(0, nonce.as_bytes()));
        write(
            "dpop_proof",
            &with_mode(0, &joined(&[plain.as_bytes(), plain.as_bytes()])),
        );
        for (mode, proof) in [(1, &plain), (3, &with_ath), (7, &with_ath)] {
            write(
                "dpop_proof",
                &with_mode(mode, &joined(&[b"{}", &segment(proof, 1)])),
            );
        }
    }

    let mut list = StatusList::new(2).unwrap();
    for (i, v) in [(0, 1), (5, 2), (17, 3), (200, 1)] {
        list.set(i, v).unwrap();
    }
    let uri = "https://issuer.local/status/1";
    let token = StatusListToken::sign(&kit.key, uri, &list, NOW - 10, NOW + 3600, 300).unwrap();
    write("status_list", &with_mode(0, token.as_bytes()));
    write("status_list", &with_mode(1, &segment(&token, 1)));
    let (bits, lst) = list.encode().unwrap();
    write(
        "status_list",
        &with_mode(2, &[&[bits][..], lst.as_bytes()].concat()),
    );
    let big = StatusList::with_capacity(1, 100_000).unwrap();
    let (bits, lst) = big.encode().unwrap();
    write(
        "status_list",
        &with_mode(2, &[&[bits][..], lst.as_bytes()].concat()),
    );

    for form in [
        "grant_type=client_credentials&scope=files%3Aread+files%3Awrite&resource=https%3A%2F%2Ftool.example%2Fmcp".to_owned(),
        "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&resource=https%3A%2F%2Ftool.example".to_owned(),
        "grant_type=refresh_token&refresh_token=r3fresh&scope=files%3Aread".to_owned(),
        format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token={}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&actor_token={}&actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=agent-b&scope=files%3A*",
            grandchild.bundle(),
            root.bundle()
        ),
        "grant_type=client_credentials&scope=&scope=x".to_owned(),
    ] {
        write("token_form", form.as_bytes());
    }

    for doc in [
        r#"{"redirect_uris":["https://app.example/cb","http://127.0.0.1:8080/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"Claude","scope":"files:read"}"#,
        r#"{"redirect_uris":["https://app.example/cb"],"client_name":"App"}"#,
        r#"{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example/jwks.json"}"#,
        r#"{"redirect_uris":["https://app.example/cb\r\nSet-Cookie: sid=attacker"]}"#,
        r#"{"redirect_uris":["https://app.example/cb"],"grant_types":["client_credentials"]}"#,
    ] {
        write("register_metadata", doc.as_bytes());
    }
    let ed = passport_jose::SigningKey::generate(Algorithm::EdDSA).unwrap();
    let jwks = serde_json::json!({"keys": [ed.public_jwk()]});
    let client_id = "https://client.example/oauth/metadata.json";
    for doc in [
        serde_json::json!({"client_id": client_id, "redirect_uris": ["https://client.example/cb"], "client_name": "Client", "scope": "files:read"}),
        serde_json::json!({"client_id": client_id, "redirect_uris": ["http://localhost:3000/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}),
        serde_json::json!({"client_id": client_id, "redirect_uris": ["https://client.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://client.example/jwks"}),
        serde_json::json!({"client_id": client_id, "redirect_uris": ["https://client.example/cb"], "grant_types": ["authorization_code"], "client_secret": "s"}),
    ] {
        write("client_metadata", &with_mode(0, doc.to_string().as_bytes()));
    }
    for url in [
        client_id,
        "https://app.example/client.json",
        "http://127.0.0.1:4000/c.json",
        "https://a.example/x/../y",
    ] {
        write("client_metadata", &with_mode(1, url.as_bytes()));
        write("client_metadata", &with_mode(3, url.as_bytes()));
    }
}
