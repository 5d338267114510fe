//! The ancestor cache saves signature work only: every other rule is
//! re-checked on every use, entries die with their key, and the cache never
//! grows past its capacity.

use passport_jose::VerifyingKey;
use passport_testkit::*;

#[test]
fn warm_chains_cache_each_token_once() {
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let verifier = f.verifier(f.policy());
    assert_eq!(verifier.cached_tokens(), 0);
    verifier.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(verifier.cached_tokens(), 2, "the ancestors at once");
    verifier.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(verifier.cached_tokens(), 3, "the leaf when seen again");
    verifier.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(verifier.cached_tokens(), 3);
}

#[test]
fn time_rules_apply_to_cached_ancestors() {
    let f = Kit::new();
    let [root, child, _] = f.chain3();
    let verifier = f.verifier(f.policy());
    verifier.verify_str(child.bundle()).unwrap();
    // A fresh child of the cached root, presented after the root expired.
    f.clock.set(root.claims().exp + 31);
    let err = verifier.verify_str(child.bundle()).unwrap_err();
    // The leaf shares the root's expiry (clamped or shorter), so it fails first;
    // check the root directly as an ancestor of a forged long-lived leaf too.
    assert_eq!(err.code(), "expired");
    let mut leaf = child.claims().clone();
    leaf.exp = root.claims().exp + 1000;
    let bundle = format!("{}~{}", f.sign_passport(&leaf), root.token());
    let err = verifier.verify_str(&bundle).unwrap_err();
    assert_eq!((err.link(), err.code()), (1, "expired"));
}

#[test]
fn a_key_removed_from_the_store_takes_its_cached_ancestors_with_it() {
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let verifier = f.verifier(f.policy());
    verifier.verify_str(grandchild.bundle()).unwrap();
    f.keys.remove(ISS, f.key.kid());
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!(err.code(), "unknown_kid");
    // Put a freshly parsed copy back: a different key object, so the cached
    // entries are not trusted; the signatures are verified again and pass.
    let reparsed = VerifyingKey::from_jwk_map(f.key.public_jwk().clone()).unwrap();
    f.keys.insert(ISS, reparsed).unwrap();
    verifier.verify_str(grandchild.bundle()).unwrap();
}

#[test]
fn a_rotated_key_with_the_same_kid_is_not_served_from_the_cache() {
    // An attacker-controlled store update that maps the same kid to another key
    // must not be masked by the cache: the cached entry is tied to the key object.
    let f = Kit::new();
    let [_, child, _] = f.chain3();
    let verifier = f.verifier(f.policy());
    verifier.verify_str(child.bundle()).unwrap();
    let other = passport_jose::SigningKey::generate(passport_jose::Algorithm::EdDSA).unwrap();
    let mut jwk = other.public_jwk().clone();
    jwk.insert("kid".into(), f.key.kid().into());
    f.keys
        .insert(ISS, VerifyingKey::from_jwk_map(jwk).unwrap())
        .unwrap();
    let err = verifier.verify_str(child.bundle()).unwrap_err();
    assert_eq!(err.code(), "bad_signature");
}

#[test]
fn chain_rules_apply_to_cached_ancestors() {
    let f = Kit::new();
    let [root, child, grandchild] = f.chain3();
    let verifier = f.verifier(f.policy());
    verifier.verify_str(grandchild.bundle()).unwrap();
    // Cached root and child, presented in the wrong order.
    let err = verifier
        .verify_str(&format!(
            "{}~{}~{}",
            grandchild.token(),
            root.token(),
            child.token()
        ))
        .unwrap_err();
    assert_eq!(err.code(), "chain_broken");
    // The policy's depth and actor rules still apply.
    let strict = f.verifier(f.policy().allowed_actors(["agent-c", "agent-b"]));
    strict.verify_str(child.bundle()).unwrap_err();
}

#[test]
fn failures_are_not_cached() {
    let f = Kit::new();
    let [root, child, _] = f.chain3();
    let verifier = f.verifier(f.policy());
    let (input, sig) = root.token().rsplit_once('.').unwrap();
    let mut raw = passport_jose::b64::decode(sig).unwrap();
    raw[5] ^= 4;
    let bad_root = format!("{input}.{}", passport_jose::b64::encode(raw));
    for _ in 0..2 {
        verifier
            .verify_str(&format!("{}~{bad_root}", child.token()))
            .unwrap_err();
    }
    // The child's signature verified (seen twice, it is cached); the forged
    // root's did not.
    assert_eq!(verifier.cached_tokens(), 1);
    verifier.verify_str(child.bundle()).unwrap();
    assert_eq!(verifier.cached_tokens(), 2);
}

#[test]
fn the_cache_never_grows_past_its_capacity() {
    let f = Kit::new();
    let verifier = f.verifier(f.policy()).with_cache_capacity(4);
    let bundles: Vec<_> = (0..12)
        .map(|_| {
            let root = f.root(&["files:*"]);
            f.delegate(root.bundle(), "agent-b", &["files:read"])
        })
        .collect();
    // Seen once each: the leaves leave a ghost, the roots only pass through
    // probation (one place of four).
    for child in &bundles {
        verifier.verify_str(child.bundle()).unwrap();
        assert!(verifier.cached_tokens() <= 4);
    }
    assert_eq!(verifier.cached_tokens(), 1);
    // Used again and again: kept or promoted, they fill the cache, never
    // past it.
    for child in bundles.iter().chain(&bundles) {
        verifier.verify_str(child.bundle()).unwrap();
        verifier.verify_str(child.bundle()).unwrap();
        assert!(verifier.cached_tokens() <= 4);
    }
    assert_eq!(verifier.cached_tokens(), 4);
    assert_eq!(verifier.cache_capacity(), 4);
    // Capacity 0 disables caching altogether.
    let uncached = f.verifier(f.policy()).with_cache_capacity(0);
    let [_, _, grandchild] = f.chain3();
    uncached.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(uncached.cached_tokens(), 0);
}

/// A flood of tokens seen once — here 200 fresh delegations, each verified
/// once, through a cache of 32 — must not evict the chain an agent keeps
/// presenting: before segmented eviction every new token pushed an old one
/// out, and after a pass over the queue the shared ancestors went too.
#[test]
fn a_flood_of_tokens_seen_once_does_not_evict_a_chain_in_use() {
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let verifier = f.verifier(f.policy()).with_cache_capacity(32);
    // Presented twice: its three tokens are in use.
    verifier.verify_str(grandchild.bundle()).unwrap();
    verifier.verify_str(grandchild.bundle()).unwrap();
    let root = f.root(&["files:*"]);
    let flood: Vec<_> = (0..200)
        .map(|i| f.delegate(root.bundle(), &format!("agent-{i}"), &["files:read"]))
        .collect();
    for child in &flood {
        verifier.verify_str(child.bundle()).unwrap();
        assert!(verifier.cached_tokens() <= 32);
    }
    let (_, counters, _) = observed(|| verifier.verify_str(grandchild.bundle()).unwrap());
    assert_eq!(counters.get("passport_verify_cache_total{result=hit}"), 3);
    assert_eq!(counters.get("passport_verify_cache_total{result=miss}"), 0);
}

#[test]
fn a_verifier_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<passport_verifier::Verifier>();
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let verifier = std::sync::Arc::new(f.verifier(f.policy()));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let v = verifier.clone();
            let b = grandchild.bundle().to_owned();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    v.verify_str(&b).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(verifier.cached_tokens(), 3);
}

#[test]
fn oversized_ancestors_are_verified_every_time_not_cached() {
    let f = Kit::new();
    let root = f.root(&["files:*"]);
    // A root carrying a large (but legal) claim, then a real child of it.
    let mut big = root.claims().clone();
    big.extra.insert(
        "padding".into(),
        serde_json::json!("x".repeat(passport_verifier::MAX_CACHED_TOKEN_LEN)),
    );
    let big_root = f.sign_passport(&big);
    let mut child = f
        .delegate(root.bundle(), "agent-b", &["files:read"])
        .claims()
        .clone();
    child.parent_hash = Some(passport_jose::sha256_b64url(big_root.as_bytes()));
    let bundle = format!("{}~{big_root}", f.sign_passport(&child));
    let verifier = f.verifier(f.policy());
    verifier.verify_str(&bundle).unwrap();
    verifier.verify_str(&bundle).unwrap();
    // The small leaf only.
    assert_eq!(verifier.cached_tokens(), 1);
}

/// A cache hit asks the key store the same question the cold path asked (the
/// header's `kid`), so a store that stops answering for a name also stops
/// vouching for cached ancestors signed under it (review finding F4).
#[test]
fn a_cache_hit_asks_the_store_for_the_headers_kid() {
    use std::sync::atomic::{AtomicBool, Ordering};
    struct Aliased {
        alias: AtomicBool,
        key: VerifyingKey,
    }
    impl passport_verifier::KeyStore for Aliased {
        fn key(&self, iss: &str, kid: &str) -> Option<VerifyingKey> {
            if iss != ISS {
                return None;
            }
            let by_alias = kid == "alias" && self.alias.load(Ordering::SeqCst);
            (by_alias || kid == self.key.kid()).then(|| self.key.clone())
        }
    }
    let f = Kit::new();
    let root = f.root(&["files:*"]);
    let aliased_root = f.sign_raw(
        &f.header(serde_json::json!({"kid": "alias"})),
        &root.claims().to_json(),
    );
    let mut child = f
        .delegate(root.bundle(), "agent-b", &["files:read"])
        .claims()
        .clone();
    child.parent_hash = Some(passport_jose::sha256_b64url(aliased_root.as_bytes()));
    let bundle = format!("{}~{aliased_root}", f.sign_passport(&child));
    let store = std::sync::Arc::new(Aliased {
        alias: AtomicBool::new(true),
        key: f.key.verifying_key(),
    });
    let verifier = passport_verifier::Verifier::with_key_store(f.policy(), store.clone())
        .unwrap()
        .with_clock(f.clock.clone());
    crate::cache_bundle(&verifier, &bundle);
    assert_eq!(verifier.cached_tokens(), 2);
    store.alias.store(false, Ordering::SeqCst);
    let err = verifier.verify_str(&bundle).unwrap_err();
    assert_eq!((err.link(), err.code()), (1, "unknown_kid"));
}

#[test]
fn a_huge_capacity_is_a_bound_not_an_allocation() {
    // The capacity is a limit on entries: a caller that wants "no practical
    // limit" must not get a panic (or a table of that many places up front).
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    for capacity in [usize::MAX, usize::MAX / 8, 1 << 40] {
        let verifier = f.verifier(f.policy()).with_cache_capacity(capacity);
        assert_eq!(verifier.cache_capacity(), capacity);
        verifier.verify_str(grandchild.bundle()).unwrap();
        verifier.verify_str(grandchild.bundle()).unwrap();
        assert_eq!(verifier.cached_tokens(), 3);
    }
}
