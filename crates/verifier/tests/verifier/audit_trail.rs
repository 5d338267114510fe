//! Every verification, issuance and delegation leaves an audit record with
//! the right fields and never the token; an acceptance that cannot be
//! recorded is refused.

use std::sync::Arc;

use passport_audit::{Action, AuditRecord, Outcome};
use passport_jose::{Algorithm, SigningKey};
use passport_testkit::*;
use passport_verifier::{PendingProof, Verification, Verifier};

/// A root passport bound to a fresh holder key, and that key's thumbprint.
fn bound_root(f: &Kit) -> (passport_issuer::IssuedPassport, String) {
    let jkt = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .verifying_key()
        .thumbprint()
        .unwrap();
    let root = f
        .issuer
        .issue(issuance(alice(), AUD, "agent-a", "m", &["files:*"]).holder_jkt(&jkt))
        .unwrap();
    (root, jkt)
}

fn pending(verifier: &Verifier, bundle: &str) -> PendingProof {
    match verifier.verify_str_pending_proof(bundle).unwrap() {
        Verification::ProofRequired(p) => p,
        other => panic!("{other:?}"),
    }
}

fn outcomes(records: &[AuditRecord]) -> Vec<(Outcome, Option<&str>)> {
    records
        .iter()
        .map(|r| (r.outcome, r.error.as_deref()))
        .collect()
}

#[test]
fn accepted_and_refused_verifications_are_recorded_without_tokens() {
    let f = Kit::new();
    let [root, child, grandchild] = f.chain3();
    let sink = Arc::new(MemorySink::default());
    let verifier = f
        .verifier(f.policy().required_scope("files:read"))
        .with_audit(sink.clone());
    verifier.verify_str(grandchild.bundle()).unwrap();
    verifier.verify_str(root.bundle()).unwrap();
    let other = f
        .verifier(f.policy().required_scope("admin:x"))
        .with_audit(sink.clone());
    other.verify_str(child.bundle()).unwrap_err();

    let records = sink.0.lock().unwrap().clone();
    assert_eq!(records.len(), 3);
    let ok = &records[0];
    assert_eq!(
        (ok.action, ok.outcome, ok.verified),
        (Action::Verify, Outcome::Accepted, true)
    );
    assert_eq!(
        ok.links
            .iter()
            .map(|l| l.agent_id.as_str())
            .collect::<Vec<_>>(),
        ["agent-c", "agent-b", "agent-a"]
    );
    assert_eq!(ok.links[2].jti, root.claims().jti);
    assert_eq!(
        (ok.sub.as_deref(), ok.iss.as_deref(), ok.aud.as_deref()),
        (Some("alice"), Some(ISS), Some(AUD))
    );
    assert_eq!(ok.required_scope.as_deref(), Some("files:read"));
    assert_eq!(ok.policy.as_ref().unwrap()["audience"], AUD);
    assert_eq!(ok.policy.as_ref().unwrap()["status_sources"], 0);
    let refused = &records[2];
    assert_eq!(
        (refused.outcome, refused.error.as_deref(), refused.verified),
        (Outcome::Refused, Some("scope_violation"), false)
    );
    assert_eq!(refused.links.len(), 2);
    // No token, nor any of its segments, in any record.
    let text = serde_json::to_string(&records).unwrap();
    for token in [root.token(), child.token(), grandchild.token()] {
        for segment in token.split('.') {
            assert!(
                !text.contains(segment),
                "a token segment leaked into the audit trail"
            );
        }
    }
}

#[test]
fn an_acceptance_that_cannot_be_audited_is_refused() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let verifier = f.verifier(f.policy()).with_audit(Arc::new(BrokenSink));
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "audit_failed"
    );
    // A refusal stays the refusal it was.
    let strict = f
        .verifier(f.policy().required_scope("x"))
        .with_audit(Arc::new(BrokenSink));
    assert_eq!(
        strict.verify_str(root.bundle()).unwrap_err().code(),
        "scope_violation"
    );
}

#[test]
fn issuance_and_delegation_are_recorded() {
    let f = Kit::new();
    let sink = Arc::new(MemorySink::default());
    let issuer = f.new_issuer().with_audit(sink.clone());
    let root = issuer
        .issue(issuance(alice(), AUD, "agent-a", "m", &["files:*"]))
        .unwrap();
    let parent = f.verify(root.bundle()).unwrap();
    let child = issuer
        .delegate(delegation(&parent, AUD, "agent-b", "m", &["files:read"]))
        .unwrap();
    issuer
        .delegate(delegation(&parent, AUD, "agent-b", "m", &["mail:*"]))
        .unwrap_err();
    let records = sink.0.lock().unwrap().clone();
    assert_eq!(records.len(), 3);
    assert_eq!(
        (records[0].action, records[0].outcome),
        (Action::Issue, Outcome::Done)
    );
    assert_eq!(records[0].links[0].jti, root.claims().jti);
    assert_eq!(
        (records[1].action, records[1].outcome),
        (Action::Delegate, Outcome::Done)
    );
    assert_eq!(
        records[1]
            .links
            .iter()
            .map(|l| l.jti.as_str())
            .collect::<Vec<_>>(),
        [child.claims().jti.as_str(), root.claims().jti.as_str()]
    );
    assert_eq!(
        (records[2].outcome, records[2].error.as_deref()),
        (Outcome::Failed, Some("scope_widened"))
    );
    assert_eq!(records[2].sub.as_deref(), Some("alice"));

    let withheld = f.new_issuer().with_audit(Arc::new(BrokenSink));
    let err = withheld
        .issue(issuance(alice(), AUD, "a", "m", &[]))
        .unwrap_err();
    assert_eq!(err.code(), "audit_failed");
}

#[test]
fn the_policy_summary_counts_status_sources_added_after_the_audit_sink() {
    struct Never;
    impl passport_verifier::StatusSource for Never {
        fn status(
            &self,
            _: &passport_claims::PassportClaims,
            _: i64,
        ) -> Result<passport_verifier::LinkStatus, passport_verifier::StatusUnavailable> {
            Ok(passport_verifier::LinkStatus::Valid)
        }
    }
    let f = Kit::new();
    let sink = Arc::new(MemorySink::default());
    let verifier = f
        .verifier(f.policy())
        .with_audit(sink.clone())
        .with_status_source(Arc::new(Never));
    verifier
        .verify_str(f.root(&["files:read"]).bundle())
        .unwrap();
    assert_eq!(
        sink.0.lock().unwrap()[0].policy.as_ref().unwrap()["status_sources"],
        1
    );
}

#[test]
fn a_deferred_audit_records_only_the_callers_final_decision() {
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let sink = Arc::new(MemorySink::default());
    let verifier = f.verifier(f.policy()).with_audit(sink.clone());
    let records = || sink.0.lock().unwrap().clone();

    // Verified, and nothing written until the caller decides.
    let (result, audit) = verifier.verify_str_deferring_audit(grandchild.bundle());
    result.unwrap();
    assert!(audit.is_enabled());
    assert!(records().is_empty());
    // The caller refuses (its DPoP proof was a replay, say): one record,
    // refused with the caller's code, links verified.
    let mut audit = audit;
    audit.set_required_scope("files:write");
    audit.refuse("replay");
    let r = records();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].outcome, r[0].error.as_deref(), r[0].verified),
        (Outcome::Refused, Some("replay"), true)
    );
    assert_eq!(r[0].required_scope.as_deref(), Some("files:write"));
    assert_eq!(r[0].links.len(), 3);

    // The caller accepts: one record, accepted, no error.
    let (result, audit) = verifier.verify_str_deferring_audit(grandchild.bundle());
    result.unwrap();
    audit.accept().unwrap();
    let r = records();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[1].outcome, r[1].error.as_deref()),
        (Outcome::Accepted, None)
    );

    // A bundle that does not even parse: the refusal is the caller's to
    // record too, with no links.
    let (result, audit) = verifier.verify_str_deferring_audit("not a bundle");
    let code = result.unwrap_err().code();
    audit.refuse(code);
    let r = records();
    assert_eq!(r.len(), 3);
    assert_eq!(
        (
            r[2].outcome,
            r[2].error.as_deref(),
            r[2].verified,
            r[2].links.len()
        ),
        (Outcome::Refused, Some(code), false, 0)
    );

    // Dropped without a decision: nothing.
    drop(verifier.verify_str_deferring_audit(grandchild.bundle()));
    assert_eq!(records().len(), 3);
}

#[test]
fn a_deferred_acceptance_that_cannot_be_audited_is_refused() {
    let f = Kit::new();
    let [root, _, _] = f.chain3();
    let verifier = f.verifier(f.policy()).with_audit(Arc::new(BrokenSink));
    let (result, audit) = verifier.verify_str_deferring_audit(root.bundle());
    result.unwrap();
    assert_eq!(audit.accept().unwrap_err().code(), "audit_failed");
    // Without a sink, both decisions are no-ops.
    let quiet = f.verifier(f.policy());
    let (_, audit) = quiet.verify_str_deferring_audit(root.bundle());
    assert!(!audit.is_enabled());
    audit.accept().unwrap();
}

/// Review rev11-a, finding 1: `verify_str_pending_proof` recorded
/// `accepted` for a bound passport before any proof of possession was
/// checked, and a failing `confirm` wrote nothing — so whoever held a stolen
/// bound bundle without its key left only an acceptance.
#[test]
fn a_stolen_bound_bundle_without_its_key_leaves_a_refusal_not_an_acceptance() {
    let f = Kit::new();
    let (root, _) = bound_root(&f);
    let sink = Arc::new(MemorySink::default());
    let verifier = f.verifier(f.policy()).with_audit(sink.clone());
    let p = pending(&verifier, root.bundle());
    // Nothing is accepted before the proof is decided.
    assert!(sink.take().is_empty());
    // The thief's proof is by another key: refused, and recorded so.
    assert_eq!(
        p.confirm("not-the-bound-key").unwrap_err().code(),
        "dpop_key_mismatch"
    );
    let r = sink.take();
    assert_eq!(
        outcomes(&r),
        [(Outcome::Refused, Some("dpop_key_mismatch"))]
    );
    // The bundle's claims did verify: only the proof failed.
    assert!(r[0].verified);
    assert_eq!(r[0].links[0].jti, root.claims().jti);
    assert_eq!(r[0].sub.as_deref(), Some("alice"));
}

/// Finding 1: each way a `PendingProof` ends writes exactly one record of
/// its decision — `accepted` on `confirm` with the bound key or on
/// `dangerous_assume_proven`, a refusal (`dpop_proof_required`) when it is
/// dropped undecided — and a clone owes its own record.
#[test]
fn a_pending_proof_records_the_one_decision_taken_on_it() {
    let f = Kit::new();
    let (root, jkt) = bound_root(&f);
    let sink = Arc::new(MemorySink::default());
    let verifier = f.verifier(f.policy()).with_audit(sink.clone());

    let verified = pending(&verifier, root.bundle()).confirm(&jkt).unwrap();
    let r = sink.take();
    assert_eq!(outcomes(&r), [(Outcome::Accepted, None)]);
    assert!(r[0].verified);
    assert_eq!(r[0].links[0].jti, verified.claims().jti);

    pending(&verifier, root.bundle())
        .dangerous_assume_proven()
        .unwrap();
    assert_eq!(outcomes(&sink.take()), [(Outcome::Accepted, None)]);

    drop(pending(&verifier, root.bundle()));
    assert_eq!(
        outcomes(&sink.take()),
        [(Outcome::Refused, Some("dpop_proof_required"))]
    );

    let p = pending(&verifier, root.bundle());
    p.clone().confirm("another-key").unwrap_err();
    p.confirm(&jkt).unwrap();
    assert_eq!(
        outcomes(&sink.take()),
        [
            (Outcome::Refused, Some("dpop_key_mismatch")),
            (Outcome::Accepted, None)
        ]
    );

    // Review (helper-96, finding 6): a clone dropped undecided once another
    // was decided adds no refusal; all dropped undecided, one refusal.
    let p = pending(&verifier, root.bundle());
    let kept_for_logging = p.clone();
    p.confirm(&jkt).unwrap();
    drop(kept_for_logging);
    assert_eq!(outcomes(&sink.take()), [(Outcome::Accepted, None)]);
    let p = pending(&verifier, root.bundle());
    let clones = [p.clone(), p.clone()];
    drop(p);
    drop(clones);
    assert_eq!(
        outcomes(&sink.take()),
        [(Outcome::Refused, Some("dpop_proof_required"))]
    );
}

/// Finding 1: the acceptance a confirmation writes is a condition of the
/// acceptance, as everywhere: a sink that fails refuses it (`audit_failed`).
#[test]
fn a_confirmation_that_cannot_be_audited_is_refused() {
    let f = Kit::new();
    let (root, jkt) = bound_root(&f);
    let verifier = f.verifier(f.policy()).with_audit(Arc::new(BrokenSink));
    // Nothing is written at verification, so nothing fails yet.
    assert_eq!(
        pending(&verifier, root.bundle())
            .confirm(&jkt)
            .unwrap_err()
            .code(),
        "audit_failed"
    );
    assert_eq!(
        pending(&verifier, root.bundle())
            .dangerous_assume_proven()
            .unwrap_err()
            .code(),
        "audit_failed"
    );
    // A refusal stays the refusal it was.
    assert_eq!(
        pending(&verifier, root.bundle())
            .confirm("another-key")
            .unwrap_err()
            .code(),
        "dpop_key_mismatch"
    );
}

/// Finding 1: a bearer passport through the proof-checking path is recorded
/// when it verifies, as before; and a `PendingProof` from the deferring path
/// owes nothing (its `DeferredAudit` writes the one record), so the HTTP
/// layer's requests are not recorded twice.
#[test]
fn only_pending_proofs_of_the_audited_path_carry_a_record() {
    let f = Kit::new();
    let sink = Arc::new(MemorySink::default());
    let verifier = f.verifier(f.policy()).with_audit(sink.clone());
    let bearer = f.root(&["files:read"]);
    match verifier.verify_str_pending_proof(bearer.bundle()).unwrap() {
        Verification::Verified(_) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(outcomes(&sink.take()), [(Outcome::Accepted, None)]);

    let (root, jkt) = bound_root(&f);
    let (result, audit) = verifier.verify_str_deferring_audit(root.bundle());
    let Ok(Verification::ProofRequired(p)) = result else {
        panic!("{result:?}");
    };
    p.clone().confirm("another-key").unwrap_err();
    drop(p.clone());
    p.confirm(&jkt).unwrap();
    assert!(sink.take().is_empty());
    audit.accept().unwrap();
    assert_eq!(outcomes(&sink.take()), [(Outcome::Accepted, None)]);
}

/// Review rev11-a, finding 2: a bundle refused before it parses (by
/// `verify_str`, `verify` or `verify_str_pending_proof`) left no record,
/// although `with_audit` records every verification and the deferring path
/// recorded the same refusal.
#[test]
fn a_bundle_that_does_not_parse_is_recorded_refused() {
    let f = Kit::new();
    let sink = Arc::new(MemorySink::default());
    let verifier = f.verifier(f.policy()).with_audit(sink.clone());
    let deep = vec!["a.b.c"; 40].join("~");
    let mut codes = Vec::new();
    for text in ["not a bundle", deep.as_str()] {
        codes.push(verifier.verify_str(text).unwrap_err().code());
    }
    codes.push(verifier.verify("a.b", &[]).unwrap_err().code());
    codes.push(
        verifier
            .verify_str_pending_proof("not a bundle")
            .unwrap_err()
            .code(),
    );
    let r = sink.take();
    assert_eq!(r.len(), 4, "refusals left no record");
    for (record, code) in r.iter().zip(codes) {
        assert_eq!(
            (
                record.action,
                record.outcome,
                record.error.as_deref(),
                record.verified,
                record.links.len()
            ),
            (Action::Verify, Outcome::Refused, Some(code), false, 0)
        );
        assert_eq!(record.aud.as_deref(), Some(AUD));
    }
}

/// Review rev11-a, finding 3: the record of a refused bundle dropped the
/// links that did not decode, so `links[0]`, `sub` and `iss` were an
/// ancestor's and the refusal was attributed to another passport. Each
/// token keeps its place (an empty entry when it does not decode), and the
/// identity is the leaf's only.
#[test]
fn a_refused_records_links_keep_their_positions() {
    let f = Kit::new();
    let [root, child, _] = f.chain3();
    let sink = Arc::new(MemorySink::default());
    let verifier = f.verifier(f.policy()).with_audit(sink.clone());

    // A leaf that does not decode, on a real root.
    let bundle = format!("AAAA.AAAA.AAAA~{}", root.token());
    verifier.verify_str(&bundle).unwrap_err();
    let r = sink.take();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].links.len(), 2);
    assert_eq!(
        (r[0].links[0].jti.as_str(), r[0].links[0].agent_id.as_str()),
        ("", "")
    );
    assert_eq!(r[0].links[1].jti, root.claims().jti);
    assert_eq!((r[0].sub.as_deref(), r[0].iss.as_deref()), (None, None));
    assert!(!r[0].verified);

    // A real leaf on an ancestor that does not decode.
    let bundle = format!("{}~AAAA.AAAA.AAAA", child.token());
    verifier.verify_str(&bundle).unwrap_err();
    let r = sink.take();
    assert_eq!(
        r[0].links
            .iter()
            .map(|l| l.jti.as_str())
            .collect::<Vec<_>>(),
        [child.claims().jti.as_str(), ""]
    );
    assert_eq!(
        (r[0].sub.as_deref(), r[0].iss.as_deref()),
        (Some("alice"), Some(ISS))
    );

    // Still readable by a reader of the record format as it was.
    let text = serde_json::to_string(&r[0]).unwrap();
    let back: AuditRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r[0]);
}
