//! The local issuer's state (passport-store) through the real binary:
//! concurrent processes lose no update, rotation retires, revocation
//! withdraws, the data directory is trusted only when it is private.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use passport_claims::UnverifiedBundle;
use passport_mock_oidc::MockOidc;
use passport_status::{RecordRef, Status};
use passport_store::Store;
use serde_json::Value;

use super::{Env, assert_fails, stderr, stdout};

pub(super) const ISSUE: &[&str] = &[
    "issue",
    "--agent-id",
    "planner",
    "--agent-model",
    "m1",
    "--aud",
    "https://orch.example",
];

/// Header `kid`, `jti`, `iat`, `exp`, status index and URI of a bundle's leaf.
struct Leaf {
    kid: String,
    jti: String,
    iat: i64,
    exp: i64,
    idx: u64,
    uri: String,
}

fn leaf(bundle: &str) -> Leaf {
    let parsed = UnverifiedBundle::parse(bundle).unwrap();
    let inspected = parsed
        .inspect_unverified()
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    let status = inspected.claims.status.clone().expect("a status claim");
    Leaf {
        kid: inspected.kid.unwrap(),
        jti: inspected.claims.jti,
        iat: inspected.claims.iat,
        exp: inspected.claims.exp,
        idx: status.idx(),
        uri: status.uri().to_owned(),
    }
}

/// Starts `passport ARGS` without waiting, its output captured.
fn spawn(env: &Env, args: &[&str]) -> Child {
    env.cmd(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for every child, killing all of them past `limit`.
fn wait_all(
    children: Vec<(&'static str, String, Child)>,
    limit: Duration,
) -> Vec<(&'static str, String, std::process::Output)> {
    let deadline = Instant::now() + limit;
    let mut outputs = Vec::new();
    let mut pending = children;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (kind, arg, mut child) in pending {
            if child.try_wait().unwrap().is_some() {
                outputs.push((kind, arg, child.wait_with_output().unwrap()));
            } else {
                still.push((kind, arg, child));
            }
        }
        pending = still;
        if Instant::now() > deadline {
            for (_, _, child) in &mut pending {
                let _ = child.kill();
            }
            panic!("{} processes still running after {limit:?}", pending.len());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    outputs
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_parallel_issues_revokes_and_rotations_lose_no_update() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    // Twenty passports to revoke while the rest runs.
    let targets: Vec<String> = (0..20).map(|_| env.issue(&[])).collect();
    let spawn = |args: &[&str]| spawn(&env, args);
    let mut children = Vec::new();
    for target in &targets {
        let jti = leaf(target).jti;
        children.push(("issue", String::new(), spawn(ISSUE)));
        children.push(("revoke", jti.clone(), spawn(&["revoke", &jti])));
        children.push(("rotate", String::new(), spawn(&["keys", "rotate"])));
    }
    let outputs = tokio::task::block_in_place(|| wait_all(children, Duration::from_secs(240)));
    let mut issued: Vec<String> = targets.clone();
    let mut revoked = Vec::new();
    for (kind, arg, out) in &outputs {
        assert_eq!(out.status.code(), Some(0), "{kind} {arg}: {}", stderr(out));
        match *kind {
            "issue" => issued.push(stdout(out).trim().to_owned()),
            "revoke" => revoked.push(arg.clone()),
            _ => {}
        }
    }
    assert_eq!((issued.len(), revoked.len()), (40, 20));

    let store = Store::open(env.dir().join("state.db")).unwrap();
    let keys: HashMap<String, passport_store::KeyRecord> = store
        .keys()
        .unwrap()
        .into_iter()
        .map(|k| (k.kid.clone(), k))
        .collect();
    // Exactly one current key; every other one has its retirement time.
    assert_eq!(keys.values().filter(|k| k.retired.is_none()).count(), 1);
    for bundle in &issued {
        let l = leaf(bundle);
        // Every issued passport has exactly one status record, at its index.
        let record = store
            .status_record(&l.uri, RecordRef::Jti(&l.jti))
            .unwrap()
            .unwrap_or_else(|| panic!("no status record for {}", l.jti));
        assert_eq!(record.idx, l.idx);
        // Its key covers it, and had not retired when it signed.
        let key = keys
            .get(&l.kid)
            .unwrap_or_else(|| panic!("key {} lost", l.kid));
        assert!(
            key.max_exp >= l.exp,
            "{}: max_exp {} < {}",
            l.kid,
            key.max_exp,
            l.exp
        );
        if let Some(retired) = key.retired {
            assert!(
                l.iat <= retired,
                "{} signed at {} after retiring at {retired}",
                l.kid,
                l.iat
            );
        }
    }
    let uri = leaf(&issued[0]).uri;
    let all = store.status_records(&uri).unwrap();
    assert_eq!(all.len(), 40, "one record per passport, no more");
    // Every acknowledged revocation is recorded.
    for jti in &revoked {
        let r = store
            .status_record(&uri, RecordRef::Jti(jti))
            .unwrap()
            .unwrap();
        assert_eq!(r.status, Status::Invalid, "{jti}");
    }
    // `keys show` reflects the store: one current key, every other one retired.
    let shown = stdout(&env.run(&["keys", "show"]));
    assert_eq!(shown.matches("  current").count(), 1, "{shown}");
    assert_eq!(shown.lines().count(), keys.len() + 1, "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_key_is_published_with_its_retirement_time_and_never_signs_again() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let old = leaf(&env.issue(&[]));
    let out = env.run(&["keys", "rotate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new_kid = stdout(&out).trim().to_owned();
    let jwks: Value = serde_json::from_str(&stdout(&env.run(&["keys", "jwks"]))).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let retired = keys.iter().find(|k| k["kid"] == old.kid.as_str()).unwrap();
    let at = retired[passport_jose::JWK_RETIRED_AT]
        .as_i64()
        .expect("retired_at on the retired key");
    assert!(at >= old.iat);
    let current = keys.iter().find(|k| k["kid"] == new_kid.as_str()).unwrap();
    assert!(current.get(passport_jose::JWK_RETIRED_AT).is_none());
    // The retired key's private half is gone, and new passports use the new key.
    assert!(
        !env.dir()
            .join("keys")
            .join(format!("{}.jwk", old.kid))
            .exists()
    );
    for _ in 0..3 {
        assert_eq!(leaf(&env.issue(&[])).kid, new_kid);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_revoke_withdraws_a_compromised_key_at_once() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let bundle = env.issue(&[]);
    let kid = leaf(&bundle).kid;
    let out = env.run(&["keys", "revoke", &kid]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Not published any more: its passports are refused for want of a key.
    let jwks = stdout(&env.run(&["keys", "jwks"]));
    assert!(!jwks.contains(&kid), "{jwks}");
    let out = env.run(&["verify", &bundle, "--aud", "https://orch.example"]);
    assert_fails(&out, 1, "unknown_kid");
    // Never signs again: the next passport comes from a new key.
    let next = leaf(&env.issue(&[]));
    assert_ne!(next.kid, kid);
    assert!(!env.dir().join("keys").join(format!("{kid}.jwk")).exists());
    let shown = stdout(&env.run(&["keys", "show"]));
    assert!(
        shown.contains(&format!("{kid}  EdDSA")) && shown.contains("revoked"),
        "{shown}"
    );
    // An unknown kid, and something that is no kid at all.
    assert_fails(&env.run(&["keys", "revoke", "nope"]), 1, "unknown_key");
    assert_fails(&env.run(&["keys", "revoke", "../x"]), 2, "invalid_request");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_others_can_write_to_is_refused() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    for mode in [0o777, 0o770, 0o702] {
        std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(mode)).unwrap();
        for args in [ISSUE, &["keys", "show"], &["revocations"]] {
            assert_fails(&env.run(args), 2, "insecure_data_dir");
        }
    }
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    env.issue(&[]);
    // The key directory too: a group member could swap the key file.
    let keys = env.dir().join("keys");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o770)).unwrap();
    assert_fails(&env.run(ISSUE), 2, "insecure_data_dir");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
    env.issue(&[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_owned_by_another_user_is_refused() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let dir = env.dir();
    let is_root = std::fs::metadata(env.data.path()).map(|m| {
        use std::os::unix::fs::MetadataExt as _;
        m.uid() == 0
    });
    if is_root.unwrap_or(false) {
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let out = env.run(&["keys", "show"]);
        std::os::unix::fs::chown(&dir, Some(0), Some(0)).unwrap();
        assert_fails(&out, 2, "insecure_data_dir");
        assert!(
            stderr(&out).contains("owned by uid 65534"),
            "{}",
            stderr(&out)
        );
    } else {
        // Without root, point the data directory at one owned by root.
        let out = env
            .cmd(&["keys", "show"])
            .env("XDG_DATA_HOME", "/")
            .output()
            .unwrap();
        assert_fails(&out, 2, "insecure_data_dir");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_planted_in_the_data_directory_is_refused_not_followed() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let victim = env.work.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    // At a file the CLI replaces (the session).
    let session = env.dir().join("session.json");
    std::fs::remove_file(&session).unwrap();
    std::os::unix::fs::symlink(&victim, &session).unwrap();
    let mut claims = mock.default_claims();
    claims["acr"] = passport_testkit::ACR.into();
    let token = mock.mint_id_token(claims);
    assert_fails(
        &env.run(&["login", "--id-token", &token]),
        2,
        "insecure_path",
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    // At the database.
    let fresh = Env::new(&mock);
    fresh.login_with_token(&mock);
    std::os::unix::fs::symlink(&victim, fresh.dir().join("state.db")).unwrap();
    assert_fails(&fresh.run(&["keys", "show"]), 2, "insecure_path");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_json_state_of_earlier_versions_is_imported() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let key = passport_jose::SigningKey::generate(passport_jose::Algorithm::EdDSA).unwrap();
    key.save(&env.dir().join("issuer.jwk")).unwrap();
    let ring = serde_json::json!({"keys": [{
        "kid": key.kid(), "alg": "EdDSA", "public": key.public_jwk(),
        "created": 1, "retired": null, "max_exp": 2_000_000_000i64,
    }]});
    std::fs::write(env.dir().join("issuer-keys.json"), ring.to_string()).unwrap();
    // Several processes meet the old state at once: one imports it, the
    // others find it imported.
    let children: Vec<_> = (0..6)
        .map(|_| ("issue", String::new(), spawn(&env, ISSUE)))
        .collect();
    let outputs = tokio::task::block_in_place(|| wait_all(children, Duration::from_secs(120)));
    for (_, _, out) in &outputs {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        assert_eq!(leaf(stdout(out).trim()).kid, key.kid());
    }
    let bundle = env.issue(&[]);
    assert_eq!(leaf(&bundle).kid, key.kid());
    assert!(!env.dir().join("issuer.jwk").exists());
    assert!(env.dir().join("issuer-keys.json.imported").exists());
}

/// The measurement of docs/performance.md: `passport issue` with 1,000,000
/// status records in the store. Needs `sqlite3` and `/usr/bin/time`; run with
/// `cargo test -p passport-cli --test cli -- --ignored --nocapture million`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement (about a minute), not a check"]
async fn issue_with_a_million_status_records() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    env.issue(&[]);
    let db = env.dir().join("state.db");
    let fill = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) \
        INSERT OR IGNORE INTO status (list, idx, jti, agent_id, exp) \
        SELECT 1, (i * 1103515245 + 12345) % 2097152, 'bulk-' || i, 'bot', 4102444800 FROM n; \
        UPDATE status_lists SET space = 2097152, allocated = (SELECT COUNT(*) FROM status);";
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(fill)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let size = std::fs::metadata(&db).unwrap().len();
    for run in 0..5 {
        let cmd = env.cmd(&[]);
        let program = cmd.get_program().to_owned();
        let mut timed = std::process::Command::new("/usr/bin/time");
        timed
            .arg("-f")
            .arg("TIME %e s, max RSS %M KiB")
            .arg(program)
            .args(ISSUE);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => timed.env(k, v),
                None => timed.env_remove(k),
            };
        }
        let out = timed
            .current_dir(env.work.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let err = stderr(&out);
        let line = err
            .lines()
            .find(|l| l.starts_with("TIME"))
            .unwrap_or_default();
        println!("run {run}: {line} (database {} MiB)", size >> 20);
    }
    let store = Store::open(&db).unwrap();
    let uri = leaf(&env.issue(&[])).uri;
    assert!(store.index_space(&uri).unwrap() >= 1 << 21);
}
