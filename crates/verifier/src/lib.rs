//! # passport-verifier
//!
//! Verifies Agent Passports and their delegation chains offline, under a
//! [`VerificationPolicy`], with keys from a trusted [`KeyStore`] where every
//! key belongs to exactly one issuer.
//!
//! ## Rules, their errors and the tests that prove them (SPEC §5)
//!
//! The code is [`VerifyError::code`]; chain violations are `chain_broken`
//! with the specific [`ChainViolation::code`] shown. A rule failed by an
//! ancestor reports that ancestor's code, with its position in
//! [`VerifyError::link`]. Tests are modules of the one integration-test
//! binary `crates/verifier/tests/verifier/` unless another crate is named.
//!
//! | § | rule | code | test (file: function) |
//! |---|---|---|---|
//! | 1 | `alg` missing | `missing_alg` | header_rules: `rejects_missing_or_non_string_alg` |
//! | 1 | `alg: none`, any case | `alg_none` | header_rules: `rejects_alg_none_in_every_case_variant` |
//! | 1 | `alg` outside the policy's list | `alg_not_allowed` | header_rules: `rejects_algorithms_outside_the_allow_list` |
//! | 1 | `alg` not the resolved key's (HMAC/RSA/EC/OKP confusion) | `alg_key_mismatch`, `unsupported_alg` | header_rules: `rejects_an_alg_that_is_not_the_keys_algorithm`, `rejects_hs256_keyed_with_the_public_key_bytes`, `rs256_passports_verify_and_confusion_with_rsa_is_refused` |
//! | 1 | `kid` missing | `missing_kid` | header_rules: `rejects_missing_kid_and_unknown_kid` |
//! | 2 | key found by `kid` in the trusted store only | `unknown_kid`, `bad_signature` | header_rules: `rejects_missing_kid_and_unknown_kid`, `a_token_signed_by_an_untrusted_key_under_a_trusted_kid_fails_the_signature` |
//! | 2 | key found by (`iss`, `kid`): only a key of the link's own issuer, on every link and cached ancestor | `unknown_kid` | issuer_binding: `a_passport_signed_by_another_trusted_issuers_key_is_refused`, `a_key_of_an_untrusted_issuer_in_the_store_signs_nothing`, `a_delegation_signed_by_another_issuer_is_refused_at_its_link`, `a_cached_ancestor_is_looked_up_by_its_own_issuer` |
//! | 2 | one key for two issuers in a key store | `key_issuer_conflict` | issuer_binding: `one_key_cannot_belong_to_two_issuers` |
//! | 2 | `jwk`, `jku`, `x5u`, `x5c` in the header | `forbidden_header` | header_rules: `rejects_embedded_key_headers_even_when_the_signature_is_valid` |
//! | 2 | `crit`, `b64` | `crit_not_supported`, `b64_not_supported` | header_rules: `rejects_crit_and_b64` |
//! | 3 | not three segments | `malformed_token` (`malformed_bundle` when the bundle parser sees it first) | header_rules: `rejects_wrong_segment_counts` |
//! | 3 | padding, non-alphabet bytes | `invalid_base64` | header_rules: `rejects_padding_and_non_alphabet_characters`, `non_alphabet_bytes_in_any_link_are_invalid_base64_at_that_link` |
//! | 3 | header or payload not a JSON object | `invalid_json` | header_rules: `rejects_header_and_payload_that_are_not_objects` |
//! | 3 | duplicate member names | `duplicate_member` | header_rules: `rejects_duplicate_members_in_header_and_payload` |
//! | 3 | token over 16 KiB, refused before decoding | `malformed_bundle` (from the bundle parser, naming the link; `token_too_large` from a lone JWS parse) | header_rules: `rejects_oversized_tokens_before_decoding` |
//! | 3, 9 | bundle deeper than `max_depth`, before any signature | `chain_too_deep` (`bundle_too_deep` past 32) | header_rules: `rejects_bundles_deeper_than_the_policy_before_any_signature` |
//! | 3 | claims missing or mistyped | `missing_claim`, `invalid_claim`, `invalid_level`, `invalid_numeric_date` | time_and_policy_rules: `malformed_claims_are_refused_with_their_own_error` |
//! | 4 | bad signature, ECDSA `r`/`s` = 0, Ed25519 `S ≥ L` | `bad_signature` | header_rules: `a_tampered_payload_fails_the_signature`, `rejects_es256_signatures_with_r_or_s_zero`, `rejects_non_canonical_ed25519_s` |
//! | 4 | EC points off the curve refused when loaded | `invalid_key` | passport-jose keys_and_jwks: `public_jwks_refuse_private_members_and_bad_points` |
//! | 4 | weak RSA keys refused when loaded (modulus under 2048 bits or even, exponent even or below 65537) | `weak_key` | passport-jose rsa_keys: `weak_rsa_public_keys_are_refused` |
//! | 5 | `iss` not trusted (exact match) | `untrusted_issuer` | time_and_policy_rules: `rejects_untrusted_issuers` |
//! | 5 | leaf `aud` not exactly the policy's; an ancestor's names whom it delegated to | `audience_mismatch` | time_and_policy_rules: `rejects_any_audience_but_the_exact_one`; rule_table: `audience_is_the_leafs_and_an_ancestors_names_whom_it_delegated_to` |
//! | 6 | `exp` passed beyond the skew | `expired` | time_and_policy_rules: `expiry_is_enforced_exactly_at_the_skew_boundary` |
//! | 6 | `nbf` / `iat` ahead beyond the skew | `not_yet_valid` / `issued_in_future` | time_and_policy_rules: `not_yet_valid_is_enforced_exactly_at_the_skew_boundary` |
//! | 6 | skew above 120 s | `invalid_policy` | time_and_policy_rules: `a_skew_above_120_seconds_is_an_invalid_policy` |
//! | 12 | any link issued (`iat`) after its key's `retired_at`, cached or not | `key_retired` | key_lifetime: `a_passport_issued_after_its_keys_retirement_is_refused`, `an_ancestor_issued_after_its_keys_retirement_is_refused_even_when_cached` |
//! | 12 | any link's `exp - iat` above `max_lifetime` (default 24 h); the maximum outside 1 s–30 days | `lifetime_too_long`, `invalid_policy` | key_lifetime: `lifetimes_above_the_policy_maximum_are_refused_on_every_link`, `max_lifetime_is_validated` |
//! | 7 | assurance below a floor, or missing | `insufficient_ial`, `insufficient_aal`, `insufficient_fal` | time_and_policy_rules: `assurance_floors_refuse_lower_and_missing_levels` |
//! | 8 | `required_scope` not covered | `scope_violation` | time_and_policy_rules: `required_scope_must_be_covered` |
//! | 8 | bare `*` without the opt-in | `wildcard_not_allowed` | time_and_policy_rules: `bare_wildcards_need_the_policy_opt_in` |
//! | 9 | parent missing | `parent_missing` | chain_rules: `a_child_without_its_parent_is_refused` |
//! | 9 | parent surplus | `surplus_parent` | chain_rules: `a_root_followed_by_more_passports_is_refused` |
//! | 9 | a root that claims a parent | `root_claims_parent` | chain_rules: `a_chain_root_that_claims_a_parent_is_refused` |
//! | 9 | `parent_jti` not the parent's | `parent_jti_mismatch` | chain_rules: `a_parent_jti_that_is_not_the_parents_is_refused` |
//! | 9 | `parent_hash` not the parent's bytes, or missing on a typed child | `parent_hash_mismatch`, `parent_hash_missing` | chain_rules: `the_parent_hash_binds_the_exact_parent_token` |
//! | 9 | `sub` changing | `subject_changed` | chain_rules: `a_changed_subject_is_refused` |
//! | 9 | issuer changing | `issuer_changed` | chain_rules: `a_changed_issuer_is_refused_even_when_both_are_trusted` |
//! | 9 | `acr` changing | `acr_changed` | chain_rules: `a_changed_acr_is_refused` |
//! | 9 | `act` not the parent's wrapped once | `actor_chain_mismatch` | chain_rules: `an_actor_chain_that_is_not_the_parents_wrapped_once_is_refused` |
//! | 9 | scope wider than the parent's | `scope_widened` | chain_rules: `a_scope_wider_than_the_parents_is_refused` |
//! | 9 | assurance rising or appearing | `assurance_raised`, `assurance_appeared` | chain_rules: `assurance_that_rises_or_appears_is_refused` |
//! | 9 | a child outliving its parent | `outlives_parent` | chain_rules: `a_child_outliving_its_parent_is_refused` |
//! | 9 | an actor outside `allowed_actors`, on any link | `actor_not_allowed` | time_and_policy_rules: `allowed_actors_apply_to_every_link` |
//! | 9 | any link failing 1–6, 11 or 12, cached or not | that link's code | chain_rules: `an_ancestor_failing_a_per_passport_rule_fails_the_bundle_at_its_link`, `an_ancestor_with_a_hostile_header_is_refused_at_its_link`; ancestor_cache: `time_rules_apply_to_cached_ancestors`, `chain_rules_apply_to_cached_ancestors` |
//! | 4, 5–12 | a leaf seen before (same bytes, same key object) skips only its decoding and signature: time, issuer, audience, scope, actor, status, key and chain rules run on every use | that rule's code (`expired`, `not_yet_valid`, `audience_mismatch`, `scope_violation`, `untrusted_issuer`, `actor_not_allowed`, `revoked`, `suspended`, `chain_broken`) | leaf_cache: `time_rules_apply_to_a_cached_leaf`, `the_audience_and_scope_rules_apply_to_a_cached_leaf`, `another_policy_shares_nothing_with_a_warm_verifier`, `a_cached_leaf_revoked_later_is_refused`, `chain_rules_apply_to_a_cached_leaf` |
//! | 2, 12 | a cached leaf whose key was removed, replaced (another key object under its `kid`) or retired | `unknown_kid`, `bad_signature`, `key_retired` | leaf_cache: `a_key_removed_or_replaced_takes_the_cached_leaf_with_it`, `a_cached_leaf_issued_after_its_keys_retirement_is_refused` |
//! | — | a cached bound leaf (`cnf.jkt`) still needs its proof of possession on every use | `dpop_proof_required`, `dpop_key_mismatch` | leaf_cache: `a_cached_bound_leaf_still_needs_its_proof_every_time` |
//! | 10 | untyped (`typ: JWT`) without the policy's opt-in; any other `typ` | `untyped_token`, `invalid_typ` | header_rules: `untyped_tokens_need_the_policy_opt_in_and_other_types_never_pass` |
//! | 11 | any link revoked or suspended | `revoked`, `suspended` | revocation: `revoking_the_root_refuses_child_and_grandchild_naming_the_root`, `suspension_then_reinstatement`, `cached_ancestors_are_still_asked_about_revocation` |
//! | 11 | a status source that cannot answer (fail closed) | `status_unavailable` | revocation: `a_source_that_cannot_answer_fails_closed` |
//! | 11 | a `status` reference and no status source that reads it (a deny list does not), without [`Verifier::dangerous_ignore_status`] | `status_source_required` | revocation: `a_status_reference_without_a_status_source_is_refused_unless_ignored` |
//! | 11 | a status list signed by another issuer than the passport's, at a URI outside its issuer's status base, or older than one already seen | `status_unavailable` (list codes `unknown_kid`, `status_uri_not_allowed`, `status_list_rolled_back`) | passport-status hostile_lists: `a_list_for_one_issuers_uri_signed_by_another_issuer_is_refused`, `a_status_uri_outside_the_issuers_base_is_refused`, `a_list_older_than_one_already_seen_is_refused` |
//! | 11 | a status list not signed by a trusted key, for another URI, or expired | `status_unavailable` (list codes `unknown_kid`, `uri_mismatch`, `status_list_expired`) | passport-status hostile_lists: `a_list_signed_by_an_untrusted_key_is_refused`, `a_list_for_another_uri_is_refused`, `the_time_window_is_checked_with_the_skew` |
//! | — | a policy requiring a holder key gets a bearer passport | `pop_required` | proof_of_possession: `a_policy_requiring_possession_refuses_bearer_passports` |
//! | — | a bound passport used as a bearer token, or confirmed with another key | `dpop_proof_required`, `dpop_key_mismatch` | proof_of_possession: `a_bound_passport_never_verifies_as_a_bearer_token` |
//! | — | an acceptance that cannot be audited, a bound passport's confirmation included | `audit_failed` | audit_trail: `an_acceptance_that_cannot_be_audited_is_refused`, `a_confirmation_that_cannot_be_audited_is_refused` |
//! | — | a bound passport audited as accepted before its proof of possession: recorded only by its [`PendingProof`]'s decision (refused `dpop_key_mismatch`, or `dpop_proof_required` when dropped undecided) | `dpop_key_mismatch`, `dpop_proof_required` | audit_trail: `a_stolen_bound_bundle_without_its_key_leaves_a_refusal_not_an_acceptance`, `a_pending_proof_records_the_one_decision_taken_on_it` |
//!
//! The [`Verifier`] checks, in order: the depth; the leaf's issuer, its key
//! (of that issuer), signature (from the signature cache when possible) and
//! key retirement, the per-link rules and the leaf-only rules (audience,
//! floors, holder key, wildcard, required scope); each ancestor's signature
//! (likewise) and per-link rules; then the chain rules from the
//! leaf to the root. A leaf bound to its holder's key (`cnf.jkt`) is never
//! accepted as a bearer token: [`Verifier::verify_bundle`] refuses it, and
//! [`Verifier::verify_bundle_pending_proof`] returns a [`PendingProof`] that
//! becomes a [`VerifiedPassport`] only through [`PendingProof::confirm`].
//!
//! ## Audit
//!
//! With [`Verifier::with_audit`], every verification leaves one record,
//! accepted or refused, a bundle that does not parse included; an
//! acceptance that cannot be recorded is refused (`audit_failed`). A bound
//! passport is not accepted when it verifies: its [`PendingProof`] carries
//! the record and writes it when the proof is decided, so a stolen bundle
//! presented without its key leaves a refusal, never an acceptance. Callers
//! that decide after verification (an HTTP layer) use
//! [`Verifier::verify_str_deferring_audit`] and its [`DeferredAudit`].
//!
//! ## Performance
//!
//! Keys are parsed once, when they enter the key store. Signature results,
//! of leaves and ancestors alike, are kept in a bounded cache matched by the
//! token's exact bytes and tied to the key object that verified them (an
//! ancestor's SHA-256, what its child's `parent_hash` must equal, is kept
//! with it): a bundle presented again (an agent calling a server again and
//! again) costs lookups and its rules, no signature and no hash; a new leaf
//! on a known chain costs one signature. An ancestor is kept the first time
//! it verifies, a leaf the second (most leaves are new on every request).
//! Only decoding and signature checks are skipped on a hit; every other
//! rule runs on every use. See `docs/performance.md`.
//!
//! ## Observability
//!
//! Each verification runs in a `tracing` span `passport.verify` whose fields
//! are the verified leaf's `jti` and `agent_id` and the `outcome` (`ok` or
//! the error's [`VerifyError::code`]); a refused bundle's claims are not
//! recorded (they are unverified), and no field ever holds a token. Through
//! the `metrics` facade it counts `passport_verify_total{outcome}` and
//! `passport_verify_cache_total{result = hit | miss}`. With no subscriber and
//! no recorder installed both cost next to nothing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod deferred;
mod error;
mod keys;
mod observe;
mod outcome;
mod policy;
mod refetch;
mod rules;
mod status;
mod verifier;

pub use cache::{DEFAULT_CACHE_CAPACITY, MAX_CACHED_TOKEN_LEN};
pub use deferred::DeferredAudit;
pub use error::{AssuranceKind, ChainViolation, PolicyError, VerifyError};
pub use keys::{InMemoryKeyStore, JwksKeyStore, KeyStore};
pub use outcome::{PendingProof, Verification, VerifiedPassport};
pub use policy::{
    DEFAULT_CLOCK_SKEW, DEFAULT_MAX_DEPTH, DEFAULT_MAX_LIFETIME, MAX_CLOCK_SKEW,
    MAX_LIFETIME_CEILING, VerificationPolicy,
};
pub use refetch::{Refetch, RefetchFuture};
pub use status::{LinkStatus, StatusSource, StatusUnavailable};
pub use verifier::Verifier;
