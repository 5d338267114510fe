//! A passport larger than a verifier accepts, or a chain deeper than the
//! format allows, is refused at issuance with a typed error instead of being
//! handed out to fail at every verifier.

use passport_claims::{MAX_BUNDLE_LEN, MAX_BUNDLE_LINKS};
use passport_issuer::IssueError;
use passport_jose::{JoseError, MAX_TOKEN_LEN};
use passport_testkit::{Kit, alice_ial2, delegation, issuance};

fn root_with_purpose(kit: &Kit, purpose_len: usize) -> Result<String, IssueError> {
    let request = issuance(
        alice_ial2(),
        &kit.aud,
        "agent-a",
        "model-a",
        &["files:read"],
    )
    .task_purpose("p".repeat(purpose_len));
    kit.issuer.issue(request).map(|p| p.bundle().to_owned())
}

#[test]
fn issuer_refuses_a_passport_longer_than_the_verifier_accepts() {
    let kit = Kit::new();
    // The report's case: a 21 KiB passport, minted and then refused by `verify`.
    let err = root_with_purpose(&kit, 16 * 1024).unwrap_err();
    assert!(
        matches!(
            err,
            IssueError::Jose(JoseError::TokenTooLarge { len, max })
                if max == MAX_TOKEN_LEN && len > MAX_TOKEN_LEN
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "token_too_large");
}

#[test]
fn every_passport_the_issuer_mints_is_one_its_verifier_accepts() {
    let kit = Kit::new();
    // Around the limit: each size is either refused at issuance or verifies.
    let (mut minted, mut refused) = (0, 0);
    for purpose_len in (11_000..12_600).step_by(50) {
        match root_with_purpose(&kit, purpose_len) {
            Ok(bundle) => {
                assert!(bundle.len() <= MAX_TOKEN_LEN);
                kit.verify(&bundle).unwrap();
                minted += 1;
            }
            Err(e) => {
                assert_eq!(e.code(), "token_too_large", "{purpose_len}: {e}");
                refused += 1;
            }
        }
    }
    assert!(
        minted > 0 && refused > 0,
        "{minted} minted, {refused} refused"
    );
}

#[test]
fn issuer_never_delegates_deeper_than_the_format_allows() {
    let kit = Kit::new();
    let issuer = kit.new_issuer().with_max_depth(MAX_BUNDLE_LINKS + 10);
    let policy = kit.policy().max_depth(MAX_BUNDLE_LINKS);
    let verifier = kit.verifier(policy);
    let mut bundle = kit.root(&["files:*"]).bundle().to_owned();
    for i in 1..MAX_BUNDLE_LINKS {
        let parent = verifier.verify_str(&bundle).unwrap();
        let request = delegation(&parent, &kit.aud, &format!("agent-{i}"), "m", &["files:*"]);
        bundle = issuer.delegate(request).unwrap().bundle().to_owned();
    }
    let parent = verifier.verify_str(&bundle).unwrap();
    assert_eq!(parent.depth(), MAX_BUNDLE_LINKS);
    assert!(bundle.len() <= MAX_BUNDLE_LEN);
    let err = issuer
        .delegate(delegation(
            &parent,
            &kit.aud,
            "one-too-many",
            "m",
            &["files:*"],
        ))
        .unwrap_err();
    assert!(
        matches!(err, IssueError::DepthExceeded { depth, max } if depth == MAX_BUNDLE_LINKS + 1 && max == MAX_BUNDLE_LINKS),
        "{err:?}"
    );
}

#[test]
fn a_caller_chosen_jti_is_used_and_a_bad_one_refused() {
    let kit = Kit::new();
    let request = issuance(
        alice_ial2(),
        &kit.aud,
        "agent-a",
        "model-a",
        &["files:read"],
    );
    let minted = kit
        .issuer
        .issue(request.clone().jti("chosen-jti-1"))
        .unwrap();
    assert_eq!(minted.claims().jti, "chosen-jti-1");
    for bad in [String::new(), "a b".into(), "x".repeat(129)] {
        let err = kit.issuer.issue(request.clone().jti(bad)).unwrap_err();
        assert!(
            matches!(err, IssueError::InvalidRequest { field: "jti", .. }),
            "{err:?}"
        );
    }
}

/// A root's `exp` is capped by `not_after`, read against the issuer's clock
/// when it signs — so a root never outlives the ID token it stands for
/// however long the caller took between reading the token's `exp` and
/// asking (review S14: the token service computed the lifetime left a
/// moment before signing, and its root could expire a second after the
/// token); a cap not after the signing time is refused.
#[test]
fn a_root_never_outlives_its_not_after() {
    let kit = Kit::new();
    let now = passport_claims::Clock::now(kit.clock.as_ref());
    let request = || {
        issuance(
            alice_ial2(),
            &kit.aud,
            "agent-a",
            "model-a",
            &["files:read"],
        )
    };
    // the caller read 60 s left, then a second passed before signing
    let cap = now + 60;
    kit.clock.advance(1);
    let issued = kit.issuer.issue(request().ttl(60).not_after(cap)).unwrap();
    assert_eq!(issued.claims().exp, cap);
    assert!(issued.clamped());
    // a cap beyond the lifetime changes nothing
    let issued = kit.issuer.issue(request().ttl(30).not_after(cap)).unwrap();
    assert_eq!(issued.claims().exp, now + 1 + 30);
    assert!(!issued.clamped());
    // a cap that has passed, or is now, is refused
    kit.clock.advance(59);
    let err = kit
        .issuer
        .issue(request().ttl(30).not_after(cap))
        .unwrap_err();
    assert!(
        matches!(
            err,
            IssueError::InvalidRequest {
                field: "not_after",
                ..
            }
        ),
        "{err:?}"
    );
}
